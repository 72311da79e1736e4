"""Forward SDEs (VP, sub-VP, VE) and their reverse-time processes.

Song et al., "Score-Based Generative Modeling through Stochastic Differential Equations" (ICLR 2021), Sec. 3 and
App. B; used per component (node features X, adjacency A) by GDSS (Jo et al., ICML 2022). A process is a small
interface: ``sde(x, t) -> (drift, diffusion)``, ``marginal_prob(x, t) -> (mean, std)``, ``prior_sampling``,
``discretize`` (one forward step of size ``h``), ``linear_transition`` (the exactly solvable linear part of the reverse
step, used by the S4 solver), ``langevin_alpha`` (the step-size factor of the Langevin corrector) and
``score_from_output`` (how a network output becomes a score). ``reverse(score)`` derives the reverse SDE.

Time ``t`` is a tensor of shape ``[B]`` (one time per graph); coefficients are broadcast to the state's rank by
:func:`append_dims`, so X ``[B, N, F]`` and A ``[B, N, N]`` (or ``[B, C, N, N]``) use the same code.
"""
from __future__ import annotations

import abc
import dataclasses
import math
from typing import Callable

import torch
from torch import Tensor


def append_dims(v: Tensor, ndim: int) -> Tensor:
    """Append trailing singleton dims so a per-graph ``[B]`` tensor broadcasts against a rank-``ndim`` state."""
    if v.dim() > ndim:
        raise ValueError(f"cannot broadcast a rank-{v.dim()} tensor to rank {ndim}")
    return v.reshape(*v.shape, *([1] * (ndim - v.dim())))


