"""Issue 23: the README's quick tour runs as written, in order, so the README cannot drift from the code.

The commands are read from README.md itself (the ``## Quick tour`` section: its Python snippet and its shell lines),
shrunk by the rewrite table :data:`REWRITES` (budgets and counts only; each rule says why), and run in order in a
temporary folder with ``GRAPHGEN_DATA`` set, as a new user would run them from the clone. Each must exit 0 and leave
the files it names.

- CI (``test_quick_tour_is_consistent``, a few seconds): every command parses with graphgen's own argument parsers
  (a renamed flag, a wrong choice or sub-command fails), every file a command reads exists in the repository or is
  written by an earlier command (the issue's ``mols.smi`` trip), no run folder is reused without ``--resume`` /
  ``--overwrite`` / another ``--out``, and every rewrite rule still applies to some command.
- CI (``test_quick_tour_light_commands_run``, about a minute): the commands that need neither the molecule datasets
  nor the lane maps (datasets, plain-graph and scene-graph sampling and evaluation, the small training runs) run.
- ``-m slow`` (``test_quick_tour_runs_in_order``, several minutes): all of it, the Python snippet included. It is
  slow because the QM9 runs alone spend about 40 s each on start-up (loading 120k molecules, their block
  decomposition) and the first QM9 metrics build their reference statistics (about 50 s).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
# 15 s: above every trainer's start-up on a busy 2-core machine (a budget start-up alone uses is refused)
TINY_MINUTES = "0.25"
# a training command with none of these runs on its preset's budget (minutes to hours)
BUDGET_FLAGS = ("--minutes", "--max-steps", "--epochs")


# ---------------------------------------------------------------------------------------------------- extraction
def quick_tour() -> tuple[str, list[str]]:
    """The quick tour's Python snippet and its shell lines (comments removed, one command per line)."""
    text = README.read_text()
    start = text.index("## Quick tour")
    end = text.index("\n## ", start + 1)
    section = text[start:end]
    python = "\n".join(re.findall(r"```python\n(.*?)```", section, flags=re.S))
    shell = [line for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)
             for line in block.splitlines() if line.split("#")[0].strip()]
    return python, shell


# ------------------------------------------------------------------------------------------------- rewrite table
def _shrink_flag(flag: str, value: str):
    def rule(argv: list[str]) -> list[str] | None:
        if flag not in argv:
            return None
        i = argv.index(flag) + 1
        return argv[:i] + [value] + argv[i + 1:]
    return rule


def _append_budget(argv: list[str]) -> list[str] | None:
    if argv[:2] != ["graphgen", "train"] or any(f in argv for f in BUDGET_FLAGS):
        return None
    return argv + ["--minutes", TINY_MINUTES]


def _few_encoder_graphs(argv: list[str]) -> list[str] | None:
    if argv[:3] != ["graphgen", "bench", "encoders"]:
        return None
    return argv + ["--max-train-graphs", "32", "--max-eval-graphs", "16"]


def _short_diffgraph_bench(argv: list[str]) -> list[str] | None:
    if argv[:3] != ["graphgen", "bench", "diffgraph"]:
        return None
    out = _shrink_flag("--seeds", "0")(argv) or argv
    return out if "--epochs" in out else out + ["--epochs", "1"]


def _repository_paths(argv: list[str]) -> list[str] | None:
    out = [str(REPO / a) if "/" in a and (REPO / a).is_file() else a for a in argv]
    return out if out != argv else None


# (why, rule): a rule returns the rewritten argv, or None when it does not apply
REWRITES: list[tuple[str, object]] = [
    ("-n N: 4 graphs are enough to run every step", _shrink_flag("-n", "4")),
    ("--steps N: 4 sampler steps (PARD per block, GDSS, EDM)", _shrink_flag("--steps", "4")),
    ("--minutes M: 15 seconds, start-up included", _shrink_flag("--minutes", TINY_MINUTES)),
    ("--max-steps N: 3 steps (the resume continues a 15-second run)", _shrink_flag("--max-steps", "3")),
    ("a training command without a budget flag trains on its preset's budget: give it 15 seconds", _append_budget),
    ("bench encoders: 32 training and 16 evaluation graphs per model", _few_encoder_graphs),
    ("bench diffgraph: one seed of one epoch per model", _short_diffgraph_bench),
    ("a repository file (examples/..., graphgen/train/configs/...) is named absolutely: the walk runs in a "
     "temporary folder, the README from the clone", _repository_paths),
]
PYTHON_REWRITES = [("model.sample(N): 4 graphs", r"\.sample\(\d+\)", ".sample(4)")]


