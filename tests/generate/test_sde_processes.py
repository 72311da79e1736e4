"""SDE processes and samplers on tiny synthetic states, checked against closed forms and Monte Carlo."""
from __future__ import annotations

import math

import pytest
import torch

from graphgen.generate.sde.samplers import (
    SAMPLERS, EulerMaruyamaPredictor, LangevinCorrector, NoneCorrector, ReverseDiffusionPredictor, linear_timesteps,
    prior_sample,
)
from graphgen.generate.sde.sde import SDEConfig, SubVPSDE, VESDE, VPSDE, build_sde
from graphgen.generate.sde.utils import adjacency_powers, degree_one_hot, noise_like, pair_mask


PROCESSES = {
    "vp": lambda: VPSDE(0.1, 20.0),
    "vp_gdss": lambda: VPSDE(0.1, 1.0),
    "subvp": lambda: SubVPSDE(0.1, 20.0),
    "ve": lambda: VESDE(0.01, 5.0),
}


def simulate_forward(sde, x0, t_end, steps, gen):
    """Euler-Maruyama simulation of the forward SDE with many small steps (independent of marginal_prob)."""
    x = x0.clone()
    h = t_end / steps
    for k in range(steps):
        t = torch.full((x.shape[0],), k * h)
        drift, g = sde.sde(x, t)
        x = x + drift * h + g[:, None] * math.sqrt(h) * torch.randn(x.shape, generator=gen)
    return x


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_marginal_prob_matches_monte_carlo(name):
    sde = PROCESSES[name]()
    gen = torch.Generator().manual_seed(0)
    x0 = torch.full((4000, 1), 0.8)
    t_end = 0.6
    xt = simulate_forward(sde, x0, t_end, 400, gen)
    mean, std = sde.marginal_prob(x0[:1], torch.tensor([t_end]))
    if name == "ve":  # VE marginal ignores the sigma_min^2 variance present at t = 0
        std = (std**2 - sde.sigma_min**2).sqrt()
    assert xt.mean().item() == pytest.approx(mean.item(), abs=0.04)
    assert xt.std().item() == pytest.approx(std.item(), rel=0.05)


def test_vp_closed_forms_by_hand():
    sde = VPSDE(0.1, 1.0)
    t = torch.tensor([0.5])
    # B(0.5) = 0.1*0.5 + 0.5*0.25*0.9 = 0.1625
    mean, std = sde.marginal_prob(torch.ones(1, 1), t)
    assert mean.item() == pytest.approx(math.exp(-0.5 * 0.1625))
    assert std.item() == pytest.approx(math.sqrt(1 - math.exp(-0.1625)))
    # one exact discretisation step composes marginals: var(t) = α var(t-h) + (1 - α)
    h = torch.tensor([0.1])
    f, G = sde.discretize(torch.ones(1, 1), t, h)
    _, std_prev = sde.marginal_prob(torch.ones(1, 1), t - h)
    alpha = (1 + f).item() ** 2
    assert std.item() ** 2 == pytest.approx(alpha * std_prev.item() ** 2 + G.item() ** 2, rel=1e-5)


def test_reverse_drift_is_forward_drift_minus_g2_score():
    sde = VPSDE(0.1, 20.0)
    x = torch.randn(3, 2, 2)
    t = torch.tensor([0.2, 0.5, 0.9])
    score = torch.randn_like(x)
    rsde = sde.reverse(lambda x_, t_: score)
    drift, g = rsde.sde(x, t)
    beta = 0.1 + t * 19.9
    expected = -0.5 * beta[:, None, None] * x - beta[:, None, None] * score
    torch.testing.assert_close(drift, expected)
    torch.testing.assert_close(g, beta.sqrt())
    ode_drift, ode_g = sde.reverse(lambda x_, t_: score, probability_flow=True).sde(x, t)
    torch.testing.assert_close(ode_drift, -0.5 * beta[:, None, None] * x - 0.5 * beta[:, None, None] * score)
    assert torch.all(ode_g == 0)


