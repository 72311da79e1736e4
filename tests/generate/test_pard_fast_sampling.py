"""Issue 19, PARD: few-step sampling with exact jump posteriors, and the fused denoiser of the sampler.

- ``steps = T`` samples exactly the graphs of the sampler before issue 19 (hashes recorded from that code);
- the jump posterior ``q(x_s | x_t, x_0)`` equals Bayes' rule with the product of one-step transition matrices and
  the composition of one-step posteriors (exact marginalisation, small class counts);
- ``steps < T`` gives well-formed graphs with ``steps`` evaluations per block;
- the fused denoiser (``pard.fused``) equals the reference ``PARDNetwork.denoise_virtual`` on a random model, and
  samples the same graphs.
"""
from __future__ import annotations

import pytest
import torch

from graphgen.errors import InputError
from graphgen.generate.base import SampleOptionError
from graphgen.generate.pard.diffusion import CategoricalDiffusion, jump_schedule
from graphgen.generate.pard.fused import FusedBlockDenoiser, ReferenceBlockDenoiser, softmax_last
from graphgen.generate.pard.model import PARDConfig, PARDGenerator
from graphgen.generate.pard.network import PARDNetwork

from .test_bundled_samples import digest


def molecule_model() -> PARDGenerator:
    from graphgen.data.molecules import VOCABS, smiles_to_data

    torch.manual_seed(0)  # test-only: fixes the initial weights
    model = PARDGenerator(PARDConfig(hidden=32, edge_hidden=16, num_layers=2, heads=4, num_steps=6,
                                     max_block_size=6, max_degree=4, max_nodes=9))
    model.set_marginals([smiles_to_data(s, VOCABS["qm9"])
                         for s in ["CCO", "OC1CC1", "CC(C)=O", "C#N", "N#CC#N", "CC1(C)CC1O"]])
    return model


def plain_model() -> PARDGenerator:
    torch.manual_seed(1)  # test-only: fixes the initial weights
    return PARDGenerator(PARDConfig(num_node_types=1, num_edge_types=2, vocab=None, noise="uniform", hidden=32,
                                    edge_hidden=16, num_layers=2, heads=4, num_steps=5, max_block_size=5,
                                    max_degree=4, max_nodes=10))


# Recorded with the sampler before issue 19 (commit 8e87c73 plus that day's working tree: one-step posteriors,
# PARDNetwork.denoise_virtual, torch 2.13 CPU, one thread). A change of any node count, class or edge changes them.
BEFORE = {
    "molecules, seed 3, one batch": "8ffb53208422a2669143f2d9d772c6835c600b6846028a833eed61daca22c937",
    "molecules, seed 4, batches of 3": "456b4d8095693b492c07f4257275fe67f0a3c7ac3364dc28da3c781b9b2b2835",
    "plain graphs, uniform noise, seed 5": "43f55f35c2d762c8b382cae268c8990a67a1e43c85fe5a5a8f063ae8ef749310",
}


def draw(case: str, **options) -> list:
    if case.startswith("molecules"):
        seed, batch_size = (3, 8) if "seed 3" in case else (4, 3)
        return molecule_model().sample(8, generator=torch.Generator().manual_seed(seed), batch_size=batch_size,
                                       **options)
    return plain_model().sample(8, generator=torch.Generator().manual_seed(5), **options)


@pytest.mark.parametrize("case", sorted(BEFORE))
def test_all_steps_reproduce_the_sampler_before_issue_19(case):
    assert digest(draw(case)) == BEFORE[case]
    T = 6 if case.startswith("molecules") else 5
    assert digest(draw(case, steps=T)) == BEFORE[case]  # the default is T


@pytest.mark.parametrize("case", sorted(BEFORE))
def test_reference_denoiser_samples_the_same_graphs(case, monkeypatch):
    """The unfused network path, driven by the same sampler, gives the same graphs (K = T and K < T)."""
    fused = [digest(draw(case)), digest(draw(case, steps=2))]
    monkeypatch.setattr(PARDGenerator, "block_denoiser", ReferenceBlockDenoiser)
    assert [digest(draw(case)), digest(draw(case, steps=2))] == fused
    assert fused[0] != fused[1]  # fewer steps is a different chain (the comparison can fail)


