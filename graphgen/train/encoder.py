"""``graphgen train encoder``: train a graph encoder (GPS, GRIT, MPNN+VN, GT) on ZINC-12k or ogbg-molhiv.

The run is configured by :class:`EncoderRunConfig`: the paper recipes are the presets
``graphgen/train/configs/<model>_<dataset>.yaml`` (architecture under ``model:``, the trainer's fields under
``trainer:``); ``--config FILE`` and ``--set model.dropout=0.1`` / ``--set trainer.lr=1e-4`` change them. Training
runs through the shared trainer (:mod:`graphgen.train.trainer`), so the run folder is the shared layout:
``last/`` (checkpoint), ``best/`` (weights at the best validation epoch), ``log.jsonl`` (loss rows, and one row per
epoch with the validation and test metric), ``config.yaml``; ``result.json`` holds the summary.

Model selection: the reported test metric is the one at the epoch with the best validation metric (lowest MAE on
ZINC, highest ROC-AUC on ogbg-molhiv; ROC-AUC from ``ogb.graphproppred.Evaluator``). A budget that stops training
inside an epoch evaluates that partial epoch too.
"""
from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from graphgen.data.transforms import AddLapPE, AddRRWP, AddRWSE, apply_many
from graphgen.nn.models import PE_ATTRIBUTES, EncoderConfig, GraphEncoder
from graphgen.train.config import ConfigError
from graphgen.train.trainer import TrainerConfig

__all__ = ["TASKS", "EncoderRunConfig", "add_arguments", "encoder_inputs", "load_preset", "make_transform",
           "prepare_split", "run", "train"]

MODELS = ("gps", "grit", "mpnn_vn", "gt")


# ------------------------------------------------------------------------------------------------------------ tasks
@dataclass(frozen=True)
class Task:
    """What a dataset is scored by: loss, metric, whether higher is better."""

    loss: Callable[[Tensor, Tensor], Tensor]
    metric_name: str
    metric: Callable[[Tensor, Tensor], float]
    higher_is_better: bool


def _mae(pred: Tensor, y: Tensor) -> float:
    return float((pred.view(-1) - y.view(-1)).abs().mean())


def _rocauc(pred: Tensor, y: Tensor) -> float:
    from ogb.graphproppred import Evaluator
    out = Evaluator("ogbg-molhiv").eval({"y_true": y.view(-1, 1).numpy(), "y_pred": pred.view(-1, 1).numpy()})
    return float(out["rocauc"])


def _l1(pred: Tensor, y: Tensor) -> Tensor:
    return torch.nn.functional.l1_loss(pred.view(-1), y.view(-1).to(pred.dtype))


def _bce(pred: Tensor, y: Tensor) -> Tensor:
    y = y.view(-1).to(pred.dtype)
    keep = ~torch.isnan(y)
    return torch.nn.functional.binary_cross_entropy_with_logits(pred.view(-1)[keep], y[keep])


TASKS: dict[str, Task] = {
    "zinc12k": Task(_l1, "mae", _mae, higher_is_better=False),
    "ogbg-molhiv": Task(_bce, "rocauc", _rocauc, higher_is_better=True),
}


# ----------------------------------------------------------------------------------------------------------- config
@dataclass
class EncoderRunConfig:
    """An encoder training run: the benchmark, the architecture (``model``) and the trainer's settings."""

    dataset: str = "zinc12k"
    model: EncoderConfig = field(default_factory=EncoderConfig)
    rrwp_full: bool = True               # GRIT: all pairs (True) or real edges + self loops (False)
    max_train_graphs: int | None = None  # use only the first n training graphs (short runs; say so in results)
    max_eval_graphs: int | None = None   # use only the first n val / test graphs (smoke tests only)
    eval_batch_size: int = 128
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(
        epochs=2000, schedule="cosine", ema=None, grad_clip=None, evaluate_every="epoch", select=True,
        checkpoint_every_epoch=True))


def load_preset(model: str, dataset: str) -> EncoderRunConfig:
    """The recipe preset ``graphgen/train/configs/<model>_<dataset>.yaml``."""
    from graphgen.train import config as config_lib

    return config_lib.resolve(EncoderRunConfig, preset=config_lib.preset_path(model, dataset))


# ------------------------------------------------------------------------------------------------------------- data
def make_transform(encoder: EncoderConfig, *, rrwp_full: bool = True) -> Callable | None:
    """The PE/SE transform the encoder's ``pe`` needs (``None`` for ``pe="none"``)."""
    builders: dict[str, Callable[[], Callable | None]] = {
        "rwse": lambda: AddRWSE(encoder.pe_steps),
        "lappe": lambda: AddLapPE(encoder.pe_steps),
        "rrwp": lambda: AddRRWP(encoder.pe_steps, full=rrwp_full),
        "none": lambda: None,
    }
    return builders[encoder.pe]()


