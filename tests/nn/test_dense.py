"""Dense graph transformer (graphgen.nn.dense): a per-pair loop reference, permutation equivariance with directed
edges, padding invariance, one-node and empty graphs, gradients, conditioning, reset, repr, errors, and a small
overfit on a function of ordered node pairs."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graphgen.nn import AdaptiveLayerNorm, DenseGraphTransformer, DenseGraphTransformerLayer
from graphgen.nn.dense import masked_softmax

D, C, H, COND = 8, 6, 2, 5


def _inputs(sizes: list[int], n: int, seed: int = 0, d: int = D, c: int = C, cond_dim: int | None = COND):
    """Random dense batch: graph ``b`` has ``sizes[b]`` real nodes first, then padding holding random (finite)
    garbage, so padded inputs are not conveniently zero. Edges are directed (``e_ij != e_ji``)."""
    g = torch.Generator().manual_seed(seed)
    b = len(sizes)
    x = torch.randn(b, n, d, generator=g)
    e = torch.randn(b, n, n, c, generator=g)
    mask = torch.arange(n).unsqueeze(0) < torch.tensor(sizes).unsqueeze(1)
    cond = torch.randn(b, cond_dim, generator=g) if cond_dim is not None else None
    return x, e, mask, cond


def _randomise_modulation(module: torch.nn.Module, seed: int = 0) -> None:
    """Give the zero-initialised adaLN weights random values, so that conditioning and gates take part."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, AdaptiveLayerNorm) and m.modulation is not None:
                m.modulation.weight.copy_(0.3 * torch.randn(m.modulation.weight.shape, generator=g))
                m.modulation.bias.copy_(0.3 * torch.randn(m.modulation.bias.shape, generator=g))


def _layer(cond_dim: int | None) -> DenseGraphTransformerLayer:
    torch.manual_seed(0)
    layer = DenseGraphTransformerLayer(D, C, heads=H, cond_dim=cond_dim)
    _randomise_modulation(layer)
    return layer


def _network(cond_dim: int | None, **kw) -> DenseGraphTransformer:
    torch.manual_seed(0)
    net = DenseGraphTransformer(3, 2, 4, 5, hidden=D, edge_hidden=C, layers=2, heads=H, cond_dim=cond_dim, **kw)
    _randomise_modulation(net)
    return net


def _ln(z: torch.Tensor, norm: AdaptiveLayerNorm, cond: torch.Tensor | None):
    """adaLN written out for one graph's entry: LN(z) (1 + scale) + shift, gate (or affine LN, no gate)."""
    mu, var = z.mean(), z.var(unbiased=False)
    zn = (z - mu) / torch.sqrt(var + norm.norm.eps)
    if norm.modulation is None:
        return zn * norm.norm.weight + norm.norm.bias, torch.ones_like(z)
    shift, scale, gate = (norm.modulation(F.silu(cond))).chunk(3)
    return zn * (1 + scale) + shift, gate


