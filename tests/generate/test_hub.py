"""Bundled models: registry, files inside the package, loading by name, sampling valid molecule graphs."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from graphgen import hub
from graphgen.generate import load_generator


def test_unknown_name_is_a_key_error_listing_models():
    with pytest.raises(KeyError, match="bundled models"):
        hub.resolve("no-such-model")
    with pytest.raises(FileNotFoundError, match="not a folder and not a bundled model.*qm9-gdss"):
        load_generator("no-such-model")


def test_hub_is_data_only():
    """graphgen.hub names folders; it neither loads models nor imports graphgen.generate (no import cycle)."""
    assert not hasattr(hub, "load")
    code = "import sys, graphgen.hub; print(sorted(m for m in sys.modules if m.startswith('graphgen')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['graphgen', 'graphgen.hub']"


@pytest.mark.parametrize("name", sorted(hub.MODELS))
def test_bundled_files_card_and_size(name):
    path = hub.resolve(name)
    assert {"config.json", "model.safetensors", "README.md"} <= {p.name for p in path.iterdir()}
    assert sum(p.stat().st_size for p in path.iterdir()) <= 20 * 2**20  # <= 20 MB shipped per model
    card = hub.model_card(name)
    for needed in ("graphgen train", "Metrics", "Budget", "Data"):
        assert needed in card, f"model card of {name!r} lacks {needed!r}"
    assert json.loads((path / "config.json").read_text())["generator"]


def test_qm9_loads_by_name_and_samples_valid_molecules():
    from graphgen.data.molecules import VOCABS
    from graphgen.evaluate.molecules import gdss_outcome
    from graphgen.generate.base import Generator

    model = load_generator("qm9")
    assert isinstance(model, Generator) and not model.training
    assert type(model).from_pretrained("qm9").config == model.config  # from_pretrained also takes a bundled name
    graphs = model.sample(16, generator=torch.Generator().manual_seed(0))
    vocab = VOCABS[model.config.vocab]
    for g in graphs:
        assert g.x.min() >= 0 and g.x.max() < vocab.num_atom_types
        assert g.edge_attr.numel() == g.edge_index.size(1)
    # trained weights: the model card measures ~98% validity w/o correction; random weights give ~0
    valid = sum(gdss_outcome(g, vocab).valid_wo_correction for g in graphs)
    assert valid >= 12, f"only {valid}/16 bundled-model samples are valid without correction"


def _loss_trained_and_at_init(model, graphs) -> tuple[float, float]:
    """Denoising loss of the shipped weights and of a fresh init of the same config, with the same t and noise for
    both (two seeds): the shipped weights must denoise far better than an init."""
    fresh = type(model)(model.config).eval()
    with torch.no_grad():
        trained = sum(model.loss(graphs, generator=torch.Generator().manual_seed(s)) for s in range(2))
        untrained = sum(fresh.loss(graphs, generator=torch.Generator().manual_seed(s)) for s in range(2))
    return float(trained), float(untrained)


@pytest.mark.parametrize("name,dataset", [("community_small-gdss", "community_small"), ("ego_small-gdss", "ego_small")])
def test_bundled_gdss_models_are_trained_on_their_dataset(name, dataset):
    from graphgen.data.registry import load_dataset

    model = load_generator(name)
    assert type(model).__name__ == "ScoreSDEGenerator" and model.config.dataset == dataset
    split = load_dataset(dataset, "train")
    train = [split[i] for i in range(len(split))]
    counts = torch.bincount(torch.tensor([g.num_nodes for g in train]), minlength=model.config.max_nodes + 1)
    torch.testing.assert_close(model.node_count_probs, counts.float() / counts.sum())  # sizes drawn like training
    trained, untrained = _loss_trained_and_at_init(model, train)
    assert trained < 0.25 * untrained, (float(trained), float(untrained))  # measured ratio about 0.08


def test_bundled_qm9_gdss_is_trained_on_qm9(shared_data):
    from graphgen.data.molecules import VOCABS
    from graphgen.data.registry import load_dataset

    model = load_generator("qm9-gdss")
    assert type(model).__name__ == "ScoreSDEGenerator" and model.config.dataset == "qm9"
    test = load_dataset("qm9", "test", data_dir=shared_data)
    graphs = [test[i] for i in range(0, len(test), len(test) // 256)][:256]
    trained, untrained = _loss_trained_and_at_init(model, graphs)
    assert trained < 0.5 * untrained, (float(trained), float(untrained))  # measured ratio about 0.18
    samples = model.sample(4, generator=torch.Generator().manual_seed(0), steps=20)  # a short run: format only
    vocab = VOCABS["qm9"]
    for g in samples:
        assert g.num_nodes <= 9 and (g.num_nodes == 0 or int(g.x.max()) < vocab.num_atom_types)
        assert g.edge_attr.numel() == g.edge_index.size(1)
