"""Pretrained generators that ship inside the package (``graphgen/hub/models/<name>/``).

Each bundled model is a folder written by ``Generator.save_pretrained`` (``config.json`` + ``model.safetensors``)
plus a model card ``README.md`` (training command, data, budget, measured metrics). This module is data only
(names, folders, cards); :func:`graphgen.generate.load_generator` is the one place a name becomes a model::

    from graphgen.generate import load_generator
    model = load_generator("qm9")             # a Generator, in eval mode
    graphs = model.sample(100)                # list[Data]; molecules: x atom type, edge_attr bond type

or from the shell ``graphgen sample qm9 -n 1000 -o samples.smi``. Weights are loaded with safetensors (no pickle).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"


@dataclass(frozen=True)
class BundledModel:
    """A model shipped with graphgen: ``folder`` under ``graphgen/hub/models/``, the dataset it was trained on."""

    folder: str
    dataset: str
    description: str


# name a user types -> bundled model. The only registry of bundled models.
MODELS: dict[str, BundledModel] = {
    "qm9": BundledModel("qm9", "qm9", "PARD generator trained on QM9 (GDSS split, kekulized, no H); see its model card"),
    "qm9-gdss": BundledModel("qm9_gdss", "qm9",
                             "GDSS score-SDE generator trained on QM9 (GDSS split, kekulized, no H); see its model card"),
    "community_small-gdss": BundledModel("community_small_gdss", "community_small",
                                         "GDSS score-SDE generator trained on community_small; see its model card"),
    "ego_small-gdss": BundledModel("ego_small_gdss", "ego_small",
                                   "GDSS score-SDE generator trained on ego_small; see its model card"),
    "coco-sg": BundledModel("coco_sg", "coco_sg",
                            "heterogeneous EDM diffusion of COCO scene graphs (classes, boxes, relations); "
                            "see its model card"),
    "lanes": BundledModel("lanes", "lanes",
                          "heterogeneous EDM diffusion of 64 m lane graphs (polylines, successor edges); "
                          "see its model card"),
}


def available() -> list[str]:
    """Names of the bundled models whose files are present in this install."""
    return [name for name, m in MODELS.items() if (MODELS_DIR / m.folder / "config.json").exists()]


def resolve(name: str) -> Path:
    """The folder of bundled model ``name``. ``KeyError`` for an unknown name, ``FileNotFoundError`` if its files
    are missing from this install."""
    if name not in MODELS:
        raise KeyError(f"no bundled model named {name!r}; bundled models: {sorted(MODELS)}")
    path = MODELS_DIR / MODELS[name].folder
    if not (path / "config.json").exists() or not (path / "model.safetensors").exists():
        raise FileNotFoundError(
            f"bundled model {name!r} is registered but {path} lacks config.json/model.safetensors; "
            "reinstall graphgen (package data 'hub/models/**/*') or pass a folder written by save_pretrained()"
        )
    return path


def model_card(name: str) -> str:
    """The model card (``README.md``) of bundled model ``name``."""
    return (resolve(name) / "README.md").read_text()
