"""Samplers for the joint reverse diffusion of node features X and adjacency A.

Every sampler is a plain no-grad function with one signature (k-diffusion's habit), so the model picks one from
:data:`SAMPLERS` by name and calls it the same way::

    sampler(score_x, score_adj, x, adj, mask, timesteps, *, sde_x, sde_adj, predictor=None, corrector=None,
            generator=None, callback=None, denoise=True) -> (x, adj)

- ``score_x``/``score_adj``: ``(x, adj, mask, t) -> score`` of one component at the joint state;
- ``x [B, N, F]``, ``adj [B, N, N]``: the prior draw (see :func:`prior_sample`); ``mask [B, N]`` bool;
- ``timesteps``: a descending schedule ``t_0 = T > ... > t_K = eps`` (:func:`linear_timesteps`); K steps are taken
  and step ``i`` moves from ``t_i`` to ``t_{i+1}``;
- ``predictor``/``corrector``: objects from :data:`PREDICTORS` / :data:`CORRECTORS` (``None``: the sampler's
  default); each sampler's docstring says which of the two it uses;
- ``generator``: the only source of randomness; ``callback(dict)`` receives the sampling events of
  ``graphgen.generate.base``: ``{"kind": "evaluation", "num_graphs": B, "step": i}`` after every joint evaluation of
  the two score networks (one network pass over each of the B graphs), and ``{"kind": "step", "step": i, "t", "x",
  "adj", "x_mean", "adj_mean"}`` after every step;
- returns the final state (denoised when ``denoise=True``: the noise-free mean of the last step).

Samplers: :func:`pc_sampler` (predictor-corrector, Song et al. 2021 Alg. 2-4; with a reverse-diffusion predictor and
Langevin corrector this is GDSS's "Reverse + Langevin"), :func:`euler_maruyama_sampler` (PC with the Euler-Maruyama
predictor and no corrector), :func:`s4_sampler` (GDSS's Symmetric Splitting for the System of SDEs, Sec. 3.3), and
:func:`probability_flow_sampler` (the deterministic probability-flow ODE, for few-step sampling) with one of the ODE
steps :func:`heun_step` (default), :func:`euler_step` or :func:`dpm_solver2_step`.
"""
from __future__ import annotations

import abc
import functools
from typing import Callable

import torch
from torch import Tensor

from graphgen.generate.sde.sde import SDE, ReverseSDE, append_dims
from graphgen.generate.sde.utils import mask_adj, mask_x, noise_like

ScoreFn = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]
Callback = Callable[[dict], None]
# one joint evaluation of both score networks: (x, adj, t) -> (score_x, score_adj)
JointScoreFn = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]


# -- schedule --------------------------------------------------------------------------------------------------
def linear_timesteps(num_steps: int, *, T: float = 1.0, eps: float = 1e-3, device=None) -> Tensor:
    """``num_steps + 1`` equally spaced times from ``T`` down to ``eps`` (``num_steps`` sampler steps)."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    return torch.linspace(T, eps, num_steps + 1, device=device)


def prior_sample(mask: Tensor, num_features: int, sde_x: SDE, sde_adj: SDE, *,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Draw ``X_T [B, N, F]`` and symmetric ``A_T [B, N, N]`` (zero diagonal) from the priors, zero on padding."""
    B, N = mask.shape
    x = noise_like(torch.empty(B, N, num_features, device=mask.device), mask, symmetric=False, generator=generator)
    adj = noise_like(torch.empty(B, N, N, device=mask.device), mask, symmetric=True, generator=generator)
    return x * sde_x.prior_std(), adj * sde_adj.prior_std()


