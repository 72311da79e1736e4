"""The probability-flow ODE samplers on toy processes whose marginals are known, and ``steps`` reaching them.

The toy "data" is Gaussian: every entry of X and every upper-triangle entry of A is ``N(MU, S0²)``, independently.
Then the marginal at time t is ``N(α_t MU, v_t)`` with ``v_t = α_t² S0² + σ_t²`` (``SDE.marginal_prob``), the score
is ``-(y - α_t MU) / v_t``, and the probability-flow ODE maps ``y_T`` to
``y_t = α_t MU + sqrt(v_t / v_T) (y_T - α_T MU)`` exactly, so every sampled value has a known target.
"""
from __future__ import annotations

import re

import pytest
import torch

from graphgen.generate.sde.model import SamplerConfig, ScoreSDEConfig, ScoreSDEGenerator
from graphgen.generate.sde.networks import ScoreNetworkAConfig, ScoreNetworkXConfig
from graphgen.generate.sde.samplers import SAMPLERS, dpm_solver2_step, euler_step, heun_step, linear_timesteps
from graphgen.generate.sde.sde import SDE, SDEConfig, SubVPSDE, VESDE, VPSDE
from graphgen.generate.sde.utils import pair_mask

MU, S0 = 0.5, 0.3
EPS = 1e-3
PROCESSES = {
    "vp": lambda: VPSDE(0.1, 20.0),
    "vp_gdss": lambda: VPSDE(0.1, 1.0),  # community_small / ego_small
    "subvp": lambda: SubVPSDE(0.1, 20.0),
    "ve": lambda: VESDE(0.01, 5.0),
    "ve_gdss": lambda: VESDE(0.1, 1.0),  # QM9
}
ODE_SAMPLERS = {"ode_euler": euler_step, "ode": heun_step, "ode_dpm2": dpm_solver2_step}


