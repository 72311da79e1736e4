"""Molecule half of the evaluation speed benchmark: GDSS-protocol metrics of QM9 test molecules against the QM9 test
set (train set for novelty), i.e. what a perfect generator scores, timed with a cold and then a warm reference cache.

Peer (``--peer``): the plain ``fcd_torch.FCD`` call that GDSS/MOSES make (2 threads, SMILES canonicalised inside,
``scipy.linalg.sqrtm``), on the same generated and test SMILES, printed next to our FCD as a time ratio.

Usage::

    GRAPHGEN_DATA=/work/shared/data nice -n 10 python benchmarks/eval_speed_molecules.py [--num 10000] [--peer]

QM9 split (GDSS): test = rows ``int(i)`` of ``valid_idx_qm9.json`` (0-based into ``qm9_smiles.csv.gz``), in the
file's order; train = all other rows. Generated = the first ``--num`` test molecules.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import tempfile
import time
import warnings
from pathlib import Path


def load_qm9(root: Path) -> tuple[list[str], list[str]]:
    with gzip.open(root / "molecules/qm9_smiles.csv.gz", "rt") as f:
        rows = [r["SMILES1"] for r in csv.DictReader(f)]
    idx = [int(i) for i in json.loads((root / "molecules/valid_idx_qm9.json").read_text())["valid_idxs"]]
    taken = set(idx)
    return [s for i, s in enumerate(rows) if i not in taken], [rows[i] for i in idx]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=10000, help="generated molecules (first N of the QM9 test set)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--peer", action="store_true", help="also time fcd_torch's plain FCD call")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    root = Path(os.environ.get("GRAPHGEN_DATA", "../shared/data"))
    train, test = load_qm9(root)
    gen = test[:args.num]
    print(f"QM9: train {len(train)}, test {len(test)}, generated = first {len(gen)} test molecules; "
          f"cpu cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (cores shared with other jobs)")

    with tempfile.TemporaryDirectory() as cache:
        os.environ["GRAPHGEN_CACHE"] = cache  # cold: empty reference cache
        from graphgen.evaluate.molecules import evaluate_molecules

        times, results = {}, {}
        for label in ("cold", "warm"):
            t0 = time.perf_counter()
            results[label] = evaluate_molecules(gen, train=train, test=test, protocol="gdss", n_jobs=args.n_jobs,
                                                progress=not args.no_progress)
            times[label] = time.perf_counter() - t0
            print(f"{label} reference cache: {times[label]:.1f} s (load average {os.getloadavg()[0]:.1f})",
                  flush=True)
    assert results["cold"] == results["warm"], "cached reference statistics changed the scores"

    print("\nGDSS protocol, QM9 test molecules scored against QM9 test (novelty vs QM9 train):")
    print(f"{'metric':<24}{'value':>14}")
    for k, v in results["warm"].items():
        print(f"{k:<24}{v:>14.6g}")
    print(f"\n{'run':<24}{'seconds':>10}{'ratio to cold':>16}")
    for label in ("cold", "warm"):
        print(f"{label:<24}{times[label]:>10.1f}{times[label] / times['cold']:>16.2f}")

    if args.peer:
        import numpy as np
        from fcd_torch import FCD

        from graphgen.evaluate.fcd import fcd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            peer = FCD(device="cpu", n_jobs=args.n_jobs)(gen, test)
            t_peer = time.perf_counter() - t0
        from graphgen.evaluate.molecules import canonicalize_smiles

        t0 = time.perf_counter()  # ours gets canonical SMILES too (the evaluator canonicalises before calling it)
        ours = fcd([canonicalize_smiles(s) for s in gen], [canonicalize_smiles(s) for s in test],
                   n_jobs=args.n_jobs, progress=False)
        t_ours = time.perf_counter() - t0
        print(f"\n{'FCD, cold (both sides)':<28}{'value':>12}{'seconds':>10}{'time ratio':>12}")
        print(f"{'fcd_torch FCD()(gen, test)':<28}{peer:>12.6f}{t_peer:>10.1f}{1.0:>12.2f}")
        print(f"{'graphgen fcd(gen, test)':<28}{ours:>12.6f}{t_ours:>10.1f}{t_ours / t_peer:>12.2f}")
        print(f"|diff| = {abs(peer - ours):.2e} (QM9 has no stereo, so isomeric and non-isomeric canonical SMILES "
              f"agree; the trace term differs only by sqrtm vs eigenvalues); finite: {np.isfinite(ours)}")


if __name__ == "__main__":
    main()
