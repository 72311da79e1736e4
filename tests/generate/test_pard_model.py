"""PARD network and generator: causal block mask (value tests), equivariance, loss, sampler, save/load."""
from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch, Data

from graphgen.generate import load_generator
from graphgen.generate.pard.model import PARDConfig, PARDGenerator
from graphgen.generate.pard.network import PARDNetwork


def tiny_net(seed: int = 0) -> PARDNetwork:
    torch.manual_seed(seed)  # test-only: fixes the initial weights
    return PARDNetwork(4, 4, hidden=32, edge_hidden=16, num_layers=3, heads=4, num_steps=10, max_block_size=9,
                       max_degree=4).eval()


def sym(E: torch.Tensor) -> torch.Tensor:
    E = E.triu(1)
    return E + E.transpose(-1, -2)


def parallel_inputs(blk: torch.Tensor, g: torch.Generator):
    """Random real + virtual inputs for graphs with block ids ``blk`` [B, N] (1-based, 0 = padding)."""
    B, N = blk.shape
    X = torch.randint(0, 4, (B, N), generator=g)
    E = sym(torch.randint(0, 4, (B, N, N), generator=g))
    Xv = torch.randint(0, 4, (B, N), generator=g)
    Evr = torch.randint(0, 4, (B, N, N), generator=g)
    Evv = sym(torch.randint(0, 4, (B, N, N), generator=g))
    t = torch.randint(1, 10, (B, N), generator=g)
    return X, E, Xv, Evr, Evv, t


def run_net(net, blk, X, E, Xv, Evr, Evv, t, blk_v=None):
    B, N = blk.shape
    blk_v = blk if blk_v is None else blk_v
    S = blk_v.size(1)
    nt = torch.cat([X, Xv], 1)
    Ef = torch.cat([torch.cat([E, Evr.transpose(1, 2)], 2), torch.cat([Evr, Evv], 2)], 1).clone()
    Ef[:, range(N + S), range(N + S)] = 4
    virt = torch.cat([torch.zeros(B, N, dtype=torch.bool), torch.ones(B, S, dtype=torch.bool)], 1)
    zeros = torch.zeros_like(X)
    tt = torch.cat([zeros, t], 1)
    return net(nt, Ef, virt, torch.cat([blk, blk_v], 1), torch.cat([blk > 0, blk_v > 0], 1), tt,
               torch.zeros_like(tt), torch.zeros_like(tt))


BLOCKS = torch.tensor([[1, 1, 2, 2, 3, 3, 3], [1, 2, 2, 3, 3, 4, 0]])


@pytest.mark.parametrize("upto", [1, 2, 3])
def test_prediction_for_block_ignores_later_blocks(upto):
    """Change every input of blocks > upto (real nodes, edges, virtual states, time steps): outputs of blocks <= upto
    (virtual node logits, their edge logits, block summaries) stay exactly the same."""
    net = tiny_net()
    g = torch.Generator().manual_seed(upto)
    X, E, Xv, Evr, Evv, t = parallel_inputs(BLOCKS, g)
    a = run_net(net, BLOCKS, X, E, Xv, Evr, Evv, t)
    X2, E2, Xv2, Evr2, Evv2, t2 = parallel_inputs(BLOCKS, g)
    fut = BLOCKS > upto
    fut_pair = fut.unsqueeze(1) | fut.unsqueeze(2)
    X2, E2, Xv2 = torch.where(fut, X2, X), torch.where(fut_pair, E2, E), torch.where(fut, Xv2, Xv)
    Evr2, Evv2, t2 = torch.where(fut.unsqueeze(2), Evr2, Evr), torch.where(fut_pair, Evv2, Evv), torch.where(fut, t2, t)
    b = run_net(net, BLOCKS, X2, E2, Xv2, Evr2, Evv2, t2)
    N = BLOCKS.size(1)
    keep = (BLOCKS <= upto) & (BLOCKS > 0)
    keep2 = torch.cat([torch.zeros_like(keep), keep], 1)
    assert torch.equal(a[0][keep2], b[0][keep2])
    rows = keep2.unsqueeze(2) & torch.cat([keep, keep], 1).unsqueeze(1)
    assert torch.equal(a[1][rows], b[1][rows])
    assert torch.equal(a[2][:, :upto], b[2][:, :upto])
    # and the change does reach later blocks (the test can fail)
    assert not torch.equal(a[0][:, N:], b[0][:, N:])