# --------------------------------------------------------------------------------------------- loop reference
@pytest.mark.parametrize("cond_dim", [None, COND])
def test_layer_matches_per_pair_loop_reference(cond_dim):
    layer = _layer(cond_dim).eval()
    sizes, n = [3, 4], 4
    x, e, mask, cond = _inputs(sizes, n, cond_dim=cond_dim)
    x_out, e_out = layer(x, e, mask, cond)
    dh = D // H
    for b, size in enumerate(sizes):
        cb = cond[b] if cond is not None else None
        hs = [_ln(x[b, i], layer.norm_x1, cb) for i in range(size)]
        h = torch.stack([t[0] for t in hs])                     # [n_b, D]
        gx = hs[0][1]
        fs = {(i, j): _ln(e[b, i, j], layer.norm_e1, cb) for i in range(size) for j in range(size)}
        ge = fs[0, 0][1]
        q, k, v = layer.qkv(h).view(size, 3, H, dh).unbind(1)
        for i in range(size):
            node_msg = torch.zeros(H, dh)
            for hd in range(H):
                raw = []
                for j in range(size):
                    film = layer.edge_proj(fs[i, j][0])
                    s = (q[i, hd] @ k[j, hd]) / math.sqrt(dh) * (1 + film[hd]) + film[H + hd]
                    raw.append(s)
                alpha = torch.softmax(torch.stack(raw), 0)
                for j in range(size):
                    node_msg[hd] += alpha[j] * (v[j, hd] + fs[i, j][0] @ layer.edge_value[hd])
            x1 = x[b, i] + gx * layer.out(node_msg.reshape(D))
            h2, g2 = _ln(x1, layer.norm_x2, cb)
            torch.testing.assert_close(x_out[b, i], x1 + g2 * layer.ffn_x(h2), atol=1e-5, rtol=1e-4)
            for j in range(size):
                f = fs[i, j][0]
                film = layer.edge_proj(f)
                scores = torch.stack([(q[i, hd] @ k[j, hd]) / math.sqrt(dh) * (1 + film[hd]) + film[H + hd]
                                      for hd in range(H)])
                msg = film[2 * H:] + layer.score_proj(scores) + layer.source(h[i]) + layer.target(h[j])
                e1 = e[b, i, j] + ge * layer.edge_out(F.gelu(msg))
                f2, g2 = _ln(e1, layer.norm_e2, cb)
                torch.testing.assert_close(e_out[b, i, j], e1 + g2 * layer.ffn_e(f2), atol=1e-5, rtol=1e-4)
    assert (x_out[0, 3] == 0).all() and (e_out[0, 3] == 0).all() and (e_out[0, :, 3] == 0).all()


def test_masked_softmax_by_hand():
    scores = torch.tensor([1.0, 2.0, 50.0]).view(1, 1, 1, 3).expand(2, 1, 3, 3)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    alpha = masked_softmax(scores, mask)
    expected = torch.tensor([1.0, math.e, 0.0]) / (1.0 + math.e)
    torch.testing.assert_close(alpha[0, 0], expected.expand(3, 3))
    assert (alpha[1] == 0).all()                      # no real node: zeros, not NaN


# ------------------------------------------------------------------------------------------------ equivariance
def _permute(x, e, mask, perm):
    return x[:, perm], e[:, perm][:, :, perm], mask[:, perm]


