"""Nothing in ``graphgen/`` pickles or unpickles (DESIGN.md: weights are safetensors, nothing is unpickled).

The scan reads the syntax tree of every ``.py`` file, so comments and docstrings that mention pickle do not count,
and import aliases (``import torch as T``, ``from numpy import load``) are followed.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "graphgen"

# modules whose whole purpose is pickling (shelve and joblib/dill/cloudpickle persist through it)
PICKLE_MODULES = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve"}


def _module_root(name: str) -> str:
    return name.split(".", 1)[0]


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` of a Name/Attribute chain, with the leading name replaced by what it was imported as."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _keyword_constant(call: ast.Call, name: str) -> object:
    """The constant passed as ``name=``; ``None`` when absent, ``...`` when it is an expression (unknown here)."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else ...
    return None


def pickle_uses(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """``(line, what)`` of every pickling construct in ``source``."""
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:  # import a.b as x: x is a.b
                    aliases[a.asname] = a.name
                else:  # import a.b: binds a
                    aliases[_module_root(a.name)] = _module_root(a.name)
                if _module_root(a.name) in PICKLE_MODULES:
                    found.append((node.lineno, f"import {a.name}"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            if _module_root(node.module) in PICKLE_MODULES:
                found.append((node.lineno, f"from {node.module} import ..."))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            name = _dotted(node, aliases)
            if name and _module_root(name) in PICKLE_MODULES and isinstance(node.value, ast.Name):
                found.append((node.lineno, name))
            if node.attr in ("read_pickle", "to_pickle"):
                found.append((node.lineno, f".{node.attr}"))
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func, aliases)
        if name in ("torch.save", "torch.serialization.save"):
            found.append((node.lineno, f"{name}(...) (writes a pickle)"))
        elif name in ("torch.load", "torch.serialization.load"):
            if _keyword_constant(node, "weights_only") is not True:
                found.append((node.lineno, f"{name}(...) without weights_only=True"))
        elif name in ("numpy.load", "numpy.lib.npyio.load") and _keyword_constant(node, "allow_pickle") not in (None, False):
            found.append((node.lineno, f"{name}(..., allow_pickle=...)"))
    return sorted(set(found))


@pytest.mark.parametrize("source, expected", [
    ("import pickle\npickle.dumps(1)", [(1, "import pickle"), (2, "pickle.dumps")]),
    ("import pickle as p\np.loads(b'')", [(1, "import pickle"), (2, "pickle.loads")]),
    ("from pickle import loads", [(1, "from pickle import ...")]),
    ("import cloudpickle, dill\nimport joblib.numpy_pickle",
     [(1, "import cloudpickle"), (1, "import dill"), (2, "import joblib.numpy_pickle")]),
    ("import torch\ntorch.save({}, 'f')", [(2, "torch.save(...) (writes a pickle)")]),
    ("import torch as T\nT.load('f')", [(2, "torch.load(...) without weights_only=True")]),
    ("from torch import load\nload('f', weights_only=False)", [(2, "torch.load(...) without weights_only=True")]),
    ("import torch\ntorch.load('f', weights_only=flag)", [(2, "torch.load(...) without weights_only=True")]),
    ("import numpy as np\nnp.load('f', allow_pickle=True)", [(2, "numpy.load(..., allow_pickle=...)")]),
    ("import numpy\nnumpy.load('f', allow_pickle=flag)", [(2, "numpy.load(..., allow_pickle=...)")]),
    ("import pandas as pd\npd.read_pickle('f')\ndf.to_pickle('f')", [(2, ".read_pickle"), (3, ".to_pickle")]),
])
def test_scanner_finds(source, expected):
    assert pickle_uses(source) == expected


def test_scanner_allows_safe_forms():
    safe = '''
"""Docstring: never pickle.dumps or torch.save here."""
import torch
import numpy as np
# a comment about import pickle
x = torch.load("f", weights_only=True)
y = np.load("f")
z = np.load("f", allow_pickle=False, mmap_mode="r")
w = "torch.save(model)"
'''
    assert pickle_uses(safe) == []


def test_no_pickle_in_graphgen():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20, f"expected the graphgen sources under {PACKAGE}"
    problems = []
    for path in files:
        rel = path.relative_to(PACKAGE.parent)
        for line, what in pickle_uses(path.read_text(), str(path)):
            problems.append(f"{rel}:{line}: {what}")
    assert not problems, "pickling in graphgen/ (use safetensors + JSON):\n" + "\n".join(problems)
