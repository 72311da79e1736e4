"""graphgen.ops.fuse: a fused PyG layer gives PyG's own output and gradients."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import GATConv, GCNConv, GINConv, GINEConv, GraphConv, SAGEConv

from graphgen import ops

from .ops_cases import GRAPHS


def _layers() -> dict:
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    return {
        "gin": lambda: GINConv(mlp, train_eps=True),
        "gine": lambda: GINEConv(torch.nn.Linear(4, 4), edge_dim=3),
        "gcn": lambda: GCNConv(4, 5),
        "gcn_no_norm": lambda: GCNConv(4, 5, normalize=False),
        "sage_mean": lambda: SAGEConv(4, 5),
        "sage_max": lambda: SAGEConv(4, 5, aggr="max"),
        "graphconv_min": lambda: GraphConv(4, 5, aggr="min"),
        "graphconv_weighted": lambda: GraphConv(4, 5, aggr="add"),
    }


LAYERS = _layers()


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("graph", ["path", "loops_multi", "random"])
def test_fused_layer_equals_pyg(name, graph, backend):
    edge_index, n = GRAPHS[graph]
    torch.manual_seed(1)
    conv = LAYERS[name]()
    x = torch.randn(n, 4, dtype=torch.float64, requires_grad=True)
    conv = conv.double()
    args = [x, edge_index]
    if name == "gine":
        args.append(torch.randn(edge_index.size(1), 3, dtype=torch.float64))
    if name in ("graphconv_weighted", "gcn_no_norm"):
        args.append(torch.rand(edge_index.size(1), dtype=torch.float64))

    expected = conv(*args)
    (gx_expected,) = torch.autograd.grad(expected.square().sum(), x)
    assert ops.fuse(conv, backend=backend) is conv
    assert "propagate" in conv.__dict__
    out = conv(*args)
    (gx,) = torch.autograd.grad(out.square().sum(), x)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(gx, gx_expected)
    ops.unfuse(conv)
    assert "propagate" not in conv.__dict__


def test_fused_bipartite_sage():
    conv = SAGEConv((4, 6), 5).double()
    x_src = torch.randn(5, 4, dtype=torch.float64)
    x_dst = torch.randn(2, 6, dtype=torch.float64)
    edge_index = torch.tensor([[0, 4, 2, 2], [1, 1, 0, 1]])
    expected = conv((x_src, x_dst), edge_index)
    torch.testing.assert_close(ops.fuse(conv)((x_src, x_dst), edge_index), expected)


def test_fused_path_uses_graphgen_kernels(monkeypatch):
    # the fused propagate must not call PyG's message(): make message() fail and check the output still comes out
    conv = ops.fuse(GINConv(torch.nn.Identity()))
    monkeypatch.setattr(conv, "message", lambda *a, **k: (_ for _ in ()).throw(AssertionError("message called")))
    edge_index, n = GRAPHS["path"]
    x = torch.arange(4.0).view(4, 1)
    # GIN with eps = 0 and identity nn: out_i = x_i + sum_{j -> i} x_j; 0->1, 2->1, 1->2
    assert conv(x, edge_index).flatten().tolist() == [0.0, 1.0 + 0.0 + 2.0, 2.0 + 1.0, 3.0]


def test_unfusable_layer_names_the_fix():
    with pytest.raises(TypeError, match="graphgen_message"):
        ops.fuse(GATConv(4, 4))
    with pytest.raises(ValueError, match="aggr="):
        ops.fuse(SAGEConv(4, 4, aggr=["mean", "max"]))
