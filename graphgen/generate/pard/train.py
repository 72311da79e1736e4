"""``graphgen train pard --dataset NAME``: train the PARD generator through the shared trainer.

The run is configured by :class:`PARDRunConfig` (preset ``graphgen/train/configs/pard_<dataset>.yaml``, else
``pard.yaml``; ``--config FILE``; ``--set model.hidden=128``); the run folder is the shared layout of
:mod:`graphgen.train.checkpoint` (``last/``, ``ema/`` to sample from, ``best/`` with ``--select``, ``log.jsonl``,
``config.yaml``).

Values measured on the training graphs (``max_block_size``, ``max_degree``, ``max_nodes``, the type counts and the
vocabulary) go into the model's own ``config.json``, never back into the run config; setting one of them in the run
config is an error.

- ``--init NAME_OR_PATH`` warm-starts from saved weights (the architecture is the saved one; fresh optimiser).
- ``--resume`` continues ``--out`` from its last complete checkpoint; the architecture comes from the checkpoint.
- ``--set heads_only=true`` (with ``--init``) trains only the start token and the next-block size/degree heads on
  the frozen denoiser; a model saved before the joint size->degree head first gets it (zero-initialised, so it
  starts as the old independent head). The checkpoint remembers the mode for ``--resume``.
- ``--select`` (generic graphs) scores the EMA at every checkpoint by the GDSS-protocol MMDs (degree + clustering +
  orbit) of a fixed-seed draw against the *training* graphs and keeps the best in ``best/``: the last checkpoint is
  not always the best one on small datasets, and the test split stays untouched.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from graphgen.generate.pard.model import PARDConfig, PARDGenerator
from graphgen.train.config import ConfigError
from graphgen.train.runs import load_split
from graphgen.train.trainer import TrainerConfig

# PARDConfig fields measured on the training data (see resolve_model_config)
DERIVED = ("num_node_types", "num_edge_types", "vocab", "max_block_size", "max_degree", "max_nodes")
SELECT_STATS = ("degree", "clustering", "orbit")


@dataclasses.dataclass
class PARDRunConfig:
    """A PARD training run: what to train on, the architecture, how to train it."""

    dataset: str = "qm9"
    split_seed: int = 0                  # a user's file: the seed of its train/val/test split
    heads_only: bool = False             # with --init: train only the next-block size/degree heads
    select_samples: int | None = None    # graphs per selection draw (default: training-set size, at most 256)
    model: PARDConfig = dataclasses.field(default_factory=PARDConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)


def attach_blocks(graphs: list, max_hops: int, cache: Path | None = None) -> list:
    """Graphs with their PARD ``block`` vectors; the decomposition (pure Python, minutes on QM9) is cached in
    ``cache`` (safetensors: all block vectors concatenated + node counts) and reused when the node counts match."""
    from safetensors.torch import load_file, save_file
    from tqdm.auto import tqdm

    from graphgen.generate.pard.model import prepare_graph

    sizes = torch.tensor([int(g.num_nodes) for g in graphs], dtype=torch.long)
    if cache is not None and cache.exists():
        stored = load_file(str(cache))
        if torch.equal(stored["num_nodes"], sizes):
            out = []
            for g, block in zip(graphs, stored["block"].split(sizes.tolist())):
                g = g.clone()
                g.block = block.clone()
                out.append(g)
            return out
        print(f"[pard] {cache} was made for other graphs; recomputing the decomposition")
    out = [prepare_graph(g, max_hops) for g in tqdm(graphs, desc="block decomposition", mininterval=5)]
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        save_file({"num_nodes": sizes, "block": torch.cat([g.block for g in out])}, str(cache))
    return out


def resolve_model_config(model: PARDConfig, graphs: list, vocab) -> PARDConfig:
    """``model`` with the values measured on the training graphs filled in."""
    from graphgen.generate.pard.blocks import block_degrees, block_sizes

    defaults = PARDConfig()
    set_by_user = [k for k in DERIVED if getattr(model, k) != getattr(defaults, k)]
    if set_by_user:
        raise ConfigError(f"model.{', model.'.join(set_by_user)} {'is' if len(set_by_user) == 1 else 'are'} measured "
                         "on the training data; remove them from the run config")
    if vocab is not None:
        num_node_types, num_edge_types = vocab.num_atom_types, vocab.num_bond_types + 1
        vocab_value = vocab.name if _is_registered_vocab(vocab) else vocab.to_dict()
    else:
        num_node_types, num_edge_types, vocab_value = 1, 2, None
    return dataclasses.replace(
        model, num_node_types=num_node_types, num_edge_types=num_edge_types, vocab=vocab_value,
        max_block_size=max(int(block_sizes(g.block).max()) for g in graphs),
        max_degree=max(int(block_degrees(g.edge_index, g.block).max()) for g in graphs),
        max_nodes=max(int(g.num_nodes) for g in graphs))


def _is_registered_vocab(vocab) -> bool:
    from graphgen.data.molecules import VOCABS

    return VOCABS.get(vocab.name) == vocab


def selection_fn(graphs: list, num_samples: int, seed: int = 12345):
    """Evaluation for ``--select``: MMDs of a fixed-seed draw of the EMA model against the training graphs."""
    def evaluate(model: PARDGenerator) -> dict[str, float]:
        from graphgen.evaluate import evaluate_graphs

        samples = model.sample(num_samples, generator=torch.Generator().manual_seed(seed))
        scores = evaluate_graphs(samples, graphs, protocol="gdss", progress=False, num_workers=0)
        row = {k: float(scores[k]) for k in SELECT_STATS}
        row["score"] = sum(row.values())
        row["reference"] = f"{len(graphs)} training graphs, {num_samples} samples, seed {seed}"
        return row
    return evaluate


def build(cfg: PARDRunConfig, args: argparse.Namespace, run_dir: Path, *, resume: bool):
    """The model, its training graphs and the training mode for this command line."""
    from graphgen.train.runs import resumed_extra
    from graphgen.train.checkpoint import RunFolder

    graphs, vocab = load_split(cfg.dataset, "train", args.data_dir, seed=cfg.split_seed, run_dir=run_dir)
    print(f"[pard] {cfg.dataset}: {len(graphs)} training graphs")
    if cfg.trainer.select and vocab is not None:
        raise ConfigError(f"--select scores generic-graph MMDs; it is not for molecule datasets ({cfg.dataset}); "
                          "pick a molecule checkpoint with `graphgen bench generate` instead")
    heads_only = cfg.heads_only
    if resume:
        model = PARDGenerator.from_pretrained(RunFolder(run_dir).link("last"))
        heads_only = bool(resumed_extra(RunFolder(run_dir)).get("heads_only", heads_only))
    elif args.init:
        from graphgen.generate import load_generator

        model = load_generator(args.init)
        if not isinstance(model, PARDGenerator):
            raise ConfigError(f"--init {args.init}: a {type(model).__name__}, not a PARD model")
        if heads_only and not model.config.degree_given_size:
            model = model.with_joint_block_head()
            print("[pard] the degree head now sees the next block's size (zero-initialised size embedding)")
        print(f"[pard] warm start from {args.init} (architecture from its config; fresh optimiser)")
    else:
        if heads_only:
            raise ConfigError("heads_only trains the block heads of an existing model; give --init")
        graphs = attach_blocks(graphs, cfg.model.max_hops, run_dir / f"blocks_k{cfg.model.max_hops}.safetensors")
        torch.manual_seed(cfg.trainer.seed)   # application entry: the initial weights
        model = PARDGenerator(resolve_model_config(cfg.model, graphs, vocab))
        model.set_marginals(graphs)
    if getattr(graphs[0], "block", None) is None:
        k = model.config.max_hops
        graphs = attach_blocks(graphs, k, run_dir / f"blocks_k{k}.safetensors")
    if heads_only:   # everything but the start token and the size/degree heads stays as loaded
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(PARDGenerator.BLOCK_HEAD_PREFIXES))
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(f"[pard] heads only: {trainable} of {model.num_parameters()} parameters train")
    return model, graphs, heads_only


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from graphgen.train.runs import add_run_arguments

    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from graphgen.train import distributed
    from graphgen.train.runs import start_run
    from graphgen.train.trainer import GraphList, Trainer

    cfg, ctx, out = start_run(args, PARDRunConfig, "pard")
    model, graphs, heads_only = build(cfg, args, out, resume=args.resume)
    if ctx.is_main:
        print(model)
    evaluate = None
    if cfg.trainer.select:
        evaluate = selection_fn(graphs, cfg.select_samples or min(len(graphs), 256))
    def heads_loss(m: PARDGenerator, batch: Any, generator: torch.Generator):
        return m.block_head_loss_terms(batch)
    loss_fn = heads_loss if heads_only else None
    trainer = Trainer(model, GraphList(graphs), cfg.trainer, out, run_config=cfg, loss_fn=loss_fn,
                      evaluate_fn=evaluate, state_extra={"heads_only": heads_only, "init": args.init}, ctx=ctx)
    summary = trainer.fit(resume=args.resume)
    if ctx.is_main:
        print(json.dumps(summary))
        print(f"[pard] sample with: graphgen sample {out / 'ema'} -n 100")
    distributed.shutdown(ctx)
    return 0