def prepare_split(dataset: str, split: str, transform: Callable | None, *, limit: int | None = None,
                  data_dir: str | None = None) -> list:
    """Load ``split`` through ``graphgen.data.registry.load_dataset`` and apply ``transform`` once per graph."""
    from graphgen.data.registry import load_dataset
    ds = load_dataset(dataset, split, data_dir=data_dir)
    n = len(ds) if limit is None else min(limit, len(ds))
    graphs = [ds[i] for i in range(n)]
    if transform is None:
        return graphs
    out = []
    chunk = 512
    for start in tqdm(range(0, n, chunk), desc=f"{dataset}/{split} {transform}", leave=False, mininterval=2.0):
        out.extend(apply_many(transform, graphs[start:start + chunk], chunk=chunk))
    return out


def encoder_inputs(batch, encoder: EncoderConfig, generator: torch.Generator | None = None) -> dict[str, Any]:
    """Unpack a PyG ``Batch`` into the keyword arguments of :meth:`GraphEncoder.forward` (the model itself never
    sees a ``Batch``)."""
    pe, pe_val, pair_index, pair_val = PE_ATTRIBUTES[encoder.pe]

    def get(name: str | None) -> Tensor | None:
        if name is None:
            return None
        value = getattr(batch, name, None)
        if value is None:
            raise ValueError(f"batch has no '{name}'; apply graphgen.data.transforms for pe={encoder.pe!r} first")
        return value

    return dict(x=batch.x, edge_index=batch.edge_index, edge_attr=batch.edge_attr, batch=batch.batch, pe=get(pe),
                pe_val=get(pe_val), pair_index=get(pair_index), pair_val=get(pair_val), generator=generator)


# ---------------------------------------------------------------------------------------------------------- helpers
@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, task: Task, encoder: EncoderConfig) -> float:
    model.eval()
    preds, ys = [], []
    for batch in loader:
        preds.append(model(**encoder_inputs(batch, encoder)).view(-1).float())
        ys.append(batch.y.view(-1).float())
    return task.metric(torch.cat(preds), torch.cat(ys))


# ------------------------------------------------------------------------------------------------------------ train
def _summary_from_log(log_path: Path, metric: str) -> dict[str, Any]:
    """Best validation epoch and the test metric there, from the evaluation rows of ``log.jsonl``."""
    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    evals = [r for r in rows if "eval" in r]
    best = [r for r in evals if r.get("best")]
    chosen = best[-1] if best else None
    return {"best_epoch": chosen["epoch"] if chosen else None,
            f"best_val_{metric}": chosen["eval"][f"val_{metric}"] if chosen else None,
            f"test_{metric}_at_best_val": chosen["eval"][f"test_{metric}"] if chosen else None}


