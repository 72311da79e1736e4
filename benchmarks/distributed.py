"""Training throughput with 1 process vs 2 torchrun processes (DDP over gloo, 1 thread each) on this machine.

For each workload the same command trains with the same global batch three ways: 1 process with 1 thread,
1 process with 2 threads (the peer a user has without torchrun), and ``torchrun --nproc_per_node=2`` with 1 thread
per process. Throughput is graphs per second over the steps after a warm-up, read from each run's ``log.jsonl``
(``elapsed`` of the training loop only: imports, data loading and the PARD block decomposition are excluded). The
ratio column is each row over the 1-process, 1-thread row of the same workload, all measured in this run.

    GRAPHGEN_DATA=../shared/data python benchmarks/distributed.py --steps 60 --warmup 10
    GRAPHGEN_DATA=../shared/data python benchmarks/distributed.py --workloads gps_zinc12k --steps 200

Workloads: ``pard_qm9`` (the qm9 preset's architecture, batch 32) and ``gps_zinc12k`` (the GPS ZINC-12k recipe,
batch 32). Run nothing else on the machine while it measures.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphgen.train.bench import format_rows  # noqa: E402

WORKLOADS: dict[str, list[str]] = {
    "pard_qm9": ["train", "pard", "--dataset", "qm9", "--batch-size", "32"],
    "gps_zinc12k": ["train", "encoder", "--dataset", "zinc12k", "--model", "gps", "--batch-size", "32",
                    "--results-csv", "", "--set", "trainer.warmup_epochs=0"],
}


def run(args: list[str], out: Path, *, processes: int, threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    launcher = [sys.executable, "-m", "graphgen"] if processes == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
         "-m", "graphgen"]
    cmd = [*launcher, *args, "--out", str(out), "--threads", str(threads), "--no-progress",
           "--checkpoint-minutes", "1000"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")


def graphs_per_second(out: Path, warmup: int, batch: int) -> float:
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "loss" in r]
    first = next(r for r in rows if r["step"] >= warmup)
    last = rows[-1]
    return (last["step"] - first["step"]) * batch / (last["elapsed"] - first["elapsed"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    p.add_argument("--steps", type=int, default=60, help="optimiser steps per run")
    p.add_argument("--warmup", type=int, default=10, help="steps excluded from the timing")
    p.add_argument("--keep", default=None, help="keep the run folders here (default: a temporary folder)")
    a = p.parse_args()
    root = Path(a.keep or tempfile.mkdtemp(prefix="graphgen_dist_"))
    rows = []
    for name in a.workloads:
        common = [*WORKLOADS[name], "--max-steps", str(a.steps), "--log-every", "1"]
        if "encoder" in common:
            common += ["--epochs", "1000"]
        speeds = {}
        blocks = None
        for label, procs, threads in (("1 process x 1 thread", 1, 1), ("1 process x 2 threads", 1, 2),
                                      ("2 processes x 1 thread (torchrun)", 2, 1)):
            out = root / f"{name}_{procs}p{threads}t"
            shutil.rmtree(out, ignore_errors=True)
            if blocks is not None:          # the PARD block decomposition of QM9 is computed once
                out.mkdir(parents=True)
                shutil.copy(blocks, out / blocks.name)
            run(common, out, processes=procs, threads=threads)
            found = sorted(out.glob("blocks_k*.safetensors"))
            blocks = found[0] if found else blocks
            speeds[label] = graphs_per_second(out, a.warmup, 32)
            print(f"{name}: {label}: {speeds[label]:.1f} graphs/s", file=sys.stderr, flush=True)
        base = speeds["1 process x 1 thread"]
        for label, v in speeds.items():
            rows.append((name, label, f"{v:.1f}", f"{v / base:.2f}x"))
    print(format_rows(("workload", "setup", "graphs / s", "vs 1 process x 1 thread"), rows))
    if a.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
