"""PARD sampling cost versus graph size: time per sample and peak memory for graphs of 50, 100 and 200 nodes.

Each size runs in a fresh subprocess (so ``ru_maxrss`` is that size's peak) with the architecture of a given model
(default: the bundled QM9 model's config, random weights) and ``--blocks`` equal blocks per graph of degree 2, forced
in place of the size head (an untrained head would pick arbitrary sizes). One graph per sample call, ``T`` denoising
steps per block, so evaluations = blocks x (T + 1) + 1. The peer column is one evaluation of the same network on the
whole n-node graph (what a one-shot model of this size pays per denoising step); the ratio says how many such passes
one PARD sample costs.

    python benchmarks/pard_scaling.py --sizes 50 100 200 --blocks 10 --threads 2
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def child(n: int, blocks: int, threads: int, config_path: str | None) -> dict:
    import torch

    from graphgen.generate.base import SampleStats
    from graphgen.generate.pard.model import PARDConfig, PARDGenerator

    torch.set_num_threads(threads)
    if config_path:
        raw = json.loads(open(config_path).read())
        raw.pop("generator", None)
        cfg = PARDConfig(**raw)
    else:
        from graphgen.generate import load_generator

        cfg = load_generator("qm9").config
    size = -(-n // blocks)
    cfg = PARDConfig(**{**cfg.__dict__, "max_nodes": n, "max_block_size": max(cfg.max_block_size, size),
                        "max_degree": max(cfg.max_degree, 2)})
    torch.manual_seed(0)  # benchmark weights: random, fixed

    class FixedBlocks(PARDGenerator):
        def _next_block(self, summary, generator, *, first=False):
            B = summary.size(0)
            return torch.full((B,), size, dtype=torch.long), torch.full((B,), 2, dtype=torch.long)

    model = FixedBlocks(cfg).eval()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    stats = SampleStats()
    graphs = model.sample(1, generator=torch.Generator().manual_seed(0), callback=stats)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # peer: one evaluation of the same network on the whole n-node graph (one-shot cost per step)
    X = torch.zeros(1, n, dtype=torch.long)
    E = torch.zeros(1, n, n, dtype=torch.long)
    blk = torch.ones(1, n, dtype=torch.long)
    m = torch.ones(1, n, dtype=torch.bool)
    empty = torch.zeros(1, 0, dtype=torch.long)
    t1 = time.perf_counter()
    with torch.no_grad():
        model._forward(X, E, blk, m, empty, torch.zeros(1, 0, n, dtype=torch.long), torch.zeros(1, 0, 0, dtype=torch.long),
                       empty, empty.bool(), empty, empty, empty)
    one_pass = time.perf_counter() - t1
    return {"nodes": graphs[0].num_nodes, "seconds_per_sample": seconds, "nfe": stats.evaluations_per_graph,
            "peak_rss_mb": peak / 1024, "sampling_rss_increase_mb": (peak - base) / 1024,
            "one_full_pass_seconds": one_pass, "hidden": cfg.hidden, "layers": cfg.num_layers, "T": cfg.num_steps}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200])
    p.add_argument("--blocks", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--config", default=None, help="config.json of the architecture (default: bundled qm9)")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.blocks, args.threads, args.config)))
        return
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--child", str(n), "--blocks", str(args.blocks), "--threads", str(args.threads)]
        if args.config:
            cmd += ["--config", args.config]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\nPARD sampling, 1 graph per call, {args.blocks} blocks, {args.threads} threads")
    print(f"{'nodes':>6} {'s/sample':>10} {'NFE':>6} {'peak RSS MB':>12} {'+RSS MB':>9} {'1 full pass s':>14} {'ratio':>7}")
    for r in rows:
        ratio = r["seconds_per_sample"] / r["one_full_pass_seconds"]
        print(f"{r['nodes']:>6} {r['seconds_per_sample']:>10.2f} {r['nfe']:>6.0f} {r['peak_rss_mb']:>12.0f} "
              f"{r['sampling_rss_increase_mb']:>9.0f} {r['one_full_pass_seconds']:>14.3f} {ratio:>7.0f}x")


if __name__ == "__main__":
    main()
