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
from typing import Any

TRAINERS: dict[str, tuple[str, str]] = {
    "encoder": ("graphgen.train.encoder", "train a graph-transformer encoder on a property benchmark"),
    "sde": ("graphgen.generate.sde.train", "train the score-based SDE graph generator (GDSS)"),
    "pard": ("graphgen.generate.pard.train", "train the PARD autoregressive block-diffusion generator"),
    "hetero": ("graphgen.generate.hetero.train", "train the heterogeneous diffusion generator (scene graphs)"),
    "diffgraph": ("graphgen.generate.diffgraph.train",
                  "train DiffGraph (heterogeneous graph diffusion for recommendation / node classification)"),
}


class _FamilySubParsers(argparse._SubParsersAction):
    """Sub-parsers whose arguments are added only for the family the command line names.

    Importing a trainer module (torch, PyG, the model) takes seconds; ``graphgen train <family>`` needs one of them,
    and ``graphgen train --help`` none (the help lines are in :data:`TRAINERS`). argparse calls this action with the
    chosen family's name first, so its module is imported and its ``add_arguments`` run just before its arguments are
    parsed (``graphgen train pard --help`` included).

    argparse has no public hook for this; subclassing its sub-parsers action (as its ``action=`` argument allows) keeps
    every other behaviour, usage errors and help included.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filled: set[str] = set()   # families whose arguments are added: a parser used twice is filled once

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: list[str],
                 option_string: str | None = None) -> None:
        family = values[0]
        chosen = self._name_parser_map.get(family)
        if chosen is not None and family not in self.filled:   # an unknown name: argparse's "invalid choice" error
            self.filled.add(family)
            fill_family_parser(chosen)
        super().__call__(parser, namespace, values, option_string)


def fill_family_parser(parser: argparse.ArgumentParser) -> None:
    """Import the trainer module of a family's sub-parser (its ``_trainer_module`` default) and add its arguments."""
    try:
        module = importlib.import_module(parser.get_default("_trainer_module"))
    except ImportError as err:  # a family not built yet: say so instead of hiding the command
        parser.set_defaults(_import_error=str(err))
        return
    module.add_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One sub-parser per family in :data:`TRAINERS`; only the chosen one is filled (:class:`_FamilySubParsers`)."""
    sub = parser.add_subparsers(dest="trainer", required=True, action=_FamilySubParsers)
    for name, (module_name, help_text) in TRAINERS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_trainer_module=module_name)


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