# -- jump schedule and jump posterior ----------------------------------------------------------------------------------
@pytest.mark.parametrize("T", [1, 5, 50])
def test_jump_schedule_is_even_and_ends_at_zero(T):
    assert jump_schedule(T, T) == list(range(T, -1, -1))
    assert jump_schedule(T, 1) == [T, 0]
    for K in range(1, T + 1):
        times = jump_schedule(T, K)
        gaps = [a - b for a, b in zip(times, times[1:])]
        assert len(gaps) == K and times[0] == T and times[-1] == 0
        assert set(gaps) <= {T // K, -(-T // K)}  # every jump is floor or ceil of T / K
    assert jump_schedule(50, 10) == [50, 45, 40, 35, 30, 25, 20, 15, 10, 5, 0]
    assert jump_schedule(50, 20)[:4] == [50, 47, 45, 42]  # floor(k * 50 / 20)


@pytest.mark.parametrize("bad", [0, -1, 6, 2.5, True, "3", None])
def test_jump_schedule_rejects_bad_step_counts(bad):
    with pytest.raises(InputError, match=r"steps=.*expected an integer in 1\.\.5"):
        jump_schedule(5, bad)


def one_step_matrices(diff: CategoricalDiffusion) -> list[torch.Tensor]:
    """``Q_t`` (rows = previous state) for ``t = 0..T`` in float64 from the schedule's ``alpha``."""
    K, m = diff.num_classes, diff.limit.double()
    eye = torch.eye(K, dtype=torch.float64)
    return [a * eye + (1 - a) * m.expand(K, K) for a in diff.alpha.double()]


LIMITS = {"uniform": torch.ones(3), "marginal": torch.tensor([0.6, 0.3, 0.1]),
          "marginal 4": torch.tensor([0.5, 0.25, 0.2, 0.05])}


@pytest.mark.parametrize("limit", LIMITS.values(), ids=LIMITS.keys())
def test_jump_posterior_is_bayes_with_the_product_of_one_step_transitions(limit):
    """q(x_s = k | x_t = j, x_0 = i) ∝ Qbar_s[i, k] (Q_{s+1} ... Q_t)[k, j], every t, s < t, i, j (T = 7)."""
    K, T = limit.numel(), 7
    diff = CategoricalDiffusion(K, T, limit)
    Q = one_step_matrices(diff)
    eye = torch.eye(K, dtype=torch.float64)
    for t in range(1, T + 1):
        for s in range(t):
            qbar_s, q_st = eye, eye
            for r in range(1, s + 1):
                qbar_s = qbar_s @ Q[r]
            for r in range(s + 1, t + 1):
                q_st = q_st @ Q[r]
            for i in range(K):
                joint = qbar_s[i].unsqueeze(1) * q_st  # [k, j]: q(x_s = k | x_0 = i) q(x_t = j | x_s = k)
                expect = (joint / joint.sum(0, keepdim=True)).t()  # [j, k]
                got = diff.posterior(torch.arange(K), torch.eye(K)[i].expand(K, K), torch.tensor(t), torch.tensor(s))
                torch.testing.assert_close(got.double(), expect, atol=2e-6, rtol=0)


@pytest.mark.parametrize("limit", LIMITS.values(), ids=LIMITS.keys())
def test_jump_posterior_is_the_composition_of_one_step_posteriors(limit):
    """Given x_0, the reverse chain is Markov: q(x_s | x_t, x_0) = sum over x_{t-1}..x_{s+1} of the one-step
    posteriors' product. Also for a soft x_0 prediction the jump mixes the exact jumps with its weights."""
    K, T = limit.numel(), 6
    diff = CategoricalDiffusion(K, T, limit)
    states = torch.arange(K)
    for i in range(K):
        x0 = torch.eye(K)[i].expand(K, K)
        one_step = [None] + [diff.posterior(states, x0, torch.tensor(r)).double() for r in range(1, T + 1)]
        for t in range(1, T + 1):
            composed = torch.eye(K, dtype=torch.float64)
            for s in range(t - 1, -1, -1):
                composed = composed @ one_step[s + 1]  # [x_t, x_s]
                got = diff.posterior(states, x0, torch.tensor(t), torch.tensor(s)).double()
                torch.testing.assert_close(got, composed, atol=2e-6, rtol=0)
    p0 = torch.softmax(torch.randn(K, K, generator=torch.Generator().manual_seed(0)), -1)
    got = diff.posterior(states, p0, torch.tensor(5), torch.tensor(2))
    mixed = sum(p0[:, i:i + 1] * diff.posterior(states, torch.eye(K)[i].expand(K, K), torch.tensor(5),
                                                torch.tensor(2)) for i in range(K))
    torch.testing.assert_close(got, mixed, atol=1e-6, rtol=0)


def test_one_step_jump_is_the_one_step_posterior_to_the_bit():
    diff = CategoricalDiffusion(4, 50, torch.tensor([0.5, 0.25, 0.2, 0.05]))
    t = torch.arange(1, 51)
    assert torch.equal(diff.jump_alpha[t, t - 1], diff.alpha[t])
    xt = torch.randint(0, 4, (50, 9), generator=torch.Generator().manual_seed(1))
    p0 = torch.softmax(torch.randn(50, 9, 4, generator=torch.Generator().manual_seed(2)), -1)
    steps = t.view(50, 1)
    assert torch.equal(diff.posterior(xt, p0, steps, steps - 1), diff.posterior(xt, p0, steps))
    assert not diff.jump_alpha.requires_grad and "jump_alpha" not in diff.state_dict()  # saved files unchanged


# -- few steps ---------------------------------------------------------------------------------------------------------
def check_graph(d, model: PARDGenerator) -> None:
    n = d.num_nodes
    assert 1 <= n <= model.config.max_nodes
    ei = d.edge_index
    assert (ei[0] != ei[1]).all() and ei.t().tolist() == sorted(ei.t().tolist())
    pairs = set(map(tuple, ei.t().tolist()))
    assert pairs == {(j, i) for i, j in pairs}
    if model.config.num_edge_types > 2:
        attr = {(i, j): a for (i, j), a in zip(ei.t().tolist(), d.edge_attr.tolist())}
        assert all(attr[(i, j)] == attr[(j, i)] for i, j in attr)
        assert d.edge_attr.numel() == 0 or (0 <= int(d.edge_attr.min()) and int(d.edge_attr.max()) < 3)
        assert d.x.numel() == n and 0 <= int(d.x.min()) and int(d.x.max()) < 4


@pytest.mark.parametrize("steps", [1, 2, 3, 5])
def test_few_steps_give_well_formed_graphs_with_steps_evaluations_per_block(steps):
    model = molecule_model()
    events = []
    graphs = model.sample(10, generator=torch.Generator().manual_seed(7), steps=steps, callback=events.append)
    again = model.sample(10, generator=torch.Generator().manual_seed(7), steps=steps)
    assert digest(graphs) == digest(again)
    for d in graphs:
        check_graph(d, model)
    denoising = [e for e in events if e["kind"] == "evaluation" and e["step"] is not None]
    per_block: dict[int, list[int]] = {}
    for e in denoising:
        per_block.setdefault(e["block"], []).append(e["step"])
    assert all(v == jump_schedule(6, steps)[:-1] for v in per_block.values())  # T .. tau_1, in order
    assert max(per_block) == max(int(d.block.max()) + 1 for d in graphs)


def test_steps_option_errors_name_the_range():
    model = molecule_model()
    for bad in (0, 7, 2.5, "4"):
        with pytest.raises(SampleOptionError, match=r"PARDGenerator.sample: steps=.*expected an integer in 1\.\.6 "):
            model.sample(2, steps=bad)
    with pytest.raises(SampleOptionError, match="unknown option sampler; valid options: steps$"):
        model.sample(2, sampler="ddim")
    with pytest.raises(ValueError):  # callers catching ValueError keep working
        model.sample(2, steps=0)


def test_sampled_graphs_are_ordinary_tensors():
    """Sampling runs under inference_mode, the returned graphs do not: they can be edited in place."""
    d = molecule_model().sample(1, generator=torch.Generator().manual_seed(0))[0]
    for key in ("x", "edge_index", "block"):
        t = getattr(d, key)
        assert not t.is_inference()
        t.add_(0)


# -- fused denoiser against the reference ------------------------------------------------------------------------------
def random_network(seed: int) -> PARDNetwork:
    """A small network with every parameter perturbed (layer norms and biases off their defaults too)."""
    torch.manual_seed(seed)  # test-only: fixes the initial weights
    net = PARDNetwork(4, 4, hidden=32, edge_hidden=16, num_layers=3, heads=4, num_steps=10, max_block_size=9,
                      max_degree=4).eval()
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return net


def sym(E: torch.Tensor) -> torch.Tensor:
    E = E.triu(1)
    return E + E.transpose(-1, -2)


# real blocks per graph (0 = padding; the last column is padding in every graph) and virtual-slot masks
CASES = {
    "first block": (torch.zeros(3, 0, dtype=torch.long), torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0]])),
    "mixed padding": (torch.tensor([[1, 1, 2, 3, 3, 0], [1, 2, 2, 0, 0, 0], [1, 0, 0, 0, 0, 0]]),
                      torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0]])),
    "one graph": (torch.tensor([[1, 2, 2, 3]]), torch.tensor([[1, 1]])),
}


