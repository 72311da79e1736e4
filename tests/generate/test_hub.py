"""Bundled models: registry, files inside the package, loading by name, sampling valid molecule graphs."""
from __future__ import annotations

import json

import pytest
import torch

from graphgen import hub


def test_unknown_name_is_a_key_error_listing_models():
    with pytest.raises(KeyError, match="bundled models"):
        hub.resolve("no-such-model")


@pytest.mark.parametrize("name", sorted(hub.MODELS))
def test_bundled_files_card_and_size(name):
    path = hub.resolve(name)
    assert {"config.json", "model.safetensors", "README.md"} <= {p.name for p in path.iterdir()}
    assert sum(p.stat().st_size for p in path.iterdir()) <= 20 * 2**20  # <= 20 MB shipped per model
    card = hub.model_card(name)
    for needed in ("graphgen train", "Metrics", "Budget", "Data"):
        assert needed in card, f"model card of {name!r} lacks {needed!r}"
    assert json.loads((path / "config.json").read_text())["generator"]


def test_qm9_loads_by_name_and_samples_molecule_graphs():
    from graphgen.data.molecules import VOCABS
    from graphgen.generate.base import Generator

    model = hub.load("qm9")
    assert isinstance(model, Generator) and not model.training
    assert type(model).from_pretrained("qm9").config == model.config  # base-class name resolution goes via the hub
    graphs = model.sample(4, generator=torch.Generator().manual_seed(0))
    vocab = VOCABS[model.config.vocab]
    for g in graphs:
        assert 1 <= g.num_nodes <= 9
        assert g.x.min() >= 0 and g.x.max() < vocab.num_atom_types
        assert g.edge_attr.numel() == g.edge_index.size(1)


@pytest.mark.parametrize("name,dataset", [("community_small-gdss", "community_small"), ("ego_small-gdss", "ego_small")])
def test_bundled_gdss_models_sample_graphs_in_their_size_range(name, dataset):
    model = hub.load(name)
    assert type(model).__name__ == "ScoreSDEGenerator" and model.config.dataset == dataset
    graphs = model.sample(3, generator=torch.Generator().manual_seed(0), num_steps=5)  # few steps: layout only
    for g in graphs:
        assert 1 <= g.num_nodes <= model.config.max_nodes
        if g.edge_index.numel():
            assert g.edge_index.max() < g.num_nodes
            assert (g.edge_index[0] != g.edge_index[1]).all()  # no self loops
