"""What every ``graphgen train <family>`` command shares: its arguments, config resolution and run-folder checks.

Arguments common to every family: ``--dataset`` (a registered name or a file of the user's molecules or graphs),
``--config FILE`` / ``--set KEY=VALUE`` (:mod:`graphgen.train.config`), ``--out``, ``--resume``, ``--overwrite``,
``--init NAME_OR_PATH``, ``--data-dir``, and one flag per :class:`~graphgen.train.trainer.TrainerConfig` field
(``--batch-size``, ``--minutes``, ``--max-steps``, ``--lr``, ...), generated from the dataclass so that no field is
copied by hand. ``--decay-to LR_MIN`` is short for ``--schedule cosine --lr-min LR_MIN``. Architecture is set with
``--set model.<field>=<value>`` (or in the YAML file), never with a dedicated flag.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any

from graphgen.train.checkpoint import CheckpointError, RunFolder
from graphgen.train.config import ConfigError, _scalar_types, preset_path
from graphgen.train.trainer import TrainerConfig

_FLAG_PREFIX = "trainer__"
# old budget flag names (GDSS ``--time-budget``; encoders and bench ``--budget-minutes``) -> the one name now used
DEPRECATED_BUDGET_FLAGS: tuple[str, ...] = ("--time-budget", "--budget-minutes")


# trainer field -> what its flag's help adds to "trainer.<name>"
FLAG_NOTES: dict[str, str] = {
    "minutes": ": wall-clock training budget in minutes, the one budget flag of every trainer (formerly "
               "--time-budget / --budget-minutes, still accepted with a notice)",
}


class DeprecatedAlias(argparse.Action):
    """A hidden old name of a flag: stores its value under the new flag's ``dest`` and prints a one-line notice to
    stderr naming the new flag (so old command lines keep working while ``--help`` documents one name)."""

    def __init__(self, option_strings: list[str], dest: str, new_flag: str = "", **kwargs: Any) -> None:
        self.new_flag = new_flag
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        import sys

        print(f"{parser.prog}: {option_string} is deprecated; use {self.new_flag}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_deprecated_budget_aliases(parser: argparse.ArgumentParser, dest: str) -> None:
    """Accept the old budget flag names as hidden aliases of ``--minutes`` (stored in ``dest``)."""
    for old in DEPRECATED_BUDGET_FLAGS:
        parser.add_argument(old, dest=dest, type=float, action=DeprecatedAlias, new_flag="--minutes",
                            help=argparse.SUPPRESS, default=argparse.SUPPRESS)


def add_run_arguments(parser: argparse.ArgumentParser, *, dataset_default: str | None = None,
                      dataset_help: str = "") -> None:
    parser.add_argument("--dataset", required=dataset_default is None, default=dataset_default,
                        help=dataset_help or "a registered dataset name (graphgen data list) or a file of your own "
                                             "molecules (.smi/.csv) or graphs (.json/.edges)")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="YAML run config (default: the preset graphgen/train/configs/<family>_<dataset>.yaml)")
    parser.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override one config key, e.g. --set model.hidden=128 --set trainer.lr=1e-3 (repeatable)")
    parser.add_argument("--out", default=None, help="run folder")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last complete checkpoint (error if there is none)")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete what --out holds and start a new run there (without it, or --resume, a "
                             "non-empty --out is refused, also with --init)")
    parser.add_argument("--init", default=None, metavar="NAME_OR_PATH",
                        help="warm start: weights and architecture of a saved or bundled model, fresh optimiser")
    parser.add_argument("--data-dir", default=None, help="folder with the raw files (default $GRAPHGEN_DATA)")
    group = parser.add_argument_group("trainer (each flag sets trainer.<name>; see graphgen.train.trainer)")
    hints = typing.get_type_hints(TrainerConfig)
    for f in dataclasses.fields(TrainerConfig):
        flag = "--" + f.name.replace("_", "-")
        dest = _FLAG_PREFIX + f.name
        kinds = [t for t in _scalar_types(hints[f.name]) if t is not type(None)]
        if kinds == [bool]:
            if f.default is True:
                group.add_argument("--no-" + f.name.replace("_", "-"), dest=dest, action="store_const", const=False,
                                   default=None, help=f"trainer.{f.name}=false")
            else:
                group.add_argument(flag, dest=dest, action="store_const", const=True, default=None,
                                   help=f"trainer.{f.name}=true")
            continue
        group.add_argument(flag, dest=dest, type=kinds[0], default=None, metavar=f.name.upper(),
                           help=f"trainer.{f.name}{FLAG_NOTES.get(f.name, '')}")
    add_deprecated_budget_aliases(group, _FLAG_PREFIX + "minutes")
    group.add_argument("--decay-to", type=float, default=None, metavar="LR_MIN",
                       help="cosine decay of the learning rate to LR_MIN at --max-steps (or the last epoch)")


def trainer_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The trainer fields given as flags, as ``{"trainer": {...}}`` for :func:`graphgen.train.config.resolve`."""
    values = {k[len(_FLAG_PREFIX):]: v for k, v in vars(args).items() if k.startswith(_FLAG_PREFIX) and v is not None}
    if getattr(args, "decay_to", None) is not None:
        values.update(schedule="cosine", lr_min=args.decay_to)
    return {"trainer": values} if values else {}


