"""torchrun / DDP on CPU (gloo): 2 processes give the same losses as 1 process with the same global batch, rank 0
alone writes the run folder, and a 2-process run killed and resumed repeats the uninterrupted 2-process run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# A deterministic loss given the batch: no dropout, no batch-statistics normalisation (LayerNorm, no RWSE BatchNorm),
# so the mean over a batch equals the mean of the two processes' half-batch means.
ENCODER = ["train", "encoder", "--dataset", "zinc12k", "--model", "gps", "--epochs", "100", "--max-steps", "20",
           "--log-every", "1", "--no-progress", "--threads", "1", "--set", "model.channels=16", "model.num_layers=2",
           "model.heads=2", "model.pe=none", "model.dim_pe=0", "model.dropout=0", "model.attn_dropout=0",
           "model.norm=layer", "trainer.batch_size=16", "trainer.warmup_epochs=1", "max_train_graphs=160",
           "max_eval_graphs=16", "--results-csv", ""]
PARD = ["train", "pard", "--dataset", "community_small", "--log-every", "1", "--no-progress", "--threads", "1",
        "--checkpoint-minutes", "0", "--set", "model.hidden=16", "model.edge_hidden=8", "model.num_layers=1",
        "model.heads=2", "model.dropout=0.1", "trainer.batch_size=8"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _single(args: list[str], out: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "graphgen", *args, "--out", str(out)], env=_env(),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def _torchrun(args: list[str], out: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "graphgen", *args, "--out", str(out)], env=_env(), capture_output=True, text=True,
                       timeout=600)
    errors = [line for line in r.stderr.splitlines() if "rank0]" in line or "Error" in line]
    assert r.returncode == 0, "\n".join(errors[-60:])


def _losses(run: Path) -> list[float]:
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


def test_two_processes_match_one_process(tmp_path, shared_data):
    _single(ENCODER, tmp_path / "one")
    _torchrun(ENCODER, tmp_path / "two")
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == 20
    assert max(abs(a - b) for a, b in zip(one, two)) < 1e-5
    assert one[-1] < one[0]                                           # it trains
    events = [json.loads(line) for line in (tmp_path / "two" / "log.jsonl").read_text().splitlines()
              if '"event"' in line]
    starts = [e for e in events if e["event"] == "start"]
    assert starts[0]["processes"] == 2 and len(starts) == 1            # rank 0 alone writes the log


def test_two_process_resume_repeats_the_uninterrupted_run(tmp_path, shared_data):
    _torchrun(PARD + ["--max-steps", "16"], tmp_path / "whole")
    _torchrun(PARD + ["--max-steps", "8"], tmp_path / "parts")
    _torchrun(PARD + ["--max-steps", "16", "--resume"], tmp_path / "parts")
    whole, parts = _losses(tmp_path / "whole"), _losses(tmp_path / "parts")
    assert len(whole) == len(parts) == 16
    assert whole == parts      # both processes' noise and dropout streams were restored
