"""The packed, size-bucketed multi-head attention of GPS: same values as plain padded attention, padding never leaks,
the layout is computed once per batch, dropout is a fair Bernoulli mask, the local conv's CSR view is built once."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from graphgen import ops
from graphgen.nn import GraphEncoder, MultiheadSelfAttention
from graphgen.nn import gps

SIZES = [5, 9, 3, 12, 7, 7, 1, 20, 4]


def _batch(sizes=SIZES) -> torch.Tensor:
    return torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)])


def _padded_reference(attn: MultiheadSelfAttention, x: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """The previous implementation: every graph padded to the largest one, SDPA with a boolean key-padding mask."""
    from torch_geometric.utils import to_dense_batch
    h, d = attn.heads, attn.channels
    dense, mask = to_dense_batch(attn.qkv(x), batch)                           # [B, Nmax, 3d], [B, Nmax]
    b, n_max = mask.shape
    q, k, v = dense.view(b, n_max, 3, h, d // h).permute(2, 0, 3, 1, 4)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.view(b, 1, 1, n_max))
    return attn.out(out.permute(0, 2, 1, 3).reshape(b, n_max, d)[mask])


@pytest.fixture
def many_buckets(monkeypatch):
    monkeypatch.setattr(gps, "_BUCKET_COST", 0)


def test_size_buckets_are_optimal_and_cover_every_size():
    sizes = [3, 3, 4, 9, 10, 10, 30, 31]
    for cost in (0, 10, 100, 1000, 10 ** 6):
        uppers = gps._size_buckets(sizes, cost, 4)
        assert uppers == sorted(uppers) and uppers[-1] == max(sizes) and 1 <= len(uppers) <= 4

        def total(ups):
            return sum(min(u for u in ups if u >= s) ** 2 for s in sizes) + cost * len(ups)

        distinct = sorted(set(sizes))
        brute = min(total(list(c) + [max(sizes)]) for r in range(4)
                    for c in itertools.combinations(distinct[:-1], r))
        assert total(uppers) == brute
    assert gps._size_buckets(sizes, 10 ** 9, 4) == [31]
    assert gps._size_buckets([], 0, 4) == []


@pytest.mark.parametrize("bucketed", [False, True])
def test_packed_attention_matches_padded_reference_values_and_grads(bucketed, monkeypatch):
    monkeypatch.setattr(gps, "_BUCKET_COST", 0 if bucketed else 10 ** 9)
    torch.manual_seed(0)
    batch = _batch()
    attn = MultiheadSelfAttention(16, heads=4).eval()
    assert len(gps._attn_layout(batch, 4).buckets) == (4 if bucketed else 1)
    x = torch.randn(batch.numel(), 16, requires_grad=True)
    out = attn(x, batch)
    ref = _padded_reference(attn, x, batch)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    w = torch.randn_like(out)
    g_out = torch.autograd.grad((out * w).sum(), [x, attn.qkv.weight])
    g_ref = torch.autograd.grad((ref * w).sum(), [x, attn.qkv.weight])
    for a, b in zip(g_out, g_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_padding_and_other_graphs_never_reach_a_node(many_buckets):
    torch.manual_seed(0)
    batch = _batch()
    attn = MultiheadSelfAttention(16, heads=4).eval()
    x = torch.randn(batch.numel(), 16, requires_grad=True)
    out = attn(x, batch)
    for i in range(len(SIZES)):
        nodes = batch == i
        torch.testing.assert_close(out[nodes], attn(x[nodes].detach(), None), atol=1e-5, rtol=1e-5)
        (grad,) = torch.autograd.grad(out[nodes].sum(), x, retain_graph=True)
        assert grad[~nodes].abs().max() == 0                  # no other graph (and no padding) influences graph i


def test_layout_is_built_once_per_batch_and_shared_by_layers(monkeypatch):
    calls = {"layout": 0, "csr": 0}
    size_buckets, build = gps._size_buckets, ops.graph._build

    def counting_buckets(*args, **kwargs):
        calls["layout"] += 1
        return size_buckets(*args, **kwargs)

    def counting_build(edge_index, num_src, num_dst):
        calls["csr"] += num_src == num_dst            # the graph's own edges (pooling scatters N -> B rows)
        return build(edge_index, num_src, num_dst)

    monkeypatch.setattr(gps, "_size_buckets", counting_buckets)
    monkeypatch.setattr(ops.graph, "_build", counting_build)
    model = GraphEncoder(kind="gps", channels=16, num_layers=3, heads=2, pe="none", dim_pe=0)
    batch = _batch([4, 6, 5])
    src = torch.arange(batch.numel() - 1)
    keep = batch[src] == batch[src + 1]                     # a path inside each graph
    ei = torch.stack([src[keep], src[keep] + 1])
    ei = torch.cat([ei, ei.flip(0)], 1)
    x = torch.randint(0, 5, (batch.numel(),))
    ea = torch.randint(0, 3, (ei.size(1),))
    model(x, ei, ea, batch).sum().backward()
    assert calls == {"layout": 1, "csr": 1}                 # not once per layer


def test_keep_mask_is_fair_and_follows_the_seed():
    torch.manual_seed(3)
    kept, keep = gps._keep_mask((400, 500), 0.5, torch.device("cpu"))
    assert kept.dtype == torch.bool and kept.shape == (400, 500) and keep == 0.5
    assert abs(kept.float().mean().item() - 0.5) < 0.005
    kept2, keep2 = gps._keep_mask((1000, 1000), 0.1, torch.device("cpu"))
    assert abs(keep2 - 0.9) < 2 ** -16 and abs(kept2.float().mean().item() - keep2) < 0.003
    torch.manual_seed(3)
    assert torch.equal(gps._keep_mask((400, 500), 0.5, torch.device("cpu"))[0], kept)


def test_attention_dropout_is_unbiased_and_only_in_training(many_buckets):
    torch.manual_seed(0)
    batch = _batch([3, 5, 2])
    attn = MultiheadSelfAttention(8, heads=2, dropout=0.5)
    x = torch.randn(batch.numel(), 8)
    with torch.no_grad():
        clean = attn.eval()(x, batch)
        torch.testing.assert_close(attn(x, batch), clean)                        # eval: deterministic, no dropout
        attn.train()
        draws = torch.stack([attn(x, batch) for _ in range(4000)])
    assert not torch.allclose(draws[0], draws[1])
    torch.testing.assert_close(draws.mean(0), clean, atol=0.03, rtol=0.0)      # E[mask] / keep = 1


def test_unsorted_batch_is_rejected():
    attn = MultiheadSelfAttention(8, heads=2)
    with pytest.raises(ValueError, match="must be sorted"):
        attn(torch.randn(4, 8), torch.tensor([0, 1, 0, 1]))


def test_parallel_numba_kernels_do_not_use_openmp():
    """numba's OpenMP layer slowed every later torch op ~250x on a shared machine (see graphgen/ops/_cpu.py)."""
    numba = pytest.importorskip("numba")
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x, e = torch.randn(2000, 64), torch.randn(6000, 64)
        graph = ops.CSRGraph.from_edge_index(torch.randint(0, 2000, (2, 6000)), 2000)
        ops.gather_scatter(x, graph, edge_attr=e, message="add_relu", backend="cpu")   # work >= PARALLEL_MIN_WORK
    finally:
        torch.set_num_threads(previous)
    assert numba.threading_layer() != "omp"