@pytest.mark.parametrize("block", [1, 2, 3])
def test_parallel_forward_equals_single_block_forward(block):
    """Virtual block i inside the all-blocks training input predicts what it predicts at sampling time, when the
    input holds only real blocks < i and the virtual block i."""
    net = tiny_net(1)
    blk = BLOCKS[:1]
    X, E, Xv, Evr, Evv, t = parallel_inputs(blk, torch.Generator().manual_seed(7))
    t = torch.full_like(t, 4)
    full_nodes, full_edges, _ = run_net(net, blk, X, E, Xv, Evr, Evv, t)
    N = blk.size(1)
    real = (blk[0] < block).nonzero().view(-1)
    virt = (blk[0] == block).nonzero().view(-1)
    small = run_net(
        net, blk[:, real], X[:, real], E[:, real][:, :, real], Xv[:, virt], Evr[:, virt][:, :, real],
        Evv[:, virt][:, :, virt], t[:, virt], blk_v=blk[:, virt],
    )
    torch.testing.assert_close(small[0][0, real.numel():], full_nodes[0, N + virt], atol=1e-5, rtol=1e-4)
    R = real.numel()
    torch.testing.assert_close(small[1][0, R:, :R], full_edges[0, N + virt][:, real], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(small[1][0, R:, R:], full_edges[0, N + virt][:, N + virt], atol=1e-5, rtol=1e-4)


def test_network_is_permutation_equivariant():
    net = tiny_net(2)
    blk = BLOCKS[:1]
    X, E, Xv, Evr, Evv, t = parallel_inputs(blk, torch.Generator().manual_seed(3))
    a = run_net(net, blk, X, E, Xv, Evr, Evv, t)
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    b = run_net(net, blk[:, perm], X[:, perm], E[:, perm][:, :, perm], Xv[:, perm], Evr[:, perm][:, :, perm],
                Evv[:, perm][:, :, perm], t[:, perm])
    N = blk.size(1)
    full = torch.cat([perm, perm + N])
    torch.testing.assert_close(b[0], a[0][:, full], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b[1], a[1][:, full][:, :, full], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b[2], a[2], atol=1e-5, rtol=1e-4)


def star(k: int) -> Data:
    e = torch.tensor([[0] * k, list(range(1, k + 1))])
    return Data(edge_index=torch.cat([e, e.flip(0)], 1), num_nodes=k + 1)


def plain_model(**kw) -> PARDGenerator:
    cfg = dict(num_node_types=1, num_edge_types=2, vocab=None, hidden=32, edge_hidden=16, num_layers=2, heads=4,
               num_steps=5, max_block_size=6, max_degree=4, max_nodes=8)
    cfg.update(kw)
    torch.manual_seed(0)  # test-only: fixes the initial weights
    return PARDGenerator(PARDConfig(**cfg))


def molecule_model() -> PARDGenerator:
    torch.manual_seed(0)
    return PARDGenerator(PARDConfig(hidden=32, edge_hidden=16, num_layers=2, heads=4, num_steps=4,
                                    max_block_size=6, max_degree=4, max_nodes=9))


def molecules() -> list[Data]:
    from graphgen.data.molecules import VOCABS, smiles_to_data

    return [smiles_to_data(s, VOCABS["qm9"]) for s in ["CCO", "OC1CC1", "CC(C)=O", "C#N", "N#CC#N", "CC1(C)CC1O"]]


def test_repr_and_loss_backward():
    model = molecule_model()
    assert repr(model).startswith("PARDGenerator(vocab=qm9, max_hops=1, T=4, noise=marginal, network=PARDNetwork(")
    graphs = molecules()
    node_m, edge_m = model.set_marginals(graphs)
    # by hand: atoms C 2+3+3+1+2+5, N 1+2, O 1+1+1+1; pairs 3+6+6+1+6+15 = 37 with 15 single, 1 double, 3 triple
    torch.testing.assert_close(node_m, torch.tensor([16.0, 3.0, 4.0, 0.0]) / 23)
    torch.testing.assert_close(edge_m, torch.tensor([18.0, 15.0, 1.0, 3.0]) / 37)
    batch = Batch.from_data_list([model.prepare(g) for g in graphs])
    terms = model.loss_terms(batch, generator=torch.Generator().manual_seed(0))
    assert set(terms) == {"node_vlb", "node_ce", "edge_vlb", "edge_ce", "size_ce", "degree_ce", "loss"}
    assert all(torch.isfinite(v) for v in terms.values())
    terms["loss"].backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    same = model.loss(batch, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(same, terms["loss"])


def test_loss_needs_prepared_batch():
    model = plain_model()
    with pytest.raises(ValueError, match="prepare"):
        model.loss(Batch.from_data_list([star(3)]))


def check_layout(d: Data, model: PARDGenerator) -> None:
    n = d.num_nodes
    assert 1 <= n <= model.config.max_nodes
    ei = d.edge_index
    assert ei.size(0) == 2 and (ei[0] != ei[1]).all()
    pairs = set(map(tuple, ei.t().tolist()))
    assert pairs == {(j, i) for i, j in pairs}  # both directions
    assert ei.t().tolist() == sorted(ei.t().tolist())
    if model.config.num_edge_types > 2:
        attr = {(i, j): a for (i, j), a in zip(ei.t().tolist(), d.edge_attr.tolist())}
        assert all(attr[(i, j)] == attr[(j, i)] for i, j in attr)
        assert d.edge_attr.min() >= 0 and d.edge_attr.max() < model.config.num_edge_types - 1
        assert d.x.numel() == n and d.charge.tolist() == [0] * n


def test_sampler_deterministic_and_well_formed():
    model = molecule_model()
    model.set_marginals(molecules())
    count = []
    a = model.sample(6, generator=torch.Generator().manual_seed(5), callback=count.append)
    b = model.sample(6, generator=torch.Generator().manual_seed(5), batch_size=6)
    c = model.sample(6, generator=torch.Generator().manual_seed(6))
    for x, y in zip(a, b):
        assert torch.equal(x.edge_index, y.edge_index) and torch.equal(x.x, y.x) and torch.equal(x.edge_attr, y.edge_attr)
    assert any(x.num_nodes != y.num_nodes or not torch.equal(x.x, y.x) for x, y in zip(a, c))
    for d in a:
        check_layout(d, model)
    # evaluations: one size prediction per block + T denoising steps per block
    evals = [e for e in count if e["kind"] == "evaluation"]
    steps = [e for e in evals if e["step"] is not None]
    assert len(steps) % model.config.num_steps == 0 and len(evals) - len(steps) == len(steps) // 4 + 1
    assert [e for e in count if e["kind"] == "sampled"] == [{"kind": "sampled", "num_graphs": 6}]
    assert sum(e["finished"] for e in evals if e["step"] is None) == 6  # every graph stops exactly once


def test_sample_options_and_evaluation_count():
    """PARD's one sampler option is ``steps`` (1..T, tests/generate/test_pard_fast_sampling.py); others are errors."""
    from graphgen.generate.base import SampleOptionError, SampleStats

    model = molecule_model()
    model.set_marginals(molecules())
    with pytest.raises(SampleOptionError, match=r"steps=5: expected an integer in 1\.\.4"):
        model.sample(2, steps=5)
    with pytest.raises(SampleOptionError, match="unknown option sampler; valid options: steps$"):
        model.sample(2, sampler="ddim")
    for steps in (None, 2):
        stats = SampleStats()
        options = {} if steps is None else {"steps": steps}
        graphs = model.sample(5, generator=torch.Generator().manual_seed(0), batch_size=2, callback=stats, **options)
        assert stats.graphs == len(graphs) == 5
        # a graph of b blocks takes b * (K + 1) + 1 passes: K denoising steps (default K = T) and one size
        # prediction per block, plus the first size prediction
        K = steps or model.config.num_steps
        assert stats.evaluations == sum((int(g.block.max()) + 1) * (K + 1) + 1 for g in graphs)


def test_save_load_roundtrip(tmp_path):
    model = molecule_model()
    model.set_marginals(molecules())
    model.save_pretrained(tmp_path / "m")
    loaded = load_generator(tmp_path / "m")
    assert isinstance(loaded, PARDGenerator) and loaded.config == model.config
    torch.testing.assert_close(loaded.edge_diffusion.limit, model.edge_diffusion.limit)
    a = model.sample(4, generator=torch.Generator().manual_seed(1))
    b = loaded.sample(4, generator=torch.Generator().manual_seed(1))
    assert [d.edge_index.tolist() for d in a] == [d.edge_index.tolist() for d in b]


def test_learns_a_star():
    """Trained on copies of the 3-leaf star (blocks: centre, then 3 leaves of degree 1), most samples are stars."""
    model = plain_model(max_nodes=6)
    data = [model.prepare(star(3)) for _ in range(8)]
    model.set_marginals(data)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    batch = Batch.from_data_list(data)
    for _ in range(80):
        loss = model.loss(batch, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    samples = model.sample(20, generator=torch.Generator().manual_seed(0))
    target = nx.star_graph(3)
    hits = 0
    for d in samples:
        G = nx.Graph()
        G.add_nodes_from(range(d.num_nodes))
        G.add_edges_from(d.edge_index.t().tolist())
        hits += nx.is_isomorphic(G, target)
    assert hits >= 16, f"only {hits}/20 samples are 3-leaf stars"


def test_masked_pair_product_matches_brute_force_context_sum():
    """P[a, b] = sum over c in context(a, b), with the context written out from the definition."""
    from graphgen.generate.pard.network import block_masks, masked_pair_product

    g = torch.Generator().manual_seed(0)
    block = torch.tensor([[1, 2, 2, 3, 1, 2, 3, 0]])  # slots 0-3 real, 4-6 virtual, 7 padding
    virtual = torch.tensor([[False, False, False, False, True, True, True, True]])
    mask = block > 0
    masks = block_masks(virtual, block, mask)
    e1, e2 = torch.randn(1, 2, 8, 8, generator=g), torch.randn(1, 2, 8, 8, generator=g)
    got = masked_pair_product(e1, e2, masks)
    expect = torch.zeros_like(got)
    blk, virt = block[0].tolist(), virtual[0].tolist()
    for a in range(8):
        for b in range(8):
            if not masks.pair[0, a, b]:
                continue
            if not virt[a] and not virt[b]:
                ctx = [c for c in range(8) if mask[0, c] and not virt[c] and blk[c] <= max(blk[a], blk[b])]
            else:
                i = blk[a] if virt[a] else blk[b]
                ctx = [c for c in range(8) if mask[0, c] and ((not virt[c] and blk[c] < i) or (virt[c] and blk[c] == i))]
            for c in ctx:
                expect[0, :, a, b] += e1[0, :, a, c] * e2[0, :, c, b]
    torch.testing.assert_close(got, expect, atol=1e-5, rtol=1e-5)
    # context sizes (normalisation): (5, 0) touches virtual block 2 -> real {0} + virtual {5};
    # (1, 2) real blocks <= 2 -> {0, 1, 2}; (0, 4) is invalid (virtual block 1 sees no real block) -> clamped to 1
    assert masks.count[0, 0, 5, 0] == 2 and masks.count[0, 0, 1, 2] == 3 and masks.count[0, 0, 0, 4] == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_cached_sampling_path_equals_full_forward(seed):
    """real_pass + denoise_virtual (the sampler's fast path) gives the full forward's logits for the virtual block."""
    net = tiny_net(seed)
    g = torch.Generator().manual_seed(seed)
    blk_r = torch.tensor([[1, 1, 2, 3, 3, 0], [1, 2, 2, 0, 0, 0]])  # real blocks (0 = padding)
    mask_r = blk_r > 0
    B, R, S = 2, 6, 3
    mask_v = torch.tensor([[True, True, True], [True, False, False]])
    blk_v = torch.tensor([[4, 4, 4], [3, 0, 0]]) * mask_v
    Xr = torch.randint(0, 4, (B, R), generator=g)
    Er = sym(torch.randint(0, 4, (B, R, R), generator=g))
    Xv = torch.randint(0, 4, (B, S), generator=g)
    Evr = torch.randint(0, 4, (B, S, R), generator=g)
    Evv = sym(torch.randint(0, 4, (B, S, S), generator=g))
    t = torch.randint(1, 10, (B, S), generator=g)
    size = torch.randint(0, 9, (B, S), generator=g)
    deg = torch.randint(0, 4, (B, S), generator=g)
    full_in = torch.cat([torch.cat([Er, Evr.transpose(1, 2)], 2), torch.cat([Evr, Evv], 2)], 1).clone()
    full_in[:, range(R + S), range(R + S)] = 4
    zeros = torch.zeros_like(Xr)
    virt = torch.cat([torch.zeros(B, R, dtype=torch.bool), torch.ones(B, S, dtype=torch.bool)], 1)
    nodes, edges, summary = net(torch.cat([Xr, Xv], 1), full_in, virt, torch.cat([blk_r, blk_v], 1),
                                torch.cat([mask_r, mask_v], 1), torch.cat([zeros, t], 1),
                                torch.cat([zeros, size], 1), torch.cat([zeros, deg], 1))
    Er_in = Er.clone()
    Er_in[:, range(R), range(R)] = 4
    real_summary, cache = net.real_pass(Xr, Er_in, blk_r, mask_r)
    n_v, e_vr, e_vv = net.denoise_virtual(cache, mask_r, Xv, Evr, Evv, mask_v, t, size, deg)
    mv, mr = mask_v, mask_r
    torch.testing.assert_close(n_v[mv], nodes[:, R:][mv], atol=1e-5, rtol=1e-4)
    pair_vr = mv.unsqueeze(2) & mr.unsqueeze(1)
    torch.testing.assert_close(e_vr[pair_vr], edges[:, R:, :R][pair_vr], atol=1e-5, rtol=1e-4)
    pair_vv = mv.unsqueeze(2) & mv.unsqueeze(1)
    torch.testing.assert_close(e_vv[pair_vv], edges[:, R:, R:][pair_vv], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(real_summary, summary[:, : real_summary.size(1)], atol=1e-5, rtol=1e-4)


def test_small_block_products_match_einsum(monkeypatch):
    # the sampler's broadcast products and the einsum fallback (large graphs) are the same function
    from graphgen.generate.pard import network

    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 2, 5, 4, generator=gen), torch.randn(3, 5, 6, 4, generator=gen)
    att, ev = torch.randn(3, 2, 4, 5, generator=gen), torch.randn(3, 4, 5, 2, 3, generator=gen)
    small = network._channel_matmul(x, y), network._edge_weighted_sum(att, ev)
    monkeypatch.setattr(network, "_BROADCAST_LIMIT", 0)
    large = network._channel_matmul(x, y), network._edge_weighted_sum(att, ev)
    expected = (torch.einsum("bacx,bcdx->badx", x, y), torch.einsum("bhac,bachd->bahd", att, ev))
    for got_small, got_large, want in zip(small, large, expected):
        torch.testing.assert_close(got_small, want)
        torch.testing.assert_close(got_large, want)
    # hand-checked entry: out[0, 1, 2, 3] = sum_c x[0, 1, c, 3] * y[0, c, 2, 3]
    assert torch.isclose(small[0][0, 1, 2, 3], (x[0, 1, :, 3] * y[0, :, 2, 3]).sum())


# -- next-block head: degree given size ------------------------------------------------------------------------------
def path(n: int) -> Data:
    e = torch.tensor([list(range(n - 1)), list(range(1, n))])
    return Data(edge_index=torch.cat([e, e.flip(0)], 1), num_nodes=n)


def cycle(n: int) -> Data:
    e = torch.tensor([list(range(n)), [(i + 1) % n for i in range(n)]])
    return Data(edge_index=torch.cat([e, e.flip(0)], 1), num_nodes=n)


def test_block_head_terms_equal_those_of_the_full_loss():
    """The real-only pass gives the same block summaries as the parallel training forward (real nodes never see
    virtual ones), so the heads-only loss equals the size/degree terms of the full loss."""
    model = molecule_model()
    batch = Batch.from_data_list([model.prepare(g) for g in molecules()])
    full = model.loss_terms(batch, generator=torch.Generator().manual_seed(0))
    heads = model.block_head_loss_terms(batch)
    torch.testing.assert_close(heads["size_ce"], full["size_ce"])
    torch.testing.assert_close(heads["degree_ce"], full["degree_ce"])
    heads["loss"].backward()
    trunk = model.network.layers[0]
    assert all(p.grad is None for p in trunk.parameters())  # no gradient reaches the denoiser
    assert model.network.degree_size_embed.weight.grad is not None


def test_old_config_loads_independent_head_and_upgrade_starts_equal():
    model = plain_model(degree_given_size=False)
    d = model.config_dict()
    del d["degree_given_size"]  # a config.json written before the field existed
    assert PARDGenerator.config_from_dict(d).degree_given_size is False
    assert model.network.degree_size_embed is None
    new = model.with_joint_block_head()
    assert new.config.degree_given_size and new.with_joint_block_head() is new
    summary = torch.randn(5, 32)
    size = torch.tensor([0, 1, 2, 3, 6])
    torch.testing.assert_close(new.network.degree_logits(summary, size), model.network.degree_logits(summary, size))
    torch.testing.assert_close(new.network.size_logits(summary), model.network.size_logits(summary))


def test_joint_head_learns_degree_given_size_and_sampler_uses_it():
    """First blocks of a path of 3 / path of 4 / triangle are (size, degree) = (1, 0) / (2, 1) / (3, 2): one start
    token, so an independent degree head can only learn the marginal, the joint head the exact pairs. Every block
    the sampler then builds is conditioned on the degree that goes with its size."""
    graphs = [path(3), path(4), cycle(3)]
    model = plain_model(max_nodes=4, max_block_size=3, max_degree=2)
    data = [model.prepare(g) for g in graphs]
    model.set_marginals(data)
    heads = [p for n, p in model.named_parameters()
             if n.startswith(("network.start", "network.size_head", "network.degree"))]
    opt = torch.optim.Adam(heads, lr=1e-2)
    batch = Batch.from_data_list(data)
    for _ in range(150):
        loss = model.block_head_loss_terms(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    start = model.network.start.expand(3, -1)
    with torch.no_grad():
        p_deg = torch.softmax(model.network.degree_logits(start, torch.tensor([1, 2, 3])), -1)
    assert (p_deg.diagonal() > 0.9).all(), p_deg  # size 1 -> degree 0, 2 -> 1, 3 -> 2

    seen = []

    class Recording(type(model).block_denoiser):  # the sampler's denoiser, noting each block's conditioning
        def start_block(self, cache, m_r, mv, sv, dv):
            if m_r.size(1) == 0:  # first block
                seen.append(torch.stack([sv[:, 0], dv[:, 0]], 1))
            return super().start_block(cache, m_r, mv, sv, dv)

    model.block_denoiser = Recording
    model.sample(40, generator=torch.Generator().manual_seed(0))
    pairs = torch.cat(seen).unique(dim=0).tolist()
    assert set(map(tuple, pairs)) <= {(1, 0), (2, 1), (3, 2)}, pairs