def rewrite(argv: list[str], used: set[int] | None = None) -> list[str]:
    for i, (_, rule) in enumerate(REWRITES):
        new = rule(argv)
        if new is not None:
            argv = new
            if used is not None:
                used.add(i)
    return argv


def rewrite_python(source: str) -> str:
    for _, pattern, replacement in PYTHON_REWRITES:
        source = re.sub(pattern, replacement, source)
    return source


# ------------------------------------------------------------------------------------ what a command reads / writes
@dataclasses.dataclass
class Step:
    line: str                 # as written in the README
    argv: list[str]           # after the rewrite table
    reads: list[str]          # files / folders that must exist before it runs
    writes: list[str]         # files / folders it must leave

    @property
    def light_words(self) -> bool:
        """Needs neither the molecule datasets nor the lane maps, and trains no encoder."""
        heavy = ("qm9", "zinc12k", "zinc250k", "moses", "lanes", "bench", "encoder", "cp")
        words = [Path(a).name for a in self.argv]
        return not any(h in w for w in words for h in heavy)


def _value(argv: list[str], *flags: str) -> str | None:
    for flag in flags:
        if flag in argv:
            return argv[argv.index(flag) + 1]
    return None


def _run_folder(argv: list[str]) -> str:
    """Where ``graphgen train`` writes (graphgen.train.runs.start_run's default)."""
    family, dataset = argv[2], _value(argv, "--dataset") or "zinc12k"
    if family == "encoder":   # graphgen.train.encoder.train's default
        default = f"runs/encoders/{_value(argv, '--model') or 'gps'}_{dataset}_s{_value(argv, '--seed') or 0}"
    else:
        default = f"runs/{family}_{Path(dataset).stem}"
    return _value(argv, "--out") or default


def describe(line: str, used: set[int] | None = None) -> Step:
    argv = rewrite(shlex.split(line, comments=True), used)
    reads, writes = [], []
    if argv[0] == "cp":
        return Step(line, argv, [argv[1]], [argv[2]])
    verb = argv[1]
    if verb == "sample":
        writes += [v for v in (_value(argv, "-o", "--output"), _value(argv, "--draw")) if v]
        reads += [v for v in (_value(argv, "--model"), _value(argv, "--complete")) if v and "/" in v]
    elif verb == "evaluate":
        reads.append(argv[-1])
    elif verb == "train":
        writes.append(_run_folder(argv))
        reads += [v for v in (_value(argv, "--config"),) if v]
        init = _value(argv, "--init")
        if init and "/" in init:
            reads.append(init)
        if "--resume" in argv:
            reads.append(_run_folder(argv))
    elif verb == "bench":
        writes.append(_value(argv, "--out") or "runs/bench")
    return Step(line, argv, reads, writes)


def steps(used: set[int] | None = None) -> list[Step]:
    return [describe(line, used) for line in quick_tour()[1]]


def light_steps() -> list[Step]:
    """The steps CI runs: light ones whose inputs are repository files or outputs of earlier light steps."""
    chosen, made = [], set()
    for step in steps():
        if step.light_words and all(Path(p).is_absolute() or p in made for p in step.reads):
            chosen.append(step)
            made.update(step.writes)
    return chosen


# -------------------------------------------------------------------------------------------------- CI: consistency
def _parse(argv: list[str]) -> argparse.Namespace:
    """Parse a ``graphgen ...`` command with graphgen's own parsers (the ones ``graphgen.cli.main`` builds)."""
    import importlib

    from graphgen.cli import COMMANDS

    module = importlib.import_module(COMMANDS[argv[1]][0])
    parser = argparse.ArgumentParser(prog=f"graphgen {argv[1]}")
    module.add_arguments(parser)
    return parser.parse_args(argv[2:])


