"""Speed / quality of GDSS (score SDE) sampling on CPU versus the number of reverse steps.

For each step count (the paper's 1000 and reduced counts) it samples ``-n`` QM9 molecules from one trained model with
the same seed, times the sampler (molecules per second, wall clock, ``--threads`` torch threads), scores them with the
GDSS protocol (validity w/o correction, NSPDK MMD, FCD, uniqueness, novelty) and prints one table with each row's
speed-up and metric deltas relative to the 1000-step row (the peer), plus GDSS's published QM9 numbers.

    python benchmarks/sampling.py --model qm9-gdss -n 1000 --steps 1000 500 200 100 --threads 2
"""
from __future__ import annotations

import argparse
import json
import time

import torch

PUBLISHED = {"valid_wo_corr": 95.72, "nspdk": 0.003, "fcd": 2.900, "unique": 98.46, "novel": 86.27}  # GDSS, QM9


def pick(scores: dict, *names: str) -> float:
    for n in names:
        if n in scores:
            return float(scores[n])
    return float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="saved generator folder (graphgen train sde --dataset qm9) or "
                   "bundled name (qm9-gdss)")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--steps", type=int, nargs="+", default=[1000, 500, 200, 100])
    p.add_argument("--method", default=None, help="pc | em | s4 (default: the model's sampler config)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = p.parse_args()

    from graphgen.evaluate import evaluate_molecules
    from graphgen.generate import load_generator
    from graphgen.generate.base import SampleStats

    torch.set_num_threads(args.threads)
    model = load_generator(args.model)                  # a saved folder or a bundled name (e.g. qm9-gdss)
    if getattr(model, "vocab", None) is None:
        raise SystemExit(f"{args.model} is not a molecule model")
    from graphgen.data.registry import load_dataset

    name = model.config.dataset
    train_smiles = list(load_dataset(name, "train").smiles)  # loaded once, shared by every row
    test_smiles = list(load_dataset(name, "test").smiles)
    rows = []
    for steps in args.steps:
        gen = torch.Generator().manual_seed(args.seed)
        stats = SampleStats()
        t0 = time.perf_counter()
        mols = model.sample(args.n, generator=gen, batch_size=args.batch_size, callback=stats, steps=steps,
                            sampler=args.method)
        sec = time.perf_counter() - t0
        scores = evaluate_molecules(mols, train=train_smiles, test=test_smiles, protocol="gdss",
                                    vocab=model.vocab, progress=False)
        row = {"steps": steps, "nfe": stats.evaluations_per_graph, "seconds": sec, "mol_per_s": args.n / sec,
               "valid_wo_corr": 100 * pick(scores, "validity_wo_correction", "valid_wo_corr", "validity"),
               "nspdk": pick(scores, "nspdk", "nspdk_mmd"), "fcd": pick(scores, "fcd"),
               "unique": 100 * pick(scores, "uniqueness", "unique"), "novel": 100 * pick(scores, "novelty", "novel"),
               "raw": scores}
        rows.append(row)
        print(f"steps={steps}: {row['mol_per_s']:.2f} mol/s, valid w/o corr {row['valid_wo_corr']:.2f}%", flush=True)

    base = next((r for r in rows if r["steps"] == 1000), rows[0])
    print(f"\nGDSS sampling on CPU ({args.threads} threads), {args.n} QM9 molecules, method="
          f"{args.method or model.config.sampler.method}; peer = the {base['steps']}-step row")
    hdr = f"{'steps':>6} {'NFE/net':>7} {'mol/s':>8} {'speed-up':>8} {'valid%':>7} {'NSPDK':>8} {'FCD':>7} " \
          f"{'uniq%':>6} {'novel%':>7} {'d valid':>8} {'FCD ratio':>9}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['steps']:>6} {r['nfe']:>7} {r['mol_per_s']:>8.2f} {r['mol_per_s'] / base['mol_per_s']:>7.2f}x "
              f"{r['valid_wo_corr']:>7.2f} {r['nspdk']:>8.4f} {r['fcd']:>7.3f} {r['unique']:>6.2f} {r['novel']:>7.2f} "
              f"{r['valid_wo_corr'] - base['valid_wo_corr']:>+8.2f} {r['fcd'] / base['fcd']:>9.2f}")
    pub = PUBLISHED
    print(f"{'GDSS (paper, 10k, GPU)':>24}: valid {pub['valid_wo_corr']}, NSPDK {pub['nspdk']}, FCD {pub['fcd']}, "
          f"unique {pub['unique']}, novel {pub['novel']} (unverified secondary source)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
