"""EDM diffusion (Karras et al., NeurIPS 2022): noise levels, preconditioning, loss weight and the deterministic /
stochastic Heun and Euler samplers, on any tensors.

With data standard deviation ``sigma_data`` and noise level ``sigma``, the denoiser is
``D(x; sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x; c_noise(sigma))`` with

- ``c_skip = sigma_data^2 / (sigma^2 + sigma_data^2)``, ``c_out = sigma sigma_data / sqrt(sigma^2 + sigma_data^2)``,
- ``c_in = 1 / sqrt(sigma^2 + sigma_data^2)``, ``c_noise = ln(sigma) / 4``;

training draws ``ln sigma ~ N(P_mean, P_std^2)`` and weights the squared error by
``lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2`` (EDM Table 1). Sampling uses the noise levels
``sigma_i = (sigma_max^(1/rho) + i / (K - 1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho`` for ``i < K`` and
``sigma_K = 0``; Heun's method (EDM Algorithm 1/2) costs ``2K - 1`` denoiser evaluations, Euler ``K``. ``churn > 0``
adds EDM's stochastic noise injection (``S_churn``; ``S_tmin = 0``, ``S_tmax = inf``, ``S_noise = 1``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

SAMPLERS = ("heun", "euler")


@dataclass
class EDMConfig:
    """EDM's hyper-parameters (the paper's defaults) and the default sampler."""

    sigma_data: float = 0.5
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    p_mean: float = -1.2
    p_std: float = 1.2
    steps: int = 256
    sampler: str = "heun"
    churn: float = 0.0

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")


def preconditioning(sigma: Tensor, sigma_data: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(c_skip, c_out, c_in, c_noise)`` for noise levels ``sigma`` (any shape)."""
    s2 = sigma ** 2 + sigma_data ** 2
    return sigma_data ** 2 / s2, sigma * sigma_data / s2.sqrt(), 1 / s2.sqrt(), sigma.log() / 4


def loss_weight(sigma: Tensor, sigma_data: float) -> Tensor:
    """``lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2``."""
    return (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2


def training_sigmas(n: int, cfg: EDMConfig, generator: torch.Generator | None = None) -> Tensor:
    """``n`` noise levels with ``ln sigma ~ N(P_mean, P_std^2)``."""
    return (torch.randn(n, generator=generator) * cfg.p_std + cfg.p_mean).exp()


def sampling_sigmas(steps: int, cfg: EDMConfig) -> Tensor:
    """The ``steps + 1`` noise levels of the sampler, from ``sigma_max`` down to ``sigma_min``, then 0 (float64)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if steps == 1:
        return torch.tensor([cfg.sigma_max, 0.0], dtype=torch.float64)
    i = torch.arange(steps, dtype=torch.float64)
    hi, lo = cfg.sigma_max ** (1 / cfg.rho), cfg.sigma_min ** (1 / cfg.rho)
    return torch.cat([(hi + i / (steps - 1) * (lo - hi)) ** cfg.rho, torch.zeros(1, dtype=torch.float64)])


def evaluations(steps: int, sampler: str) -> int:
    """Denoiser evaluations of one sampling run (Heun skips its correction on the last step to sigma = 0)."""
    return 2 * steps - 1 if sampler == "heun" else steps


def sample_loop(denoise: Callable[[list[Tensor], float], list[Tensor]], x: list[Tensor], steps: int, cfg: EDMConfig,
                *, sampler: str, churn: float, generator: torch.Generator | None,
                after_step: Callable[[list[Tensor], float], list[Tensor]] | None = None,
                on_step: Callable[[int], None] | None = None) -> list[Tensor]:
    """Integrate the probability-flow ODE (EDM Algorithm 2 with ``churn``) for a list of tensors at once.

    Args:
        denoise: ``(xs, sigma) -> D(xs; sigma)``, one call per evaluation, on the list of state tensors.
        x: initial states drawn from ``N(0, I)`` (scaled here by ``sigma_max``).
        after_step: ``(xs, sigma) -> xs`` applied after each step at the new noise level (inpainting by replacement).
        on_step: called with the step index after each step.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    sigmas = sampling_sigmas(steps, cfg)
    xs = [v * float(sigmas[0]) for v in x]
    gamma_max = min(churn / steps, math.sqrt(2) - 1) if churn > 0 else 0.0
    for i in range(steps):
        s_cur, s_next = float(sigmas[i]), float(sigmas[i + 1])
        if gamma_max > 0:  # raise the noise level to s_hat by adding fresh noise
            s_hat = s_cur * (1 + gamma_max)
            xs = [v + math.sqrt(s_hat ** 2 - s_cur ** 2) * torch.randn(v.shape, generator=generator, dtype=v.dtype)
                  for v in xs]
            s_cur = s_hat
        d_cur = [(v - dv) / s_cur for v, dv in zip(xs, denoise(xs, s_cur))]
        nxt = [v + (s_next - s_cur) * d for v, d in zip(xs, d_cur)]
        if sampler == "heun" and s_next > 0:
            d_next = [(v - dv) / s_next for v, dv in zip(nxt, denoise(nxt, s_next))]
            nxt = [v + (s_next - s_cur) * (a + b) / 2 for v, a, b in zip(xs, d_cur, d_next)]
        xs = after_step(nxt, s_next) if after_step is not None else nxt
        if on_step is not None:
            on_step(i)
    return xs
