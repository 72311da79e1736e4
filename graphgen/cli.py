"""Command line: ``graphgen data | evaluate | train | sample | bench``.

Each sub-command's arguments and behaviour live beside the code they drive, in a ``commands.py`` module of that
room (``graphgen/data/commands.py``, ``graphgen/evaluate/commands.py``, ...). This file lists them explicitly; it
imports a room only when its command runs, so ``graphgen --help`` stays fast. An error graphgen raises on purpose
(:class:`graphgen.errors.GraphgenError`), or a command's own refusal (``SystemExit`` with a message), ends the command
with its one-line message and exit code 2; ``--debug`` shows its traceback instead.

``--no-progress`` (on the commands that have it) is one switch for every progress bar of the command, also those
the command does not draw itself (a dataset's cache build, a user file's conversion, third-party libraries): the
command runs with ``TQDM_DISABLE=1``, which tqdm (>= 4.66) reads as the default of ``disable`` when it is first
imported, so it is set before the command's module (and with it tqdm) is imported; worker processes inherit it.
Write the flag out in full (an abbreviation argparse would accept is not seen this early).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import time

# command name -> (module holding ``add_arguments(parser)`` and ``run(args)``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("graphgen.data.commands", "list, inspect and prepare datasets"),
    "evaluate": ("graphgen.evaluate.commands", "score generated molecules, graphs, scene graphs or lane graphs"),
    "train": ("graphgen.train.commands", "train an encoder or a generator"),
    "sample": ("graphgen.generate.commands", "sample graphs from a trained or bundled model"),
    "bench": ("graphgen.train.bench", "benchmarks: train encoders under one budget (ZINC-12k, ogbg-molhiv) or sample "
                                      "and score a generator (qm9, zinc250k, moses)"),
}


def build_parser() -> argparse.ArgumentParser:
    # the docstring's first line without its reStructuredText markup: help is read in a terminal
    parser = argparse.ArgumentParser(prog="graphgen", description=__doc__.splitlines()[0].replace("``", ""))
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(_module=module_name)
        # Sub-parsers are filled lazily in main() for the chosen command only.
    return parser


def use_passive_openmp() -> None:
    """Make idle OpenMP threads sleep instead of spinning, unless the user's environment says otherwise.

    Spinning threads slow torch down badly when other processes compete for the cores (a shared 2-core machine); on an
    idle machine sleeping costs a little speed instead (both measured in benchmarks/results/startup.md). OpenMP reads
    the variable once, when torch loads it, so this runs before any command module imports torch.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# tqdm's own variable (tqdm >= 4.66): ``disable`` defaults to its value for every bar created in this process
PROGRESS_ENV = "TQDM_DISABLE"


@contextlib.contextmanager
def progress_switch(command_args: list[str]):
    """Within the block, hide every tqdm bar if ``command_args`` holds ``--no-progress`` (see the module docstring);
    the environment is restored afterwards, so a caller of :func:`main` in its own process keeps its bars."""
    if "--no-progress" not in command_args:
        yield
        return
    before = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = before


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()  # a --minutes budget counts from here: start-up work is spent from it
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints help / the usage error and exits
        return 2
    name = argv[0]
    debug = "--debug" in argv[1:]  # show the traceback of a graphgen error instead of its one-line message
    use_passive_openmp()
    with progress_switch(argv[1:]):  # before the import below: tqdm reads the switch when it is first imported
        return _run_command(name, argv[1:], started, debug)


def _run_command(name: str, command_args: list[str], started: float, debug: bool) -> int:
    """Import, parse and run ``graphgen NAME COMMAND_ARGS`` (see :func:`main`)."""
    module = importlib.import_module(COMMANDS[name][0])
    cmd_parser = argparse.ArgumentParser(prog=f"graphgen {name}", description=COMMANDS[name][1])
    module.add_arguments(cmd_parser)
    args = cmd_parser.parse_args([a for a in command_args if a != "--debug"])
    args.command_started = started
    from graphgen.errors import GraphgenError

    try:
        return int(module.run(args) or 0)
    except GraphgenError as err:  # bad input: one line naming the problem, exit code 2 (as argparse's usage errors)
        if debug:
            raise
        print(f"graphgen {name}: {err}", file=sys.stderr)
        return 2
    except SystemExit as refusal:  # a command's own one-line refusal, SystemExit("graphgen sample: ..."): bad input
        if not debug and isinstance(refusal.code, str):  # an exit status (argparse, --help) passes through as it is
            print(refusal.code, file=sys.stderr)
            refusal.code = 2  # the status of bad input; the exception keeps its message for callers of main()
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