def config_source(args: argparse.Namespace, family: str) -> dict[str, Any]:
    """``file=`` / ``preset=`` keyword arguments of :func:`graphgen.train.config.resolve` for this command line."""
    if args.config:
        return {"file": args.config}
    return {"preset": preset_path(family, args.dataset)}


def prepare_run_folder(out: str | Path, *, resume: bool, overwrite: bool) -> RunFolder:
    """Check ``out`` before any work starts: it is (or can become) a folder; ``--resume`` needs a complete checkpoint;
    a folder that holds anything (a run, another run's models, any file) is only reused with ``--resume`` or replaced
    with ``--overwrite``, so a fresh run or an ``--init`` warm start never overwrites it silently."""
    run = RunFolder(out)
    if resume and overwrite:
        raise CheckpointError("--resume and --overwrite exclude each other")
    _check_folder_path(run.path)
    if overwrite:
        run.clear()
    if resume and not run.has_checkpoint():
        raise CheckpointError(f"--resume: no loadable checkpoint in {run.path} ({run.describe()}); "
                              "drop --resume to start a new run")
    if not resume and run.path.is_dir() and any(run.path.iterdir()):
        what = "already holds a run" if run.is_used() else "is not empty"
        raise CheckpointError(f"run folder {run.path} {what} ({run.describe()}); pass --resume to continue it, "
                              "--overwrite to replace it, or another --out")
    run.path.mkdir(parents=True, exist_ok=True)
    return run


def _check_folder_path(path: Path) -> None:
    """``path`` is a folder or can be created as one: not a file, and its nearest existing ancestor is a writable
    folder; else a :class:`CheckpointError` naming it (before any data is loaded)."""
    import os

    if path.exists() and not path.is_dir():
        raise CheckpointError(f"--out {path}: is a file, expected a run folder; choose another --out")
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:  # the first existing folder is the one written to
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise CheckpointError(f"--out {path}: {ancestor} is a file, not a folder; choose another --out")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise CheckpointError(f"--out {path}: folder {ancestor} is not writable; choose another --out")


def resumed_extra(run: RunFolder) -> dict[str, Any]:
    """The model-specific values the last checkpoint stored (``Trainer(state_extra=...)``)."""
    return dict(run.read_state().get("extra", {})) if run.has_checkpoint() else {}


def start_run(args: argparse.Namespace, cls: type, family: str):
    """What a ``graphgen train <family>`` command does before it touches data: resolve the run config, join the
    torchrun process group, check the run folder (rank 0). Returns ``(config, context, run folder path)``."""
    from graphgen.train import config as config_lib
    from graphgen.train import distributed

    cfg = config_lib.resolve(cls, base={"dataset": args.dataset}, flags=trainer_flags(args), overrides=args.set,
                             **config_source(args, family))
    ctx = distributed.init()
    out = Path(args.out or f"runs/{family}_{Path(cfg.dataset).stem}")
    if ctx.is_main:
        prepare_run_folder(out, resume=args.resume, overwrite=args.overwrite)
    distributed.barrier(ctx)
    return cfg, ctx, out


def load_split(name: str, split: str, data_dir: str | None, *, seed: int = 0, run_dir: Path | None = None):
    """The graphs of ``split`` of dataset ``name`` (a registered name or a file) and its molecule vocabulary (or
    None). A file's split is drawn by ``seed`` and written into ``run_dir``."""
    from graphgen.data.datasets.user import UserDataset
    from graphgen.data.registry import DATASETS, load_dataset
    from graphgen.train.distributed import init, main_first

    ctx = init()
    main = ctx.is_main
    if name in DATASETS:   # registered datasets keep their published split
        with main_first(ctx):   # rank 0 builds the on-disk cache, the others then read it
            ds = load_dataset(name, split, data_dir=data_dir)
        return [ds[i] for i in range(len(ds))], getattr(ds, "vocab", None)
    # a file's split is drawn by seed once, written into the run folder and read back on resume
    split_file = run_dir / "split.json" if run_dir is not None and (run_dir / "split.json").is_file() else None
    ds = load_dataset(name, split, data_dir=data_dir, seed=seed, quiet=not main, split_file=split_file)
    if isinstance(ds, UserDataset) and run_dir is not None and split_file is None and main:
        ds.write_split(run_dir)
    return [ds[i] for i in range(len(ds))], getattr(ds, "vocab", None)


def resume_or_init(args: argparse.Namespace, cls: type, run_dir: Path, family: str):
    """The model a run starts from: the last checkpoint of ``run_dir`` with ``--resume``, the saved model named by
    ``--init`` (which must be a ``cls``), else ``None`` (the caller builds a new one)."""
    if args.resume:
        return cls.from_pretrained(RunFolder(run_dir).link("last"))
    if args.init:
        from graphgen.generate import load_generator

        model = load_generator(args.init)
        if not isinstance(model, cls):
            raise ConfigError(f"--init {args.init}: a {type(model).__name__}, not a {family} model")
        print(f"[{family}] warm start from {args.init} (architecture from its config; fresh optimiser)")
        return model
    return None


def warm_start_model(args: argparse.Namespace, model_class: Any, cfg: Any) -> Any:
    """``--init NAME_OR_PATH`` (not with ``--resume``): the saved model, in training mode, whose architecture replaces
    ``cfg.model``; ``None`` without ``--init``."""
    if not args.init or args.resume:
        return None
    model = model_class.from_pretrained(args.init)
    cfg.model = model.config
    model.train()
    return model
