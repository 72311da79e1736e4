"""Start-up of ``graphgen sample`` and the OpenMP wait policy on a busy machine, each measured side by side.

1. **Start-up**: seconds from the start of a fresh Python process running ``graphgen sample MODEL`` (the CLI's
   ``main``) to its first network evaluation, for each ``--model``; the import of the sample command alone is timed
   in the same process. ``--repeats`` processes per model; the table shows each repeat.
2. **OpenMP wait policy**: GDSS sampling (``--gdss-model``, ``--gdss-samples`` molecules, ``--gdss-steps`` steps,
   2 torch threads) in fresh processes with ``OMP_WAIT_POLICY=ACTIVE`` (OpenMP's spinning default) and ``PASSIVE``
   (what ``graphgen`` sets, :func:`graphgen.cli.use_passive_openmp`), interleaved, on the idle machine and while
   ``--load`` busy Python processes compete for the cores. Each row gives both wall-clock times and their ratio.

    python benchmarks/startup.py --out benchmarks/results/startup.md
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tables import markdown_table  # the benchmarks' shared table printer

_FIRST_EVALUATION = r"""
import time
t0 = time.perf_counter()
import json, os, sys
import graphgen.generate.commands
t_import = time.perf_counter() - t0
from graphgen.generate.base import SampleStats
def first(self, event):
    if event["kind"] == "evaluation":
        print(json.dumps({"import_s": t_import, "first_evaluation_s": time.perf_counter() - t0}), flush=True)
        os._exit(0)
SampleStats.__call__ = first
from graphgen.cli import main
main(["sample", sys.argv[1], "-n", "100", "-o", sys.argv[2], "--no-metrics", "--no-progress"])
"""

_GDSS_SAMPLING = r"""
import sys, torch
from graphgen.generate import load_generator
torch.set_num_threads(2)
model = load_generator(sys.argv[1])
model.sample(int(sys.argv[2]), steps=int(sys.argv[3]), generator=torch.Generator().manual_seed(0))
"""

_BUSY = "while True: pass"


def first_evaluation(model: str, out: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}  # what a user's shell has
    res = subprocess.run([sys.executable, "-c", _FIRST_EVALUATION, model, str(out)], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def gdss_seconds(policy: str, args: argparse.Namespace) -> float:
    env = dict(os.environ, OMP_WAIT_POLICY=policy)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", _GDSS_SAMPLING, args.gdss_model, str(args.gdss_samples),
                    str(args.gdss_steps)], env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def policy_rows(load: int, args: argparse.Namespace) -> list[list[str]]:
    busy = [subprocess.Popen([sys.executable, "-c", _BUSY]) for _ in range(load)]
    try:
        rows = []
        for rep in range(args.repeats):
            active, passive = gdss_seconds("ACTIVE", args), gdss_seconds("PASSIVE", args)
            rows.append([f"{load} busy processes" if load else "idle", str(rep + 1), f"{active:.1f}",
                         f"{passive:.1f}", f"{active / passive:.2f}"])
            print(rows[-1], flush=True)
        return rows
    finally:
        for p in busy:
            p.kill()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", default=None, help="bundled model or folder (default: qm9, qm9-gdss)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--gdss-model", default="qm9-gdss")
    p.add_argument("--gdss-samples", type=int, default=100)
    p.add_argument("--gdss-steps", type=int, default=100)
    p.add_argument("--load", type=int, default=2, help="busy processes competing for the cores in the policy rows")
    p.add_argument("--out", type=Path, default=None, help="also write the tables (markdown) here")
    args = p.parse_args()
    models = args.model or ["qm9", "qm9-gdss"]

    startup = []
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "graphgen_startup.smi"
    for model in models:
        for rep in range(args.repeats):
            r = first_evaluation(model, tmp)
            startup.append([model, str(rep + 1), f"{r['import_s']:.2f}", f"{r['first_evaluation_s']:.2f}"])
            print(startup[-1], flush=True)
    policy = policy_rows(0, args) + policy_rows(args.load, args)

    text = "\n\n".join([
        "# graphgen sample: start-up and the OpenMP wait policy",
        f"`python benchmarks/startup.py`; {os.cpu_count()} CPUs; torch threads: the default for start-up, 2 for "
        f"the policy rows ({args.gdss_model}, {args.gdss_samples} molecules, {args.gdss_steps} steps).",
        "## Seconds from process start to the first network evaluation",
        markdown_table(["model", "repeat", "import of the sample command s", "first evaluation s"], startup),
        "## OMP_WAIT_POLICY: ACTIVE (spin) vs PASSIVE (sleep; what graphgen sets), same job, interleaved",
        markdown_table(["machine", "repeat", "ACTIVE s", "PASSIVE s", "ACTIVE / PASSIVE"], policy),
    ])
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
