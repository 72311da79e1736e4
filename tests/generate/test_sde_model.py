"""GDSS score networks and ScoreSDEGenerator on tiny hand-built graphs."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch_geometric.data import Data

from graphgen.errors import CorruptFileError, InputError
from graphgen.generate import load_generator
from graphgen.generate.sde.model import SamplerConfig, ScoreSDEConfig, ScoreSDEGenerator
from graphgen.generate.sde.networks import (
    AttentionLayer, DenseGCNConv, GraphMultiHeadAttention, ScoreNetworkA, ScoreNetworkAConfig, ScoreNetworkX,
    ScoreNetworkXConfig,
)
from graphgen.generate.sde.sde import SDEConfig
from graphgen.generate.sde.utils import pair_mask


TINY_A = ScoreNetworkAConfig(num_layers=2, hidden=8, attn=8, heads=2, num_linears=2, c_init=2, c_hid=3, c_final=2)
TINY_X = ScoreNetworkXConfig(depth=2, hidden=8)


def random_dense(B=3, N=6, F=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.tensor([[True] * N, [True] * (N - 2) + [False] * 2, [True] * 3 + [False] * (N - 3)])[:B]
    adj = torch.randn(B, N, N, generator=g).triu(1)
    adj = (adj + adj.transpose(1, 2)) * pair_mask(mask)
    x = torch.randn(B, N, F, generator=g) * mask.unsqueeze(-1)
    return x, adj, mask


def permute(x, adj, mask, perm):
    return x[:, perm], adj[:, perm][:, :, perm], mask[:, perm]


def test_dense_gcn_by_hand():
    conv = DenseGCNConv(1, 1)
    with torch.no_grad():
        conv.lin.weight.fill_(1.0)
    adj = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    x = torch.tensor([[[1.0], [3.0]]])
    # (A + I) has row sums 2: normalised matrix is all 0.5 -> both nodes get (1 + 3) / 2
    torch.testing.assert_close(conv(x, adj), torch.tensor([[[2.0], [2.0]]]))
    assert repr(conv) == "DenseGCNConv(1, 1)"


@pytest.mark.parametrize("net_cls", ["x", "adj"])
def test_score_networks_permutation_equivariant_and_masked(net_cls):
    torch.manual_seed(0)
    net = ScoreNetworkX(4, TINY_X) if net_cls == "x" else ScoreNetworkA(4, TINY_A)
    x, adj, mask = random_dense()
    out = net(x, adj, mask)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    xp, adjp, maskp = permute(x, adj, mask, perm)
    out_p = net(xp, adjp, maskp)
    expected = out[:, perm] if net_cls == "x" else out[:, perm][:, :, perm]
    torch.testing.assert_close(out_p, expected, rtol=1e-4, atol=1e-5)
    if net_cls == "x":
        assert out.shape == (3, 6, 4) and torch.all(out[~mask] == 0)
    else:
        assert out.shape == (3, 6, 6)
        torch.testing.assert_close(out, out.transpose(1, 2))
        assert torch.all(out[~pair_mask(mask, diagonal=False)] == 0)
    # padding rows do not leak into real nodes: changing a padded node's content changes nothing visible
    x2 = x.clone()
    x2[2, 5] = 100.0
    out2 = net(x2, adj, mask)
    torch.testing.assert_close(out2[2, :3] if net_cls == "x" else out2[2, :3, :3],
                               out[2, :3] if net_cls == "x" else out[2, :3, :3])


@pytest.mark.parametrize("variant", [{}, dict(x_mix_hidden=12, x_mix_act="tanh", scale_channels=8)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_attention_layer_batched_path_equals_per_channel(dtype, variant):
    """The channel-batched forward ((Â X)W, stacked Q/K/V weights) is the per-channel GMH layer, values and grads,
    for the paper's layer (scores over sqrt(out) = sqrt(6)) and graphgen's first one (over sqrt(attn) = sqrt(8))."""
    torch.manual_seed(0)
    layer = AttentionLayer(2, 4, 8, 6, 3, 2, heads=2, **variant).to(dtype)
    x, adj, mask = random_dense(F=4)
    x, adj = x.to(dtype), adj.to(dtype)
    chans = torch.stack([adj, adj @ adj, adj.tanh()], dim=1)
    fast = layer(x, chans, mask)
    ref = layer.forward_per_channel(x, chans, mask)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, **tol)
    g_fast = torch.autograd.grad(sum(o.square().sum() for o in fast), list(layer.parameters()))
    g_ref = torch.autograd.grad(sum(o.square().sum() for o in layer.forward_per_channel(x, chans, mask)),
                                list(layer.parameters()))
    for a, b in zip(g_fast, g_ref):
        torch.testing.assert_close(a, b, **tol)


def test_attention_scores_by_hand():
    """``S = mean_h tanh(Q_h K_h^T / sqrt(d))``, symmetrised; ``d`` = the value width unless ``scale_channels``."""
    torch.manual_seed(0)
    x, adj, mask = random_dense(B=1, N=4, F=3)
    for scale, d in ((None, 6), (4, 4)):
        gmh = GraphMultiHeadAttention(3, 4, 6, heads=2, scale_channels=scale)
        q, k = gmh.q(x, adj)[0], gmh.k(x, adj)[0]  # [N, 4]: heads are columns 0-1 and 2-3
        heads = [torch.tanh(q[:, h:h + 2] @ k[:, h:h + 2].T / d ** 0.5) for h in (0, 2)]
        s = (heads[0] + heads[1]) / 2
        torch.testing.assert_close(gmh(x, adj, mask)[1][0], (s + s.T) / 2)


# -- ScoreNetworkA variants against GDSS's released code ----------------------------------------------------------
def reference_param_count(num_features: int, c: ScoreNetworkAConfig) -> int:
    """Parameters of GDSS's ScoreNetworkA (github.com/harryjo97/GDSS, models/ScoreNetwork_A.py, models/attention.py,
    models/layers.py), counted from its layer definitions:

    - ``DenseGCNConv(i, o)``: weight ``[i, o]`` and bias ``[o]``;
    - ``MLP(num_layers, i, h, o)``: linears ``i -> h -> ... -> h -> o`` with biases;
    - ``Attention(i, attn, out)``: GCNs Q and K ``i -> attn``, V ``i -> out``;
    - ``AttentionLayer(num_linears, conv_in, attn, conv_out, C_in, C_out)``: ``C_in`` attentions, hidden width
      ``2 max(C_in, C_out)`` for ``mlp = MLP(num_linears, 2 C_in, hid, C_out)`` and
      ``multi_channel = MLP(2, C_in conv_out, hid, conv_out)``;
    - ``ScoreNetworkA``: layer 0 ``(nfeat, nhid, nhid, c_init, c_hid)``, the last ``(nhid, adim, nhid, c_hid,
      c_final)``, the others ``(nhid, adim, nhid, c_hid, c_hid)``; ``final = MLP(3, fdim, 2 fdim, 1)`` with
      ``fdim = c_hid (num_layers - 1) + c_final + c_init``.
    """
    def gcn(i, o):
        return i * o + o

    def mlp(num_layers, i, h, o):
        dims = [i] + [h] * (num_layers - 1) + [o]
        return sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))

    def attention_layer(num_linears, conv_in, attn, conv_out, c_in, c_out):
        hid = 2 * max(c_in, c_out)
        attention = 2 * gcn(conv_in, attn) + gcn(conv_in, conv_out)
        return c_in * attention + mlp(num_linears, 2 * c_in, hid, c_out) + mlp(2, c_in * conv_out, hid, conv_out)

    layers = [attention_layer(c.num_linears, num_features, c.hidden, c.hidden, c.c_init, c.c_hid)]
    layers += [attention_layer(c.num_linears, c.hidden, c.attn, c.hidden, c.c_hid, c.c_hid)] * (c.num_layers - 2)
    layers += [attention_layer(c.num_linears, c.hidden, c.attn, c.hidden, c.c_hid, c.c_final)]
    fdim = c.c_hid * (c.num_layers - 1) + c.c_final + c.c_init
    return sum(layers) + mlp(3, fdim, 2 * fdim, 1)


QM9_A = ScoreNetworkAConfig(num_layers=3, hidden=16, attn=16, heads=4, num_linears=3, c_init=2, c_hid=8, c_final=4)


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_network_has_the_reference_parameter_count():
    assert reference_param_count(4, QM9_A) == 23_825  # the figure for GDSS's QM9 model
    assert ScoreNetworkAConfig().variant == "paper"  # the default for new models
    assert count(ScoreNetworkA(4, QM9_A)) == 23_825
    assert count(ScoreNetworkA(4, dataclasses.replace(QM9_A, variant="graphgen"))) == 29_249
    # other sizes, including an attention width other than the node width (the reference's first layer uses nhid)
    for feats, cfg in ((10, ScoreNetworkAConfig()), (17, ScoreNetworkAConfig(num_layers=2, hidden=12, attn=8)),
                       (4, ScoreNetworkAConfig(num_layers=4, hidden=8, attn=12, heads=2, num_linears=2, c_hid=5))):
        assert count(ScoreNetworkA(feats, cfg)) == reference_param_count(feats, cfg)


def test_paper_network_layer_shapes():
    """Each layer's node-mixing MLP is ``C_in out -> 2 max(C_in, C_out) -> out`` with ELU (graphgen's first network:
    ``-> 2 out ->`` with tanh)."""
    paper = ScoreNetworkA(4, QM9_A)
    assert [repr(layer.mix_x) for layer in paper.layers] == [
        "MLP(32 -> 16 -> 16, act=elu)", "MLP(128 -> 16 -> 16, act=elu)", "MLP(128 -> 16 -> 16, act=elu)"]
    first = ScoreNetworkA(17, ScoreNetworkAConfig(num_layers=2, hidden=12, attn=8))
    assert [(a.attn[0].attn_channels, a.attn[0].scale_channels) for a in first.layers] == [(12, 12), (8, 12)]
    old = ScoreNetworkA(4, dataclasses.replace(QM9_A, variant="graphgen"))
    assert [repr(layer.mix_x) for layer in old.layers] == [
        "MLP(32 -> 32 -> 16, act=tanh)", "MLP(128 -> 32 -> 16, act=tanh)", "MLP(128 -> 32 -> 16, act=tanh)"]
    with pytest.raises(InputError, match="variant must be one of paper, graphgen, got 'gdss'"):
        ScoreNetworkA(4, dataclasses.replace(QM9_A, variant="gdss"))
    with pytest.raises(InputError, match=r"hidden \(6\) must be divisible by heads \(4\)"):
        ScoreNetworkA(4, dataclasses.replace(QM9_A, hidden=6))


def test_bundled_gdss_models_keep_graphgens_first_network():
    for name in ("qm9-gdss", "community_small-gdss", "ego_small-gdss"):
        model = load_generator(name)
        assert model.net_adj.config.variant == "graphgen"
    assert count(load_generator("qm9-gdss").net_adj) == 29_249


def test_folder_saved_before_the_variant_field_loads_graphgens_network(tmp_path):
    torch.manual_seed(0)
    saved = {}
    for variant in ("graphgen", "paper"):
        config = dataclasses.replace(tiny_graph_config(), net_adj=dataclasses.replace(TINY_A, variant=variant))
        saved[variant] = ScoreSDEGenerator(config)
        saved[variant].set_node_distribution(torch.tensor([3, 4]))
        saved[variant].save_pretrained(tmp_path / variant)
        cfg_file = tmp_path / variant / "config.json"
        cfg = json.loads(cfg_file.read_text())
        assert cfg["net_adj"]["variant"] == variant  # new folders record it
        del cfg["net_adj"]["variant"]  # what a folder saved before the field existed looks like
        cfg_file.write_text(json.dumps(cfg))
    loaded = load_generator(tmp_path / "graphgen")
    assert loaded.net_adj.config.variant == "graphgen"
    x, adj, mask = random_dense()
    torch.testing.assert_close(loaded.net_adj(x, adj, mask), saved["graphgen"].net_adj(x, adj, mask))
    # a paper-network folder stripped of the field no longer fits its weights' record: a named error, not a guess
    with pytest.raises(CorruptFileError, match="net_adj.variant: saved 'paper', found 'graphgen'"):
        load_generator(tmp_path / "paper")


def test_network_reprs():
    assert repr(GraphMultiHeadAttention(4, 8, 6, 2)) == "GraphMultiHeadAttention(4, 6, attn=8, heads=2)"
    assert repr(AttentionLayer(2, 4, 8, 6, 2, 3, 2)) == "AttentionLayer(x: 4->6, adj channels: 2->3, heads=2)"
    assert repr(ScoreNetworkX(4, TINY_X)) == "ScoreNetworkX(features=4, depth=2, hidden=8)"
    assert "channels=2->3->2" in repr(ScoreNetworkA(4, TINY_A))
    with pytest.raises(ValueError, match="divisible"):
        GraphMultiHeadAttention(4, 7, 6, 2)


# -- the generator -------------------------------------------------------------------------------------------------
def tiny_graph_config(**kw):
    return ScoreSDEConfig(dataset="tiny", kind="graph", max_nodes=6, num_node_features=4,
                          sde_x=SDEConfig("vp", 0.1, 1.0, 20), sde_adj=SDEConfig("vp", 0.1, 1.0, 20),
                          net_x=TINY_X, net_adj=TINY_A, **kw)


def tiny_mol_config(**kw):
    return ScoreSDEConfig(dataset="tiny_mol", kind="molecule", vocab="qm9", max_nodes=5, num_node_features=4,
                          sde_x=SDEConfig("ve", 0.1, 1.0, 20), sde_adj=SDEConfig("ve", 0.1, 1.0, 20),
                          net_x=TINY_X, net_adj=TINY_A, **kw)


def graph(n, edges):
    e = torch.tensor(edges, dtype=torch.long).T
    return Data(edge_index=torch.cat([e, e.flip(0)], 1), num_nodes=n)


GRAPHS = [graph(3, [(0, 1), (1, 2)]), graph(4, [(0, 1), (1, 2), (2, 3), (3, 0)]), graph(5, [(0, 1), (0, 2), (0, 3)])]


def molecule(atoms, bonds):
    """bonds: (i, j, bond type index)."""
    e = torch.tensor([(i, j) for i, j, _ in bonds] + [(j, i) for i, j, _ in bonds], dtype=torch.long).T
    t = torch.tensor([b for *_, b in bonds] * 2)
    order = (e[0] * 10 + e[1]).argsort()
    return Data(x=torch.tensor(atoms), charge=torch.zeros(len(atoms), dtype=torch.long), edge_index=e[:, order],
                edge_attr=t[order], num_nodes=len(atoms))


MOLS = [molecule([0, 0, 2], [(0, 1, 0), (1, 2, 1)]),  # C-C=O
        molecule([0, 1], [(0, 1, 2)]),  # C#N
        molecule([0, 0, 0, 3], [(0, 1, 1), (1, 2, 0), (2, 3, 0)])]  # C=C-C-F


def edges_of(d):
    return sorted(map(tuple, d.edge_index.T.tolist()))


def test_encode_decode_round_trip_generic():
    model = ScoreSDEGenerator(tiny_graph_config(remove_isolated=False))
    x, adj, mask = model.encode(GRAPHS)
    assert x.shape == (3, 6, 4) and adj.shape == (3, 6, 6)
    torch.testing.assert_close(x[0, :3].argmax(-1), torch.tensor([1, 2, 1]))  # degree one-hot
    for d, back in zip(GRAPHS, model.decode(x, adj, mask)):
        assert back.num_nodes == d.num_nodes and edges_of(back) == edges_of(d)


def test_encode_decode_round_trip_molecules():
    model = ScoreSDEGenerator(tiny_mol_config())
    x, adj, mask = model.encode(MOLS)
    assert adj.max() == 3.0 and adj[0, 1, 2] == 2.0  # bond orders, not type indices
    for d, back in zip(MOLS, model.decode(x, adj, mask)):
        assert torch.equal(back.x, d.x) and edges_of(back) == edges_of(d)
        assert torch.equal(back.edge_attr, d.edge_attr) and torch.all(back.charge == 0)
    # GDSS quantisation: 0.4 -> none, 1.6 -> double, 2.6 -> triple; a node with no feature > 0.5 is dropped
    x = torch.zeros(1, 5, 4)
    x[0, 0, 0] = x[0, 1, 1] = x[0, 2, 2] = 0.9
    adj = torch.zeros(1, 5, 5)
    for (i, j), v in {(0, 1): 1.6, (1, 2): 2.6, (0, 2): 0.4, (0, 3): 1.0}.items():
        adj[0, i, j] = adj[0, j, i] = v
    (d,) = model.decode(x, adj, torch.ones(1, 5, dtype=torch.bool))
    assert d.x.tolist() == [0, 1, 2]
    assert sorted(zip(edges_of(d), d.edge_attr.tolist())) == [((0, 1), 1), ((1, 0), 1), ((1, 2), 2), ((2, 1), 2)]


def test_config_errors_name_the_fix():
    with pytest.raises(ValueError, match="num_node_features=4"):
        ScoreSDEGenerator(dataclasses.replace(tiny_mol_config(), num_node_features=5))
    with pytest.raises(ValueError, match="max_nodes"):
        ScoreSDEGenerator(tiny_graph_config()).encode([graph(7, [(0, 6)])])
    with pytest.raises(ValueError, match="num_node_features"):
        ScoreSDEGenerator(tiny_graph_config()).encode([graph(6, [(0, i) for i in range(1, 6)])])
    with pytest.raises(ValueError, match="duplicate edges"):  # graphgen.data.dense refuses to merge them silently
        ScoreSDEGenerator(tiny_graph_config()).encode([graph(3, [(0, 1), (0, 1)])])
    with pytest.raises(ValueError, match="unknown"):
        ScoreSDEGenerator.config_from_dict({"net_x": {"depth": 2, "width": 3}})
    with pytest.raises(RuntimeError, match="set_node_distribution"):
        ScoreSDEGenerator(tiny_graph_config()).sample(2)


@pytest.mark.parametrize("method", ["pc", "em", "s4"])
@pytest.mark.parametrize("kind", ["graph", "molecule"])
def test_sample_layout_and_determinism(kind, method):
    from graphgen.generate.base import SampleStats

    torch.manual_seed(0)
    model = ScoreSDEGenerator(tiny_graph_config() if kind == "graph" else tiny_mol_config())
    data = GRAPHS if kind == "graph" else MOLS
    model.set_node_distribution(torch.tensor([d.num_nodes for d in data]))
    events = []
    a = model.sample(5, generator=torch.Generator().manual_seed(1), num_steps=4, method=method, batch_size=3,
                     callback=events.append)
    b = model.sample(5, generator=torch.Generator().manual_seed(1), steps=4, sampler=method, batch_size=3)
    assert len(a) == 5
    for d1, d2 in zip(a, b):
        assert d1.num_nodes == d2.num_nodes and edges_of(d1) == edges_of(d2)
        assert d1.edge_index.dtype == torch.long
        if d1.edge_index.numel():
            assert edges_of(d1) == sorted(edges_of(d1)) and set(edges_of(d1)) == {(j, i) for i, j in edges_of(d1)}
        if kind == "molecule":
            assert d1.x.dtype == torch.long and d1.x.shape == (d1.num_nodes,) and torch.equal(d1.x, d2.x)
            assert d1.edge_attr.shape == (d1.edge_index.shape[1],) and (d1.edge_attr.numel() == 0
                                                                         or d1.edge_attr.max() <= 2)
            assert d1.num_nodes <= max(d.num_nodes for d in data)
    # batches of 3 and 2 graphs, 4 steps each; pc (default Langevin corrector) evaluates twice per step
    per_step = 2 if method == "pc" else 1
    evals = [e for e in events if e["kind"] == "evaluation"]
    assert [e["num_graphs"] for e in evals] == [3] * 4 * per_step + [2] * 4 * per_step
    assert [e["step"] for e in events if e["kind"] == "step"] == [0, 1, 2, 3] * 2
    assert [e["num_graphs"] for e in events if e["kind"] == "sampled"] == [3, 2]
    stats = SampleStats()
    for e in events:
        stats(e)
    assert stats.evaluations_per_graph == 4 * per_step


def test_sample_options_reach_the_sampler_and_unknown_ones_are_errors():
    from graphgen.generate.base import SampleOptionError

    torch.manual_seed(0)
    model = ScoreSDEGenerator(tiny_graph_config(sampler=SamplerConfig(num_steps=3)))
    model.set_node_distribution(torch.tensor([3, 4, 5]))

    def evaluations(**options):
        events = []
        model.sample(2, generator=torch.Generator().manual_seed(0), callback=events.append, **options)
        return sum(e["num_graphs"] for e in events if e["kind"] == "evaluation") // 2

    assert evaluations() == 6  # config: 3 pc steps with the Langevin corrector
    assert evaluations(steps=5) == 10 and evaluations(num_steps=5, steps=None) == 10
    assert evaluations(corrector="none") == 3 and evaluations(n_steps=2) == 9 and evaluations(sampler="em") == 3
    assert evaluations(predictor="none") == 3
    s = model.sampler_settings(snr="0.1", steps=7)  # strings are coerced like YAML config values
    assert (s.snr, s.num_steps, s.method) == (0.1, 7, "pc")
    with pytest.raises(SampleOptionError, match="unknown option bogus; valid options: .*sampler, scale_eps, snr"):
        model.sample(1, bogus=1)
    with pytest.raises(SampleOptionError, match="method must be one of em, ode, ode_dpm2, ode_euler, pc, s4, got 'ddim'"):
        model.sample(1, sampler="ddim")
    with pytest.raises(SampleOptionError, match="corrector must be one of langevin, none"):
        model.sample(1, corrector="annealed")
    with pytest.raises(SampleOptionError, match="set the same thing"):
        model.sample(1, steps=3, num_steps=4)
    with pytest.raises(SampleOptionError, match="snr: expected float"):
        model.sample(1, snr="high")
    with pytest.raises(SampleOptionError, match="steps must be >= 1"):
        model.sample(1, steps=0)


def test_loss_backward_and_decreases_on_tiny_set():
    torch.manual_seed(0)
    model = ScoreSDEGenerator(tiny_graph_config())
    dense = model.encode(GRAPHS)
    gen = torch.Generator().manual_seed(0)
    eval_gen = lambda: torch.Generator().manual_seed(123)  # noqa: E731
    with torch.no_grad():
        before = sum(model.loss(dense, generator=eval_gen()) for _ in range(1))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(25):
        loss = model.loss(dense, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = model.loss(dense, generator=eval_gen())
    assert torch.isfinite(loss) and after < before
    # a PyG batch gives the same loss as its dense encoding
    torch.testing.assert_close(model.loss(GRAPHS, generator=eval_gen()), model.loss(dense, generator=eval_gen()))


def test_save_load_through_load_generator(tmp_path):
    torch.manual_seed(0)
    model = ScoreSDEGenerator(tiny_mol_config(sampler=SamplerConfig(method="s4", num_steps=3)))
    model.set_node_distribution(torch.tensor([2, 3, 3]))
    model.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["generator"] == "sde" and cfg["sampler"]["method"] == "s4" and cfg["vocab"] == "qm9"
    loaded = load_generator(tmp_path / "m")
    assert isinstance(loaded, ScoreSDEGenerator) and loaded.vocab.name == "qm9"
    torch.testing.assert_close(loaded.node_count_probs, model.node_count_probs)
    a = model.sample(4, generator=torch.Generator().manual_seed(5))
    b = loaded.sample(4, generator=torch.Generator().manual_seed(5))
    assert [edges_of(d) for d in a] == [edges_of(d) for d in b]
    assert [d.x.tolist() for d in a] == [d.x.tolist() for d in b]


def test_train_resume_matches_uninterrupted(tmp_path):
    """The GDSS loss through the shared trainer: 4 epochs straight equal 2 epochs, then 2 more after a resume in a
    fresh model object (weights, EMA and noise from the checkpoint)."""
    from graphgen.train.trainer import TensorTuple, Trainer, TrainerConfig

    def fresh():
        torch.manual_seed(0)
        m = ScoreSDEGenerator(tiny_graph_config())
        m.set_node_distribution(torch.tensor([3, 4, 5]))
        return m

    def loss_fn(m, batch, generator):
        lx, la = m.losses(batch, generator=generator)
        return {"loss": lx + la}

    tcfg = TrainerConfig(batch_size=2, epochs=4, lr=1e-3, log_every=1, optimizer="adam", schedule="exponential",
                         progress=False)
    m1 = fresh()
    data = TensorTuple(*m1.encode(GRAPHS))
    Trainer(m1, data, tcfg, tmp_path / "straight", loss_fn=loss_fn, clip_groups=("net_x", "net_adj")).fit()
    m2 = fresh()
    Trainer(m2, data, dataclasses.replace(tcfg, epochs=2), tmp_path / "split", loss_fn=loss_fn,
            clip_groups=("net_x", "net_adj")).fit()
    m3 = fresh()
    res = Trainer(m3, data, tcfg, tmp_path / "split", loss_fn=loss_fn, clip_groups=("net_x", "net_adj")).fit(
        resume=True)
    assert res["epoch"] == 4
    for (n, p1), p3 in zip(m1.state_dict().items(), m3.state_dict().values()):
        torch.testing.assert_close(p1, p3, msg=n, rtol=0, atol=0)
    ema1 = ScoreSDEGenerator.from_pretrained(tmp_path / "straight" / "ema")
    ema3 = ScoreSDEGenerator.from_pretrained(tmp_path / "split" / "ema")
    for p1, p3 in zip(ema1.parameters(), ema3.parameters()):
        torch.testing.assert_close(p1, p3, rtol=0, atol=0)


def test_presets_build():
    from graphgen.generate.sde.train import SDERunConfig
    from graphgen.train import config as config_lib

    for name, feats in (("community_small", 10), ("ego_small", 17), ("qm9", 4)):
        cfg = config_lib.resolve(SDERunConfig, preset=config_lib.preset_path("sde", name))
        assert cfg.model.num_node_features == feats
        ScoreSDEGenerator(cfg.model)
    cfg = config_lib.resolve(SDERunConfig, preset=config_lib.preset_path("sde", "qm9"),
                             overrides=["model.net_adj.hidden=8", "model.sampler.method=s4"])
    assert cfg.model.net_adj.hidden == 8 and cfg.model.sampler.method == "s4"


@pytest.mark.parametrize("kind", ["graph", "molecule"])
def test_graphgen_sample_command(tmp_path, kind):
    from graphgen.cli import main

    torch.manual_seed(0)
    sampler = SamplerConfig(num_steps=3)
    model = ScoreSDEGenerator(tiny_graph_config(sampler=sampler) if kind == "graph" else tiny_mol_config(sampler=sampler))
    model.set_node_distribution(torch.tensor([3, 4, 5]))
    model.save_pretrained(tmp_path / "m")
    out = tmp_path / ("s.json" if kind == "graph" else "s.smi")
    assert main(["sample", str(tmp_path / "m"), "-n", "4", "-o", str(out), "--no-progress", "--threads", "1"]
                + (["--no-metrics"] if kind == "molecule" else [])) == 0
    assert out.exists()


def test_graphgen_sample_flags_reach_the_sampler(tmp_path, monkeypatch, capsys):
    """--steps, --sampler and --set arrive in ScoreSDEGenerator.sample; an unknown option is a one-line exit."""
    from graphgen.cli import main

    torch.manual_seed(0)
    model = ScoreSDEGenerator(tiny_graph_config(sampler=SamplerConfig(num_steps=3)))
    model.set_node_distribution(torch.tensor([3, 4, 5]))
    model.save_pretrained(tmp_path / "m")
    seen = {}
    original = ScoreSDEGenerator.sample_dense

    def spy(self, num_nodes, settings, **kw):
        seen["settings"] = settings
        return original(self, num_nodes, settings, **kw)

    monkeypatch.setattr(ScoreSDEGenerator, "sample_dense", spy)
    out = tmp_path / "s.json"
    args = ["sample", str(tmp_path / "m"), "-n", "2", "-o", str(out), "--no-progress", "--steps", "5",
            "--sampler", "s4", "--set", "snr=0.1", "--set", "corrector=none", "--set", "denoise=false"]
    assert main(args) == 0
    s = seen["settings"]
    assert (s.num_steps, s.method, s.snr, s.corrector, s.denoise) == (5, "s4", 0.1, "none", False)
    assert "network evaluations / graph  5.0" in capsys.readouterr().out  # S4: one evaluation per step
    with pytest.raises(SystemExit, match="graphgen sample: ScoreSDEGenerator.sample: unknown option bogus; valid"):
        main(["sample", str(tmp_path / "m"), "-n", "1", "-o", str(out), "--set", "bogus=1"])
    with pytest.raises(SystemExit, match="expected KEY=VALUE"):
        main(["sample", str(tmp_path / "m"), "-n", "1", "-o", str(out), "--set", "snr"])
