"""``graphgen train encoder``: train a graph encoder (GPS, GRIT, MPNN+VN, GT) on ZINC-12k or ogbg-molhiv.

Recipe presets live in ``graphgen/train/configs/<model>_<dataset>.yaml`` (keys of :class:`TrainConfig`, with the
architecture under ``encoder:``); command-line flags override them; the resolved config is written to
``<out>/config.json`` before training and never changed afterwards.

Per run directory ``<out>`` (default ``runs/encoders/<model>_<dataset>_s<seed>``):

- ``config.json``          resolved :class:`TrainConfig` (+ encoder architecture)
- ``last.safetensors``     model weights after the last finished epoch; ``last_state.pt`` optimizer / scheduler /
                           RNG / history (tensors and plain values only, loaded with ``weights_only=True``)
- ``best.safetensors``     weights at the best validation epoch (model selection)
- ``history.csv``          one row per epoch: train loss, val and test metric, lr, elapsed seconds
- ``result.json``          the final summary, also appended as one row to ``--results-csv``

``--resume`` continues from ``last_state.pt`` (architecture keys come from the saved config, not the CLI); the
wall-clock budget ``--budget-minutes`` counts time over all resumed sessions.

Model selection: the reported test metric is the one at the epoch with the best validation metric (lowest MAE on
ZINC, highest ROC-AUC on ogbg-molhiv; ROC-AUC from ``ogb.graphproppred.Evaluator``).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from graphgen.data.transforms import AddLapPE, AddRRWP, AddRWSE, apply_many
from graphgen.nn.models import PE_ATTRIBUTES, EncoderConfig, GraphEncoder

__all__ = ["TASKS", "TrainConfig", "add_arguments", "encoder_inputs", "load_preset", "make_transform",
           "prepare_split", "run", "train"]

CONFIG_DIR = Path(__file__).parent / "configs"
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
class TrainConfig:
    """A training run. Architecture lives in ``encoder`` (an :class:`EncoderConfig`)."""

    dataset: str = "zinc12k"
    model: str = "gps"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    rrwp_full: bool = True             # GRIT: all pairs (True) or real edges + self loops (False)
    epochs: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-5
    warmup_epochs: int = 50
    min_lr: float = 0.0
    grad_clip: float | None = None     # max gradient norm (GRIT uses 1.0 style clipping; None = off)
    seed: int = 0
    budget_minutes: float | None = None  # stop training after this much wall time (all sessions together)
    max_train_graphs: int | None = None  # use only the first n training graphs (short runs; say so in results)
    max_eval_graphs: int | None = None   # use only the first n val / test graphs (smoke tests only)
    eval_batch_size: int = 128
    threads: int | None = None
    out: str | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        values = dict(values)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown keys {unknown}; known keys are {sorted(known)}")
        enc = values.pop("encoder", {})
        return cls(encoder=enc if isinstance(enc, EncoderConfig) else EncoderConfig.from_dict(enc), **values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_preset(model: str, dataset: str) -> TrainConfig:
    """The recipe preset ``graphgen/train/configs/<model>_<dataset>.yaml``."""
    import yaml
    path = CONFIG_DIR / f"{model}_{dataset.replace('-', '_')}.yaml"
    if not path.is_file():
        have = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no preset {path.name} for --model {model} --dataset {dataset}; presets: {have}; "
                                "or pass --config FILE.yaml")
    with open(path) as fh:
        values = yaml.safe_load(fh)
    return TrainConfig.from_dict(values)


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
def cosine_with_warmup(epoch: int, *, warmup: int, total: int, base_lr: float, min_lr: float = 0.0) -> float:
    """Learning rate at the start of ``epoch`` (0-based): linear warm-up over ``warmup`` epochs, then cosine decay
    to ``min_lr`` at ``total`` (the GraphGPS schedule)."""
    if warmup > 0 and epoch < warmup:
        return base_lr * (epoch + 1) / warmup
    progress = (epoch - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * min(progress, 1.0)))


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, task: Task, encoder: EncoderConfig) -> float:
    model.eval()
    preds, ys = [], []
    for batch in loader:
        preds.append(model(**encoder_inputs(batch, encoder)).view(-1).float())
        ys.append(batch.y.view(-1).float())
    return task.metric(torch.cat(preds), torch.cat(ys))


def _save_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, path)


def _load_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import load_file
    model.load_state_dict(load_file(str(path)))


# ------------------------------------------------------------------------------------------------------------ train
def train(cfg: TrainConfig, *, resume: bool = False, results_csv: str | None = None, data_dir: str | None = None,
          show_progress: bool = True, model: torch.nn.Module | None = None,
          label: str | None = None, splits: dict[str, list] | None = None) -> dict[str, Any]:
    """Run (or resume) training; returns the summary written to ``result.json``.

    ``model`` replaces the :class:`GraphEncoder` built from ``cfg.encoder`` (e.g. a baseline with the same forward
    keywords, for a same-recipe comparison); ``cfg.encoder`` still chooses the PE transform. ``label`` names the
    model in the summary (default ``cfg.model``). ``splits`` (``{"train": [...], "val": [...], "test": [...]}`` lists
    of ``Data`` with ``y``) replaces loading ``cfg.dataset`` from the registry; the task is still ``cfg.dataset``'s.
    """
    from torch_geometric.loader import DataLoader

    if cfg.dataset not in TASKS:
        raise ValueError(f"--dataset {cfg.dataset!r} is not supported; choose one of {sorted(TASKS)}")
    task = TASKS[cfg.dataset]
    out = Path(cfg.out or f"runs/encoders/{cfg.model}_{cfg.dataset}_s{cfg.seed}")
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "last_state.pt"
    if resume and state_path.is_file():
        saved = json.loads((out / "config.json").read_text())
        arch = saved["encoder"]                          # architecture keys of the checkpoint beat the CLI
        cfg = TrainConfig.from_dict({**cfg.to_dict(), "encoder": arch, "rrwp_full": saved["rrwp_full"]})
    elif state_path.is_file():
        raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or --out to start another")
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)

    torch.manual_seed(cfg.seed)                          # application entry point: seeding here is allowed
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    transform = make_transform(cfg.encoder, rrwp_full=cfg.rrwp_full)
    if splits is None:
        train_set = prepare_split(cfg.dataset, "train", transform, limit=cfg.max_train_graphs, data_dir=data_dir)
        val_set = prepare_split(cfg.dataset, "val", transform, limit=cfg.max_eval_graphs, data_dir=data_dir)
        test_set = prepare_split(cfg.dataset, "test", transform, limit=cfg.max_eval_graphs, data_dir=data_dir)
    else:
        def given(name: str, limit: int | None) -> list:
            graphs = [d.clone() for d in splits[name][:limit]]
            return apply_many(transform, graphs) if transform is not None else graphs
        train_set = given("train", cfg.max_train_graphs)
        val_set, test_set = given("val", cfg.max_eval_graphs), given("test", cfg.max_eval_graphs)
    loader_gen = torch.Generator().manual_seed(cfg.seed)
    pe_gen = torch.Generator().manual_seed(cfg.seed + 1)
    train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=loader_gen)
    val_loader = DataLoader(val_set, batch_size=cfg.eval_batch_size)
    test_loader = DataLoader(test_set, batch_size=cfg.eval_batch_size)

    model = GraphEncoder.from_config(cfg.encoder) if model is None else model
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start_epoch, elapsed, history = 0, 0.0, []
    best: dict[str, Any] = {"epoch": -1, "val": None, "test": None}
    if resume and state_path.is_file():
        st = torch.load(state_path, weights_only=True)
        _load_weights(model, out / "last.safetensors")
        opt.load_state_dict(st["optimizer"])
        start_epoch, elapsed = int(st["epoch"]) + 1, float(st["elapsed"])
        history, best = json.loads(st["history"]), json.loads(st["best"])
        torch.set_rng_state(st["rng_torch"])
        loader_gen.set_state(st["rng_loader"])
        pe_gen.set_state(st["rng_pe"])

    budget_s = cfg.budget_minutes * 60.0 if cfg.budget_minutes is not None else math.inf
    better = (lambda a, b: a > b) if task.higher_is_better else (lambda a, b: a < b)
    hist_path = out / "history.csv"
    bar = tqdm(range(start_epoch, cfg.epochs), desc=f"{cfg.model}/{cfg.dataset}", disable=not show_progress,
               initial=start_epoch, total=cfg.epochs)
    stopped_by_budget = elapsed >= budget_s
    for epoch in bar:
        if stopped_by_budget:
            break
        t0 = time.perf_counter()
        lr = cosine_with_warmup(epoch, warmup=cfg.warmup_epochs, total=cfg.epochs, base_lr=cfg.lr, min_lr=cfg.min_lr)
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        total_loss, total_graphs, partial = 0.0, 0, False
        for batch in train_loader:
            opt.zero_grad(set_to_none=True)
            pred = model(**encoder_inputs(batch, cfg.encoder, pe_gen))
            loss = task.loss(pred, batch.y)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            total_loss += float(loss.detach()) * batch.num_graphs
            total_graphs += batch.num_graphs
            if elapsed + time.perf_counter() - t0 >= budget_s:
                partial = stopped_by_budget = True
                break
        val = evaluate(model, val_loader, task, cfg.encoder)
        test = evaluate(model, test_loader, task, cfg.encoder)
        elapsed += time.perf_counter() - t0
        row = {"epoch": epoch, "train_loss": total_loss / max(total_graphs, 1), f"val_{task.metric_name}": val,
               f"test_{task.metric_name}": test, "lr": lr, "elapsed_s": round(elapsed, 1),
               "graphs_seen": total_graphs, "partial_epoch": partial}
        history.append(row)
        if best["val"] is None or better(val, best["val"]):
            best = {"epoch": epoch, "val": val, "test": test}
            _save_weights(model, out / "best.safetensors")
        _save_weights(model, out / "last.safetensors")
        torch.save({"optimizer": opt.state_dict(), "epoch": epoch, "elapsed": elapsed,
                    "history": json.dumps(history), "best": json.dumps(best), "rng_torch": torch.get_rng_state(),
                    "rng_loader": loader_gen.get_state(), "rng_pe": pe_gen.get_state()}, state_path)
        with open(hist_path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            writer.writeheader()
            writer.writerows(history)
        bar.set_postfix(loss=f"{row['train_loss']:.4f}", val=f"{val:.4f}", test=f"{test:.4f}",
                        best=f"{best['val']:.4f}@{best['epoch']}")
    bar.close()

    summary = {"model": label or cfg.model, "dataset": cfg.dataset, "seed": cfg.seed,
               "params": sum(p.numel() for p in model.parameters()), "epochs_run": len(history),
               "elapsed_min": round(elapsed / 60.0, 2), "budget_minutes": cfg.budget_minutes,
               "stopped_by_budget": stopped_by_budget, "max_train_graphs": cfg.max_train_graphs,
               "max_eval_graphs": cfg.max_eval_graphs,
               "metric": task.metric_name, "best_epoch": best["epoch"], f"best_val_{task.metric_name}": best["val"],
               f"test_{task.metric_name}_at_best_val": best["test"], "run_dir": str(out)}
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
    parser.add_argument("--dataset", default="zinc12k", choices=sorted(TASKS))
    parser.add_argument("--model", default="gps", choices=MODELS)
    parser.add_argument("--config", help="YAML file with TrainConfig keys (default: the preset "
                                         "graphgen/train/configs/<model>_<dataset>.yaml)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--budget-minutes", type=float, help="stop training after this much wall time")
    parser.add_argument("--max-train-graphs", type=int, help="train on the first n training graphs only")
    parser.add_argument("--sparse-pairs", action="store_true", help="GRIT: attend over real edges + self loops "
                                                                    "instead of all pairs")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override config keys, e.g. encoder.dropout=0.1 warmup_epochs=5")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", help="run directory (default runs/encoders/<model>_<dataset>_s<seed>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    parser.add_argument("--results-csv", default="runs/encoders/results.csv",
                        help="append the final summary row to this CSV")
    parser.add_argument("--data-dir", help="raw data folder (default $GRAPHGEN_DATA)")
    parser.add_argument("--no-progress", action="store_true")


def _apply_override(values: dict[str, Any], item: str) -> None:
    import yaml
    if "=" not in item:
        raise SystemExit(f"--set {item!r}: expected KEY=VALUE (e.g. encoder.dropout=0.1)")
    key, raw = item.split("=", 1)
    target = values
    *parents, leaf = key.split(".")
    for p in parents:
        target = target.setdefault(p, {})
    target[leaf] = yaml.safe_load(raw)


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """Preset (or ``--config``) < explicit flags < ``--set`` overrides."""
    import yaml
    if args.config:
        with open(args.config) as fh:
            values = yaml.safe_load(fh)
    else:
        values = load_preset(args.model, args.dataset).to_dict()
    values.update(dataset=args.dataset, model=args.model)
    for flag, key in (("epochs", "epochs"), ("batch_size", "batch_size"), ("lr", "lr"), ("seed", "seed"),
                      ("budget_minutes", "budget_minutes"), ("max_train_graphs", "max_train_graphs"),
                      ("threads", "threads"), ("out", "out")):
        if getattr(args, flag) is not None:
            values[key] = getattr(args, flag)
    if args.sparse_pairs:
        values["rrwp_full"] = False
    for item in args.set:
        _apply_override(values, item)
    return TrainConfig.from_dict(values)


def run(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    summary = train(cfg, resume=args.resume, results_csv=args.results_csv, data_dir=args.data_dir,
                    show_progress=not args.no_progress)
    print(json.dumps(summary, indent=2))
    return 0