@pytest.mark.parametrize("cond_dim", [None, COND])
@pytest.mark.parametrize("kind", ["layer", "network"])
def test_permutation_equivariance_directed(kind, cond_dim):
    module = _layer(cond_dim) if kind == "layer" else _network(cond_dim)
    d_in, c_in = (D, C) if kind == "layer" else (3, 2)
    x, e, mask, cond = _inputs([5, 3], 6, d=d_in, c=c_in, cond_dim=cond_dim)
    assert not torch.allclose(e, e.transpose(1, 2))
    x_out, e_out = module(x, e, mask, cond)
    assert not torch.allclose(e_out, e_out.transpose(1, 2), atol=1e-3)          # directed: no symmetrisation
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(3))     # mixes real and padded slots
    px, pe = module(*_permute(x, e, mask, perm), cond)
    torch.testing.assert_close(px, x_out[:, perm], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(pe, e_out[:, perm][:, :, perm], atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------------------------------- padding
@pytest.mark.parametrize("cond_dim", [None, COND])
def test_padding_does_not_change_real_outputs(cond_dim):
    net = _network(cond_dim)
    sizes = [4, 1, 3]
    x, e, mask, cond = _inputs(sizes, 7, d=3, c=2, cond_dim=cond_dim)     # 3 to 6 padded slots of garbage
    x_out, e_out = net(x, e, mask, cond)
    pm = mask.unsqueeze(2) & mask.unsqueeze(1)
    assert (x_out[~mask] == 0).all() and (e_out[~pm] == 0).all()           # exactly zero, not small
    for b, size in enumerate(sizes):                                        # each graph alone, unpadded
        cb = cond[b:b + 1] if cond is not None else None
        xa, ea = net(x[b:b + 1, :size], e[b:b + 1, :size, :size], mask[b:b + 1, :size], cb)
        torch.testing.assert_close(x_out[b, :size], xa[0], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(e_out[b, :size, :size], ea[0], atol=1e-5, rtol=1e-4)
    # other garbage in the padding: real outputs do not move at all
    x2, e2 = x.clone(), e.clone()
    x2[~mask] = 100.0
    e2[~pm] = -50.0
    x_out2, e_out2 = net(x2, e2, mask, cond)
    torch.testing.assert_close(x_out2, x_out, atol=1e-6, rtol=0)
    torch.testing.assert_close(e_out2, e_out, atol=1e-6, rtol=0)


def test_single_node_and_empty_graphs():
    net = _network(COND)
    x, e, mask, cond = _inputs([1, 0, 2], 3, d=3, c=2)
    x.requires_grad_(True)
    x_out, e_out = net(x, e, mask, cond)
    assert torch.isfinite(x_out).all() and torch.isfinite(e_out).all()
    assert (x_out[1] == 0).all() and (e_out[1] == 0).all()                  # no real node: all zero
    assert x_out[0, 0].abs().sum() > 0 and e_out[0, 0, 0].abs().sum() > 0   # the one node and its self pair
    xa, ea = net(x[:1, :1], e[:1, :1, :1], mask[:1, :1], cond[:1])
    torch.testing.assert_close(x_out[0, :1], xa[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(e_out[0, :1, :1], ea[0], atol=1e-5, rtol=1e-4)
    (x_out.sum() + e_out.sum()).backward()
    assert torch.isfinite(x.grad).all()
    for p in net.parameters():
        assert p.grad is None or torch.isfinite(p.grad).all()


# --------------------------------------------------------------------------------------- gradients, conditioning
def _loss(net, x, e, mask, cond):
    x_out, e_out = net(x, e, mask, cond)
    return x_out.square().mean() + e_out.sin().mean()


def _zero_grad_params(net) -> list[str]:
    return [name for name, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]


def test_gradients_reach_every_parameter_without_cond():
    net = _network(None)
    _loss(net, *_inputs([4, 2], 5, d=3, c=2, cond_dim=None)).backward()
    assert _zero_grad_params(net) == []


def test_gradients_with_adaln_zero():
    """At init the gates are zero, so only the modulation weights (and the encoders/heads) get gradients; after one
    optimiser step every parameter does."""
    torch.manual_seed(0)
    net = DenseGraphTransformer(3, 2, 4, 5, hidden=D, edge_hidden=C, layers=2, heads=H, cond_dim=COND)
    batch = _inputs([4, 2], 5, d=3, c=2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    _loss(net, *batch).backward()
    silent = _zero_grad_params(net)
    assert silent and all(name.startswith("layers.") and ".modulation." not in name for name in silent)
    assert any(name.startswith("layers.0.norm_x1.modulation") for name, p in net.named_parameters()
               if p.grad is not None and p.grad.abs().sum() > 0)
    opt.step()
    opt.zero_grad()
    _loss(net, *batch).backward()
    assert _zero_grad_params(net) == []


def test_cond_has_no_effect_at_init_and_an_effect_after_a_step():
    torch.manual_seed(0)
    net = DenseGraphTransformer(3, 2, 4, 5, hidden=D, edge_hidden=C, layers=2, heads=H, cond_dim=COND)
    x, e, mask, cond = _inputs([4, 3], 4, d=3, c=2)
    other = cond.flip(0) + 1.0
    a, b = net(x, e, mask, cond), net(x, e, mask, other)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])              # zero modulation: c is ignored
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    _loss(net, x, e, mask, cond).backward()
    opt.step()
    a, b = net(x, e, mask, cond), net(x, e, mask, other)
    assert (a[0] - b[0]).abs().max() > 1e-4 and (a[1] - b[1]).abs().max() > 1e-4


# ----------------------------------------------------------------------------------------- reset / repr / errors
@pytest.mark.parametrize("kind", ["layer", "layer-cond", "network", "network-cond"])
def test_reset_parameters_reinitialises_deterministically(kind):
    cond_dim = COND if kind.endswith("cond") else None
    module = _layer(cond_dim) if kind.startswith("layer") else _network(cond_dim)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(1.0)
    moved = {k: v.clone() for k, v in module.state_dict().items()}
    torch.manual_seed(1)
    module.reset_parameters()
    first = {k: v.clone() for k, v in module.state_dict().items()}
    for key, value in first.items():
        assert not torch.allclose(value, moved[key]), key
        if ".modulation." in key:
            assert (value == 0).all(), key                                  # adaLN-Zero
    torch.manual_seed(1)
    module.reset_parameters()
    for key, value in module.state_dict().items():
        assert torch.equal(value, first[key]), key


def test_reprs():
    assert repr(DenseGraphTransformerLayer(16, 8, heads=4, cond_dim=32, dropout=0.1)) == (
        "DenseGraphTransformerLayer(16, edge_dim=8, heads=4, cond_dim=32, ff_mult=2, dropout=0.1)")
    assert repr(DenseGraphTransformer(3, 2, 4, 5, hidden=16, edge_hidden=8, layers=3)) == (
        "DenseGraphTransformer(node=3->4, edge=2->5, hidden=16, edge_hidden=8, layers=3, heads=4, cond_dim=None, "
        "ff_mult=2, dropout=0.0)")
    assert repr(AdaptiveLayerNorm(8, 4, gate=False)) == "AdaptiveLayerNorm(8, cond_dim=4, gate=False)"


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="divisible by heads=3"):
        DenseGraphTransformerLayer(8, 4, heads=3)
    layer = DenseGraphTransformerLayer(D, C, heads=H)
    x, e, mask, _ = _inputs([2, 3], 3, cond_dim=None)
    with pytest.raises(ValueError, match=r"e must be \[B, N, N, edge_dim\] = \[2, 3, 3, 6\]"):
        layer(x, e[:, :2], mask)
    with pytest.raises(ValueError, match="x must be"):
        layer(x[..., :4], e, mask)
    with pytest.raises(ValueError, match="mask must be bool"):
        layer(x, e, mask.float())
    with pytest.raises(ValueError, match="set cond_dim"):
        layer(x, e, mask, torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"cond must be \[B, cond_dim\] = \[2, 4\]"):
        DenseGraphTransformer(D, C, 1, 1, hidden=D, edge_hidden=C, heads=H, cond_dim=4)(x, e, mask)
    with pytest.raises(ValueError, match="set cond_dim"):
        AdaptiveLayerNorm(D)(x, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="cond_dim=4"):
        AdaptiveLayerNorm(D, 4)(x)


# ------------------------------------------------------------------------------------------------------- learning
def _order_task(num_graphs: int, max_nodes: int, classes: int, seed: int):
    """Graphs of 2..max_nodes nodes with random classes (one-hot node input, zero edge input); the target of the
    ordered pair (i, j) is ``class_i < class_j``, an antisymmetric function of the two endpoints."""
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(2, max_nodes + 1, (num_graphs,), generator=g)
    mask = torch.arange(max_nodes).unsqueeze(0) < sizes.unsqueeze(1)
    cls = torch.randint(0, classes, (num_graphs, max_nodes), generator=g)
    x = F.one_hot(cls, classes).float() * mask.unsqueeze(-1)
    e = torch.zeros(num_graphs, max_nodes, max_nodes, 1)
    target = (cls.unsqueeze(2) < cls.unsqueeze(1)).float()
    pairs = mask.unsqueeze(2) & mask.unsqueeze(1) & ~torch.eye(max_nodes, dtype=torch.bool)
    return x, e, mask, target, pairs


@pytest.mark.parametrize("cond_dim", [None, 4])
def test_learns_a_function_of_ordered_pairs(cond_dim):
    torch.manual_seed(0)
    net = DenseGraphTransformer(6, 1, 1, 1, hidden=32, edge_hidden=16, layers=2, heads=2, cond_dim=cond_dim)
    x, e, mask, target, pairs = _order_task(64, 8, 6, seed=0)
    cond = torch.randn(64, cond_dim) if cond_dim else None
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(150):
        opt.zero_grad()
        _, logits = net(x, e, mask, cond)
        F.binary_cross_entropy_with_logits(logits[..., 0][pairs], target[pairs]).backward()
        opt.step()

    def accuracy(x, e, mask, target, pairs, cond) -> float:
        with torch.no_grad():
            _, logits = net(x, e, mask, cond)
        return float(((logits[..., 0] > 0).float() == target)[pairs].float().mean())

    assert accuracy(x, e, mask, target, pairs, cond) > 0.99          # a constant predictor gets about 0.58
    held_out = _order_task(128, 8, 6, seed=1)
    assert accuracy(*held_out, torch.randn(128, cond_dim) if cond_dim else None) > 0.97
