"""Data-preparation benchmark: build the cache (cold) and re-open it (warm) for QM9, ZINC250k and MOSES train.

Every measurement runs in a fresh child process so its peak RSS is its own: ``peak RSS`` is the child's
``ru_maxrss`` (RUSAGE_SELF) plus the largest worker's (RUSAGE_CHILDREN); the cache goes to a new temporary
folder per dataset, so "prepare" is always a cold build.

Peer, measured in the same run: the straightforward way, one process calling
``graphgen.data.molecules.smiles_to_data`` per molecule, collating the list with PyG's
``InMemoryDataset.collate`` and ``torch.save``-ing it; "re-open" = ``torch.load`` of that file (what a PyG
``InMemoryDataset`` does). The peer is skipped for MOSES by default (it holds 1.6 M ``Data`` objects in memory).

Usage::

    GRAPHGEN_DATA=/path/to/shared/data nice -n 10 python benchmarks/data_prep.py
    python benchmarks/data_prep.py --datasets qm9 --num-workers 2 --peer-datasets qm9
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

GOALS = {  # seconds (prepare, re-open) from the task brief
    "qm9": (60, 3),
    "zinc250k": (240, None),
    "moses": (1200, 30),
}


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished worker processes."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_rss_mb() -> tuple[float, float]:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kb / 1024, child_kb / 1024


def child(mode: str, name: str, split: str, num_workers: int | None, peer_file: str) -> dict:
    t_import = time.perf_counter()
    import numpy as np
    import torch
    from torch_geometric.data import Data, InMemoryDataset

    from graphgen.data.molecules import smiles_to_data
    from graphgen.data.registry import get_spec, load_dataset

    # Importing torch / PyG / RDKit is the same for graphgen and the peer; it is reported apart.
    out: dict = {"import_seconds": time.perf_counter() - t_import}
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    if mode == "prepare":
        get_spec(name).prepare(split, num_workers=num_workers, progress=False)
        out["seconds"] = time.perf_counter() - t0
    elif mode == "reopen":
        ds = load_dataset(name, split)
        _ = ds[0], ds[len(ds) - 1]
        out["seconds"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        smiles = ds.smiles
        out["smiles_seconds"] = time.perf_counter() - t1
        idx = np.random.default_rng(0).integers(0, len(ds), size=10_000)
        t2 = time.perf_counter()
        for i in idx:
            ds[int(i)]
        out["getitem_us"] = (time.perf_counter() - t2) / len(idx) * 1e6
        out["num_graphs"] = len(ds)
        assert len(smiles) == len(ds)
    elif mode == "peer_prepare":
        spec = get_spec(name)
        source = spec.read_split(split, spec.raw_paths())
        data_list = [smiles_to_data(s, spec.vocab) for s in source.items]
        data, slices = InMemoryDataset.collate(data_list)
        torch.save((data.to_dict(), slices), peer_file)
        out["seconds"] = time.perf_counter() - t0
    elif mode == "peer_reopen":
        state, slices = torch.load(peer_file, weights_only=True)  # tensors and dicts only: no unpickling
        data = Data.from_dict(state)
        _ = data.x[slices["x"][0]:slices["x"][1]]
        out["seconds"] = time.perf_counter() - t0
        out["num_graphs"] = len(slices["x"]) - 1
    out["cpu_seconds"] = _cpu_seconds() - cpu0
    out["rss_self_mb"], out["rss_children_mb"] = _peak_rss_mb()
    return out


def run_child(mode: str, name: str, split: str, cache: str, num_workers: int | None, peer_file: str) -> dict:
    env = dict(os.environ, GRAPHGEN_CACHE=cache)
    cmd = [sys.executable, __file__, "--child", mode, "--datasets", name, "--split", split, "--peer-file", peer_file]
    if num_workers is not None:
        cmd += ["--num-workers", str(num_workers)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"child {mode} {name} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["qm9", "zinc250k", "moses"])
    p.add_argument("--split", default="train")
    p.add_argument("--num-workers", type=int, default=None, help="default: all cores")
    p.add_argument("--peer-datasets", nargs="*", default=["qm9", "zinc250k"],
                   help="datasets on which the single-process InMemoryDataset peer also runs")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--peer-file", default="", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        print(json.dumps(child(args.child, args.datasets[0], args.split, args.num_workers, args.peer_file)))
        return

    print(f"cores: {os.cpu_count()}, workers: {args.num_workers or os.cpu_count()}, split: {args.split}")
    header = (f"{'dataset':<9} {'graphs':>9} | {'prepare s':>9} {'cpu s':>6} {'goal':>5} {'RSS MB':>7} | {'reopen s':>8} "
              f"{'goal':>4} {'RSS MB':>6} {'smiles s':>8} {'getitem us':>10} | {'peer prep s':>11} {'cpu s':>6} {'peer RSS':>8} "
              f"{'peer reopen s':>13} | {'prep ratio':>10} {'cpu ratio':>9} {'reopen ratio':>12} | {'import s':>8}")
    rows = []
    for name in args.datasets:
        with tempfile.TemporaryDirectory(prefix=f"gg_bench_{name}_") as tmp:
            cache = os.path.join(tmp, "cache")
            peer_file = os.path.join(tmp, "peer.pt")
            prep = run_child("prepare", name, args.split, cache, args.num_workers, peer_file)
            reopen = run_child("reopen", name, args.split, cache, args.num_workers, peer_file)
            peer_prep = peer_reopen = None
            if name in args.peer_datasets:
                peer_prep = run_child("peer_prepare", name, args.split, cache, args.num_workers, peer_file)
                peer_reopen = run_child("peer_reopen", name, args.split, cache, args.num_workers, peer_file)
        goal_p, goal_r = GOALS.get(name, (None, None))
        rss_p = prep["rss_self_mb"] + prep["rss_children_mb"]
        rss_r = reopen["rss_self_mb"] + reopen["rss_children_mb"]
        fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
        pp = peer_prep["seconds"] if peer_prep else None
        pr = peer_reopen["seconds"] if peer_reopen else None
        rows.append(
            f"{name:<9} {reopen['num_graphs']:>9} | {prep['seconds']:>9.1f} {prep.get('cpu_seconds', 0):>6.1f} "
            f"{fmt(goal_p, '>5')} {rss_p:>7.0f} | "
            f"{reopen['seconds']:>8.2f} {fmt(goal_r, '>4')} {rss_r:>6.0f} {reopen['smiles_seconds']:>8.2f} "
            f"{reopen['getitem_us']:>10.1f} | {fmt(pp, '>11.1f')} "
            f"{fmt(peer_prep.get('cpu_seconds') if peer_prep else None, '>6.1f')} "
            f"{fmt(peer_prep['rss_self_mb'] if peer_prep else None, '>8.0f')} {fmt(pr, '>13.2f')} | "
            f"{fmt(pp / prep['seconds'] if pp else None, '>10.2f')} "
            f"{fmt(peer_prep['cpu_seconds'] / prep['cpu_seconds'] if peer_prep and 'cpu_seconds' in peer_prep else None, '>9.2f')} "
            f"{fmt(pr / reopen['seconds'] if pr else None, '>12.2f')} | {reopen.get('import_seconds', 0):>8.2f}"
        )
        print(rows[-1] if len(rows) > 1 else header + "\n" + rows[-1], flush=True)
    print("ratios = peer / graphgen (> 1: graphgen faster). cpu s = user+sys of the child and its workers; on a "
          "shared machine wall time depends on load, cpu s much less. RSS = child peak + largest worker peak.")
    print("times exclude importing torch/PyG/RDKit in the child (same for both; printed as 'import s').")


if __name__ == "__main__":
    main()
