"""``graphgen train hetero --dataset coco_sg``: train the heterogeneous diffusion generator through the shared trainer.

The run is configured by :class:`HeteroRunConfig` (preset ``graphgen/train/configs/hetero_<dataset>.yaml``, else
``hetero.yaml``; ``--config FILE``; ``--set model.giou_weight=0``). The schema comes from the dataset
(:data:`DATASET_SCHEMAS`; ``max_nodes`` measured on the training graphs unless set); a dataset without an entry
needs ``model.schema`` in the config file. Augmentations (``augment``) are applied per graph with probability 1/2
to each training batch, with the trainer's loss generator: ``hflip`` mirrors scene graphs left-right (boxes and
left/right relations, :func:`graphgen.data.scene_graphs.hflip_dense`).

The run folder is the shared layout (:mod:`graphgen.train.checkpoint`); sample from ``<out>/ema``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any, Callable

import torch

from graphgen.generate.hetero.model import HeteroDiffusionConfig, HeteroDiffusionGenerator
from graphgen.generate.hetero.schema import (
    DenseGraphs,
    GraphSchema,
    lane_graph_schema,
    replace_encoding,
    scene_graph_schema,
    to_dense,
)
from graphgen.train.config import ConfigError
from graphgen.train.trainer import TrainerConfig

# dataset -> (model kind, schema builder taking max_nodes)
DATASET_SCHEMAS: dict[str, tuple[str, Callable[[int], GraphSchema]]] = {
    "coco_sg": ("scene_graph", scene_graph_schema),
    "coco_sg2im": ("scene_graph", scene_graph_schema),
    "lanes": ("lane_graph", lane_graph_schema),
}


@dataclasses.dataclass
class HeteroRunConfig:
    """A heterogeneous-diffusion training run: data, augmentations, the generator's config, the trainer's."""

    dataset: str = "coco_sg"
    augment: list[str] = dataclasses.field(default_factory=list)   # names in AUGMENTATIONS
    encoding: str = "onehot"          # categorical codes of a dataset schema: onehot | bits (analog bits)
    max_nodes: int | None = None      # default: the largest training graph
    model: HeteroDiffusionConfig = dataclasses.field(default_factory=HeteroDiffusionConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)


def hflip(batch: DenseGraphs, generator: torch.Generator) -> DenseGraphs:
    """Mirror each scene graph left-right with probability 1/2."""
    from graphgen.data.scene_graphs import hflip_dense

    flip = torch.rand(len(batch), generator=generator) < 0.5
    box, rel = hflip_dense(batch.nodes["box"], batch.edges)
    nodes = dict(batch.nodes)
    nodes["box"] = torch.where(flip[:, None, None], box, batch.nodes["box"])
    return DenseGraphs(nodes, torch.where(flip[:, None, None], rel, batch.edges), batch.mask)


AUGMENTATIONS: dict[str, Callable[[DenseGraphs, torch.Generator], DenseGraphs]] = {"hflip": hflip}


class DenseGraphData:
    """Training graphs held as one padded :class:`DenseGraphs` (the trainer's data adapter)."""

    def __init__(self, dense: DenseGraphs) -> None:
        self.dense = dense

    def __len__(self) -> int:
        return len(self.dense)

    def batch(self, indices: list[int]) -> DenseGraphs:
        return self.dense.index(indices).trim()


def resolve_model_config(cfg: HeteroRunConfig, graphs: list) -> HeteroDiffusionConfig:
    """``cfg.model`` with the dataset's schema (max_nodes measured on ``graphs`` unless set) and kind."""
    largest = max(int(g.num_nodes) for g in graphs)
    max_nodes = cfg.max_nodes or largest
    if max_nodes < largest:
        raise ConfigError(f"max_nodes={max_nodes} but the training set has a graph with {largest} nodes")
    if cfg.dataset in DATASET_SCHEMAS:
        kind, build = DATASET_SCHEMAS[cfg.dataset]
        schema = replace_encoding(build(max_nodes), cfg.encoding)
    elif cfg.model.schema is not None:
        kind, schema = cfg.model.kind, dataclasses.replace(cfg.model.schema, max_nodes=max_nodes)
    else:
        raise ConfigError(f"no schema is known for dataset {cfg.dataset!r} (known: {sorted(DATASET_SCHEMAS)}); "
                          "give model.schema in a --config file")
    try:
        return dataclasses.replace(cfg.model, dataset=str(cfg.dataset), kind=kind, schema=schema, training={
            k: v for k, v in dataclasses.asdict(cfg.trainer).items()
            if k in ("batch_size", "max_steps", "epochs", "lr", "ema", "seed")})
    except ValueError as err:
        raise ConfigError(f"model: {err}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from graphgen.train.runs import add_run_arguments

    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from graphgen.train import distributed
    from graphgen.train.runs import load_split, resume_or_init, start_run
    from graphgen.train.trainer import Trainer

    cfg, ctx, out = start_run(args, HeteroRunConfig, "hetero")
    unknown = sorted(set(cfg.augment) - set(AUGMENTATIONS))
    if unknown:
        raise ConfigError(f"augment: unknown {unknown}; known: {sorted(AUGMENTATIONS)}")
    graphs, _ = load_split(cfg.dataset, "train", args.data_dir, run_dir=out)
    model = resume_or_init(args, HeteroDiffusionGenerator, out, "hetero")
    if model is None:
        torch.manual_seed(cfg.trainer.seed)   # application entry: the initial weights
        model = HeteroDiffusionGenerator(resolve_model_config(cfg, graphs))
    dense = to_dense(model.schema, graphs)
    model.set_node_distribution(dense.mask.sum(-1))
    if ctx.is_main:
        print(f"{model!r}\ntrain graphs: {len(graphs)}")
    augments = [AUGMENTATIONS[name] for name in cfg.augment]

    def loss_fn(m: HeteroDiffusionGenerator, batch: DenseGraphs, generator: torch.Generator) -> dict[str, Any]:
        for augment in augments:
            batch = augment(batch, generator)
        return m.loss_terms(batch, generator=generator)

    trainer = Trainer(model, DenseGraphData(dense), cfg.trainer, out, run_config=cfg, loss_fn=loss_fn,
                      state_extra={"init": args.init}, ctx=ctx)
    summary = trainer.fit(resume=args.resume)
    if ctx.is_main:
        print(json.dumps(summary))
        print(f"[hetero] sample with: graphgen sample {out / 'ema'} -n 16 -o samples.json")
    distributed.shutdown(ctx)
    return 0
