"""``graphgen train sde --dataset NAME``: train a GDSS score-SDE generator through the shared trainer.

The run is configured by :class:`SDERunConfig`: the GDSS paper's per-dataset numbers are the presets
``graphgen/train/configs/sde_<dataset>.yaml`` (``sde.yaml`` for a user's file); ``--config FILE`` and
``--set model.net_adj.hidden=16`` change them. GDSS trains with Adam, an exponential learning-rate decay per epoch
and gradient clipping of each score network on its own, which the presets set through the trainer's fields.

For a user's file the values GDSS's configs fix per dataset are measured on the training graphs instead: ``kind``
(molecules or plain graphs), ``vocab``, ``max_nodes`` and ``num_node_features`` (atom types, or the largest degree
plus one for the one-hot degree features).

The run folder is the shared layout (:mod:`graphgen.train.checkpoint`); sample from ``<out>/ema``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch
from tqdm.auto import tqdm

from graphgen.generate.sde.model import ScoreSDEConfig, ScoreSDEGenerator
from graphgen.train.trainer import TrainerConfig


@dataclasses.dataclass
class SDERunConfig:
    """A GDSS training run: what to train on, the generator's config, how to train it."""

    dataset: str = "community_small"
    split_seed: int = 0               # a user's file: the seed of its train/val/test split
    max_train: int | None = None      # use only the first graphs of the train split (quick runs)
    model: ScoreSDEConfig = dataclasses.field(default_factory=ScoreSDEConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)


def dense_dataset(model: ScoreSDEGenerator, graphs, *, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor,
                                                                                   torch.Tensor]:
    """Encode a sequence of ``Data`` into stacked dense tensors ``(X, A, mask)``."""
    xs, adjs, masks = [], [], []
    items = list(graphs)
    # a bar only for sets that take a while to encode; `disable` is passed only to switch it off: an explicit False
    # would override TQDM_DISABLE, which `graphgen ... --no-progress` sets for the whole command (graphgen/cli.py)
    bar_off = {"disable": True} if len(items) < 5 * chunk else {}
    for lo in tqdm(range(0, len(items), chunk), desc="encode", **bar_off):
        x, a, m = model.encode(items[lo:lo + chunk])
        xs.append(x), adjs.append(a), masks.append(m)
    return torch.cat(xs), torch.cat(adjs), torch.cat(masks)


def measured_model_config(model: ScoreSDEConfig, graphs: list, vocab) -> ScoreSDEConfig:
    """``model`` with kind, vocabulary, size and feature count measured on a user's training graphs."""
    max_nodes = max(int(g.num_nodes) for g in graphs)
    if vocab is not None:
        from graphgen.data.molecules import VOCABS

        value = vocab.name if VOCABS.get(vocab.name) == vocab else vocab.to_dict()
        return dataclasses.replace(model, kind="molecule", vocab=value, max_nodes=max_nodes,
                                   num_node_features=vocab.num_atom_types)
    max_degree = 0
    for g in graphs:
        if g.edge_index.numel():
            max_degree = max(max_degree, int(torch.bincount(g.edge_index[0], minlength=int(g.num_nodes)).max()))
    return dataclasses.replace(model, kind="graph", vocab=None, max_nodes=max_nodes, num_node_features=max_degree + 1)


def train_data(model: ScoreSDEGenerator, graphs: list, cache: Path | None):
    """Dense training tensors, cached in the run folder (safetensors) so that a resume skips the encoding."""
    from safetensors.torch import load_file, save_file

    if cache is not None and cache.exists():
        t = load_file(str(cache))
        if t["x"].shape[0] == len(graphs):
            return t["x"], t["adj"], t["mask"].bool()
    x, adj, mask = dense_dataset(model, graphs)
    if cache is not None:
        save_file({"x": x, "adj": adj, "mask": mask.to(torch.uint8)}, str(cache))
    return x, adj, mask


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from graphgen.train.runs import add_run_arguments

    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from graphgen.data.registry import DATASETS
    from graphgen.train import distributed
    from graphgen.train.runs import load_split, resume_or_init, start_run
    from graphgen.train.trainer import TensorTuple, Trainer

    cfg, ctx, out = start_run(args, SDERunConfig, "sde")
    graphs, vocab = load_split(cfg.dataset, "train", args.data_dir, seed=cfg.split_seed, run_dir=out)
    if cfg.max_train is not None:
        graphs = graphs[:cfg.max_train]
    model = resume_or_init(args, ScoreSDEGenerator, out, "GDSS (sde)")
    if model is None:
        model_cfg = cfg.model if cfg.dataset in DATASETS else measured_model_config(cfg.model, graphs, vocab)
        model_cfg = dataclasses.replace(model_cfg, dataset=str(cfg.dataset), training={
            k: v for k, v in dataclasses.asdict(cfg.trainer).items() if k in (
                "batch_size", "epochs", "lr", "weight_decay", "ema", "grad_clip", "lr_decay", "seed")})
        torch.manual_seed(cfg.trainer.seed)   # application entry: the initial weights
        model = ScoreSDEGenerator(model_cfg)
    suffix = "" if cfg.max_train is None else f"_first{cfg.max_train}"
    x, adj, mask = train_data(model, graphs, out / f"dense_train{suffix}.safetensors")
    model.set_node_distribution(mask.sum(-1))
    if ctx.is_main:
        print(f"{model!r}\ntrain graphs: {x.shape[0]}")

    def loss_fn(m: ScoreSDEGenerator, batch, generator: torch.Generator):
        loss_x, loss_adj = m.losses(batch, generator=generator)
        return {"loss": loss_x + loss_adj, "loss_x": loss_x, "loss_adj": loss_adj}

    trainer = Trainer(model, TensorTuple(x, adj, mask), cfg.trainer, out, run_config=cfg, loss_fn=loss_fn,
                      clip_groups=("net_x", "net_adj"), state_extra={"init": args.init}, ctx=ctx)
    summary = trainer.fit(resume=args.resume)
    if ctx.is_main:
        print(json.dumps(summary))
        suffix = "smi" if model.config.kind == "molecule" else "json"
        print(f"[sde] sample with: graphgen sample {out / 'ema'} -n 100 -o samples.{suffix}")
    distributed.shutdown(ctx)
    return 0
