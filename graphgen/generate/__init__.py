"""Graph generators. Every generator has the same surface (see ``graphgen.generate.base``):
``loss(batch)``, ``sample(num_graphs, *, generator=None, ...)``, ``save_pretrained(path)``, ``from_pretrained(path)``.

``GENERATORS`` maps the ``"generator"`` key written in a checkpoint's ``config.json`` to the class that loads it
(``"module:Class"``, imported on use). It is the only registry of generators.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

GENERATORS: dict[str, str] = {
    "sde": "graphgen.generate.sde.model:ScoreSDEGenerator",
    "pard": "graphgen.generate.pard.model:PARDGenerator",
}


def generator_class(kind: str):
    """The generator class registered under ``kind`` (a key of :data:`GENERATORS`)."""
    if kind not in GENERATORS:
        raise KeyError(f"unknown generator '{kind}'; known: {sorted(GENERATORS)}")
    module_name, cls_name = GENERATORS[kind].split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def load_generator(path: str | Path):
    """Load any saved generator from a folder holding ``config.json`` (with a ``"generator"`` key) and weights, or a
    bundled model by name (``graphgen.hub.MODELS``, e.g. ``"qm9"``) when no such folder exists."""
    from graphgen import hub

    if not Path(path).is_dir() and str(path) in hub.MODELS:
        path = hub.resolve(str(path))
    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"{cfg_file} not found: a saved generator folder holds config.json and model.safetensors")
    kind = json.loads(cfg_file.read_text()).get("generator")
    if kind is None:
        raise ValueError(f"{cfg_file} has no 'generator' key; expected one of {sorted(GENERATORS)}")
    return generator_class(kind).from_pretrained(path)