# -- predictors ------------------------------------------------------------------------------------------------
class Predictor(abc.ABC):
    """One reverse step of a component from ``t`` to ``t - h``: ``update(rsde, x, t, h, noise) -> (x, x_mean)``."""

    @abc.abstractmethod
    def update(self, rsde: ReverseSDE, x: Tensor, t: Tensor, h: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
        ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class EulerMaruyamaPredictor(Predictor):
    """``x_mean = x - f_rev(x, t) h``, ``x = x_mean + g(t) √h z`` (reverse SDE, time running backwards)."""

    def update(self, rsde, x, t, h, noise):
        drift, diffusion = rsde.sde(x, t)
        x_mean = x - drift * append_dims(h, x.dim())
        return x_mean + append_dims(diffusion * h.sqrt(), x.dim()) * noise, x_mean


class ReverseDiffusionPredictor(Predictor):
    """Reverse diffusion (Song et al. Eq. 46): the forward discretisation ``(f, G)`` run backwards,
    ``x_mean = x - f + G² s``, ``x = x_mean + G z``."""

    def update(self, rsde, x, t, h, noise):
        rev_f, G = rsde.discretize(x, t, h)
        x_mean = x - rev_f
        return x_mean + append_dims(G, x.dim()) * noise, x_mean


class NonePredictor(Predictor):
    """No predictor (corrector-only sampling)."""

    def update(self, rsde, x, t, h, noise):
        return x, x


# -- correctors ------------------------------------------------------------------------------------------------
class Corrector(abc.ABC):
    """``n_steps`` Langevin-type refinements at fixed ``t``; one step: ``update(sde, x, score, t, h, noise)``."""

    n_steps: int = 0

    @abc.abstractmethod
    def update(self, sde: SDE, x: Tensor, score: Tensor, t: Tensor, h: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
        ...


class LangevinCorrector(Corrector):
    """Annealed Langevin step (Song et al. Alg. 4) with GDSS's noise scale ``scale_eps``:

    ``ε = 2 α (snr ‖z‖ / ‖s‖)²``, ``x_mean = x + ε s``, ``x = x_mean + √(2ε) · scale_eps · z``

    (norms per graph, averaged over the batch; ``α`` from ``SDE.langevin_alpha``).
    """

    def __init__(self, snr: float = 0.2, scale_eps: float = 0.7, n_steps: int = 1) -> None:
        self.snr, self.scale_eps, self.n_steps = snr, scale_eps, n_steps

    def update(self, sde, x, score, t, h, noise):
        B = x.shape[0]
        grad_norm = score.reshape(B, -1).norm(dim=-1).mean()
        noise_norm = noise.reshape(B, -1).norm(dim=-1).mean()
        step = (self.snr * noise_norm / grad_norm.clamp_min(1e-12)) ** 2 * 2.0 * sde.langevin_alpha(t, h)
        step = append_dims(step, x.dim())
        x_mean = x + step * score
        return x_mean + (2.0 * step).sqrt() * noise * self.scale_eps, x_mean

    def __repr__(self) -> str:
        return f"{type(self).__name__}(snr={self.snr}, scale_eps={self.scale_eps}, n_steps={self.n_steps})"


class NoneCorrector(Corrector):
    """No corrector (predictor-only sampling)."""

    n_steps = 0

    def update(self, sde, x, score, t, h, noise):
        return x, x

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# -- samplers --------------------------------------------------------------------------------------------------
def _evaluated(callback: Callback | None, num_graphs: int, step: int) -> None:
    """Report one joint evaluation of the score networks over ``num_graphs`` graphs."""
    if callback is not None:
        callback({"kind": "evaluation", "num_graphs": num_graphs, "step": step})


def _stepped(callback: Callback | None, step: int, t: Tensor, x: Tensor, adj: Tensor, x_mean: Tensor,
             adj_mean: Tensor) -> None:
    if callback is not None:
        callback({"kind": "step", "step": step, "t": t, "x": x, "adj": adj, "x_mean": x_mean, "adj_mean": adj_mean})


@torch.no_grad()
def pc_sampler(score_x: ScoreFn, score_adj: ScoreFn, x: Tensor, adj: Tensor, mask: Tensor, timesteps: Tensor, *,
               sde_x: SDE, sde_adj: SDE, predictor: Predictor | None = None, corrector: Corrector | None = None,
               generator: torch.Generator | None = None, callback: Callback | None = None,
               denoise: bool = True) -> tuple[Tensor, Tensor]:
    """Predictor-corrector sampling of the joint reverse SDE (Song et al. Alg. 1; GDSS Alg. 1).

    Per step: ``corrector.n_steps`` corrector updates, then one predictor update; each update evaluates both
    networks at the current joint state and moves X and A simultaneously. Defaults: reverse-diffusion predictor,
    no corrector.
    """
    predictor = ReverseDiffusionPredictor() if predictor is None else predictor
    corrector = NoneCorrector() if corrector is None else corrector
    B = x.shape[0]
    x_mean, adj_mean = x, adj
    for i in range(len(timesteps) - 1):
        t = timesteps[i].expand(B)
        h = (timesteps[i] - timesteps[i + 1]).expand(B)
        for _ in range(corrector.n_steps):
            s_x, s_a = score_x(x, adj, mask, t), score_adj(x, adj, mask, t)
            _evaluated(callback, B, i)
            x, x_mean = corrector.update(sde_x, x, s_x, t, h, noise_like(x, mask, symmetric=False, generator=generator))
            adj, adj_mean = corrector.update(sde_adj, adj, s_a, t, h,
                                             noise_like(adj, mask, symmetric=True, generator=generator))
        if not isinstance(predictor, NonePredictor):
            x_now, adj_now = x, adj
            rsde_x = sde_x.reverse(lambda x_, t_: score_x(x_, adj_now, mask, t_))
            rsde_a = sde_adj.reverse(lambda a_, t_: score_adj(x_now, a_, mask, t_))
            x, x_mean = predictor.update(rsde_x, x_now, t, h, noise_like(x, mask, symmetric=False, generator=generator))
            adj, adj_mean = predictor.update(rsde_a, adj_now, t, h,
                                             noise_like(adj, mask, symmetric=True, generator=generator))
            _evaluated(callback, B, i)
        x, adj = mask_x(x, mask), mask_adj(adj, mask)
        _stepped(callback, i, timesteps[i], x, adj, x_mean, adj_mean)
    if denoise:
        return mask_x(x_mean, mask), mask_adj(adj_mean, mask)
    return x, adj


@torch.no_grad()
def euler_maruyama_sampler(score_x: ScoreFn, score_adj: ScoreFn, x: Tensor, adj: Tensor, mask: Tensor,
                           timesteps: Tensor, *, sde_x: SDE, sde_adj: SDE, predictor: Predictor | None = None,
                           corrector: Corrector | None = None, generator: torch.Generator | None = None,
                           callback: Callback | None = None, denoise: bool = True) -> tuple[Tensor, Tensor]:
    """Euler–Maruyama on the joint reverse SDE (one evaluation of each network per step).

    The method fixes both parts (Euler–Maruyama predictor, no corrector), so ``predictor`` and ``corrector`` are not
    used; they are in the signature only because every sampler shares it.
    """
    return pc_sampler(score_x, score_adj, x, adj, mask, timesteps, sde_x=sde_x, sde_adj=sde_adj,
                      predictor=EulerMaruyamaPredictor(), corrector=NoneCorrector(), generator=generator,
                      callback=callback, denoise=denoise)


@torch.no_grad()
def s4_sampler(score_x: ScoreFn, score_adj: ScoreFn, x: Tensor, adj: Tensor, mask: Tensor, timesteps: Tensor, *,
               sde_x: SDE, sde_adj: SDE, predictor: Predictor | None = None, corrector: Corrector | None = None,
               generator: torch.Generator | None = None, callback: Callback | None = None,
               denoise: bool = True) -> tuple[Tensor, Tensor]:
    """S4: Symmetric Splitting for the System of SDEs (GDSS Sec. 3.3), one evaluation of each network per step.

    With the scores ``s = s_θ(X_t, A_t, t)`` evaluated once, each component is

    1. corrected by one ``corrector`` update using ``s`` (default and GDSS: :class:`LangevinCorrector`; skipped for
       a corrector with ``n_steps == 0``, i.e. :class:`NoneCorrector`);
    2. predicted by a Strang splitting of the reverse SDE ``dx = [f - g² s] dt + g dw̄`` into its linear part
       ``L: dx = f dt + g dw̄`` (solved by ``SDE.linear_transition``, exactly for VP and VE) and its score part
       ``S: dx = -g² s dt``: ``L(h/2) ∘ S(h) ∘ L(h/2)``. The noise-free mean is the last half-step's mean.
       The splitting is S4's predictor, so ``predictor`` is not used (it is in the shared signature).

    (Our reading of the paper's description; the original code is not reproduced.)
    """
    corrector = LangevinCorrector() if corrector is None else corrector
    B = x.shape[0]
    x_mean, adj_mean = x, adj
    for i in range(len(timesteps) - 1):
        t = timesteps[i].expand(B)
        h = (timesteps[i] - timesteps[i + 1]).expand(B)
        s_x, s_a = score_x(x, adj, mask, t), score_adj(x, adj, mask, t)
        _evaluated(callback, B, i)
        new = []
        for sde, state, score, sym in ((sde_x, x, s_x, False), (sde_adj, adj, s_a, True)):
            def noise():
                return noise_like(state, mask, symmetric=sym, generator=generator)
            if corrector.n_steps > 0:
                state, _ = corrector.update(sde, state, score, t, h, noise())
            mean, std = sde.linear_transition(state, t, 0.5 * h)
            state = mean + append_dims(std, state.dim()) * noise()
            g = sde.sde(state, t)[1]
            state = state + append_dims(g**2 * h, state.dim()) * score
            mean, std = sde.linear_transition(state, t - 0.5 * h, 0.5 * h)
            new.append((mean + append_dims(std, state.dim()) * noise(), mean))
        (x, x_mean), (adj, adj_mean) = new
        x, adj = mask_x(x, mask), mask_adj(adj, mask)
        _stepped(callback, i, timesteps[i], x, adj, x_mean, adj_mean)
    if denoise:
        return mask_x(x_mean, mask), mask_adj(adj_mean, mask)
    return x, adj


# -- probability-flow ODE ------------------------------------------------------------------------------------------
# An ODE step moves the joint state (X, A) from time t to t_next < t (both [B]) and returns the new state; it calls
# ``scores`` (one joint evaluation of the two networks per call) as often as its order needs.
OdeStep = Callable[[JointScoreFn, tuple[SDE, SDE], tuple[Tensor, Tensor], Tensor, Tensor], tuple[Tensor, Tensor]]


def flow_velocity(sde: SDE, state: Tensor, score: Tensor, t: Tensor) -> Tensor:
    """``dx/dt = f(x, t) - ½ g(t)² s`` of the probability-flow ODE (Song et al. 2021, Eq. 13), for a score ``s``
    already evaluated at ``(x, t)``; derived from the process by :meth:`SDE.reverse`."""
    velocity, _ = sde.reverse(lambda x_, t_: score, probability_flow=True).sde(state, t)
    return velocity


def _scaled(v: Tensor, by: Tensor) -> Tensor:
    """``v`` times the per-graph factor ``by [B]``."""
    return append_dims(by, v.dim()) * v


def _signal_and_noise(sde: SDE, t: Tensor) -> tuple[Tensor, Tensor]:
    """``(α_t, σ_t)`` [B] of the marginal ``x_t = α_t x_0 + σ_t ε`` (``SDE.marginal_prob``)."""
    alpha, sigma = sde.marginal_prob(torch.ones_like(t), t)
    return alpha, sigma


def _log_snr(sde: SDE, t: Tensor) -> Tensor:
    """``λ_t = log(α_t / σ_t)`` [B], the time variable of DPM-Solver."""
    alpha, sigma = _signal_and_noise(sde, t)
    return torch.log(alpha / sigma)


def _noise_prediction(sde: SDE, score: Tensor, t: Tensor) -> Tensor:
    """``ε̂ = -σ_t s``: the noise a score implies."""
    return -_scaled(score, _signal_and_noise(sde, t)[1])


def _exponential_euler(sde: SDE, y: Tensor, eps: Tensor, t: Tensor, t_to: Tensor) -> Tensor:
    """``(α_to/α_t) y - σ_to (e^h - 1) ε`` with ``h = λ_to - λ_t``: the exact ODE solution for a constant ``ε``
    (DPM-Solver-1, i.e. DDIM)."""
    (a_t, _), (a_to, sig_to) = _signal_and_noise(sde, t), _signal_and_noise(sde, t_to)
    h = _log_snr(sde, t_to) - _log_snr(sde, t)
    return _scaled(y, a_to / a_t) - _scaled(eps, sig_to * torch.expm1(h))


def euler_step(scores: JointScoreFn, sdes: tuple[SDE, SDE], states: tuple[Tensor, Tensor], t: Tensor,
               t_next: Tensor) -> tuple[Tensor, Tensor]:
    """First-order step ``y + (t_next - t) v(y, t)``; one evaluation."""
    s = scores(*states, t)
    return tuple(y + _scaled(flow_velocity(sde, y, s_y, t), t_next - t) for sde, y, s_y in zip(sdes, states, s))


def heun_step(scores: JointScoreFn, sdes: tuple[SDE, SDE], states: tuple[Tensor, Tensor], t: Tensor,
              t_next: Tensor) -> tuple[Tensor, Tensor]:
    """Heun's second-order step (explicit trapezoid): an Euler guess ``ŷ = y + h v(y, t)``, then
    ``y + h (v(y, t) + v(ŷ, t_next)) / 2`` with ``h = t_next - t``; two evaluations."""
    s = scores(*states, t)
    v1 = [flow_velocity(sde, y, s_y, t) for sde, y, s_y in zip(sdes, states, s)]
    guess = tuple(y + _scaled(v, t_next - t) for y, v in zip(states, v1))
    s = scores(*guess, t_next)
    v2 = [flow_velocity(sde, y, s_y, t_next) for sde, y, s_y in zip(sdes, guess, s)]
    return tuple(y + _scaled(0.5 * (a + b), t_next - t) for y, a, b in zip(states, v1, v2))


def dpm_solver2_step(scores: JointScoreFn, sdes: tuple[SDE, SDE], states: tuple[Tensor, Tensor], t: Tensor,
                     t_next: Tensor) -> tuple[Tensor, Tensor]:
    """DPM-Solver-2 (Lu et al., NeurIPS 2022, Alg. 1 with a free intermediate point): an exponential integrator that
    solves the linear part of the ODE exactly and is second order in the noise prediction ``ε̂ = -σ_t s``.

    With ``λ = log(α/σ)`` (``SDE.marginal_prob``), ``h = λ_next - λ_t``, the intermediate time ``u`` at the middle
    of the step in ``t`` and ``r = (λ_u - λ_t) / h``::

        y_u    = (α_u/α_t) y - σ_u (e^{r h} - 1) ε̂(y, t)
        y_next = (α_next/α_t) y - σ_next (e^h - 1) [ε̂(y, t) + (ε̂(y_u, u) - ε̂(y, t)) / (2r)]

    Two evaluations. Any process with Gaussian marginals (VP, sub-VP, VE) has this form; for VE (``α = 1``) the first
    line is Euler in ``σ`` (DDIM). The method is made for steps of equal size in ``λ``: on GDSS's linear-t grid that
    holds for VE (``λ = -log σ(t)`` is linear in t), but a steep VP process (``β_max = 20``) gets its largest ``λ``
    steps near ``eps``, where Heun is the more accurate of the two at equal steps (tests/generate/test_sde_ode.py).
    """
    t_mid = 0.5 * (t + t_next)
    s_t = scores(*states, t)
    mids = tuple(_exponential_euler(sde, y, _noise_prediction(sde, s_y, t), t, t_mid)
                 for sde, y, s_y in zip(sdes, states, s_t))
    s_u = scores(*mids, t_mid)
    out = []
    for sde, y, s_y, s_mid in zip(sdes, states, s_t, s_u):
        eps_t, eps_u = _noise_prediction(sde, s_y, t), _noise_prediction(sde, s_mid, t_mid)
        lam_t = _log_snr(sde, t)
        r = (_log_snr(sde, t_mid) - lam_t) / (_log_snr(sde, t_next) - lam_t)
        out.append(_exponential_euler(sde, y, eps_t + _scaled(eps_u - eps_t, 0.5 / r), t, t_next))
    return tuple(out)


def tweedie_denoise(sde: SDE, state: Tensor, score: Tensor, t: Tensor) -> Tensor:
    """``E[x_0 | x_t] = (x_t + σ_t² s) / α_t`` (Tweedie's formula, Efron 2011) for the marginal of ``sde``."""
    alpha, sigma = _signal_and_noise(sde, t)
    return _scaled(state + _scaled(score, sigma**2), 1.0 / alpha)


@torch.no_grad()
def probability_flow_sampler(score_x: ScoreFn, score_adj: ScoreFn, x: Tensor, adj: Tensor, mask: Tensor,
                             timesteps: Tensor, *, sde_x: SDE, sde_adj: SDE, predictor: Predictor | None = None,
                             corrector: Corrector | None = None, generator: torch.Generator | None = None,
                             callback: Callback | None = None, denoise: bool = True,
                             solver: OdeStep = heun_step) -> tuple[Tensor, Tensor]:
    """Deterministic sampling: integrate the probability-flow ODE of the joint process (Song et al. 2021, Sec. 4.3)

    ``dX = [f_X(X, t) - ½ g_X(t)² s_X(X, A, t)] dt``,  ``dA = [f_A(A, t) - ½ g_A(t)² s_A(X, A, t)] dt``

    from ``t_0 = T`` down to ``t_K`` with ``solver`` (:func:`heun_step` by default, two evaluations per step;
    :func:`euler_step` one; :func:`dpm_solver2_step` two). Both components move together: every evaluation scores
    the joint state. The only randomness is the prior draw ``(x, adj)``; ``generator``, ``predictor`` and
    ``corrector`` are not used (they are in the shared signature).

    Time grid: whatever ``timesteps`` holds; :meth:`ScoreSDEGenerator.sample_dense` passes GDSS's, ``K + 1`` times
    equally spaced from ``T = 1`` to ``eps`` (``SamplerConfig.eps``, 1e-4), which for VE is geometric in ``σ``.

    Final denoising (``denoise=True``): one more evaluation at ``t_K`` and Tweedie's formula
    ``X̂_0 = (X + σ_X(t_K)² s_X) / α_X(t_K)`` (and the same for A), the posterior mean of the clean graph; the ODE
    leaves the noise of the marginal at ``t_K`` in place (``σ = σ_min`` for VE, 0.1 for GDSS's QM9 process). The
    evaluation is reported as step ``K``. ``denoise=False`` returns the state at ``t_K``.
    """
    B = x.shape[0]
    sdes = (sde_x, sde_adj)
    step = 0

    def scores(x_: Tensor, adj_: Tensor, t_: Tensor) -> tuple[Tensor, Tensor]:
        """One joint evaluation, reported under the loop's current ``step``."""
        out = score_x(x_, adj_, mask, t_), score_adj(x_, adj_, mask, t_)
        _evaluated(callback, B, step)
        return out

    for step in range(len(timesteps) - 1):
        t, t_next = timesteps[step].expand(B), timesteps[step + 1].expand(B)
        x, adj = solver(scores, sdes, (x, adj), t, t_next)
        x, adj = mask_x(x, mask), mask_adj(adj, mask)
        _stepped(callback, step, timesteps[step], x, adj, x, adj)
    if denoise:
        step = len(timesteps) - 1
        t_end = timesteps[-1].expand(B)
        s_x, s_a = scores(x, adj, t_end)
        x, adj = tweedie_denoise(sde_x, x, s_x, t_end), tweedie_denoise(sde_adj, adj, s_a, t_end)
    return mask_x(x, mask), mask_adj(adj, mask)


# The registries a user's sampler settings (SamplerConfig: method, predictor, corrector) name.
SAMPLERS: dict[str, Callable] = {
    "pc": pc_sampler, "em": euler_maruyama_sampler, "s4": s4_sampler,
    "ode": probability_flow_sampler,  # Heun
    "ode_euler": functools.partial(probability_flow_sampler, solver=euler_step),
    "ode_dpm2": functools.partial(probability_flow_sampler, solver=dpm_solver2_step),
}
PREDICTORS: dict[str, type[Predictor]] = {
    "reverse": ReverseDiffusionPredictor, "euler": EulerMaruyamaPredictor, "none": NonePredictor,
}
# every corrector is built from the same settings (snr, scale_eps, n_steps); "none" ignores them
CORRECTORS: dict[str, Callable[[float, float, int], Corrector]] = {
    "langevin": LangevinCorrector,
    "none": lambda snr, scale_eps, n_steps: NoneCorrector(),
}
