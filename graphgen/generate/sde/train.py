"""``graphgen train sde --dataset NAME``: train (or resume) a GDSS score-SDE generator on CPU or GPU.

Defaults come from :data:`graphgen.generate.sde.presets.PRESETS` (GDSS's per-dataset settings); flags override
them. The run folder (``--out``, default ``runs/sde/<dataset>``) holds

- ``checkpoint/``: ``model.safetensors`` + ``config.json`` (live weights, loadable by ``from_pretrained``),
  ``ema.safetensors`` (averaged weights), ``optimizer.safetensors`` (Adam moments + RNG state) and
  ``trainer.json`` (epoch, step, lr, elapsed); rewritten every ``--checkpoint-every`` minutes and at the end;
- ``final/`` (EMA weights) and ``final_live/`` (last weights): saved generators for ``graphgen sample --model``;
- ``log.jsonl``: one line per logged epoch (losses, lr, seconds).

Running the same command again resumes from ``checkpoint/`` (architecture from the checkpoint; ``--fresh`` starts
over). ``--time-budget`` (minutes) stops cleanly after the epoch in which the budget runs out.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from graphgen.generate.base import EMA
from graphgen.generate.sde.model import ScoreSDEConfig, ScoreSDEGenerator, config_from_dict
from graphgen.generate.sde.presets import PRESETS


@dataclasses.dataclass
class TrainConfig:
    """Trainer settings (GDSS defaults per dataset in ``PRESETS``)."""

    batch_size: int = 128
    epochs: int = 5000
    lr: float = 1e-2
    weight_decay: float = 1e-4
    ema: float = 0.999
    grad_clip: float = 1.0  # max grad norm, applied to each score network separately
    lr_decay: float = 0.999  # ExponentialLR factor per epoch
    seed: int = 0
    time_budget: float | None = None  # minutes
    checkpoint_every: float = 3.0  # minutes
    log_every: int = 10  # epochs
    max_train: int | None = None  # use only the first graphs of the train split (quick runs)


def _set_nested(d: dict[str, Any], dotted: str, value: str) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    try:
        d[keys[-1]] = json.loads(value)
    except json.JSONDecodeError:
        d[keys[-1]] = value


def build_config(dataset: str, overrides: list[str] | None = None) -> tuple[ScoreSDEConfig, TrainConfig]:
    """Preset for ``dataset`` plus ``key=value`` overrides (dotted keys, JSON values) for the model config."""
    if dataset not in PRESETS:
        raise ValueError(f"no SDE preset for dataset '{dataset}'; presets: {sorted(PRESETS)}")
    model_d, train_d = PRESETS[dataset]
    model_d = json.loads(json.dumps(model_d))
    model_d["dataset"] = dataset
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"--set expects key=value (e.g. net_adj.hidden=16), got '{item}'")
        k, v = item.split("=", 1)
        _set_nested(model_d, k, v)
    return config_from_dict(model_d), TrainConfig(**train_d)


# -- dense training tensors ---------------------------------------------------------------------------------------
def dense_dataset(model: ScoreSDEGenerator, graphs, *, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor,
                                                                                   torch.Tensor]:
    """Encode a sequence of ``Data`` into stacked dense tensors ``(X, A, mask)``."""
    xs, adjs, masks = [], [], []
    items = list(graphs)
    for lo in tqdm(range(0, len(items), chunk), desc="encode", disable=len(items) < 5 * chunk):
        x, a, m = model.encode(items[lo:lo + chunk])
        xs.append(x), adjs.append(a), masks.append(m)
    return torch.cat(xs), torch.cat(adjs), torch.cat(masks)


def load_dense_train(model: ScoreSDEGenerator, dataset: str, *, data_dir: str | None, cache: Path | None,
                     max_train: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    from safetensors.torch import load_file, save_file

    if cache is not None and cache.exists():
        t = load_file(str(cache))
        return t["x"], t["adj"], t["mask"].bool()
    from graphgen.data.registry import load_dataset

    ds = load_dataset(dataset, "train", data_dir=data_dir)
    graphs = [ds[i] for i in range(len(ds) if max_train is None else min(max_train, len(ds)))]
    x, adj, mask = dense_dataset(model, graphs)
    if cache is not None:
        save_file({"x": x, "adj": adj, "mask": mask.to(torch.uint8)}, str(cache))
    return x, adj, mask


# -- checkpoint helpers (safetensors + JSON, no pickle) -------------------------------------------------------------
def optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"state.{idx}.{k}"] = v.contiguous()
            else:
                scalars[f"{idx}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("state."):
            _, idx, k = key.split(".", 2)
            state.setdefault(int(idx), {})[k] = v
    for key, v in meta.get("scalars", {}).items():
        idx, k = key.split(".", 1)
        state.setdefault(int(idx), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(out: Path, model, ema: EMA, opt, sched, gen: torch.Generator, trainer_state: dict) -> None:
    from safetensors.torch import save_file

    tmp = out / "checkpoint.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    save_file(ema.state_dict(), str(tmp / "ema.safetensors"))
    tensors, meta = optimizer_to_tensors(opt)
    tensors["rng_state"] = gen.get_state()
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    (tmp / "trainer.json").write_text(json.dumps({**trainer_state, "optimizer": meta,
                                                  "scheduler": sched.state_dict()}, indent=1))
    final = out / "checkpoint"
    old = out / "checkpoint.old"
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)


def _truncate_log(path: Path, epoch: int) -> None:
    """Drop log lines past ``epoch``: epochs logged after the last checkpoint are trained again on resume. A line cut
    short by a killed process can only be the last one, which is past the checkpoint too."""
    if not path.exists():
        return
    lines = path.read_text().splitlines()

    def before_checkpoint(line: str) -> bool:
        try:
            return json.loads(line)["epoch"] <= epoch
        except (json.JSONDecodeError, KeyError):
            return False

    kept = [ln for ln in lines if ln.strip() and before_checkpoint(ln)]
    if len(kept) != len(lines):
        path.write_text("".join(ln + "\n" for ln in kept))


# -- training loop ----------------------------------------------------------------------------------------------------
def train(model: ScoreSDEGenerator, data: tuple[torch.Tensor, torch.Tensor, torch.Tensor], tcfg: TrainConfig,
          out: Path, *, resume: bool = True, progress: bool = True) -> dict[str, Any]:
    """Train ``model`` on dense ``data`` with Adam + ExponentialLR + EMA, checkpointing into ``out``."""
    from safetensors.torch import load_file

    out.mkdir(parents=True, exist_ok=True)
    x_all, adj_all, mask_all = data
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=tcfg.lr_decay)
    ema = EMA(model, tcfg.ema)
    gen = torch.Generator().manual_seed(tcfg.seed)
    state = {"epoch": 0, "step": 0, "elapsed": 0.0}
    ck = out / "checkpoint"
    if resume and (ck / "trainer.json").exists():
        from safetensors.torch import load_model

        load_model(model, str(ck / "model.safetensors"), strict=True)
        ema.load_state_dict(load_file(str(ck / "ema.safetensors")))
        tens = load_file(str(ck / "optimizer.safetensors"))
        gen.set_state(tens.pop("rng_state"))
        saved = json.loads((ck / "trainer.json").read_text())
        optimizer_from_tensors(opt, tens, saved.pop("optimizer"))
        sched.load_state_dict(saved.pop("scheduler"))
        state.update({k: saved[k] for k in ("epoch", "step", "elapsed")})
        print(f"resumed from {ck} at epoch {state['epoch']} (step {state['step']}, {state['elapsed'] / 60:.1f} min)")
    n = x_all.shape[0]
    _truncate_log(out / "log.jsonl", state["epoch"])
    log_f = open(out / "log.jsonl", "a")
    t_start = time.perf_counter() - state["elapsed"]
    t_session = time.perf_counter()
    last_ck = time.perf_counter()
    bar = tqdm(total=tcfg.epochs, initial=state["epoch"], desc="sde train", disable=not progress)
    nets = (model.net_x, model.net_adj)
    model.train()
    stopped_by_budget = False
    while state["epoch"] < tcfg.epochs:
        perm = torch.randperm(n, generator=gen)
        sums = torch.zeros(2)
        nb = 0
        for lo in range(0, n, tcfg.batch_size):
            idx = perm[lo:lo + tcfg.batch_size]
            loss_x, loss_adj = model.losses((x_all[idx], adj_all[idx], mask_all[idx]), generator=gen)
            opt.zero_grad(set_to_none=True)
            (loss_x + loss_adj).backward()
            for net in nets:
                torch.nn.utils.clip_grad_norm_(net.parameters(), tcfg.grad_clip)
            opt.step()
            ema.update(model)
            sums += torch.stack([loss_x.detach(), loss_adj.detach()])
            nb += 1
            state["step"] += 1
        sched.step()
        state["epoch"] += 1
        state["elapsed"] = time.perf_counter() - t_start
        bar.update(1)
        if not math.isfinite(float(sums.sum())):
            raise FloatingPointError(f"non-finite loss at epoch {state['epoch']}; lower --lr or check the data")
        if state["epoch"] % tcfg.log_every == 0 or state["epoch"] == tcfg.epochs:
            rec = {"epoch": state["epoch"], "step": state["step"], "loss_x": float(sums[0] / nb),
                   "loss_adj": float(sums[1] / nb), "lr": sched.get_last_lr()[0], "seconds": round(state["elapsed"], 1)}
            log_f.write(json.dumps(rec) + "\n")
            log_f.flush()
            bar.set_postfix(loss_x=f"{rec['loss_x']:.3f}", loss_adj=f"{rec['loss_adj']:.3f}")
        if time.perf_counter() - last_ck > 60 * tcfg.checkpoint_every:
            save_checkpoint(out, model, ema, opt, sched, gen, state)
            last_ck = time.perf_counter()
        if tcfg.time_budget is not None and time.perf_counter() - t_session > 60 * tcfg.time_budget:
            stopped_by_budget = True
            break
    bar.close()
    log_f.close()
    save_checkpoint(out, model, ema, opt, sched, gen, state)
    model.save_pretrained(out / "final_live")
    ema.averaged_copy(model).save_pretrained(out / "final")
    return {**state, "stopped_by_budget": stopped_by_budget}


# -- CLI --------------------------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=sorted(PRESETS), help="dataset (GDSS preset)")
    parser.add_argument("--out", default=None, help="run folder (default runs/sde/<dataset>)")
    parser.add_argument("--data-dir", default=None, help="raw data folder (default $GRAPHGEN_DATA)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--ema", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-budget", type=float, default=None, help="stop after this many minutes (this session)")
    parser.add_argument("--checkpoint-every", type=float, default=3.0, help="minutes between checkpoints")
    parser.add_argument("--log-every", type=int, default=10, help="epochs between log lines")
    parser.add_argument("--max-train", type=int, default=None, help="use only the first N training graphs")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="model config override, dotted key + JSON value (e.g. net_adj.hidden=16); "
                             "ignored when resuming (the checkpoint's architecture wins)")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out or f"runs/sde/{args.dataset}")
    cfg, tcfg = build_config(args.dataset, args.set)
    for name in ("epochs", "batch_size", "lr", "ema", "time_budget", "checkpoint_every", "log_every", "max_train",
                 "seed"):
        v = getattr(args, name)
        if v is not None:
            setattr(tcfg, name, v)
    ck_cfg = out / "checkpoint" / "config.json"
    resume = ck_cfg.exists() and not args.fresh
    if resume:  # architecture keys of the checkpoint beat the command line
        cfg = config_from_dict(json.loads(ck_cfg.read_text()))
    cfg = dataclasses.replace(cfg, training={k: v for k, v in dataclasses.asdict(tcfg).items()
                                             if k not in ("time_budget", "checkpoint_every", "log_every")})
    model = ScoreSDEGenerator(cfg)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if tcfg.max_train is None else f"_first{tcfg.max_train}"
    data = load_dense_train(model, args.dataset, data_dir=args.data_dir, cache=out / f"dense_train{suffix}.safetensors",
                            max_train=tcfg.max_train)
    model.set_node_distribution(data[2].sum(-1))
    print(f"{model!r}\ntrain graphs: {data[0].shape[0]}, {tcfg}")
    result = train(model, data, tcfg, out, resume=resume, progress=not args.no_progress)
    print(json.dumps(result))
    suffix = "smi" if cfg.kind == "molecule" else "json"
    print(f"saved {out / 'final'} (EMA) and {out / 'final_live'}; sample with: "
          f"graphgen sample {out / 'final'} -n 100 -o samples.{suffix}")
    return 0