@pytest.mark.parametrize("case", CASES, ids=CASES.keys())
@pytest.mark.parametrize("t", [1, 7, 10])
def test_fused_denoiser_equals_reference(case, t):
    blk_r, mask_v = CASES[case]
    mask_v = mask_v.bool()
    net = random_network(len(case) + t)
    g = torch.Generator().manual_seed(t)
    B, R = blk_r.shape
    S = mask_v.size(1)
    mask_r = blk_r > 0
    Xr = torch.randint(0, 4, (B, R), generator=g)
    Er = sym(torch.randint(0, 4, (B, R, R), generator=g))
    Er[:, range(R), range(R)] = 4
    Xv = torch.randint(0, 4, (B, S), generator=g)
    Evr = torch.randint(0, 4, (B, S, R), generator=g)
    Evv = sym(torch.randint(0, 4, (B, S, S), generator=g))
    size = torch.randint(1, 9, (B, 1), generator=g).expand(B, S)
    degree = torch.randint(0, 4, (B, 1), generator=g).expand(B, S)
    with torch.no_grad():
        _, cache = net.real_pass(Xr, Er, blk_r, mask_r)
        want = ReferenceBlockDenoiser(net)
        want = want.denoise(want.start_block(cache, mask_r, mask_v, size, degree), Xv, Evr, Evv, t)
    fused = FusedBlockDenoiser(net)
    got = fused.denoise(fused.start_block(cache, mask_r, mask_v, size, degree), Xv, Evr, Evv, t)
    assert [tuple(x.shape) for x in got] == [tuple(x.shape) for x in want]
    pair_vr = mask_v.unsqueeze(2) & mask_r.unsqueeze(1)
    pair_vv = mask_v.unsqueeze(2) & mask_v.unsqueeze(1)
    torch.testing.assert_close(got[0][mask_v], want[0][mask_v], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[1][pair_vr], want[1][pair_vr], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[2][pair_vv], want[2][pair_vv], atol=1e-5, rtol=1e-5)
    assert want[0][mask_v].abs().max() > 0.1 and want[2][pair_vv].std() > 0.01  # not a degenerate comparison


def test_fused_weights_follow_training_between_sample_calls():
    """The concatenated weights are rebuilt per sample() call: after a weight change, fused and reference sampling
    still agree, and the samples change."""
    model = molecule_model()
    before = digest(model.sample(6, generator=torch.Generator().manual_seed(2)))
    with torch.no_grad():
        for p in model.network.layers.parameters():
            p.mul_(1.5)
    after = digest(model.sample(6, generator=torch.Generator().manual_seed(2)))
    model.block_denoiser = ReferenceBlockDenoiser
    assert digest(model.sample(6, generator=torch.Generator().manual_seed(2))) == after != before


def test_softmax_last_matches_torch_softmax():
    x = torch.randn(5, 3, 7, generator=torch.Generator().manual_seed(0)) * 30
    x[:, :, 2] = float("-inf")
    torch.testing.assert_close(softmax_last(x), torch.softmax(x, -1), atol=1e-7, rtol=1e-6)
    assert (softmax_last(x)[..., 2] == 0).all()