def test_gps_layer_computes_what_pyg_gpsconv_computes():
    """Same weights -> same outputs and gradients as ``torch_geometric.nn.GPSConv`` (GINE, multihead, BatchNorm),
    in training mode (BatchNorm batch statistics) and in eval mode (running statistics)."""
    from torch import nn
    from torch_geometric.nn import GINEConv as PyGGINEConv, GPSConv
    from graphgen.nn import GINEConv, GPSLayer

    torch.manual_seed(0)
    c = 16
    batch = _batch([6, 3, 9, 4])
    src = torch.arange(batch.numel() - 1)
    src = src[batch[src] == batch[src + 1]]
    ei = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], 1)
    x, ea = torch.randn(batch.numel(), c), torch.randn(ei.size(1), c)
    ours = GPSLayer(c, GINEConv(nn.Sequential(nn.Linear(c, c), nn.ReLU(), nn.Linear(c, c))),
                    MultiheadSelfAttention(c, 2), norm=nn.BatchNorm1d)
    theirs = GPSConv(c, PyGGINEConv(nn.Sequential(nn.Linear(c, c), nn.ReLU(), nn.Linear(c, c))), heads=2,
                     attn_type="multihead", norm="batch_norm")
    names = {"attn.qkv.weight": "attn.in_proj_weight", "attn.qkv.bias": "attn.in_proj_bias",
             "attn.out.": "attn.out_proj.", "norm_local.": "norm1.module.", "norm_attn.": "norm2.module.", "norm_out.": "norm3.module.",
             "ffn.": "mlp."}

    def rename(key: str) -> str:
        for a, b in names.items():
            key = key.replace(a, b)
        return key

    theirs.load_state_dict({rename(k): v for k, v in ours.state_dict().items()})
    for _ in range(3):                                     # train mode, and it warms the running statistics up
        a, b = ours(x, ei, ea, batch)[0], theirs(x, ei, batch, edge_attr=ea)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    ga = torch.autograd.grad(a.square().sum(), [ours.attn.qkv.weight, ours.conv.nn[0].weight])
    gb = torch.autograd.grad(b.square().sum(), [theirs.attn.in_proj_weight, theirs.conv.nn[0].weight])
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v, atol=1e-4, rtol=1e-4)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x, ei, ea, batch)[0], theirs(x, ei, batch, edge_attr=ea), atol=1e-5, rtol=1e-4)