class SDE(abc.ABC):
    """Itô SDE ``dx = f(x, t) dt + g(t) dw`` on ``t in [0, T]``.

    Args:
        num_scales: number of discretisation steps the process was designed for (``N``; the default step count).
    """

    T: float = 1.0

    def __init__(self, num_scales: int = 1000) -> None:
        self.N = int(num_scales)

    @abc.abstractmethod
    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Drift ``f(x, t)`` (shape of ``x``) and diffusion ``g(t)`` (shape ``[B]``)."""

    @abc.abstractmethod
    def marginal_prob(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean (shape of ``x0``) and std (shape ``[B]``) of ``p_t(x | x0)``."""

    def prior_std(self) -> float:
        """Std of the prior ``p_T`` used by :meth:`prior_sampling` (zero mean)."""
        return 1.0

    def discretize(self, x: Tensor, t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """One forward step ``x_t = x_{t-h} + f + G z``: returns ``(f, G)`` (Euler–Maruyama by default)."""
        drift, diffusion = self.sde(x, t)
        return drift * append_dims(h, x.dim()), diffusion * h.sqrt()

    def linear_transition(self, x: Tensor, t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and std of the reverse-time *linear* sub-process ``dx = f(x, t) dt + g(t) dw̄`` run from ``t`` to
        ``t - h`` (first-order by default; VP and VE override with the exact solution)."""
        drift, diffusion = self.sde(x, t)
        return x - drift * append_dims(h, x.dim()), diffusion * h.sqrt()

    def langevin_alpha(self, t: Tensor, h: Tensor) -> Tensor:
        """Step-size factor of the Langevin corrector (``alpha_i`` of Song et al., Alg. 4); 1 unless overridden."""
        return torch.ones_like(t)

    def score_from_output(self, output: Tensor, t: Tensor) -> Tensor:
        """Network output -> score. Default: the network predicts ``-std * score`` (noise), so divide by ``-std``."""
        _, std = self.marginal_prob(torch.zeros_like(t), t)
        return -output / append_dims(std, output.dim())

    def reverse(self, score_fn: Callable[[Tensor, Tensor], Tensor], probability_flow: bool = False) -> "ReverseSDE":
        return ReverseSDE(self, score_fn, probability_flow)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class ReverseSDE:
    """Reverse-time SDE ``dx = [f - g² ∇log p_t] dt + g dw̄`` (or, with ``probability_flow``, the ODE with half the
    score term and no noise), derived from a forward :class:`SDE` and a score function ``score_fn(x, t)``."""

    def __init__(self, forward: SDE, score_fn: Callable[[Tensor, Tensor], Tensor], probability_flow: bool = False):
        self.forward, self.score_fn, self.probability_flow = forward, score_fn, probability_flow
        self.N, self.T = forward.N, forward.T

    def _scale(self) -> float:
        return 0.5 if self.probability_flow else 1.0

    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        drift, diffusion = self.forward.sde(x, t)
        score = self.score_fn(x, t)
        drift = drift - append_dims(diffusion**2, x.dim()) * score * self._scale()
        return drift, torch.zeros_like(diffusion) if self.probability_flow else diffusion

    def discretize(self, x: Tensor, t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Reverse step ``x_{t-h} = x_t - f_rev + G_rev z`` (reverse diffusion, Song et al. Eq. 46)."""
        f, G = self.forward.discretize(x, t, h)
        rev_f = f - append_dims(G**2, x.dim()) * self.score_fn(x, t) * self._scale()
        return rev_f, torch.zeros_like(G) if self.probability_flow else G


class VPSDE(SDE):
    """Variance-preserving SDE: ``dx = -½ β(t) x dt + √β(t) dw`` with ``β(t) = β_min + t (β_max - β_min)``.

    ``p_t(x|x0) = N(x0 e^{-½B(t)}, 1 - e^{-B(t)})`` with ``B(t) = ∫_0^t β``. Prior: ``N(0, I)``.
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, num_scales: int = 1000) -> None:
        super().__init__(num_scales)
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)

    def beta(self, t: Tensor) -> Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def int_beta(self, t: Tensor) -> Tensor:
        """``B(t) = ∫_0^t β(s) ds``."""
        return self.beta_min * t + 0.5 * t**2 * (self.beta_max - self.beta_min)

    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        beta = self.beta(t)
        return -0.5 * append_dims(beta, x.dim()) * x, beta.sqrt()

    def marginal_prob(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        log_mean = -0.5 * self.int_beta(t)
        return append_dims(log_mean.exp(), x0.dim()) * x0, (-torch.expm1(2.0 * log_mean)).sqrt()

    def _step_alpha(self, t: Tensor, h: Tensor) -> Tensor:
        """``α = exp(-∫_{t-h}^t β)``: the per-step signal retention (``1 - β_i`` of DDPM)."""
        return torch.exp(-(self.int_beta(t) - self.int_beta(t - h)))

    def discretize(self, x: Tensor, t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        alpha = self._step_alpha(t, h)  # x_t = √α x_{t-h} + √(1-α) z, exact for the VP process
        return append_dims(alpha.sqrt() - 1.0, x.dim()) * x, (1.0 - alpha).sqrt()

    def linear_transition(self, x: Tensor, t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        # reverse-time OU: d x = -½βx dt + √β dw̄ with dt < 0, i.e. forward in τ = -t: dx = +½βx dτ + √β dw,
        # whose exact solution over the step has mean e^{a} x and variance e^{2a} - 1, a = ½∫_{t-h}^t β.
        a = 0.5 * (self.int_beta(t) - self.int_beta(t - h))
        return append_dims(a.exp(), x.dim()) * x, torch.expm1(2.0 * a).sqrt()

    def langevin_alpha(self, t: Tensor, h: Tensor) -> Tensor:
        return self._step_alpha(t, h)


class SubVPSDE(VPSDE):
    """Sub-VP SDE: ``dx = -½ β(t) x dt + √(β(t) (1 - e^{-2B(t)})) dw``; ``p_t = N(x0 e^{-½B}, (1 - e^{-B})²)``."""

    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        beta = self.beta(t)
        return -0.5 * append_dims(beta, x.dim()) * x, (beta * -torch.expm1(-2.0 * self.int_beta(t))).sqrt()

    def marginal_prob(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        B = self.int_beta(t)
        return append_dims(torch.exp(-0.5 * B), x0.dim()) * x0, -torch.expm1(-B)

    def discretize(self, x: Tensor, t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        return SDE.discretize(self, x, t, h)

    def linear_transition(self, x: Tensor, t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        # exact mean; variance e^{2a} - 1 of the VP case scaled by the sub-VP factor at the step midpoint
        a = 0.5 * (self.int_beta(t) - self.int_beta(t - h))
        factor = -torch.expm1(-2.0 * self.int_beta(t - 0.5 * h))
        return append_dims(a.exp(), x.dim()) * x, (torch.expm1(2.0 * a) * factor).sqrt()

    def langevin_alpha(self, t: Tensor, h: Tensor) -> Tensor:
        return torch.ones_like(t)


class VESDE(SDE):
    """Variance-exploding SDE: ``dx = √(d σ²(t)/dt) dw`` with ``σ(t) = σ_min (σ_max/σ_min)^t``.

    ``p_t(x|x0) = N(x0, σ(t)²)`` (the ``σ_min²`` offset at ``t = 0`` is ignored, as in Song et al.). Prior
    ``N(0, σ_max²)``. The network output is the score itself (GDSS's convention for VE).
    """

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, num_scales: int = 1000) -> None:
        super().__init__(num_scales)
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        diffusion = self.sigma(t) * math.sqrt(2.0 * math.log(self.sigma_max / self.sigma_min))
        return torch.zeros_like(x), diffusion

    def marginal_prob(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        return x0, self.sigma(t)

    def prior_std(self) -> float:
        return self.sigma_max

    def discretize(self, x: Tensor, t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        var = self.sigma(t) ** 2 - self.sigma(t - h) ** 2  # exact increment of the variance over the step
        return torch.zeros_like(x), var.clamp_min(0.0).sqrt()

    def linear_transition(self, x: Tensor, t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        return x, (self.sigma(t) ** 2 - self.sigma(t - h) ** 2).clamp_min(0.0).sqrt()

    def score_from_output(self, output: Tensor, t: Tensor) -> Tensor:
        return output


@dataclasses.dataclass
class SDEConfig:
    """One component's process. ``kind``: "vp", "subvp" or "ve". For VP/sub-VP, ``beta_min``/``beta_max`` are
    β(0)/β(1); for VE they are σ_min/σ_max (GDSS's config convention, which reuses the two names)."""

    kind: str = "vp"
    beta_min: float = 0.1
    beta_max: float = 1.0
    num_scales: int = 1000


SDES: dict[str, type[SDE]] = {"vp": VPSDE, "subvp": SubVPSDE, "ve": VESDE}


def build_sde(cfg: SDEConfig) -> SDE:
    """The one place a process name becomes an object."""
    kind = cfg.kind.lower().replace("-", "").replace("_", "")
    if kind not in SDES:
        raise ValueError(f"SDEConfig.kind must be one of {sorted(SDES)}, got '{cfg.kind}'")
    return SDES[kind](cfg.beta_min, cfg.beta_max, cfg.num_scales)
