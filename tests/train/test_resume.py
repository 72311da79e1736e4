"""Exact resume: training processes killed with SIGKILL at random moments (and inside checkpoint writes) resume to
the same per-step losses as a run that was never interrupted, for GDSS, PARD and an encoder."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graphgen.train.checkpoint import RunFolder

STEPS = 24
COMMON = ["--max-steps", str(STEPS), "--log-every", "1", "--checkpoint-minutes", "0", "--no-progress",
          "--threads", "1"]
COMMANDS = {
    "sde": ["sde", "--dataset", "community_small", "--set", "model.net_x.depth=1", "model.net_x.hidden=8",
            "model.net_adj.num_layers=1", "model.net_adj.hidden=8", "model.net_adj.attn=8", "trainer.batch_size=16"],
    "pard": ["pard", "--dataset", "community_small", "--set", "model.hidden=16", "model.edge_hidden=8",
             "model.num_layers=1", "model.heads=2", "trainer.batch_size=8", "model.dropout=0.1"],
    "encoder": ["encoder", "--dataset", "zinc12k", "--model", "gps", "--epochs", "100", "--set", "model.channels=16",
                "model.num_layers=1", "model.heads=2", "model.pe_steps=4", "model.dim_pe=4", "model.dropout=0.1",
                "trainer.batch_size=8", "trainer.warmup_epochs=1", "max_train_graphs=40", "max_eval_graphs=16",
                "--results-csv", ""],
}


def _env(fault: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GRAPHGEN_FAULT"}
    env["OMP_NUM_THREADS"] = "1"
    if fault:
        env["GRAPHGEN_FAULT"] = fault
    return env


def _cmd(family: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "graphgen", "train", *COMMANDS[family], "--out", str(out), *COMMON, *extra]


def _losses(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if "loss" in r]
    assert len(steps) == len(set(steps)), f"log.jsonl repeats steps: {steps}"
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def _logged_steps(run: Path) -> int:
    try:
        return sum(1 for line in (run / "log.jsonl").read_text().splitlines() if '"loss"' in line)
    except OSError:
        return 0


def _kill_after(cmd: list[str], run: Path, min_step: int, delay: float) -> int:
    """Start ``cmd``, wait until the run has logged ``min_step`` steps, wait ``delay`` s more, SIGKILL it."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while _logged_steps(run) < min_step and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.returncode


@pytest.mark.parametrize("family", ["sde", "pard", "encoder"])
def test_sigkill_at_random_moments_then_resume_gives_the_same_losses(tmp_path, family, shared_data):
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    done = subprocess.run(_cmd(family, clean), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    reference = _losses(clean)
    assert sorted(reference) == list(range(1, STEPS + 1))

    # 1) a kill inside the checkpoint write of step 3 (files half written, nothing renamed yet)
    r = subprocess.run(_cmd(family, broken), env=_env("half_written:3"), capture_output=True, text=True)
    assert r.returncode == -signal.SIGKILL
    assert RunFolder(broken).read_state()["step"] == 2             # the last complete checkpoint
    # 2) a kill between the rename of a complete checkpoint and the swap of the `last` link
    r = subprocess.run(_cmd(family, broken, "--resume"), env=_env("renamed:6"), capture_output=True, text=True)
    assert r.returncode == -signal.SIGKILL and RunFolder(broken).read_state()["step"] == 5
    # 3-6) kills at random moments of ordinary training
    rng = random.Random(1234)
    for target in (8, 12, 16, 19):
        code = _kill_after(_cmd(family, broken, "--resume"), broken, target, rng.uniform(0.0, 0.15))
        assert code in (-signal.SIGKILL, 0)
        assert RunFolder(broken).has_checkpoint()
    final = subprocess.run(_cmd(family, broken, "--resume"), env=_env(), capture_output=True, text=True)
    assert final.returncode == 0, final.stderr[-2000:]
    resumed = _losses(broken)
    assert sorted(resumed) == sorted(reference)
    diff = max(abs(resumed[s] - reference[s]) for s in reference)
    assert diff == 0.0, f"largest per-step loss difference {diff}"
    stray = [p.name for p in (broken / "checkpoints").iterdir() if p.name.startswith(".tmp")]
    assert not stray, f"temporary checkpoint folders left behind: {stray}"


def test_resume_without_a_checkpoint_is_an_error_that_says_what_it_found(tmp_path, shared_data):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("x")
    r = subprocess.run(_cmd("pard", out, "--resume"), env=_env(), capture_output=True, text=True)
    assert r.returncode == 2
    assert "no loadable checkpoint" in r.stderr and "notes.txt" in r.stderr and "Traceback" not in r.stderr
