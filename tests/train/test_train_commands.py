"""Issue 23: ``graphgen train <family>`` builds only the chosen family's arguments. Importing every trainer module
(torch, PyG and five models) to fill all sub-parsers was seconds of every train command's start-up, and that start-up
is spent from its ``--minutes`` budget."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from graphgen.cli import main
from graphgen.train.commands import TRAINERS

# prints which trainer modules a `graphgen train ...` command line imported before it exited
IMPORTED_TRAINERS = """
import sys
from graphgen.cli import main
from graphgen.train.commands import TRAINERS
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(sorted(name for name, (module, _) in TRAINERS.items() if module in sys.modules), file=sys.__stderr__)
"""


def _imported_trainers(*argv: str) -> list[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", IMPORTED_TRAINERS, *argv], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return eval(proc.stderr.strip().splitlines()[-1])   # the list printed last by the snippet


def test_train_help_lists_every_family_with_its_help_line(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())   # argparse wraps help lines: compare without line breaks
    for name, (_, help_text) in TRAINERS.items():
        assert f"{name} {help_text}" in text, name


def test_family_help_shows_its_flags(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "pard", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: graphgen train pard")
    for flag in ("--dataset", "--minutes", "--init", "--resume", "--no-progress"):
        assert flag in text, flag


def test_an_unknown_family_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "nope"])
    assert done.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err


def test_only_the_chosen_family_is_imported():
    assert _imported_trainers("train", "encoder", "--help") == ["encoder"]
    assert _imported_trainers("train", "--help") == []
