"""Graph generators. Every generator has the same surface (see ``graphgen.generate.base``):
``loss(batch)``, ``sample(num_graphs, *, generator=None, batch_size=None, progress=False, callback=None, **options)``,
``save_pretrained(path)``, ``from_pretrained(name_or_path)``.

``GENERATORS`` maps the ``"generator"`` key written in a checkpoint's ``config.json`` to the class that loads it
(``"module:Class"``, imported on use). It is the only registry of generators. :func:`load_generator` is the one place
a bundled-model name (``graphgen.hub``, data only) or a saved folder becomes a model.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from graphgen import hub
from graphgen.errors import CorruptFileError

GENERATORS: dict[str, str] = {
    "sde": "graphgen.generate.sde.model:ScoreSDEGenerator",
    "pard": "graphgen.generate.pard.model:PARDGenerator",
    "hetero": "graphgen.generate.hetero.model:HeteroDiffusionGenerator",
}


def generator_class(kind: str):
    """The generator class registered under ``kind`` (a key of :data:`GENERATORS`)."""
    if not isinstance(kind, str) or kind not in GENERATORS:
        raise KeyError(f"unknown generator {kind!r}; known: {sorted(GENERATORS)}")
    module_name, cls_name = GENERATORS[kind].split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def model_folder(name_or_path: str | Path) -> Path:
    """The folder a generator loads from: ``name_or_path`` when it is a folder, else the bundled model of that name
    (``graphgen.hub.MODELS``). An existing folder wins over a bundled name spelled the same."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if str(name_or_path) in hub.MODELS:
        return hub.resolve(str(name_or_path))
    raise FileNotFoundError(
        f"{str(name_or_path)!r} is not a folder and not a bundled model; pass a folder written by save_pretrained() "
        f"(e.g. runs/<name>/ema) or a bundled model: {', '.join(sorted(hub.MODELS))}"
    )


def load_generator(name_or_path: str | Path, *, map_location: str = "cpu"):
    """Any saved generator, in eval mode, from a folder holding ``config.json`` (with a ``"generator"`` key, which
    picks the class in :data:`GENERATORS`) and ``model.safetensors``, or from a bundled model name (e.g. ``"qm9"``).

    The folder is checked before and while the model is built (:mod:`graphgen.generate.model_folder_checks`); a file
    that is damaged or does not fit the other raises :class:`~graphgen.errors.CorruptFileError` naming it.
    """
    from graphgen.nn.pretrained import CONFIG_NAME, read_config_json, require_file

    path = model_folder(name_or_path)
    cfg_file = path / CONFIG_NAME
    require_file(cfg_file)
    kind = read_config_json(cfg_file).get("generator")
    if not isinstance(kind, str) or kind not in GENERATORS:
        raise CorruptFileError(f"{cfg_file}: 'generator' is {kind!r}; expected one of {sorted(GENERATORS)} (the "
                               "key save_pretrained() writes)")
    return generator_class(kind).from_pretrained(path, map_location=map_location)
