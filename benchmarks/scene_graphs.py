"""Scene-graph generation on coco_sg: DiffuseSG's metrics and relation consistency for reference rows, the
marginal baseline and trained generators, in one markdown table.

Rows (every metric from :func:`graphgen.evaluate.scene_graphs.evaluate_scene_graphs`, novelty against the train
split):

- ``test vs train``: the test split scored against the train split as reference. Its layout columns (overlap,
  alignment, relation consistency) are the test data's own values, the targets of the other rows; its novelty is
  the share of test triplets never seen in training.
- ``val vs test``: held-out real graphs (the val split) scored exactly like a generator (reference = test). This is
  what a perfect generator gets with a sample of about the same size; MMD² is a biased estimate whose floor depends
  on the sample sizes, so this row, not ``test vs train``, is the floor for the MMD columns.
- ``baseline``: :func:`~graphgen.evaluate.scene_graphs.marginal_baseline` (object count, classes and boxes drawn
  independently from the training marginals, relations by sg2im's rule), ``n`` graphs per seed, ``--seeds`` seeds.
- one row per ``--model`` and ``--steps``: ``load_generator(model).sample(n, steps=K, ...)`` with seeds
  ``0 .. seeds-1``, plus sampling speed (scene graphs per second, wall clock, ``--threads`` torch threads) and
  network evaluations per graph (:class:`graphgen.generate.base.SampleStats`).

``n`` is the size of the test split unless ``--num-samples`` is given; rows with several seeds show mean ± std
(population std over the seeds). The table is printed and written to ``--out``.

    GRAPHGEN_DATA=/work/shared/data python benchmarks/scene_graphs.py                       # reference rows only
    GRAPHGEN_DATA=/work/shared/data python benchmarks/scene_graphs.py --model coco-sg --steps 256 32
"""
from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# torch's OpenMP threads spin at barriers by default, which on this shared 2-core machine slows every parallel op
# (see benchmarks/ops.py); the variable is read once, when torch loads, so it is set before the import
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from tables import cell, markdown_table  # noqa: E402  (the benchmarks' shared table printer)

# (column title, metric key, format); a metric missing from a row prints "-"
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("degree MMD", "degree_mmd", ".5f"),
    ("node type MMD", "node_type_mmd", ".5f"),
    ("edge type MMD", "edge_type_mmd", ".5f"),
    ("triplet TV", "triplet_tv", ".3f"),
    ("novelty", "triplet_novelty", ".3f"),
    ("box F1", "box_f1", ".4f"),
    ("box max F1", "box_max_f1", ".3f"),
    ("overlap", "overlap", ".3f"),
    ("alignment", "alignment", ".3f"),
    ("rel. consistency", "relation_consistency", ".3f"),
    ("objects", "mean_objects", ".2f"),
    ("graphs/s", "graphs_per_second", ".2f"),
    ("NFE/graph", "nfe_per_graph", ".0f"),
)


def table_row(name: str, runs: Sequence[dict[str, float]]) -> list[str]:
    return [name, str(len(runs))] + [cell([r[key] for r in runs if key in r], fmt) for _, key, fmt in COLUMNS]


def seeded_runs(draw: Callable[[int], dict[str, float]], seeds: int, label: str) -> list[dict[str, float]]:
    runs = []
    for seed in range(seeds):
        runs.append(draw(seed))
        shown = {k: round(v, 5) for k, v in runs[-1].items() if k in {c[1] for c in COLUMNS}}
        print(f"{label}, seed {seed}: {shown}", flush=True)
    return runs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="coco_sg", choices=["coco_sg", "coco_sg2im"])
    p.add_argument("--model", action="append", default=[],
                   help="saved generator folder or bundled name; repeat for several models (none: reference rows)")
    p.add_argument("--steps", type=int, nargs="+", default=[256, 32], help="sampling steps per model row")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. seeds-1 for the baseline and each model row")
    p.add_argument("--num-samples", type=int, default=None, help="graphs per seed (default: test-split size)")
    p.add_argument("--threads", type=int, default=2, help="torch threads while sampling")
    p.add_argument("--data-dir", default=os.environ.get("GRAPHGEN_DATA"))
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "scene_graphs.md")
    args = p.parse_args()

    from graphgen.data.registry import load_dataset
    from graphgen.evaluate.scene_graphs import evaluate_scene_graphs, marginal_baseline

    torch.set_num_threads(args.threads)
    split = {s: list(load_dataset(args.dataset, s, data_dir=args.data_dir)) for s in ("train", "val", "test")}
    train, test = split["train"], split["test"]
    n = args.num_samples or len(test)
    print(f"{args.dataset}: {len(train)} train / {len(split['val'])} val / {len(test)} test graphs; "
          f"{n} graphs per seed, {args.seeds} seeds", flush=True)

    rows = [table_row("test vs train", [evaluate_scene_graphs(test, train, train)]),
            table_row("val vs test", [evaluate_scene_graphs(split["val"], test, train)])]

    def baseline(seed: int) -> dict[str, float]:
        graphs = marginal_baseline(train, n, generator=torch.Generator().manual_seed(seed))
        return evaluate_scene_graphs(graphs, test, train)

    rows.append(table_row("baseline (independent marginals)", seeded_runs(baseline, args.seeds, "baseline")))

    if args.model:
        from graphgen.generate import load_generator
        from graphgen.generate.base import SampleStats

    for name in args.model:
        model = load_generator(name)
        for steps in args.steps:
            def sampled(seed: int) -> dict[str, float]:
                stats = SampleStats()
                start = time.perf_counter()
                graphs = model.sample(n, generator=torch.Generator().manual_seed(seed), steps=steps, progress=True,
                                      callback=stats)
                seconds = time.perf_counter() - start
                scores = evaluate_scene_graphs(graphs, test, train)
                return {**scores, "graphs_per_second": n / seconds, "nfe_per_graph": stats.evaluations_per_graph}

            rows.append(table_row(f"{name}, {steps} steps", seeded_runs(sampled, args.seeds, f"{name} {steps}")))

    header = ["rows", "seeds"] + [title for title, _, _ in COLUMNS]
    table = markdown_table(header, rows)
    note = (f"{args.dataset}: reference = test split ({len(test)} graphs; the train split for 'test vs train'), "
            f"novelty vs train ({len(train)} graphs); "
            f"{n} graphs per seed; torch {torch.__version__}, {args.threads} threads, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}. Definitions: graphgen/evaluate/scene_graphs.py.")
    print("\n" + note + "\n\n" + table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(f"# Scene-graph generation ({args.dataset})\n\n{note}\n\n{table}\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