@pytest.mark.parametrize("name", ["vp", "ve", "subvp"])
def test_linear_transition_agrees_with_euler_for_small_steps(name):
    sde = PROCESSES[name]()
    x = torch.randn(2, 3)
    t, h = torch.tensor([0.5, 0.7]), torch.tensor([1e-4, 1e-4])
    mean, std = sde.linear_transition(x, t, h)
    drift, g = sde.sde(x, t)
    torch.testing.assert_close(mean, x - drift * h[:, None], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(std, g * h.sqrt(), rtol=2e-3, atol=1e-7)


def test_build_sde_names_the_fix():
    assert isinstance(build_sde(SDEConfig("VE", 0.1, 1.0)), VESDE)
    assert isinstance(build_sde(SDEConfig("sub-vp")), SubVPSDE)
    with pytest.raises(ValueError, match="kind"):
        build_sde(SDEConfig("cosine"))


def test_symmetric_masked_noise():
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    z = noise_like(torch.empty(2, 4, 4), mask, symmetric=True, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(z, z.transpose(-1, -2))
    assert torch.all(z.diagonal(dim1=-2, dim2=-1) == 0)
    assert torch.all(z[~pair_mask(mask)] == 0)
    assert torch.all(z[pair_mask(mask, diagonal=False)] != 0)
    zx = noise_like(torch.empty(2, 4, 3), mask, symmetric=False)
    assert torch.all(zx[~mask] == 0) and torch.all(zx[mask] != 0)


def test_adjacency_powers_and_degree_features():
    adj = torch.tensor([[[0.0, 1, 0], [1, 0, 1], [0, 1, 0]]])  # path 0-1-2
    p = adjacency_powers(adj, 3)
    assert p.shape == (1, 3, 3, 3)
    torch.testing.assert_close(p[0, 1], torch.tensor([[1.0, 0, 1], [0, 2, 0], [1, 0, 1]]))
    mask = torch.ones(1, 3, dtype=torch.bool)
    deg = degree_one_hot(adj, mask, 3)
    torch.testing.assert_close(deg[0], torch.tensor([[0.0, 1, 0], [0, 0, 1], [0, 1, 0]]))
    with pytest.raises(ValueError, match="num_node_features"):
        degree_one_hot(adj, mask, 2)


# -- samplers on a Gaussian "data" distribution whose score is known in closed form ---------------------------------
MU, SIGMA0 = 0.5, 0.3


def gaussian_score(sde):
    def score(state, t, mask, symmetric):
        mean_coef, std = sde.marginal_prob(torch.ones_like(t), t)
        var = mean_coef**2 * SIGMA0**2 + std**2
        shape = (-1,) + (1,) * (state.dim() - 1)
        s = -(state - mean_coef.view(shape) * MU) / var.view(shape)
        m = pair_mask(mask, diagonal=False) if symmetric else mask.unsqueeze(-1)
        return s * m
    return score


def run_sampler(which, sde, steps, gen, mask):
    sc = gaussian_score(sde)
    score_x = lambda x, adj, m, t: sc(x, t, m, False)  # noqa: E731
    score_adj = lambda x, adj, m, t: sc(adj, t, m, True)  # noqa: E731
    x, adj = prior_sample(mask, 2, sde, sde, generator=gen)
    if isinstance(sde, VPSDE):  # start from the true p_T (our test VP process has not fully forgotten the data)
        m, _ = sde.marginal_prob(torch.ones(1), torch.ones(1))
        x = (x + m * MU) * mask.unsqueeze(-1)
        adj = (adj + m * MU) * pair_mask(mask, diagonal=False)
    ts = linear_timesteps(steps, eps=1e-3)
    events = []
    kw = dict(sde_x=sde, sde_adj=sde, generator=gen, callback=events.append,
              predictor=ReverseDiffusionPredictor(), corrector=LangevinCorrector(snr=0.1, scale_eps=1.0))
    x, adj = SAMPLERS[which](score_x, score_adj, x, adj, mask, ts, **kw)  # one call for every sampler
    nfe = sum(e["num_graphs"] for e in events if e["kind"] == "evaluation") // mask.shape[0]
    return x, adj, nfe


@pytest.mark.parametrize("which,steps,nfe", [("em", 200, 200), ("pc", 100, 200), ("s4", 200, 200)])
@pytest.mark.parametrize("name", ["vp", "ve"])
def test_samplers_recover_gaussian_data(which, steps, nfe, name):
    sde = PROCESSES[name]()
    mask = torch.ones(300, 5, dtype=torch.bool)
    mask[:, 4] = False
    x, adj, n = run_sampler(which, sde, steps, torch.Generator().manual_seed(3), mask)
    assert n == nfe
    assert x.shape == (300, 5, 2) and adj.shape == (300, 5, 5)
    torch.testing.assert_close(adj, adj.transpose(-1, -2))
    assert torch.all(x[:, 4] == 0) and torch.all(adj[:, 4] == 0) and torch.all(adj.diagonal(dim1=1, dim2=2) == 0)
    vals_x = x[:, :4].reshape(-1)
    vals_a = adj[pair_mask(mask, diagonal=False)]
    for vals in (vals_x, vals_a):
        assert vals.mean().item() == pytest.approx(MU, abs=0.03)
        assert vals.std().item() == pytest.approx(SIGMA0, rel=0.12)


@pytest.mark.parametrize("which", ["em", "pc", "s4"])
def test_samplers_deterministic_given_generator(which):
    sde = VPSDE(0.1, 1.0)
    mask = torch.ones(3, 4, dtype=torch.bool)
    a = run_sampler(which, sde, 5, torch.Generator().manual_seed(7), mask)
    b = run_sampler(which, sde, 5, torch.Generator().manual_seed(7), mask)
    c = run_sampler(which, sde, 5, torch.Generator().manual_seed(8), mask)
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])
    assert not torch.allclose(a[0], c[0])


def test_predictor_corrector_reprs_and_none():
    assert repr(LangevinCorrector(0.2, 0.7)) == "LangevinCorrector(snr=0.2, scale_eps=0.7, n_steps=1)"
    assert NoneCorrector().n_steps == 0
    assert repr(EulerMaruyamaPredictor()) == "EulerMaruyamaPredictor()"
