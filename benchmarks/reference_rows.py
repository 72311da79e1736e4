"""Train-vs-test reference rows of the generic-graph protocols: MMD²(train, test) per statistic, per dataset.

These are the rows a generator's MMDs are compared against (a perfect generator scores about this much) and the
denominators of the MMD ratios. Each dataset is scored on its own protocol (GDSS: degree / clustering / orbit with
the Gaussian-EMD kernel; SPECTRE: degree / clustering / orbit / spectral with Gaussian-TV), and for planar, tree and
SBM the V.U.N. of the test split against the train split is printed too.

    GRAPHGEN_DATA=/work/shared/data python benchmarks/reference_rows.py [--datasets community_small planar]
"""
from __future__ import annotations

import argparse
import os
import time

from graphgen.data.registry import load_dataset
from graphgen.evaluate.commands import GRAPH_DATASETS
from graphgen.evaluate.graphs import evaluate_graphs

STATS = ("degree", "clustering", "orbit", "spectral")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(GRAPH_DATASETS), choices=list(GRAPH_DATASETS))
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHGEN_DATA"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"{'dataset':<16}{'protocol':<9}" + "".join(f"{s:>12}" for s in STATS) + f"{'V.U.N.':>9}{'seconds':>9}")
    for name in args.datasets:
        protocol, validity = GRAPH_DATASETS[name]
        train = list(load_dataset(name, "train", data_dir=args.data_dir))
        test = list(load_dataset(name, "test", data_dir=args.data_dir))
        t0 = time.perf_counter()
        out = evaluate_graphs(test, test, protocol, train=train, validity=validity, num_workers=args.workers)
        cells = "".join(f"{out[f'{s}_ref']:>12.5f}" if f"{s}_ref" in out else f"{'-':>12}" for s in STATS)
        vun = f"{out['vun']:>9.3f}" if "vun" in out else f"{'-':>9}"
        print(f"{name:<16}{protocol:<9}{cells}{vun}{time.perf_counter() - t0:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
