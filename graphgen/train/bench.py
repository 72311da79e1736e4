"""``graphgen bench``: benchmark runs from the command line, one table per run.

Three kinds:

``graphgen bench encoders --dataset zinc12k --models gps,grit,mpnn_vn,gt --minutes 20``
    trains each encoder with its paper preset (``graphgen/train/configs``) under the same wall-clock budget and seed,
    selects the epoch on validation, and prints parameters, epochs, best validation and test-at-best-validation
    (MAE on ZINC-12k, ROC-AUC from ``ogb.graphproppred.Evaluator`` on ogbg-molhiv). Rows are appended to a CSV.

``graphgen bench generate --dataset qm9 --model qm9 -n 1000``
    samples ``n`` molecules from a bundled or saved generator and scores them on the dataset's published protocol
    (GDSS protocol for qm9 and zinc250k, the MOSES suite for moses), writing the scores as JSON.

``graphgen bench diffgraph --dataset retail_rocket``
    DiffGraph, its no-diffusion ablation and LightGCN over seeds (:mod:`graphgen.generate.diffgraph.bench`).

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

    dg = sub.add_parser("diffgraph", help="DiffGraph, its no-diffusion ablation and LightGCN over seeds, one table",
                        description="train DiffGraph, its no-diffusion ablation and LightGCN for several seeds and "
                                    "print the selected epoch's test metrics next to the published numbers")
    from graphgen.generate.diffgraph import bench as diffgraph_bench

    diffgraph_bench.add_arguments(dg)

    gen = sub.add_parser("generate", help="sample from a generator and score it on a dataset's protocol")
    gen.add_argument("--dataset", default="qm9", choices=sorted(GENERATION_PROTOCOLS))
    gen.add_argument("--model", default="qm9", help="bundled model name or a folder written by save_pretrained()")
    gen.add_argument("-n", "--num-samples", type=int, default=None,
                     help="default: the protocol's count (moses 30000, zinc250k 10000), qm9 1000")
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
    gen.add_argument("--resume", action="store_true",
                     help="continue an interrupted run from the chunks saved next to the JSON (same arguments)")
    gen.add_argument("--chunk-size", type=int, default=None,
                     help="samples drawn (and saved) per chunk, default 1000; part of the run's record")


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
    """Sample (in resumable chunks, :mod:`graphgen.train.bench_generate`), score, print the scores and the published
    anchor rows, and write the JSON."""
    import torch

    from graphgen.data.molecules import VOCABS
    from graphgen.errors import InputError
    from graphgen.evaluate.commands import format_table
    from graphgen.generate import load_generator, model_folder
    from graphgen.train import bench_generate

    if args.threads:
        torch.set_num_threads(args.threads)
    num_samples = bench_generate.resolve_num_samples(args)
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
    default = f"generate_{args.dataset}_{Path(str(args.model)).name}_n{num_samples}.json"
    path = Path(args.json or Path("runs/bench") / default)
    # the samples are saved (chunk by chunk) before scoring, so neither a kill nor a scoring failure costs the
    # finished part of the (long) sampling run
    samples_path = path.with_suffix(".samples.safetensors")
    try:
        graphs, plan = bench_generate.prepare_samples(model, args, samples_path,
                                                      bench_generate.weights_sha256(model_folder(args.model)))
    except InputError as err:  # a samples file of another run, or a flag that does not fit it: this command refuses
        raise SystemExit(f"graphgen bench generate: {err}") from None
    seconds, evaluations = plan.seconds, plan.evaluations_per_graph
    protocol = args.protocol or GENERATION_PROTOCOLS[args.dataset]
    scores = bench_generate.score_samples(graphs, args.dataset, protocol, VOCABS[vocab_name],
                                          progress=not args.no_progress, data_dir=args.data_dir)
    scores = {"samples": len(graphs), "sampling_seconds": round(seconds, 1),
              "molecules_per_second": round(len(graphs) / seconds, 3) if seconds > 0 else float("nan"),
              **({} if evaluations is None else {"network_evaluations_per_graph": round(evaluations, 1)}), **scores}
    if all(getattr(g, "block", None) is not None for g in graphs):  # PARD samples carry their generation order
        from graphgen.generate.pard.blocks import order_agreement

        scores["block_order_agreement"] = order_agreement(graphs, max_hops=model.config.max_hops)
    print(format_table(scores))
    anchors = bench_generate.anchor_table(args.dataset, scores)
    if anchors is not None and protocol == GENERATION_PROTOCOLS[args.dataset]:
        print(f"\npublished rows (../shared/REFERENCE.md section 5) and this run, {args.dataset}, {protocol} "
              f"protocol:\n{anchors}")
    payload = {"model": str(args.model), "dataset": args.dataset, "protocol": protocol, "seed": args.seed,
               "chunk_size": plan.chunk_size,
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
    if args.kind == "diffgraph":
        from graphgen.generate.diffgraph import bench as diffgraph_bench

        return diffgraph_bench.run(args)
    if args.kind == "encoders":
        from graphgen.train.trainer import budget_clock

        # each model's --minutes counts from the end of the previous one (the first: from the command's start)
        with budget_clock(getattr(args, "command_started", None)):
            run_encoders(args)
    else:
        run_generate(args)
    return 0
