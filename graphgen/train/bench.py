"""``graphgen bench``: benchmark runs from the command line, one table per run.

Two kinds, for the two halves of graphgen:

``graphgen bench encoders --dataset zinc12k --models gps,grit,mpnn_vn,gt --minutes 20``
    trains each encoder with its paper preset (``graphgen/train/configs``) under the same wall-clock budget and seed,
    selects the epoch on validation, and prints parameters, epochs, best validation and test-at-best-validation
    (MAE on ZINC-12k, ROC-AUC from ``ogb.graphproppred.Evaluator`` on ogbg-molhiv). Rows are appended to a CSV.

``graphgen bench generate --dataset qm9 --model qm9 -n 1000``
    samples ``n`` molecules from a bundled or saved generator and scores them on the dataset's published protocol
    (GDSS protocol for qm9 and zinc250k, the MOSES suite for moses), writing the scores as JSON.

Every figure is computed in the run; nothing is read from a table of expected values.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

GENERATION_PROTOCOLS = {"qm9": "gdss", "zinc250k": "gdss", "moses": "moses"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", required=True)

    enc = sub.add_parser("encoders", help="train encoders under one budget and compare them")
    enc.add_argument("--dataset", default="zinc12k", choices=["zinc12k", "ogbg-molhiv"])
    enc.add_argument("--models", default="gps,grit,mpnn_vn,gt", help="comma-separated: gps, grit, mpnn_vn, gt")
    enc.add_argument("--minutes", type=float, default=20.0, help="wall-clock training budget per model")
    from graphgen.train.runs import add_deprecated_budget_aliases

    add_deprecated_budget_aliases(enc, "minutes")  # --budget-minutes / --time-budget: hidden, deprecated
    enc.add_argument("--epochs", type=int, default=None, help="override the preset's epoch count")
    enc.add_argument("--seeds", default="0", help="comma-separated seeds")
    enc.add_argument("--max-train-graphs", type=int, default=None, help="train on the first n graphs only")
    enc.add_argument("--max-eval-graphs", type=int, default=None, help="score the first n val/test graphs only")
    enc.add_argument("--threads", type=int, default=None)
    enc.add_argument("--out", default="runs/bench", help="folder for the runs and results.csv")
    enc.add_argument("--data-dir", default=None)
    enc.add_argument("--no-progress", action="store_true")

    gen = sub.add_parser("generate", help="sample from a generator and score it on a dataset's protocol")
    gen.add_argument("--dataset", default="qm9", choices=sorted(GENERATION_PROTOCOLS))
    gen.add_argument("--model", default="qm9", help="bundled model name or a folder written by save_pretrained()")
    gen.add_argument("-n", "--num-samples", type=int, default=1000)
    gen.add_argument("--protocol", default=None, choices=["gdss", "digress", "moses"],
                     help="default: gdss for qm9/zinc250k, moses for moses")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--batch-size", type=int, default=500)
    gen.add_argument("--threads", type=int, default=None)
    gen.add_argument("--json", type=Path, default=None, help="write the scores here (default runs/bench/<...>.json)")
    gen.add_argument("--data-dir", default=None)
    gen.add_argument("--no-progress", action="store_true")
    gen.add_argument("--reuse-samples", action="store_true",
                     help="score the samples saved next to the JSON by an earlier run with the same arguments "
                          "(every run saves them before scoring) instead of sampling again")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _split_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def run_encoders(args: argparse.Namespace) -> list[dict]:
    from graphgen.train.encoder import MODELS, load_preset, train

    models = _split_list(args.models)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise SystemExit(f"graphgen bench encoders: unknown model(s) {unknown}; choose from {list(MODELS)}")
    try:
        seeds = [int(s) for s in _split_list(args.seeds)]
    except ValueError:
        raise SystemExit(f"graphgen bench encoders: --seeds must be integers, got {args.seeds!r}") from None
    out = Path(args.out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows = []
    for model in models:
        for seed in seeds:
            cfg = load_preset(model, args.dataset)
            cfg.trainer.seed = seed
            cfg.trainer.minutes = args.minutes
            cfg.trainer.progress = not args.no_progress
            if args.epochs is not None:
                cfg.trainer.epochs = args.epochs
            if args.max_train_graphs is not None:
                cfg.max_train_graphs = args.max_train_graphs
            if args.max_eval_graphs is not None:
                cfg.max_eval_graphs = args.max_eval_graphs
            if args.threads is not None:
                cfg.trainer.threads = args.threads
            rows.append(train(cfg, out=out / f"{stamp}_{model}_{args.dataset}_s{seed}",
                              results_csv=str(out / "results.csv"), data_dir=args.data_dir))
    metric = rows[0]["metric"]
    header = ("model", "seed", "params", "epochs", "minutes", f"best val {metric}", f"test {metric} @ best val")
    table = [(r["model"], str(r["seed"]), f"{r['params']:,}", str(r["epochs_run"]), f"{r['elapsed_min']:.1f}",
              _fmt(r[f"best_val_{metric}"]), _fmt(r[f"test_{metric}_at_best_val"])) for r in rows]
    print(format_rows(header, table))
    print(f"rows appended to {out / 'results.csv'}", file=sys.stderr)
    return rows


def run_generate(args: argparse.Namespace) -> dict:
    import torch

    from graphgen.data.graph_file import load_graphs, save_graphs
    from graphgen.data.molecules import VOCABS
    from graphgen.evaluate.commands import format_table
    from graphgen.evaluate.molecules import evaluate_molecules
    from graphgen.generate import load_generator

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.num_samples < 1:
        raise SystemExit("graphgen bench generate: -n must be >= 1")
    try:
        model = load_generator(args.model)
    except FileNotFoundError as err:
        raise SystemExit(f"graphgen bench generate: {err}") from None
    vocab_name = getattr(model.config, "vocab", None)
    if vocab_name is None:
        raise SystemExit(f"graphgen bench generate: model {args.model!r} does not generate molecules")
    if vocab_name != args.dataset:
        print(f"[bench] note: the model's vocabulary is {vocab_name!r}, scored against {args.dataset!r}",
              file=sys.stderr)
    default = f"generate_{args.dataset}_{Path(str(args.model)).name}_n{args.num_samples}.json"
    path = Path(args.json or Path("runs/bench") / default)
    # the samples are saved before scoring, so a scoring failure does not cost the (long) sampling run
    samples_path = path.with_suffix(".samples.safetensors")
    key = {"model": str(args.model), "num_samples": args.num_samples, "seed": args.seed}
    if args.reuse_samples:
        if not samples_path.exists():
            raise SystemExit(f"graphgen bench generate: --reuse-samples but {samples_path} does not exist")
        graphs, saved = load_graphs(samples_path)
        if saved.get("key") != key:
            raise SystemExit(f"graphgen bench generate: {samples_path} holds samples of {saved.get('key')}, not {key}")
        seconds = saved["seconds"]
        evaluations = saved.get("evaluations_per_graph")  # absent in files saved before it was recorded
        print(f"[bench] scoring {len(graphs)} saved samples from {samples_path}", file=sys.stderr)
    else:
        from graphgen.generate.base import SampleStats

        stats = SampleStats()
        start = time.perf_counter()
        graphs = model.sample(args.num_samples, generator=torch.Generator().manual_seed(args.seed),
                              batch_size=args.batch_size, progress=not args.no_progress, callback=stats)
        seconds = time.perf_counter() - start
        evaluations = stats.evaluations_per_graph
        path.parent.mkdir(parents=True, exist_ok=True)
        save_graphs(samples_path, graphs, {"key": key, "seconds": seconds, "evaluations_per_graph": evaluations})
        print(f"[bench] saved the samples to {samples_path}", file=sys.stderr)
    protocol = args.protocol or GENERATION_PROTOCOLS[args.dataset]
    scores = evaluate_molecules(graphs, train=args.dataset, test=args.dataset, protocol=protocol,
                                vocab=VOCABS[vocab_name], progress=not args.no_progress, data_dir=args.data_dir)
    scores = {"samples": len(graphs), "sampling_seconds": round(seconds, 1),
              "molecules_per_second": round(len(graphs) / seconds, 3),
              **({} if evaluations is None else {"network_evaluations_per_graph": round(evaluations, 1)}), **scores}
    if all(getattr(g, "block", None) is not None for g in graphs):  # PARD samples carry their generation order
        from graphgen.generate.pard.blocks import order_agreement

        scores["block_order_agreement"] = order_agreement(graphs, max_hops=model.config.max_hops)
    print(format_table(scores))
    payload = {"model": str(args.model), "dataset": args.dataset, "protocol": protocol, "seed": args.seed,
               "scores": {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in scores.items()}}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return scores


def format_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A plain-text table with one column per header entry."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    return "\n".join([line, "-" * len(line)] + ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows])


def run(args: argparse.Namespace) -> int:
    if args.kind == "encoders":
        run_encoders(args)
    else:
        run_generate(args)
    return 0