def train(cfg: EncoderRunConfig, *, out: str | Path | None = None, resume: bool = False, overwrite: bool = False,
          results_csv: str | None = None, data_dir: str | None = None, model: torch.nn.Module | None = None,
          label: str | None = None, splits: dict[str, list] | None = None) -> dict[str, Any]:
    """Run (or resume) training; returns the summary written to ``result.json``.

    ``model`` replaces the :class:`GraphEncoder` built from ``cfg.model`` (e.g. a baseline with the same forward
    keywords, for a same-recipe comparison); ``cfg.model`` still chooses the PE transform. ``label`` names the model
    in the summary (default ``cfg.model.kind``). ``splits`` (``{"train": [...], "val": [...], "test": [...]}`` lists
    of ``Data`` with ``y``) replaces loading ``cfg.dataset`` from the registry; the task is still ``cfg.dataset``'s.
    """
    from torch_geometric.loader import DataLoader

    from graphgen.data.registry import load_dataset
    from graphgen.train import config as config_lib
    from graphgen.train import distributed
    from graphgen.train.runs import prepare_run_folder
    from graphgen.train.trainer import GraphList, Trainer

    if cfg.dataset not in TASKS:
        raise ConfigError(f"dataset {cfg.dataset!r} is not supported; choose one of {sorted(TASKS)}")
    task = TASKS[cfg.dataset]
    out = Path(out or f"runs/encoders/{cfg.model.kind}_{cfg.dataset}_s{cfg.trainer.seed}")
    ctx = distributed.init()
    if ctx.is_main:
        prepare_run_folder(out, resume=resume, overwrite=overwrite)
    distributed.barrier(ctx)
    if resume:   # the architecture keys of the checkpoint beat the command line
        saved = config_lib.read_yaml(out / "config.yaml")
        cfg = config_lib.from_dict(EncoderRunConfig, {**config_lib.to_dict(cfg), "model": saved["model"],
                                                      "rrwp_full": saved["rrwp_full"]})
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    transform = make_transform(cfg.model, rrwp_full=cfg.rrwp_full)
    if splits is None:
        with distributed.main_first(ctx):   # rank 0 builds the dataset caches, the others then read them
            for split in ("train", "val", "test"):
                load_dataset(cfg.dataset, split, data_dir=data_dir)
        train_set = prepare_split(cfg.dataset, "train", transform, limit=cfg.max_train_graphs, data_dir=data_dir)
        val_set = prepare_split(cfg.dataset, "val", transform, limit=cfg.max_eval_graphs, data_dir=data_dir)
        test_set = prepare_split(cfg.dataset, "test", transform, limit=cfg.max_eval_graphs, data_dir=data_dir)
    else:
        def given(name: str, limit: int | None) -> list:
            graphs = [d.clone() for d in splits[name][:limit]]
            return apply_many(transform, graphs) if transform is not None else graphs
        train_set = given("train", cfg.max_train_graphs)
        val_set, test_set = given("val", cfg.max_eval_graphs), given("test", cfg.max_eval_graphs)
    val_loader = DataLoader(val_set, batch_size=cfg.eval_batch_size)
    test_loader = DataLoader(test_set, batch_size=cfg.eval_batch_size)

    torch.manual_seed(cfg.trainer.seed)   # application entry: the initial weights
    net = GraphEncoder.from_config(cfg.model) if model is None else model
    metric = task.metric_name

    def loss_fn(m: torch.nn.Module, batch, generator: torch.Generator) -> dict[str, Tensor]:
        return {"loss": task.loss(m(**encoder_inputs(batch, cfg.model, generator)), batch.y)}

    def evaluate_fn(m: torch.nn.Module) -> dict[str, float]:
        val = evaluate(m, val_loader, task, cfg.model)
        test = evaluate(m, test_loader, task, cfg.model)
        return {f"val_{metric}": val, f"test_{metric}": test, "score": -val if task.higher_is_better else val}

    trainer = Trainer(net, GraphList(train_set), cfg.trainer, out, run_config=cfg, loss_fn=loss_fn,
                      evaluate_fn=evaluate_fn, model_config=config_lib.to_dict(cfg.model), ctx=ctx)
    result = trainer.fit(resume=resume)
    distributed.shutdown(ctx)
    summary = {"model": label or cfg.model.kind, "dataset": cfg.dataset, "seed": cfg.trainer.seed,
               "params": sum(p.numel() for p in net.parameters()), "elapsed_min": round(result["elapsed"] / 60.0, 2),
               "budget_minutes": cfg.trainer.minutes, "stopped_by": result["stopped_by"],
               "stopped_by_budget": result["stopped_by"] == "minutes", "max_train_graphs": cfg.max_train_graphs,
               "max_eval_graphs": cfg.max_eval_graphs, "metric": metric,
               "epochs_run": result["epoch"] + (result["position"] > 0),
               **_summary_from_log(out / "log.jsonl", metric), "run_dir": str(out)}
    if not ctx.is_main:
        return summary
    (out / "result.json").write_text(json.dumps(summary, indent=2))
    if results_csv:
        path = Path(results_csv)
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.is_file()
        with open(path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(summary))
            if new:
                writer.writeheader()
            writer.writerow(summary)
    return summary


# -------------------------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    from graphgen.train.runs import add_run_arguments

    add_run_arguments(parser, dataset_default="zinc12k", dataset_help=f"benchmark: {', '.join(sorted(TASKS))}")
    parser.add_argument("--model", default="gps", choices=MODELS, help="which preset: <model>_<dataset>.yaml")
    parser.add_argument("--results-csv", default="runs/encoders/results.csv",
                        help="append the final summary row to this CSV")


def resolve_config(args: argparse.Namespace) -> EncoderRunConfig:
    """Preset ``<model>_<dataset>.yaml`` (or ``--config``) < trainer flags < ``--set`` overrides."""
    from graphgen.train import config as config_lib
    from graphgen.train.runs import config_source, trainer_flags

    return config_lib.resolve(EncoderRunConfig, base={"dataset": args.dataset}, flags=trainer_flags(args),
                              overrides=args.set, **config_source(args, args.model))


def run(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    from graphgen.train.runs import warm_start_model

    model = warm_start_model(args, GraphEncoder, cfg)
    summary = train(cfg, out=args.out, resume=args.resume, overwrite=args.overwrite, results_csv=args.results_csv,
                    data_dir=args.data_dir, model=model)
    print(json.dumps(summary, indent=2))
    return 0
