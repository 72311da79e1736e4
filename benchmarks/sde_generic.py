"""GDSS-protocol MMDs of a trained generator (score-SDE or PARD) on community_small / ego_small, next to GDSS's numbers.

Samples as many graphs as the test split holds (GDSS protocol) with ``--repeats`` different seeds, scores each draw
with ``graphgen.evaluate.evaluate_graphs(protocol="gdss")`` against the test split, and prints mean ± std per
statistic, the published GDSS numbers and the ratio ours / published (< 1 is better), plus the train-vs-test MMD as
a floor for what a perfect model can reach with so few graphs.

    python benchmarks/sde_generic.py --model runs/sde/community_small/final --repeats 3
    python benchmarks/sde_generic.py --model runs/pard_community_small/ema --dataset community_small   # PARD
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

# GDSS (Jo et al. 2022), Table 1: degree / clustering / orbit MMD (unverified secondary source, see REFERENCE.md)
PUBLISHED = {"community_small": (0.045, 0.086, 0.007), "ego_small": (0.021, 0.024, 0.007)}
STATS = ("degree", "clustering", "orbit")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-n", type=int, default=None, help="graphs per draw (default: test-split size, GDSS protocol)")
    p.add_argument("--steps", type=int, default=None, help="reverse steps (default: the model's, 1000)")
    p.add_argument("--method", default=None)
    p.add_argument("--dataset", default=None, choices=sorted(PUBLISHED),
                   help="default: the model config's dataset (score-SDE models record it; PARD models need this)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None)
    args = p.parse_args()

    from graphgen.data.registry import load_dataset
    from graphgen.evaluate import evaluate_graphs
    from graphgen.generate import load_generator

    torch.set_num_threads(args.threads)
    model = load_generator(args.model)
    name = args.dataset or getattr(model.config, "dataset", None)
    if name is None:
        p.error(f"{args.model} does not record its dataset: pass --dataset")
    test = [load_dataset(name, "test")[i] for i in range(len(load_dataset(name, "test")))]
    train = [load_dataset(name, "train")[i] for i in range(len(load_dataset(name, "train")))]
    n = args.n or len(test)
    floor = evaluate_graphs(train, test, protocol="gdss", progress=False, num_workers=0)
    rows = []
    for r in range(args.repeats):
        gen = torch.Generator().manual_seed(args.seed + r)
        t0 = time.perf_counter()
        sampler_args = {k: v for k, v in (("num_steps", args.steps), ("method", args.method)) if v is not None}
        graphs = model.sample(n, generator=gen, **sampler_args)
        sec = time.perf_counter() - t0
        scores = evaluate_graphs(graphs, test, protocol="gdss", progress=False, num_workers=0)
        rows.append({"seed": args.seed + r, "seconds": sec, **{s: scores[s] for s in STATS}})
        print(json.dumps(rows[-1]), flush=True)
    arr = np.array([[row[s] for s in STATS] for row in rows])
    pub = PUBLISHED.get(name)
    sampler = getattr(model.config, "sampler", None)
    how = (f"steps={args.steps or sampler.num_steps or 1000}, method={args.method or sampler.method}" if sampler
           else type(model).__name__)
    print(f"\n{name}: {args.repeats} draws of {n} graphs, {how}")
    print(f"{'':>10} {'ours mean':>10} {'± std':>8} {'GDSS':>7} {'ours/GDSS':>9} {'train-vs-test':>13}")
    for j, s in enumerate(STATS):
        ref = pub[j] if pub else float("nan")
        print(f"{s:>10} {arr[:, j].mean():>10.4f} {arr[:, j].std():>8.4f} {ref:>7.3f} "
              f"{arr[:, j].mean() / ref:>9.2f} {floor[s]:>13.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "train_vs_test": {s: floor[s] for s in STATS}}, f, indent=1)


if __name__ == "__main__":
    main()
