"""Layers of graphgen.nn: hand-computed values, permutation equivariance, per-graph independence, repr, reset."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from graphgen import ops
from graphgen.nn import (GatedGCNConv, GINEConv, GPSLayer, GRITLayer, GraphTransformerLayer, LinearSelfAttention,
                         MultiheadSelfAttention, VirtualNodeLayer, log_degree, signed_sqrt)

C = 8


def _make_identity(lin: nn.Linear) -> None:
    with torch.no_grad():
        lin.weight.copy_(torch.eye(lin.in_features))
        lin.bias.zero_()


# ---------------------------------------------------------------------------------------------- hand-computed values
@pytest.mark.parametrize("backend", ["reference", None])
def test_gine_matches_brute_force(tiny, backend):
    conv = GINEConv(nn.Sequential(nn.Linear(C, C)), eps=0.5)
    _make_identity(conv.nn[0])                 # h_Theta = identity, so the output is the aggregation itself
    with ops.use_backend(backend) if backend else torch.enable_grad():
        out = conv(tiny.x, tiny.edge_index, tiny.edge_attr)
    expected = 1.5 * tiny.x.clone()
    for e in range(tiny.edge_index.size(1)):
        j, i = tiny.edge_index[:, e]
        expected[i] += torch.relu(tiny.x[j] + tiny.edge_attr[e])
    torch.testing.assert_close(out, expected)


def test_gine_edge_width_error_names_the_argument(tiny):
    conv = GINEConv(nn.Sequential(nn.Linear(C, C)))
    with pytest.raises(ValueError, match="edge_dim=3"):
        conv(tiny.x, tiny.edge_index, tiny.edge_attr[:, :3])
    conv = GINEConv(nn.Sequential(nn.Linear(C, C)), edge_dim=3)
    assert conv(tiny.x, tiny.edge_index, tiny.edge_attr[:, :3]).shape == (7, C)


def test_gine_reset_parameters_restores_eps(tiny):
    conv = GINEConv(nn.Sequential(nn.Linear(C, C)), eps=0.25, train_eps=True)
    with torch.no_grad():
        conv.eps.fill_(3.0)
    conv.reset_parameters()
    assert float(conv.eps) == 0.25
    assert "GINEConv(nn=Sequential" in repr(conv)


def test_gatedgcn_matches_brute_force(tiny):
    conv = GatedGCNConv(C, norm=None, act=nn.Identity(), residual=True)
    x_out, e_out = conv(tiny.x, tiny.edge_index, tiny.edge_attr)
    A, B, Cl, D, E = conv.A, conv.B, conv.C, conv.D, conv.E
    num = torch.zeros(7, C)
    den = torch.zeros(7, C)
    e_exp = torch.zeros_like(tiny.edge_attr)
    for e in range(tiny.edge_index.size(1)):
        j, i = tiny.edge_index[:, e]
        e_hat = Cl(tiny.edge_attr[e]) + D(tiny.x[i]) + E(tiny.x[j])
        s = torch.sigmoid(e_hat)
        num[i] += s * B(tiny.x[j])
        den[i] += s
        e_exp[e] = tiny.edge_attr[e] + e_hat
    x_exp = tiny.x + A(tiny.x) + num / (den + 1e-6)
    torch.testing.assert_close(x_out, x_exp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(e_out, e_exp, atol=1e-5, rtol=1e-5)


def test_signed_sqrt():
    x = torch.tensor([4.0, -9.0, 0.0, 0.25])
    torch.testing.assert_close(signed_sqrt(x), torch.tensor([2.0, -3.0, 0.0, 0.5]))
    x = torch.zeros(3, requires_grad=True)
    signed_sqrt(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_gt_attention_matches_brute_force(tiny):
    layer = GraphTransformerLayer(C, heads=2, norm=None).eval()
    x_out, e_out = layer(tiny.x, tiny.edge_index, tiny.edge_attr)
    h, dh = 2, C // 2
    q, k, v = layer.qkv(tiny.x).view(7, 3, h, dh).unbind(1)
    agg = torch.zeros(7, h, dh)
    w_all = torch.zeros(tiny.edge_index.size(1), h, dh)
    for i in range(7):
        inc = (tiny.edge_index[1] == i).nonzero().view(-1)
        scores = []
        for e in inc:
            j = tiny.edge_index[0, e]
            w = q[i] * k[j] / math.sqrt(dh) * layer.E(tiny.edge_attr[e]).view(h, dh)
            w_all[e] = w
            scores.append(torch.exp(w.sum(-1).clamp(-5, 5)))        # the paper's exp / sum form
        s = torch.stack(scores)                                      # [deg, H]
        agg[i] = ((s / s.sum(0)).unsqueeze(-1) * v[tiny.edge_index[0, inc]]).sum(0)
    x1 = tiny.x + layer.O_x(agg.reshape(7, C))
    x_exp = x1 + layer.ffn_x(x1)
    e1 = tiny.edge_attr + layer.O_e(w_all.reshape(-1, C))
    torch.testing.assert_close(x_out, x_exp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(e_out, e1 + layer.ffn_e(e1), atol=1e-5, rtol=1e-5)


def test_grit_attention_matches_brute_force(tiny):
    layer = GRITLayer(C, heads=2, norm=None, degree_scaler=False).eval()
    x_out, e_out = layer(tiny.x, tiny.edge_index, tiny.edge_attr)
    h, dh = 2, C // 2
    q, k, v = (lin(tiny.x).view(7, h, dh) for lin in (layer.W_Q, layer.W_K, layer.W_V))
    agg = torch.zeros(7, h, dh)
    e_hat_all = torch.zeros(tiny.edge_index.size(1), h, dh)
    for i in range(7):
        inc = (tiny.edge_index[1] == i).nonzero().view(-1)
        hats, scores = [], []
        for e in inc:
            j = tiny.edge_index[0, e]
            ew, eb = layer.W_E(tiny.edge_attr[e]).view(2, h, dh)
            s = (q[i] + k[j]) * ew
            hat = torch.relu(torch.sign(s) * s.abs().sqrt() + eb)
            e_hat_all[e] = hat
            hats.append(hat)
            scores.append((hat * layer.A_w).sum(-1).clamp(-5, 5))
        alpha = torch.softmax(torch.stack(scores), 0)                # [deg, H]
        hats = torch.stack(hats)                                     # [deg, H, dh]
        node = (alpha.unsqueeze(-1) * v[tiny.edge_index[0, inc]]).sum(0)
        node = node + torch.einsum("hd,hdc->hc", (alpha.unsqueeze(-1) * hats).sum(0), layer.W_ev)
        agg[i] = node
    x1 = tiny.x + layer.O_x(agg.reshape(7, C))
    torch.testing.assert_close(x_out, x1 + layer.ffn(x1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(e_out, tiny.edge_attr + layer.O_e(e_hat_all.reshape(-1, C)), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("attn_cls", [MultiheadSelfAttention, LinearSelfAttention])
def test_global_attention_batched_equals_per_graph(tiny, attn_cls):
    attn = attn_cls(C, heads=2).eval()
    out = attn(tiny.x, tiny.batch)
    for i in range(2):
        xi, _, _ = tiny.graph(i)
        torch.testing.assert_close(out[tiny.batch == i], attn(xi, None), atol=1e-5, rtol=1e-5)


def test_multihead_attention_matches_dense_softmax(tiny):
    attn = MultiheadSelfAttention(C, heads=2).eval()
    xi, _, _ = tiny.graph(0)
    q, k, v = attn.qkv(xi).view(-1, 3, 2, 4).unbind(1)
    a = torch.softmax(torch.einsum("nhd,mhd->hnm", q, k) / 2.0, -1)  # sqrt(dh) = 2
    expected = attn.out(torch.einsum("hnm,mhd->nhd", a, v).reshape(-1, C))
    torch.testing.assert_close(attn(xi), expected, atol=1e-5, rtol=1e-5)


def test_linear_attention_matches_formula(tiny):
    attn = LinearSelfAttention(C, heads=1).eval()
    xi, _, _ = tiny.graph(1)
    q, k, v = attn.qkv(xi).view(-1, 3, C).unbind(1)
    q, k = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
    expected = attn.out((q @ (k.t() @ v)) / (q @ k.sum(0, keepdim=True).t()))
    torch.testing.assert_close(attn(xi), expected, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------------- equivariance, one case per layer
def _gps(conv_name: str, attn_name: str, norm):
    convs = {"gine": lambda: GINEConv(nn.Sequential(nn.Linear(C, C), nn.ReLU(), nn.Linear(C, C))),
             "gatedgcn": lambda: GatedGCNConv(C, residual=False), "none": lambda: None}
    attns = {"multihead": lambda: MultiheadSelfAttention(C, 2), "linear": lambda: LinearSelfAttention(C, 2),
             "none": lambda: None}
    return GPSLayer(C, convs[conv_name](), attns[attn_name](), norm=norm)


LAYERS = {
    "gine": lambda: GINEConv(nn.Sequential(nn.Linear(C, C), nn.ReLU(), nn.Linear(C, C))),
    "gatedgcn": lambda: GatedGCNConv(C),
    "gps-gine-mha-bn": lambda: _gps("gine", "multihead", nn.BatchNorm1d),
    "gps-gatedgcn-linear-ln": lambda: _gps("gatedgcn", "linear", nn.LayerNorm),
    "gps-none-mha-nonorm": lambda: _gps("none", "multihead", None),
    "gps-gine-none-bn": lambda: _gps("gine", "none", nn.BatchNorm1d),
    "grit": lambda: GRITLayer(C, 2),
    "grit-no-scaler": lambda: GRITLayer(C, 2, degree_scaler=False, norm=nn.LayerNorm),
    "gt": lambda: GraphTransformerLayer(C, 2),
    "gt-nonorm": lambda: GraphTransformerLayer(C, 2, norm=None),
}


def _call(layer, x, ei, ea, batch):
    if isinstance(layer, GRITLayer):
        return layer(x, ei, ea, batch, log_deg=log_degree(ei, x.size(0)))
    return layer(x, ei, ea, batch)


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("train", [False, True])
def test_permutation_equivariance(tiny, name, train):
    torch.manual_seed(0)
    layer = LAYERS[name]()
    layer.train(train)                        # BatchNorm batch statistics are permutation invariant too
    out = _call(layer, tiny.x, tiny.edge_index, tiny.edge_attr, tiny.batch)
    perm, eperm = tiny.permutation()
    pout = _call(layer, *tiny.permuted(perm, eperm))
    out_x, out_e = out if isinstance(out, tuple) else (out, None)
    pout_x, pout_e = pout if isinstance(pout, tuple) else (pout, None)
    torch.testing.assert_close(pout_x, out_x[perm], atol=1e-5, rtol=1e-4)
    if out_e is not None:
        torch.testing.assert_close(pout_e, out_e[eperm], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("conv_name", ["gine", "gatedgcn"])
def test_virtual_node_equivariance_and_vn_update(tiny, conv_name):
    torch.manual_seed(0)
    conv = LAYERS[conv_name]() if conv_name == "gine" else GatedGCNConv(C, residual=False)
    post = nn.Sequential(nn.BatchNorm1d(C), nn.ReLU()) if conv_name == "gine" else None
    layer = VirtualNodeLayer(C, conv, post=post).eval()
    vn = torch.randn(2, C)
    x, e, vn_out = layer(tiny.x, tiny.edge_index, tiny.edge_attr, tiny.batch, vn)
    perm, eperm = tiny.permutation()
    px, pe, pvn = layer(*tiny.permuted(perm, eperm), vn)
    torch.testing.assert_close(px, x[perm], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(pvn, vn_out, atol=1e-5, rtol=1e-4)          # graph-level: invariant
    # hand check of the vn update: vn + MLP(sum of (x + vn[batch]) + vn)
    pooled = torch.stack([(tiny.x[tiny.batch == i] + vn[i]).sum(0) for i in range(2)]) + vn
    torch.testing.assert_close(vn_out, vn + layer.mlp(pooled), atol=1e-5, rtol=1e-4)
    last = VirtualNodeLayer(C, GatedGCNConv(C, residual=False), update_vn=False)
    assert last(tiny.x, tiny.edge_index, tiny.edge_attr, tiny.batch, vn)[2] is vn
    assert "VirtualNodeLayer(8, conv=" in repr(layer)


# ----------------------------------------------------------------------------------------------- repr / reset / errors
def test_reprs():
    assert repr(GatedGCNConv(C)) == "GatedGCNConv(8, dropout=0.0, residual=True, norm=BatchNorm1d)"
    assert repr(GRITLayer(C, 2)) == "GRITLayer(8, heads=2, attn_dropout=0.0, degree_scaler=True, norm=BatchNorm1d)"
    assert repr(GraphTransformerLayer(C, 2)) == "GraphTransformerLayer(8, heads=2, dropout=0.0, norm=BatchNorm1d)"
    assert repr(MultiheadSelfAttention(C, 2, dropout=0.5)) == "MultiheadSelfAttention(8, heads=2, dropout=0.5)"
    r = repr(_gps("gine", "multihead", nn.LayerNorm))
    assert r.startswith("GPSLayer(8, conv=GINEConv(") and "attn=MultiheadSelfAttention(8, heads=2" in r
    assert r.endswith("norm=LayerNorm)")


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_reset_parameters_reinitialises(tiny, name):
    torch.manual_seed(0)
    layer = LAYERS[name]()
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(1.0)
    torch.manual_seed(0)
    layer.reset_parameters()
    for key, value in layer.state_dict().items():
        if value.is_floating_point() and "running" not in key:
            assert not torch.allclose(value, before[key] + 1.0), key


def test_errors_name_the_fix(tiny):
    with pytest.raises(ValueError, match="divisible by heads"):
        GRITLayer(10, 3)
    with pytest.raises(ValueError, match="log_deg"):
        GRITLayer(C, 2)(tiny.x, tiny.edge_index, tiny.edge_attr, tiny.batch)
    with pytest.raises(ValueError, match="local conv, a global attention"):
        GPSLayer(C, None, None)
    with pytest.raises(ValueError, match="one row per graph"):
        VirtualNodeLayer(C, GatedGCNConv(C))(tiny.x, tiny.edge_index, tiny.edge_attr, tiny.batch, torch.zeros(1, C))
