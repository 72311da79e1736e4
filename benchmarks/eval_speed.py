"""Speed of the generic-graph evaluators, with a simple peer measured in the same run.

1. Orbit counts (orbits 0-14) of every ENZYMES graph (GDSS file, 587 graphs, 10-125 nodes) with
   ``graphgen.evaluate.orbits`` (numba, closed-form pattern counts). Peer: brute-force enumeration of every 4-node
   subset (``orbit_counts_bruteforce``) on the smallest graphs, compared on the same graphs as a ratio (and checked
   equal); and, if ``orca-graphlets`` (a Python port of ORCA) is installed, ORCA itself on all graphs. The ORCA
   binary the published code calls is not available here.
2. MMD² of N vs N graphs of <= 200 nodes (SPECTRE-style SBM samples: 2-5 blocks of 20-40 nodes, p 0.3 / 0.005),
   all four SPECTRE statistics (degree, clustering, orbit, spectral) and the three GDSS ones: per-graph statistics
   (process pool) + vectorised Gram matrices. Peer: the published codes' pattern, a Python double loop calling the
   kernel once per pair, timed on a sub-block and given per pair.

Usage::

    GRAPHGEN_DATA=/work/shared/data nice -n 10 python benchmarks/eval_speed.py [--num-graphs 1000] [--workers 2]
"""
from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import networkx as nx
import numpy as np

from graphgen.evaluate.graphs import evaluate_graphs, read_graph_splits
from graphgen.evaluate.mmd import (
    emd_1d,
    gaussian_emd_kernel,
    normalise_rows,
    stack_padded,
)
from graphgen.evaluate.orbits import orbit_counts, orbit_counts_bruteforce


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (pool workers): wall time on a shared machine overstates."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def sbm_graphs(count: int, seed: int) -> list[nx.Graph]:
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(count):
        sizes = rng.integers(20, 41, size=int(rng.integers(2, 6))).tolist()
        probs = [[0.3 if i == j else 0.005 for j in range(len(sizes))] for i in range(len(sizes))]
        graphs.append(nx.stochastic_block_model(sizes, probs, seed=int(rng.integers(1 << 31))))
    return graphs


def bench_orbits(data_dir: Path, peer_graphs: int) -> None:
    splits = read_graph_splits(data_dir / "generic" / "enzymes_gdss.json")
    graphs = splits["test"] + splits["train"]
    orbit_counts(nx.path_graph(4))  # load / compile the numba kernel once
    t0 = time.perf_counter()
    for g in graphs:
        orbit_counts(g)
    ours = time.perf_counter() - t0
    small = sorted(graphs, key=lambda g: g.number_of_nodes())[:peer_graphs]
    t0 = time.perf_counter()
    ours_small = [orbit_counts(g) for g in small]
    ours_small_t = time.perf_counter() - t0
    t0 = time.perf_counter()
    peer_small = [orbit_counts_bruteforce(g) for g in small]
    peer_small_t = time.perf_counter() - t0
    assert all(np.array_equal(a, b) for a, b in zip(ours_small, peer_small)), "orbit counts differ from brute force"
    sizes = [g.number_of_nodes() for g in small]
    print(f"orbit counts, all {len(graphs)} ENZYMES graphs: {ours:.3f} s (goal <= 10 s)")
    try:  # optional peer: `pip install orca-graphlets` (a Python port of the ORCA tool)
        from orca import orca_nodes
    except ImportError:
        print("  orca-graphlets not installed: ORCA-port peer skipped")
    else:
        edge_arrays = [np.array([(u, v) for u, v in g.edges], dtype=np.int64).reshape(-1, 2) for g in graphs]
        t0 = time.perf_counter()
        peer = [np.asarray(orca_nodes(e, g.number_of_nodes())) for e, g in zip(edge_arrays, graphs)]
        orca_t = time.perf_counter() - t0
        same = all(np.array_equal(a, orbit_counts(g)) for a, g in zip(peer, graphs))
        print(f"  orca-graphlets (ORCA port) on the same {len(graphs)} graphs: {orca_t:.2f} s -> "
              f"{orca_t / max(ours, 1e-9):.0f}x; counts identical: {same}")
    print(f"  same {len(small)} smallest graphs ({min(sizes)}-{max(sizes)} nodes): graphgen {ours_small_t * 1e3:.1f} ms, "
          f"brute force {peer_small_t:.2f} s -> {peer_small_t / max(ours_small_t, 1e-9):.0f}x; counts identical")


def bench_mmd(num_graphs: int, workers: int | None, peer_block: int) -> None:
    t0 = time.perf_counter()
    x, y = sbm_graphs(num_graphs, 0), sbm_graphs(num_graphs, 1)
    gen_t = time.perf_counter() - t0
    n = [g.number_of_nodes() for g in x + y]
    print(f"\nMMD benchmark: {num_graphs} vs {num_graphs} SBM graphs, {min(n)}-{max(n)} nodes "
          f"(generated in {gen_t:.1f} s, not timed below); workers={workers}")
    for protocol in ("spectre", "gdss"):
        t0, c0 = time.perf_counter(), _cpu_seconds()
        scores = evaluate_graphs(x, y, protocol, num_workers=workers, progress=True)
        total, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        stats = {k: round(v, 6) for k, v in scores.items() if k in ("degree", "clustering", "orbit", "spectral")}
        print(f"  {protocol}: {total:.1f} s wall (goal <= 60 s), {cpu:.1f} CPU-s incl. workers; {stats}")

    # Gram matrices alone: vectorised vs a per-pair Python loop (the published codes' pattern)
    from graphgen.evaluate.mmd import degree_histogram

    hx = normalise_rows(stack_padded([degree_histogram(g) for g in x]))
    hy = normalise_rows(stack_padded([degree_histogram(g) for g in y], hx.shape[1]))
    t0 = time.perf_counter()
    for a, b in ((hx, hx), (hy, hy), (hx, hy)):
        gaussian_emd_kernel(a, b, sigma=1.0)
    vec_pair = (time.perf_counter() - t0) / (3 * num_graphs * num_graphs)
    t0 = time.perf_counter()
    for i in range(peer_block):
        for j in range(peer_block):
            d = emd_1d(hx[i], hy[j])
            np.exp(-d * d / 2.0)
    loop_pair = (time.perf_counter() - t0) / (peer_block * peer_block)
    print(f"  Gaussian-EMD Gram, per pair: vectorised {vec_pair * 1e9:.0f} ns, per-pair loop {loop_pair * 1e6:.1f} us "
          f"-> {loop_pair / vec_pair:.0f}x (loop timed on {peer_block}x{peer_block}; a full {num_graphs}x{num_graphs} "
          f"degree MMD would take {3 * loop_pair * num_graphs**2:.0f} s that way)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHGEN_DATA"), help="shared data root")
    parser.add_argument("--num-graphs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=None, help="process pool size (default min(4, cpus))")
    parser.add_argument("--peer-graphs", type=int, default=20, help="ENZYMES graphs for the brute-force peer")
    parser.add_argument("--peer-block", type=int, default=100, help="side of the per-pair loop block")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()} (shared with other jobs; load average {os.getloadavg()[0]:.1f})")
    if args.data_dir:
        bench_orbits(Path(args.data_dir), args.peer_graphs)
    else:
        print("GRAPHGEN_DATA not set: skipping the ENZYMES orbit benchmark")
    bench_mmd(args.num_graphs, args.workers, args.peer_block)


if __name__ == "__main__":
    main()
