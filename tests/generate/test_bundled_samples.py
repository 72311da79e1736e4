"""Bundled models sample exactly the graphs they sampled before the loader and sampling surface were unified.

The hashes were recorded from the code before issue 16 (6 graphs per model, seed 0, one batch, one thread), and for
models bundled later when they were bundled (``coco-sg``: issue 17, ``lanes``: issue 18); a change of any node count,
node class, edge or edge class of any of the 6 graphs changes the hash, and for lane graphs a move of any lane point
by 1 cm or more (``pos`` rounded to centimetres).
"""
from __future__ import annotations

import hashlib

import pytest
import torch

from graphgen import hub
from graphgen.generate import load_generator

EXPECTED = {
    "qm9": "fbf7c0dabbd8a0a9da2ca7389b352ce65618ae1d02aa71623ee581c47b7c5b1e",
    "qm9-gdss": "fd11b0d2ea1c2e1bb063584ec655b9618e598fc429cf4ef137aab9925e3e70a8",
    "community_small-gdss": "31d7f1e8aa096abc8c26556d758b23f9a7bbc83bc38244dc9c35d4013d4977dd",
    "ego_small-gdss": "ba8184149ec30088d43a75e5c7f2b1a09fd603f3aebc910f42890d1d08a62ae1",
    "coco-sg": "08b880e1ec373f02b8f86523347f96acc1c0c3c24f0847418bdc5fb8f7a05d30",
    "lanes": "e0263f9f6c34ef1f3bb531e8745d7091426c401ee8494077952d771fa59b0acc",
}


def digest(graphs) -> str:
    """sha256 over each graph's node count and the bytes of its x, edge_index and edge_attr (when present), and its
    lane points rounded to centimetres (``pos``, lane graphs only)."""
    h = hashlib.sha256()
    for g in graphs:
        h.update(str(int(g.num_nodes)).encode())
        for key in ("x", "edge_index", "edge_attr"):
            t = getattr(g, key, None)
            if t is not None:
                h.update(key.encode())
                h.update(t.detach().contiguous().numpy().tobytes())
        pos = getattr(g, "pos", None)
        if pos is not None and pos.dim() == 3:
            h.update(b"pos")
            h.update(torch.round(pos.detach() * 100).to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()


def test_every_bundled_model_has_a_recorded_hash():
    assert sorted(EXPECTED) == sorted(hub.MODELS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_same_seed_same_graphs_as_before(name):
    model = load_generator(name)
    graphs = model.sample(6, generator=torch.Generator().manual_seed(0), batch_size=6)
    assert len(graphs) == 6
    assert digest(graphs) == EXPECTED[name]
