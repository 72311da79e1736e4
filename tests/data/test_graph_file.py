from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch_geometric.data import Data

from graphgen.data.graph_file import load_graphs, save_graphs


def molecule(n: int, edges: list[tuple[int, int]], label: float) -> Data:
    row = [a for a, b in edges] + [b for a, b in edges]
    col = [b for a, b in edges] + [a for a, b in edges]
    m = len(row)
    return Data(x=torch.arange(n) % 3, edge_index=torch.tensor([row, col], dtype=torch.long).view(2, m),
                edge_attr=torch.arange(m) % 2, pos=torch.randn(n, 3, generator=torch.Generator().manual_seed(n)),
                y=torch.tensor(label), flags=torch.ones(1, 2, dtype=torch.bool), num_nodes=n)


def assert_same(a: Data, b: Data) -> None:
    assert a.num_nodes == b.num_nodes
    assert sorted(a.keys()) == sorted(b.keys())
    for key, value in a.items():
        if torch.is_tensor(value):
            assert b[key].dtype == value.dtype and b[key].shape == value.shape and torch.equal(b[key], value), key


def test_roundtrip_with_empty_edge_sets_and_metadata(tmp_path):
    graphs = [molecule(3, [(0, 1), (1, 2)], 0.5), molecule(1, [], -1.0), molecule(4, [(0, 3)], 2.0)]
    meta = {"key": {"model": "qm9", "num_samples": 3, "seed": 0}, "seconds": 1.25}
    path = save_graphs(tmp_path / "sub" / "s.safetensors", graphs, meta)
    back, got = load_graphs(path)
    assert got == meta and len(back) == 3
    for a, b in zip(graphs, back):
        assert_same(a, b)
    assert back[1].edge_index.shape == (2, 0) and back[1].y.dim() == 0
    assert back[0].edge_index.is_contiguous()
    # the layout is the documented one: concatenated along PyG's cat dim, with per-graph sizes
    with safe_open(str(path), "pt") as f:
        assert f.get_tensor("graph/edge_index").shape == (2, 6)
        assert f.get_tensor("sizes/edge_index").tolist() == [4, 0, 2]
        assert f.get_tensor("num_nodes").tolist() == [3, 1, 4]
        assert json.loads(f.metadata()["graphgen.graph_file"])["cat_dims"]["edge_index"] == 1
    assert not [p for p in path.parent.iterdir() if p != path]  # no temporary file left


def test_plain_graphs_and_empty_list(tmp_path):
    graphs = [Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=5), Data(edge_index=torch.zeros(2, 0,
              dtype=torch.long), num_nodes=2)]
    back, meta = load_graphs(save_graphs(tmp_path / "g.safetensors", graphs))
    assert meta == {} and [g.num_nodes for g in back] == [5, 2] and back[0].edge_index.tolist() == [[0, 1], [1, 0]]
    back, meta = load_graphs(save_graphs(tmp_path / "none.safetensors", [], {"n": 0}))
    assert back == [] and meta == {"n": 0}


def test_errors_name_the_graph_and_attribute(tmp_path):
    a = Data(x=torch.zeros(2, dtype=torch.long), edge_index=torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"graphs\[1\] has tensor attributes"):
        save_graphs(tmp_path / "f", [a, Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=1)])
    with pytest.raises(ValueError, match=r"attribute 'x' of graphs\[1\] is torch.float32"):
        save_graphs(tmp_path / "f", [a, Data(x=torch.zeros(2), edge_index=torch.zeros(2, 0, dtype=torch.long))])
    with pytest.raises(TypeError, match=r"graphs\[0\] has non-tensor attributes \['smiles'\]"):
        save_graphs(tmp_path / "f", [Data(x=torch.zeros(1), smiles="C")])
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_graphs(tmp_path / "f", [a], {"t": torch.zeros(1)})
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(1)}, str(other))
    with pytest.raises(ValueError, match="not a graph list"):
        load_graphs(other)