def test_quick_tour_is_consistent(capsys):
    python, shell = quick_tour()
    assert "load_generator" in python and len(shell) >= 20
    assert rewrite_python(python) != python
    used: set[int] = set()
    walk = steps(used)
    assert sorted(used) == list(range(len(REWRITES))), "a rewrite rule no longer applies: update REWRITES"
    made: set[str] = set()
    for step in walk:
        if step.argv[0] == "graphgen":
            try:
                _parse(step.argv)
            except SystemExit:
                pytest.fail(f"README command does not parse: {step.line}\n{capsys.readouterr().err}")
        for path in step.reads:
            assert Path(path).is_absolute() and Path(path).exists() or path in made, \
                f"README: `{step.line}` reads {path}, which no earlier command writes"
        if step.argv[1:2] == ["train"] and "--resume" not in step.argv and "--overwrite" not in step.argv:
            assert step.writes[0] not in made, f"README: `{step.line}` would reuse run folder {step.writes[0]}"
        made.update(step.writes)
        if step.argv[1:2] == ["train"]:   # a run folder holds the models sampled from
            made.update({f"{step.writes[0]}/ema", f"{step.writes[0]}/best"})


def test_sdf_written_by_the_tour_is_what_it_evaluates():
    walk = steps()
    written = [p for s in walk if s.argv[1:2] == ["sample"] for p in s.writes]
    evaluated = [s.argv[-1] for s in walk if s.argv[1:3] == ["evaluate", "molecules"]]
    assert evaluated and set(evaluated) <= set(written)


# ------------------------------------------------------------------------------------------------------ the walk
def _environment(tmp_path: Path, shared_data: Path) -> dict[str, str]:
    # one thread: a long training job shares the machine; the processed caches are the test session's
    return {**os.environ, "GRAPHGEN_DATA": str(shared_data), "OMP_NUM_THREADS": "1"}


def _run(step: Step, cwd: Path, env: dict[str, str]) -> None:
    if step.argv[0] == "cp":
        shutil.copy(step.argv[1], cwd / step.argv[2])
    else:
        proc = subprocess.run([sys.executable, "-m", "graphgen", *step.argv[1:]], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"README: `{step.line}` exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    for path in step.writes:
        assert (cwd / path).exists(), f"README: `{step.line}` did not write {path}"


def test_quick_tour_light_commands_run(tmp_path, shared_data):
    env = _environment(tmp_path, shared_data)
    light = light_steps()
    assert len(light) >= 8
    for step in light:
        _run(step, tmp_path, env)


def _build_first_run_caches(walk: list[Step]) -> None:
    """The caches a first `graphgen train` builds before its first step (a dataset's processed cache, about 20 s for
    lanes; PARD's block decomposition, about 30 s for QM9): the README's 60-minute budgets absorb that start-up, the
    walk's shrunk ones would be refused for it."""
    from graphgen.data.registry import load_dataset
    from graphgen.generate.pard.train import PARDRunConfig, cached_block_table
    from graphgen.train import config as config_lib

    for step in walk:
        dataset = _value(step.argv, "--dataset")
        if step.argv[1:2] != ["train"] or dataset is None:
            continue
        train = load_dataset(dataset)   # the default split: "train", or "all" for a one-graph set
        if step.argv[2] == "pard":
            cfg = config_lib.resolve(PARDRunConfig, preset=config_lib.preset_path("pard", dataset))
            cached_block_table(train, cfg.model.max_hops, progress=False)


@pytest.mark.slow
def test_quick_tour_runs_in_order(tmp_path, shared_data):
    _build_first_run_caches(steps())
    env = _environment(tmp_path, shared_data)
    python, _ = quick_tour()
    proc = subprocess.run([sys.executable, "-c", rewrite_python(python)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for step in steps():
        _run(step, tmp_path, env)