def marginal(sde: SDE, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(α_t, v_t)`` of the toy data's marginal."""
    alpha, sigma = sde.marginal_prob(torch.ones_like(t), t)
    return alpha, alpha**2 * S0**2 + sigma**2


def exact_flow(sde: SDE, y_T: torch.Tensor, t: float) -> torch.Tensor:
    """The exact probability-flow map from time 1 to ``t`` (an affine map for Gaussian data)."""
    (a_T, v_T), (a_t, v_t) = (marginal(sde, torch.tensor([s], dtype=y_T.dtype)) for s in (1.0, t))
    return a_t * MU + (v_t / v_T).sqrt() * (y_T - a_T * MU)


def analytic_scores(sde_x: SDE, sde_adj: SDE):
    """``(score_x, score_adj)`` with the shared score-function signature ``(x, adj, mask, t)``."""
    def score(sde, y, t, keep):
        alpha, var = marginal(sde, t)
        shape = (-1,) + (1,) * (y.dim() - 1)
        return -(y - alpha.view(shape) * MU) / var.view(shape) * keep.to(y.dtype)
    return (lambda x, adj, mask, t: score(sde_x, x, t, mask.unsqueeze(-1)),
            lambda x, adj, mask, t: score(sde_adj, adj, t, pair_mask(mask, diagonal=False)))


def draw_p_T(sde_x: SDE, sde_adj: SDE, mask: torch.Tensor, gen: torch.Generator, dtype=torch.float32):
    """A state from the exact marginal at ``T = 1`` (not the prior: GDSS's processes do not forget the data)."""
    B, N = mask.shape
    (a_x, v_x), (a_a, v_a) = (marginal(s, torch.ones(1, dtype=dtype)) for s in (sde_x, sde_adj))
    x = (a_x * MU + v_x.sqrt() * torch.randn(B, N, 2, generator=gen, dtype=dtype)) * mask.unsqueeze(-1)
    z = torch.randn(B, N, N, generator=gen, dtype=dtype).triu(1)
    adj = (a_a * MU + v_a.sqrt() * (z + z.transpose(1, 2))) * pair_mask(mask, diagonal=False)
    return x, adj


def run(which, sde_x, sde_adj, x, adj, mask, steps, *, denoise, dtype=torch.float32):
    events = []
    score_x, score_adj = analytic_scores(sde_x, sde_adj)
    ts = torch.linspace(1.0, EPS, steps + 1, dtype=dtype)
    out = SAMPLERS[which](score_x, score_adj, x, adj, mask, ts, sde_x=sde_x, sde_adj=sde_adj,
                          callback=events.append, denoise=denoise)
    return out, events


def flow_error(which, name, steps, mask, start) -> float:
    """Largest deviation of X and A from the exact flow after ``steps`` steps (float64, no Monte Carlo)."""
    sde = PROCESSES[name]()
    (x, adj), _ = run(which, sde, sde, *start, mask, steps, denoise=False, dtype=torch.float64)
    off = pair_mask(mask, diagonal=False)
    return max((x - exact_flow(sde, start[0], EPS)).abs().max().item(),
               (adj - exact_flow(sde, start[1], EPS) * off).abs().max().item())


@pytest.fixture(scope="module")
def starts():
    mask = torch.ones(20, 4, dtype=torch.bool)
    gen = torch.Generator().manual_seed(0)
    return mask, {name: draw_p_T(PROCESSES[name](), PROCESSES[name](), mask, gen, torch.float64) for name in PROCESSES}


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_heun_beats_euler_at_equal_steps(name, starts):
    mask, start = starts
    for steps in (10, 20, 40):
        heun, euler = (flow_error(w, name, steps, mask, start[name]) for w in ("ode", "ode_euler"))
        assert heun < euler, (steps, heun, euler)
    assert flow_error("ode", name, 40, mask, start[name]) < 0.01


@pytest.mark.parametrize("name", ["vp", "vp_gdss", "ve", "ve_gdss"])
@pytest.mark.parametrize("which,order", [("ode_euler", 1), ("ode", 2), ("ode_dpm2", 2)])
def test_solvers_converge_at_their_order(which, order, name, starts):
    """Halving the step divides the error by about ``2^order`` (20 -> 40 steps)."""
    mask, start = starts
    ratio = flow_error(which, name, 20, mask, start[name]) / flow_error(which, name, 40, mask, start[name])
    low, high = (1.6, 2.5) if order == 1 else (2.7, 5.0)  # DPM-Solver-2 on VP's linear-t grid is at 3.0 by 40 steps
    assert low < ratio < high


@pytest.mark.parametrize("denoise", [False, True])
# DPM-Solver-2 takes large log-SNR steps near t = eps on the linear-t grid of the steep VP process (beta_max 20)
@pytest.mark.parametrize("which,steps", [("ode_euler", 200), ("ode", 30), ("ode_dpm2", 60)])
@pytest.mark.parametrize("pair", [("vp_gdss", "ve_gdss"), ("ve_gdss", "vp")])
def test_sampled_mean_and_variance_match_the_exact_ones(pair, which, steps, denoise):
    """Monte Carlo: 3,200 values of X and 2,400 of A (Euler, first order, needs more steps for the same bias). Without ``denoise`` the ODE ends on the marginal at ``eps``,
    ``N(α MU, v)``; with it, Tweedie's posterior mean ``MU + α S0² (y - α MU) / v`` has mean ``MU`` and std
    ``α S0² / sqrt(v)``."""
    sde_x, sde_adj = (PROCESSES[p]() for p in pair)
    mask = torch.ones(400, 5, dtype=torch.bool)
    mask[:, 4] = False  # a padding node stays zero
    x, adj = draw_p_T(sde_x, sde_adj, mask, torch.Generator().manual_seed(1))
    (x, adj), _ = run(which, sde_x, sde_adj, x, adj, mask, steps, denoise=denoise)
    assert torch.all(x[:, 4] == 0) and torch.all(adj[:, 4] == 0) and torch.all(adj.diagonal(dim1=1, dim2=2) == 0)
    torch.testing.assert_close(adj, adj.transpose(1, 2))
    row, col = torch.triu_indices(4, 4, 1)
    values = [("x", sde_x, x[:, :4].reshape(-1)), ("adj", sde_adj, adj[:, row, col].reshape(-1))]
    for component, sde, vals in values:
        assert vals.numel() == (3200 if component == "x" else 2400)
        alpha, var = marginal(sde, torch.tensor([EPS]))
        mean, std = (MU, alpha * S0**2 / var.sqrt()) if denoise else (alpha * MU, var.sqrt())
        assert vals.mean().item() == pytest.approx(float(mean), abs=0.02), component
        assert vals.std().item() == pytest.approx(float(std), rel=0.04), component


def test_denoise_is_tweedie_of_the_last_state(starts):
    """``denoise=True`` = the undenoised result passed through ``E[y_0 | y_eps]`` of the toy data, value by value."""
    mask, start = starts
    sde = PROCESSES["ve_gdss"]()
    (x0, adj0), _ = run("ode", sde, sde, *start["ve_gdss"], mask, 8, denoise=False, dtype=torch.float64)
    (x1, adj1), events = run("ode", sde, sde, *start["ve_gdss"], mask, 8, denoise=True, dtype=torch.float64)
    alpha, var = marginal(sde, torch.tensor([EPS], dtype=torch.float64))
    tweedie = lambda y: MU + alpha * S0**2 / var * (y - alpha * MU)  # noqa: E731
    torch.testing.assert_close(x1, tweedie(x0))
    torch.testing.assert_close(adj1, tweedie(adj0) * pair_mask(mask, diagonal=False))
    assert [e["step"] for e in events if e["kind"] == "evaluation"][-1] == 8  # reported as step K


@pytest.mark.parametrize("which,per_step", [("ode_euler", 1), ("ode", 2), ("ode_dpm2", 2)])
@pytest.mark.parametrize("denoise", [False, True])
def test_evaluations_and_steps_reported(which, per_step, denoise):
    sde = VPSDE(0.1, 1.0)
    mask = torch.ones(3, 4, dtype=torch.bool)
    x, adj = draw_p_T(sde, sde, mask, torch.Generator().manual_seed(2))
    _, events = run(which, sde, sde, x, adj, mask, 5, denoise=denoise)
    evaluations = [e for e in events if e["kind"] == "evaluation"]
    assert len(evaluations) == 5 * per_step + denoise and all(e["num_graphs"] == 3 for e in evaluations)
    assert [e["step"] for e in events if e["kind"] == "step"] == [0, 1, 2, 3, 4]


def test_ode_is_deterministic_and_draws_no_noise():
    sde = VESDE(0.1, 1.0)
    mask = torch.ones(3, 4, dtype=torch.bool)
    x, adj = draw_p_T(sde, sde, mask, torch.Generator().manual_seed(3))
    score_x, score_adj = analytic_scores(sde, sde)
    gen = torch.Generator().manual_seed(5)
    before = gen.get_state()
    outs = [SAMPLERS["ode"](score_x, score_adj, x, adj, mask, linear_timesteps(4, eps=EPS), sde_x=sde, sde_adj=sde,
                            generator=gen) for _ in range(2)]
    assert torch.equal(gen.get_state(), before)
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


# -- through the generator and the command line ------------------------------------------------------------------
def tiny_model(**sampler) -> ScoreSDEGenerator:
    torch.manual_seed(0)
    config = ScoreSDEConfig(dataset="tiny_mol", kind="molecule", vocab="qm9", max_nodes=5, num_node_features=4,
                            sde_x=SDEConfig("ve", 0.1, 1.0, 20), sde_adj=SDEConfig("ve", 0.1, 1.0, 20),
                            net_x=ScoreNetworkXConfig(depth=2, hidden=8),
                            net_adj=ScoreNetworkAConfig(num_layers=2, hidden=8, attn=8, heads=2, c_hid=3, c_final=2),
                            sampler=SamplerConfig(**sampler))
    model = ScoreSDEGenerator(config)
    model.set_node_distribution(torch.tensor([2, 3, 4, 5]))
    return model


@pytest.mark.parametrize("which,per_step", [("ode", 2), ("ode_euler", 1), ("ode_dpm2", 2)])
def test_steps_and_sampler_reach_the_ode_sampler(which, per_step):
    """``sample(sampler=..., steps=K)``: K solver steps on GDSS's grid, plus the denoising evaluation."""
    from graphgen.generate.base import SampleStats

    model = tiny_model(num_steps=50)
    for steps in (3, 7):
        stats = SampleStats()
        seen = []
        graphs = model.sample(4, generator=torch.Generator().manual_seed(0), sampler=which, steps=steps,
                              callback=lambda e: (stats(e), seen.append(e)))
        assert len(graphs) == 4
        assert stats.evaluations_per_graph == per_step * steps + 1
        times = [float(e["t"]) for e in seen if e["kind"] == "step"]
        torch.testing.assert_close(torch.tensor(times), linear_timesteps(steps, eps=1e-4)[:-1])
    stats = SampleStats()
    model.sample(2, sampler=which, steps=3, denoise=False, callback=stats)
    assert stats.evaluations_per_graph == per_step * 3


def test_ode_sampler_from_the_config_and_same_seed_same_graphs():
    model = tiny_model(method="ode", num_steps=4)
    a, b = (model.sample(5, generator=torch.Generator().manual_seed(9)) for _ in range(2))
    assert [(g.num_nodes, g.x.tolist(), g.edge_index.tolist()) for g in a] == \
        [(g.num_nodes, g.x.tolist(), g.edge_index.tolist()) for g in b]


def test_graphgen_sample_steps_and_sampler_flags_reach_the_ode_sampler(tmp_path, capsys):
    from graphgen.cli import main

    tiny_model().save_pretrained(tmp_path / "m")
    out = tmp_path / "s.smi"
    assert main(["sample", str(tmp_path / "m"), "-n", "3", "-o", str(out), "--no-progress", "--no-metrics",
                 "--threads", "1", "--sampler", "ode", "--steps", "4"]) == 0
    # Heun: 2 evaluations x 4 steps + 1 denoising evaluation
    assert re.search(r"network evaluations / graph +9\.0\n", capsys.readouterr().out)
