"""``graphgen bench diffgraph --dataset retail_rocket|aminer``: DiffGraph, its no-diffusion ablation and LightGCN, each
trained with its preset for several seeds in one run; prints mean and spread of the selected epoch's test metrics next
to the published DiffGraph numbers, with the training and evaluation time per epoch.

Every run is a normal run folder under ``--out`` (``<variant>_<dataset>[_r<rate>]_s<seed>``, ``result.json`` inside),
so an interrupted bench is continued with ``--resume``: finished runs are read back, unfinished ones resumed.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from graphgen.generate.diffgraph.train import DATASETS, LABEL_RATES, DiffGraphRunConfig, preset_family
from graphgen.generate.diffgraph.model import VARIANTS

# published numbers (REFERENCE.md section 5: the DiffGraph README / paper), as fractions
PUBLISHED: dict[tuple[str, int | None], dict[str, float]] = {
    ("retail_rocket", None): {"recall@20": 0.0620, "ndcg@20": 0.0367},
    ("aminer", 20): {"micro_f1": 0.8055},
    ("aminer", 40): {"micro_f1": 0.8329, "auc": 0.9441},
}
METRICS = {"retail_rocket": ("recall@20", "ndcg@20"), "aminer": ("micro_f1", "macro_f1", "auc")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="retail_rocket", choices=DATASETS)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--label-rates", default="40", help="aminer: comma-separated labels per class (20, 40, 60)")
    parser.add_argument("--epochs", type=int, default=None, help="override the presets' epoch count")
    parser.add_argument("--protocol", default="graphgen", choices=["graphgen", "released"],
                        help="graphgen: select on validation (default); released: the released code's protocol "
                             "(every training purchase fitted, selection on test), to compare with its numbers")
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget per run")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default="runs/bench/diffgraph", help="folder of the run folders")
    parser.add_argument("--resume", action="store_true", help="reuse finished runs and resume unfinished ones in --out")
    parser.add_argument("--overwrite", action="store_true", help="replace the run folders that --out already holds")
    parser.add_argument("--json", type=Path, default=None, help="also write every run's summary here")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-progress", action="store_true")


def _ints(text: str, flag: str) -> list[int]:
    from graphgen.errors import InputError

    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise InputError(f"{flag} must be comma-separated integers, got {text!r}") from None


def _config(variant: str, dataset: str, seed: int, rate: int | None, args: argparse.Namespace) -> DiffGraphRunConfig:
    from graphgen.train import config as config_lib

    cfg = config_lib.resolve(DiffGraphRunConfig, base={"dataset": dataset},
                             preset=config_lib.preset_path(preset_family(variant), dataset))
    cfg.model.variant = variant
    cfg.protocol = args.protocol
    cfg.trainer.seed = seed
    cfg.trainer.progress = not args.no_progress
    if rate is not None:
        cfg.label_rate = rate
    if args.epochs is not None:
        cfg.trainer.epochs = args.epochs
    if args.minutes is not None:
        cfg.trainer.minutes = args.minutes
    if args.threads is not None:
        cfg.trainer.threads = args.threads
    return cfg


def run_one(cfg: DiffGraphRunConfig, folder: Path, *, resume: bool, overwrite: bool,
            data_dir: str | None) -> dict[str, Any]:
    from graphgen.generate.diffgraph.train import train
    from graphgen.train.checkpoint import RunFolder

    done = folder / "result.json"
    if resume and done.is_file() and json.loads(done.read_text()).get("stopped_by") == "epochs":
        return json.loads(done.read_text())
    again = resume and RunFolder(folder).has_checkpoint()
    # a run folder is replaced only with --overwrite, or with --resume when it holds no checkpoint to continue
    return train(cfg, out=folder, resume=again, overwrite=overwrite or (resume and not again), data_dir=data_dir)


def summarise(rows: list[dict[str, Any]], dataset: str) -> str:
    """One table row per (variant, label rate, protocol): mean ± sample standard deviation over seeds of the test
    metrics at the selected epoch (``graphgen``: chosen on validation; ``released``: on the test split, as the
    released code chose the published numbers), then the published row(s). Figures in percent for node
    classification."""
    from graphgen.train.bench import format_rows

    metrics = METRICS[dataset]
    percent = dataset == "aminer"

    def cell(values: list[float]) -> str:
        scale = 100.0 if percent else 1.0
        mean = statistics.fmean(values) * scale
        spread = statistics.stdev(values) * scale if len(values) > 1 else 0.0
        return f"{mean:.2f} ± {spread:.2f}" if percent else f"{mean:.4f} ± {spread:.4f}"

    groups: dict[tuple[str, int | None, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["model"], r.get("label_rate"), r.get("protocol", "graphgen")), []).append(r)
    header = ("model", *(("labels/class",) if percent else ()), "seeds", "selection on",
              *[f"test {m}" for m in metrics], "best epoch", "train s/epoch", "eval s/epoch", "threads")
    table = []
    for (model, rate, protocol), rs in groups.items():
        table.append((model, *((str(rate),) if percent else ()), str(len(rs)),
                      "val" if protocol == "graphgen" else "test (released)",
                      *[cell([r["selected"][f"test_{m}"] for r in rs]) for m in metrics],
                      "/".join(str(r["best_epoch"]) for r in rs),
                      f"{statistics.fmean(r['train_seconds_per_epoch'] for r in rs):.2f}",
                      f"{statistics.fmean(r['eval_seconds_per_epoch'] for r in rs):.2f}", str(rs[0]["threads"])))
    for (name, rate), published in PUBLISHED.items():
        if name != dataset or (percent and rate not in {r.get("label_rate") for r in rows}):
            continue
        table.append(("DiffGraph (published)", *((str(rate),) if percent else ()), "-", "test (released)",
                      *[(f"{published[m] * (100 if percent else 1):.{2 if percent else 4}f}" if m in published
                         else "-") for m in metrics], "-", "-", "-", "-"))
    return format_rows(header, table)


def run(args: argparse.Namespace) -> int:
    from graphgen.errors import InputError

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise InputError(f"--variants: unknown {unknown}; choose from {list(VARIANTS)}")
    seeds = _ints(args.seeds, "--seeds")
    rates: list[int | None] = [None]
    if args.dataset == "aminer":
        rates = list(_ints(args.label_rates, "--label-rates"))
        bad = [r for r in rates if r not in LABEL_RATES]
        if bad:
            raise InputError(f"--label-rates: {bad} not available; AMiner has {list(LABEL_RATES)}")
    out = Path(args.out)
    rows = []
    for rate in rates:
        for variant in variants:
            for seed in seeds:
                tag = (f"{variant}_{args.dataset}" + (f"_r{rate}" if rate is not None else "")
                       + ("_released" if args.protocol == "released" else "") + f"_s{seed}")
                print(f"[bench diffgraph] {tag}", file=sys.stderr)
                cfg = _config(variant, args.dataset, seed, rate, args)
                rows.append(run_one(cfg, out / tag, resume=args.resume, overwrite=args.overwrite,
                                    data_dir=args.data_dir))
    print(summarise(rows, args.dataset))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0
