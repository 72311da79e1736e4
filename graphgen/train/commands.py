"""``graphgen train <what>``: one sub-command per trainable family, each defined beside its model.

| sub-command | module (``add_arguments(parser)`` / ``run(args)``) |
|---|---|
| ``encoder`` | ``graphgen.train.encoder`` (GPS, GRIT, MPNN+VN, GT on ZINC-12k / ogbg-molhiv) |
| ``sde``     | ``graphgen.generate.sde.train`` (score-based SDE generator, GDSS) |
| ``pard``    | ``graphgen.generate.pard.train`` (PARD autoregressive block diffusion) |
| ``hetero``  | ``graphgen.generate.hetero.train`` (EDM diffusion of graphs with mixed attributes: scene graphs) |
| ``diffgraph`` | ``graphgen.generate.diffgraph.train`` (DiffGraph: recommendation, node classification) |
"""
from __future__ import annotations

import argparse
import importlib

TRAINERS: dict[str, tuple[str, str]] = {
    "encoder": ("graphgen.train.encoder", "train a graph-transformer encoder on a property benchmark"),
    "sde": ("graphgen.generate.sde.train", "train the score-based SDE graph generator (GDSS)"),
    "pard": ("graphgen.generate.pard.train", "train the PARD autoregressive block-diffusion generator"),
    "hetero": ("graphgen.generate.hetero.train", "train the heterogeneous diffusion generator (scene graphs)"),
    "diffgraph": ("graphgen.generate.diffgraph.train",
                  "train DiffGraph (heterogeneous graph diffusion for recommendation / node classification)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="trainer", required=True)
    for name, (module_name, help_text) in TRAINERS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_trainer_module=module_name)
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:  # a family not built yet: say so instead of hiding the command
            p.set_defaults(_import_error=str(err))
            continue
        module.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    import sys

    from graphgen.train.checkpoint import CheckpointError
    from graphgen.train.config import ConfigError

    if getattr(args, "_import_error", None):
        raise SystemExit(f"graphgen train {args.trainer}: unavailable ({args._import_error})")
    from graphgen.train.trainer import budget_clock

    try:
        # --minutes counts from the command's start (graphgen.cli), so loading data and building the model spend it
        with budget_clock(getattr(args, "command_started", None)):
            return int(importlib.import_module(args._trainer_module).run(args) or 0)
    except (ConfigError, CheckpointError) as err:  # a bad config or run folder: one line naming it, exit code 2
        print(f"graphgen train {args.trainer}: {err}", file=sys.stderr)
        return 2
