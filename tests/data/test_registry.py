"""Registry: names, raw-file declarations, cards, published split sizes (cheap path, no conversion)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from graphgen.data.datasets.base import DatasetSpec
from graphgen.data.registry import DATASETS, get_spec, load_dataset

REPO = Path(__file__).resolve().parents[2]

# Published split sizes (PROVENANCE.md / the task brief).
SPLIT_SIZES = {
    "qm9": {"train": 120_803, "test": 13_082},
    "zinc250k": {"train": 224_568, "test": 24_887},
    "moses": {"train": 1_584_663, "test": 176_074, "test_scaffolds": 176_225},
    "zinc12k": {"train": 10_000, "val": 1_000, "test": 1_000},
    "ogbg-molhiv": {"train": 32_901, "val": 4_113, "test": 4_113},
    "community_small": {"train": 80, "test": 20},
    "ego_small": {"train": 160, "test": 40},
    "grid": {"train": 80, "test": 20},
    "enzymes": {"train": 470, "test": 117},
    "comm20": {"train": 64, "val": 16, "test": 20},
    "planar": {"train": 128, "val": 32, "test": 40},
    "sbm": {"train": 128, "val": 32, "test": 40},
    "tree": {"train": 128, "val": 32, "test": 40},
    "coco_sg": {"train": 295, "val": 92, "test": 96},
    "coco_sg2im": {"train": 137, "val": 42, "test": 41},
    "lanes": {"train": 7_180, "val": 429, "test": 730},
    "retail_rocket": {"all": 1},  # one graph with index splits (tests/data/test_hetero_datasets.py)
    "aminer": {"all": 1},
}


def test_registry_names():
    assert list(DATASETS) == list(SPLIT_SIZES)
    for name, spec in DATASETS.items():
        assert isinstance(spec, DatasetSpec) and spec.name == name
        assert tuple(SPLIT_SIZES[name]) == spec.splits


@pytest.mark.parametrize("name", list(SPLIT_SIZES))
def test_split_sizes_from_raw_files(name, shared_data):
    assert DATASETS[name].split_sizes(shared_data) == SPLIT_SIZES[name]


@pytest.mark.parametrize("name", list(SPLIT_SIZES))
def test_raw_files_match_declared_checksums(name, shared_data):
    spec = DATASETS[name]
    for st in spec.raw_status(shared_data):
        assert st["status"] == "ok", st
    for raw in spec.raw.values():
        assert len(raw.sha256) == 64 and raw.url.startswith("https://")
        if raw.downloadable:  # verbatim copies point at the raw bytes at a fixed commit
            assert raw.url.startswith("https://raw.githubusercontent.com/") and "/blob/" not in raw.url


@pytest.mark.parametrize("name", list(SPLIT_SIZES))
def test_dataset_card_exists_and_names_the_checksums(name):
    spec = DATASETS[name]
    assert spec.card == f"datasets/{name}.md"
    text = (REPO / spec.card).read_text()
    for raw in spec.raw.values():
        assert raw.sha256 in text, f"{spec.card} must quote the sha256 of {raw.path}"
    for word in ("Source", "Licence", "Split"):
        assert word.lower() in text.lower(), f"{spec.card} lacks a {word} section"


def test_cache_keys_differ_by_split_version_and_raw():
    spec = DATASETS["qm9"]
    keys = {spec.cache_key("train"), spec.cache_key("test"), dataclasses.replace(spec, version=99).cache_key("train")}
    raw = dict(spec.raw, smiles=dataclasses.replace(spec.raw["smiles"], sha256="0" * 64))
    keys.add(dataclasses.replace(spec, raw=raw).cache_key("train"))
    keys.add(dataclasses.replace(spec, vocab=spec.vocab.with_aromatic(), kekulize=False).cache_key("train"))
    assert len(keys) == 5
    assert dataclasses.replace(spec, description="other words").cache_key("train") == spec.cache_key("train")


def test_unknown_name_and_split_errors(shared_data):
    with pytest.raises(KeyError, match="unknown dataset 'qm10'.*qm9.*zinc250k"):
        load_dataset("qm10")
    with pytest.raises(ValueError, match="no split 'val'.*'train', 'test'"):
        load_dataset("community_small", "val")
    assert get_spec("tree") is DATASETS["tree"]


def test_load_dataset_with_explicit_data_dir(shared_data, monkeypatch):
    monkeypatch.delenv("GRAPHGEN_DATA", raising=False)
    ds = load_dataset("comm20", "val", data_dir=shared_data)
    assert len(ds) == 16 and ds[0].edge_index.dtype.is_floating_point is False
