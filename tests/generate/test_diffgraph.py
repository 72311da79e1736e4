"""DiffGraph model: propagation against dense algebra, the diffusion schedule against its definition, the reverse
chain with a known denoiser, losses, variants, save / load, and learning on toys whose answer is known."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphgen.errors import InputError
from graphgen.generate.diffgraph.model import (
    DiffGraph,
    DiffGraphConfig,
    EmbeddingDiffusion,
    EmbeddingDiffusionConfig,
    IdentityFeatureEncoder,
    NormalizedGraph,
    diffgraph_propagation,
    lightgcn_propagation,
)


def dense_normalized(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    """D_in^{-1/2} A D_out^{-1/2} as a dense matrix, row = destination (degrees clamped to >= 1)."""
    a = torch.zeros(n, n, dtype=torch.float64)
    for j, i in edge_index.t().tolist():
        a[i, j] += 1.0
    d_in = a.sum(1).clamp(min=1)
    d_out = a.sum(0).clamp(min=1)
    return a / d_in.sqrt()[:, None] / d_out.sqrt()[None, :]


def test_normalized_graph_weights_by_hand():
    # path 0 - 1 - 2 (both directions): degrees 1, 2, 1 -> weight of each edge 1/sqrt(1*2)
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    g = NormalizedGraph.from_edge_index(ei, 4)   # node 3 isolated
    x = torch.tensor([[1.0], [2.0], [4.0], [8.0]])
    out = g.propagate(x)
    s = 1 / math.sqrt(2)
    assert torch.allclose(out.view(-1), torch.tensor([2 * s, (1 + 4) * s, 2 * s, 0.0]))


def test_bipartite_graph_shifts_items_and_symmetrises():
    pairs = torch.tensor([[0, 0, 1], [0, 2, 2]])      # users 0,1; items 0..2
    g = NormalizedGraph.bipartite(pairs, 2, 3)
    dense = dense_normalized(torch.tensor([[0, 2, 0, 4, 1, 4], [2, 0, 4, 0, 4, 1]]), 5)
    x = torch.randn(5, 3, dtype=torch.float64)
    assert torch.allclose(g.propagate(x.float()).double(), dense @ x, atol=1e-6)


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_propagations_match_dense_algebra(layers):
    gen = torch.Generator().manual_seed(layers)
    n = 7
    ei = torch.randint(0, n, (2, 15), generator=gen)
    ei = torch.cat([ei, ei.flip(0)], dim=1)
    g = NormalizedGraph.from_edge_index(ei, n)
    a = dense_normalized(ei, n)
    x0 = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    h, ref = x0, x0.clone()
    for _ in range(layers):
        h = torch.nn.functional.leaky_relu(a @ h, 0.5)
        ref = ref + h / h.norm(dim=1, keepdim=True).clamp(min=1e-12)
    got = diffgraph_propagation(g, x0.float(), layers, 0.5).double()
    assert torch.allclose(got, ref, atol=1e-5)
    h, acc = x0, x0.clone()
    for _ in range(layers):
        h = a @ h
        acc = acc + h
    assert torch.allclose(lightgcn_propagation(g, x0.float(), layers).double(), acc / (layers + 1), atol=1e-5)


def schedule(cfg: EmbeddingDiffusionConfig) -> tuple[np.ndarray, np.ndarray]:
    """betas and alpha_bar written out from the definition, in numpy float64."""
    v = np.linspace(cfg.noise_scale * cfg.noise_min, cfg.noise_scale * cfg.noise_max, cfg.steps)
    ab = 1 - v
    betas = [cfg.first_beta] + [min(1 - ab[i] / ab[i - 1], 0.999) for i in range(1, cfg.steps)]
    return np.array(betas), np.cumprod(1 - np.array(betas))


@pytest.mark.parametrize("scale", [1e-4, 1e-5, 0.5])
def test_schedule_and_loss_weight_follow_their_definition(scale):
    cfg = EmbeddingDiffusionConfig(steps=50, noise_scale=scale)
    d = EmbeddingDiffusion(cfg)
    betas, abar = schedule(cfg)
    assert np.allclose(d.alpha_bar.numpy(), abar, rtol=1e-12)
    snr = abar / (1 - abar)
    assert d.loss_weight[0] == 1.0
    assert np.allclose(d.loss_weight[1:].numpy(), snr[:-1] - snr[1:], rtol=1e-9)
    # the posterior mean maps the noise-free x_t = sqrt(abar_t) x0 to sqrt(abar_{t-1}) x0 (given x0_hat = x0)
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    lhs = d.mean_coef_x0.numpy() + d.mean_coef_xt.numpy() * np.sqrt(abar)
    assert np.allclose(lhs, np.sqrt(abar_prev), rtol=1e-9)


class ConstantDenoiser(torch.nn.Module):
    """Predicts the same x0 whatever it is given."""

    def __init__(self, x0: torch.Tensor) -> None:
        super().__init__()
        self.x0 = x0

    def forward(self, x, t, generator=None):
        return self.x0.expand_as(x)


def test_reverse_chain_ends_at_the_denoisers_x0():
    d = EmbeddingDiffusion(EmbeddingDiffusionConfig(steps=30, noise_scale=0.3))
    x0 = torch.randn(5, 4, dtype=torch.float64)
    start = torch.randn(5, 4, dtype=torch.float64)
    # step 0 has abar_prev = 1: its posterior mean is x0_hat exactly, whatever came before
    assert torch.allclose(d.reverse(ConstantDenoiser(x0), start), x0)


def test_training_loss_by_hand():
    d = EmbeddingDiffusion(EmbeddingDiffusionConfig(steps=10, noise_scale=0.1))
    source = torch.randn(6, 3)
    target = torch.randn(6, 3)
    x0 = torch.randn(1, 3)
    rows = torch.tensor([0, 0, 4])
    gen = torch.Generator().manual_seed(1)
    loss, x0_hat = d.training_loss(ConstantDenoiser(x0), target, source, rows, gen)
    t = torch.randint(0, 10, (6,), generator=torch.Generator().manual_seed(1))
    per_row = d.loss_weight[t].float() * (target - x0).pow(2).mean(1)
    assert torch.allclose(loss, per_row[rows].mean())
    assert torch.equal(x0_hat, x0.expand(6, 3))


def test_identity_encoder_equals_linear_on_identity():
    enc = IdentityFeatureEncoder(9, 4)
    lin = torch.nn.Linear(9, 4)
    with torch.no_grad():
        lin.weight.copy_(enc.weight)
        lin.bias.copy_(enc.bias)
    assert torch.allclose(enc(), lin(torch.eye(9)))


# ----------------------------------------------------------------------------------------------------------------------
# the model on toys
# ----------------------------------------------------------------------------------------------------------------------
def block_recommendation(num_users=24, num_items=30, groups=3, seed=0):
    """Users and items in ``groups`` blocks; users view every item of their block and buy a few of them."""
    gen = torch.Generator().manual_seed(seed)
    ug = torch.arange(num_users) % groups
    ig = torch.arange(num_items) % groups
    view = torch.tensor([(u, i) for u in range(num_users) for i in range(num_items) if ug[u] == ig[i]]).t()
    buy = []
    for u in range(num_users):
        items = (ig == ug[u]).nonzero().view(-1)
        pick = items[torch.randperm(items.numel(), generator=gen)[:4]]
        buy += [(u, int(i)) for i in pick]
    buy = torch.tensor(buy).t()
    fit, held = buy[:, buy.size(1) // 4:], buy[:, :buy.size(1) // 4]
    graphs = {"buy": NormalizedGraph.bipartite(fit, num_users, num_items),
              "view": NormalizedGraph.bipartite(view, num_users, num_items)}
    return graphs, fit, held, ug, ig


def small_config(**kw):
    base = dict(num_users=24, num_items=30, dim=16, layers=2, auxiliary=["view"], reg=1e-4,
                diffusion=EmbeddingDiffusionConfig(steps=20, hidden=[16], time_dim=4))
    base.update(kw)
    return DiffGraphConfig(**base)


def train_rec(model, graphs, fit, steps=150, seed=0):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(steps):
        neg = torch.randint(0, model.config.num_items, (fit.size(1),), generator=gen)
        out = model.loss_terms(graphs, (fit[0], fit[1], neg), gen)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    model.eval()
    return out


@pytest.mark.parametrize("variant", ["diffgraph", "no_diffusion", "lightgcn"])
def test_every_variant_learns_the_block_structure(variant):
    torch.manual_seed(0)
    graphs, fit, held, ug, ig = block_recommendation()
    model = DiffGraph(small_config(variant=variant, auxiliary=[] if variant == "lightgcn" else ["view"]))
    with torch.no_grad():
        before = float(model.loss_terms(graphs, (fit[0], fit[1], fit[1].flip(0)), torch.Generator())["loss"])
    out = train_rec(model, graphs, fit)
    assert float(out["loss"]) < before
    with torch.no_grad():
        emb = model.embeddings(graphs)
    users, items = emb[:24], emb[24:]
    scores = users @ items.t()
    # a held-out purchase lies in the user's block: where its item was bought by someone in the fitted purchases
    # (so every variant can reach it), its score beats the mean score of the other blocks' items
    reachable = [(u, i) for u, i in held.t().tolist() if i in set(fit[1].tolist())]
    assert len(reachable) >= held.size(1) // 2
    wins = [bool(scores[u, i] > scores[u][ig != ug[u]].mean()) for u, i in reachable]
    assert np.mean(wins) >= 0.75   # an untrained model wins about half


def test_auxiliary_relation_helps_when_it_holds_the_answer():
    """Held-out purchases are only reachable through views: the models that read views rank them higher than
    LightGCN on purchases alone (mean rank of held-out items, lower is better)."""
    graphs, fit, held, ug, ig = block_recommendation(seed=3)

    def mean_rank(variant):
        torch.manual_seed(0)
        model = DiffGraph(small_config(variant=variant, auxiliary=[] if variant == "lightgcn" else ["view"]))
        train_rec(model, graphs, fit, steps=100)
        with torch.no_grad():
            emb = model.embeddings(graphs)
        scores = emb[:24] @ emb[24:].t()
        scores[fit[0], fit[1]] = -1e9
        ranks = [(scores[u] > scores[u, i]).sum().item() for u, i in held.t().tolist()]
        return float(np.mean(ranks))

    assert mean_rank("diffgraph") < mean_rank("lightgcn")
    assert mean_rank("no_diffusion") < mean_rank("lightgcn")


def test_node_classification_learns_two_communities():
    torch.manual_seed(0)
    n = 40
    labels = (torch.arange(n) >= 20).long()
    gen = torch.Generator().manual_seed(0)
    pairs = []
    for i in range(n):
        same = (labels == labels[i]).nonzero().view(-1)
        for j in same[torch.randperm(same.numel(), generator=gen)[:3]].tolist():
            pairs += [(i, j), (j, i)]
    ei = torch.tensor(pairs).t()
    graphs = {"pap": NormalizedGraph.from_edge_index(ei, n), "prp": NormalizedGraph.from_edge_index(ei, n)}
    cfg = DiffGraphConfig(task="node_classification", num_nodes=n, num_classes=2, dim=16, layers=3, target="pap",
                          auxiliary=["prp"], diffusion=EmbeddingDiffusionConfig(steps=10, hidden=[16], time_dim=4))
    model = DiffGraph(cfg)
    train_nodes = torch.tensor([0, 1, 2, 20, 21, 22])
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(60):
        out = model.loss_terms(graphs, (train_nodes, labels[train_nodes]), gen)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model.logits(graphs).argmax(1)
    rest = torch.ones(n, dtype=torch.bool)
    rest[train_nodes] = False
    assert (pred[rest] == labels[rest]).float().mean() >= 0.9


def test_save_and_load_give_the_same_embeddings(tmp_path):
    graphs, fit, *_ = block_recommendation()
    torch.manual_seed(0)
    model = DiffGraph(small_config())
    train_rec(model, graphs, fit, steps=5)
    model.save_pretrained(tmp_path / "m")
    again = DiffGraph.from_pretrained(tmp_path / "m")
    again.eval()
    with torch.no_grad():
        assert torch.equal(model.embeddings(graphs), again.embeddings(graphs))
    assert again.config == model.config
    assert "variant=diffgraph" in repr(again) and "users=24" in repr(again)


def test_loss_randomness_comes_from_the_generator():
    graphs, fit, *_ = block_recommendation()
    torch.manual_seed(0)
    model = DiffGraph(small_config())
    batch = (fit[0], fit[1], fit[1].flip(0))
    a = model.loss_terms(graphs, batch, torch.Generator().manual_seed(5))["loss"]
    torch.manual_seed(123)   # the global stream must not matter
    b = model.loss_terms(graphs, batch, torch.Generator().manual_seed(5))["loss"]
    assert torch.equal(a, b)


def test_bad_configs_and_graphs_are_named():
    with pytest.raises(InputError, match="variant"):
        DiffGraphConfig(num_users=2, num_items=2, variant="nope")
    with pytest.raises(InputError, match="num_items"):
        DiffGraph(DiffGraphConfig(num_users=2, num_items=0))
    with pytest.raises(InputError, match="auxiliary"):
        DiffGraphConfig(num_users=2, num_items=2, auxiliary=[])
    graphs, fit, *_ = block_recommendation()
    model = DiffGraph(small_config())
    with pytest.raises(InputError, match="view"):
        model.embeddings({"buy": graphs["buy"]})
    bigger = {"buy": NormalizedGraph.bipartite(fit, 24, 31), "view": graphs["view"]}
    with pytest.raises(InputError, match="'buy' has 55 nodes"):
        model.embeddings(bigger)


def test_last_step_inference_is_the_chain_without_its_tiny_steps():
    """With the released tiny betas the chain stays within ~1e-3 of one x0 prediction at step 0; with large betas
    the two differ (so the option is not a no-op)."""
    torch.manual_seed(0)
    source = torch.randn(50, 16)
    for scale, close in ((1e-4, True), (0.5, False)):
        chain = EmbeddingDiffusion(EmbeddingDiffusionConfig(steps=50, noise_scale=scale))
        last = EmbeddingDiffusion(EmbeddingDiffusionConfig(steps=50, noise_scale=scale, inference="last_step"))
        den = DiffGraph(small_config()).denoisers["user"].eval()
        a, b = chain.reverse(den, source), last.reverse(den, source)
        assert torch.equal(b, den(source, torch.zeros(50, dtype=torch.long)))
        assert (float((a - b).abs().max()) < 1e-2 * float(b.abs().mean())) == close
    with pytest.raises(InputError, match="inference"):
        DiffGraphConfig(num_users=2, num_items=2, diffusion=EmbeddingDiffusionConfig(inference="fast"))
