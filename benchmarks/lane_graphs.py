"""Lane-graph generation on ``lanes``: SLEDGE's lane metrics and geometric plausibility for reference rows, the
independent-lanes baseline and trained generators, in two markdown tables.

Rows (every metric from :func:`graphgen.evaluate.lane_graphs.evaluate_lane_graphs`, reference = the test split):

- ``test vs train``: the test split scored against the train split as reference. Its route length, endpoint gap,
  overlap and successor agreement are the test data's own values, the targets of the other rows. The splits are by
  map (different places), so the distances of this row also measure how much the test places differ from the
  training places.
- ``val vs test``: held-out real scenes (the val split, other maps again) scored exactly like a generator.
- ``baseline``: :func:`~graphgen.evaluate.lane_graphs.independent_lanes_baseline` (lane count and lanes drawn
  independently from the training split, successor edges by SLEDGE's rule), ``n`` scenes per seed, ``--seeds`` seeds.
- one row per ``--model`` and ``--steps``: ``load_generator(model).sample(n, steps=K, ...)`` with seeds
  ``0 .. seeds-1`` (``--steps default`` = the model's own step count), plus sampling speed (scenes per second, wall
  clock, ``--threads`` torch threads) and network evaluations per scene (:class:`graphgen.generate.base.SampleStats`).

``n`` is the size of the test split unless ``--num-samples`` is given; rows with several seeds show mean ± std over
the seeds (population std). The second table puts the SLEDGE metrics on the scale of the published tables: route
length and endpoint gap as mean ± std over scenes / edges (averaged over seeds), connectivity and convenience Fréchet
distances times 10 (Scenario Dreamer's tables), with SLEDGE's published nuPlan numbers (REFERENCE.md) for context:
nuPlan is another map source, so only the route length and endpoint gap (metres, same 64 m crop) compare directly.

    GRAPHGEN_DATA=/work/shared/data python benchmarks/lane_graphs.py                         # reference rows only
    GRAPHGEN_DATA=/work/shared/data python benchmarks/lane_graphs.py --model runs/lanes/ema --steps default 32
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

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tables import cell, markdown_table  # noqa: E402  (the benchmarks' shared table printer)

# (column title, metric key, format); a metric missing from a row prints "-"
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("route m", "route_length", ".1f"),
    ("endpoint gap m", "endpoint_gap", ".3f"),
    ("connectivity FD", "connectivity_fd", ".3f"),
    ("density FD", "density_fd", ".2f"),
    ("reach FD", "reach_fd", ".2f"),
    ("convenience FD", "convenience_fd", ".3f"),
    ("curvature MMD", "curvature_mmd", ".4f"),
    ("segment MMD", "segment_length_mmd", ".4f"),
    ("overlap", "overlap_rate", ".3f"),
    ("succ. precision", "successor_precision", ".3f"),
    ("succ. recall", "successor_recall", ".3f"),
    ("succ. F1", "successor_agreement", ".3f"),
    ("lanes", "mean_lanes", ".1f"),
    ("edges", "mean_edges", ".1f"),
    ("scenes/s", "scenes_per_second", ".2f"),
    ("NFE/scene", "nfe_per_graph", ".0f"),
)
# SLEDGE's published nuPlan numbers (REFERENCE.md): DiT-XL, and the route / gap magnitudes quoted for another model
SLEDGE_ROWS: tuple[tuple[str, dict[str, str]], ...] = (
    ("SLEDGE DiT-XL, nuPlan (paper)", {"route": "35.37 ± 10.28", "reach": "0.20", "convenience": "0.47"}),
    ("other model, nuPlan (REFERENCE.md)", {"route": "36.7 ± 10.4", "gap": "0.25 ± 0.71"}),
)


def table_row(name: str, runs: Sequence[dict[str, float]]) -> list[str]:
    return [name, str(len(runs))] + [cell([r[key] for r in runs if key in r], fmt) for _, key, fmt in COLUMNS]


def sledge_scale_row(name: str, runs: Sequence[dict[str, float]]) -> list[str]:
    """route and gap as mean ± std over scenes / edges, connectivity and convenience FD x 10; seeds averaged (seeds
    where a value is undefined are left out of its average)."""
    def avg(key: str, factor: float = 1.0) -> float:  # over the seeds where the value is defined
        values = np.array([r[key] for r in runs], dtype=float)
        values = values[np.isfinite(values)]
        return factor * float(values.mean()) if len(values) else float("nan")

    return [name,
            f"{avg('route_length'):.2f} ± {avg('route_length_std'):.2f}",
            f"{avg('endpoint_gap'):.3f} ± {avg('endpoint_gap_std'):.3f}",
            f"{avg('connectivity_fd', 10):.2f}", f"{avg('density_fd'):.2f}", f"{avg('reach_fd'):.2f}",
            f"{avg('convenience_fd', 10):.2f}"]


def seeded_runs(draw: Callable[[int], dict[str, float]], seeds: int, label: str) -> list[dict[str, float]]:
    runs = []
    for seed in range(seeds):
        runs.append(draw(seed))
        shown = {k: round(v, 4) for k, v in runs[-1].items() if k in {c[1] for c in COLUMNS}}
        print(f"{label}, seed {seed}: {shown}", flush=True)
    return runs


def parse_steps(values: Sequence[str]) -> list[int | None]:
    """``default`` -> None (the model's own step count), else a positive integer."""
    out: list[int | None] = []
    for v in values:
        if v == "default":
            out.append(None)
        elif v.isdigit() and int(v) > 0:
            out.append(int(v))
        else:
            raise SystemExit(f"--steps takes positive integers or 'default', got {v!r}")
    return out


def default_steps(model) -> str:
    steps = getattr(getattr(getattr(model, "config", None), "edm", None), "steps", None)
    return f"default ({steps})" if steps is not None else "default"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="lanes", choices=["lanes"])
    p.add_argument("--model", action="append", default=[],
                   help="saved generator folder or bundled name; repeat for several models (none: reference rows)")
    p.add_argument("--steps", nargs="+", default=["default", "32"],
                   help="sampling steps per model row: integers or 'default' (the model's own)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. seeds-1 for the baseline and each model row")
    p.add_argument("--num-samples", type=int, default=None, help="scenes per seed (default: test-split size)")
    p.add_argument("--threads", type=int, default=2, help="torch threads while sampling")
    p.add_argument("--data-dir", default=os.environ.get("GRAPHGEN_DATA"))
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "lane_graphs.md")
    args = p.parse_args()
    steps_list = parse_steps(args.steps)

    from graphgen.data.registry import load_dataset
    from graphgen.evaluate.lane_graphs import evaluate_lane_graphs, independent_lanes_baseline

    torch.set_num_threads(args.threads)
    split = {s: list(load_dataset(args.dataset, s, data_dir=args.data_dir)) for s in ("train", "val", "test")}
    train, test = split["train"], split["test"]
    n = args.num_samples or len(test)
    print(f"{args.dataset}: {len(train)} train / {len(split['val'])} val / {len(test)} test scenes; "
          f"{n} scenes per seed, {args.seeds} seeds", flush=True)

    named_runs: list[tuple[str, list[dict[str, float]]]] = []
    start = time.perf_counter()
    named_runs.append(("test vs train", [evaluate_lane_graphs(test, train)]))
    print(f"test vs train: {time.perf_counter() - start:.0f} s", flush=True)
    named_runs.append(("val vs test", [evaluate_lane_graphs(split["val"], test)]))

    def baseline(seed: int) -> dict[str, float]:
        graphs = independent_lanes_baseline(train, n, generator=torch.Generator().manual_seed(seed))
        return evaluate_lane_graphs(graphs, test)

    named_runs.append(("baseline (independent lanes, rule edges)", seeded_runs(baseline, args.seeds, "baseline")))

    if args.model:
        from graphgen.generate import load_generator
        from graphgen.generate.base import SampleStats

    for name in args.model:
        model = load_generator(name)
        for steps in steps_list:
            options = {} if steps is None else {"steps": steps}

            def sampled(seed: int) -> dict[str, float]:
                stats = SampleStats()
                begin = time.perf_counter()
                graphs = model.sample(n, generator=torch.Generator().manual_seed(seed), progress=True,
                                      callback=stats, **options)
                seconds = time.perf_counter() - begin
                scores = evaluate_lane_graphs(graphs, test)
                return {**scores, "scenes_per_second": n / seconds, "nfe_per_graph": stats.evaluations_per_graph}

            label = f"{name}, {steps if steps is not None else default_steps(model)} steps"
            named_runs.append((label, seeded_runs(sampled, args.seeds, label)))

    header = ["rows", "seeds"] + [title for title, _, _ in COLUMNS]
    table = markdown_table(header, [table_row(name, runs) for name, runs in named_runs])
    scale_header = ["rows", "route m (± scenes)", "endpoint gap m (± edges)", "connectivity FD x10", "density FD",
                    "reach FD", "convenience FD x10"]
    scale_rows = [sledge_scale_row(name, runs) for name, runs in named_runs]
    scale_rows += [[name, v.get("route", "-"), v.get("gap", "-"), "-", "-", v.get("reach", "-"),
                    v.get("convenience", "-")] for name, v in SLEDGE_ROWS]
    scale_table = markdown_table(scale_header, scale_rows)
    note = (f"{args.dataset}: reference = test split ({len(test)} scenes; the train split, {len(train)} scenes, for "
            f"'test vs train'); {n} scenes per seed; torch {torch.__version__}, {args.threads} threads, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}. Definitions: graphgen/evaluate/lane_graphs.py.")
    scale_note = ("On SLEDGE's scale: route length and endpoint gap as mean ± std over scenes / edges (seeds "
                  "averaged); connectivity and convenience FD x 10 as in Scenario Dreamer's tables (whether SLEDGE's "
                  "own Reach / Convenience carry that factor is not stated). SLEDGE's rows are nuPlan (another map "
                  "source); only the metres compare directly. The route and gap of 'test vs train' are the test "
                  "data's own.")
    print("\n" + note + "\n\n" + table + "\n\n" + scale_note + "\n\n" + scale_table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(f"# Lane-graph generation ({args.dataset})\n\n{note}\n\n{table}\n\n## On SLEDGE's scale\n\n"
                        f"{scale_note}\n\n{scale_table}\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
