"""Discrete (categorical) diffusion used by PARD for each new block (Austin et al., D3PM; Vignac et al., DiGress).

A variable with ``K`` classes is noised by the Markov chain

    Q_t = alpha_t I + (1 - alpha_t) 1 m^T,        Qbar_t = Q_1 ... Q_t = abar_t I + (1 - abar_t) 1 m^T

(rows = previous state), where ``m`` is the uniform distribution (``noise="uniform"``) or the class marginal of the
training data (``noise="marginal"``), and ``abar_t`` follows the cosine schedule of Nichol & Dhariwal:
``abar_t = f(t)/f(0)``, ``f(t) = cos^2(pi/2 · (t/T + s)/(1 + s))``, ``alpha_t = abar_t / abar_{t-1}``; ``t = 1..T``.

Posterior (D3PM eq. 3):  q(x_{t-1} = k | x_t = j, x_0 = i) = Q_t[k, j] · Qbar_{t-1}[i, k] / Qbar_t[i, j].
Reverse step with a network prediction ``p(x_0 | x_t)``:  p(x_{t-1} | x_t) = sum_i p(x_0 = i | x_t) q(x_{t-1} | x_t, i).

Jumps (few-step sampling, no retraining). For ``s < t`` the ``t - s`` steps compose to one matrix of the same form,
because ``m^T 1 = 1``:  ``Q_{s+1} ... Q_t = (abar_t / abar_s) I + (1 - abar_t / abar_s) 1 m^T``. So the exact jump
posterior ``q(x_s | x_t, x_0) = Q_{s->t}[k, j] · Qbar_s[i, k] / Qbar_t[i, j]`` is the one-step formula with ``alpha_t``
replaced by ``abar_t / abar_s`` and ``abar_{t-1}`` by ``abar_s`` (:meth:`CategoricalDiffusion.posterior` with ``s``);
``s = t - 1`` is the one-step posterior, to the bit. :func:`jump_schedule` spaces ``K`` jumps over ``T..0``.
"""
from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

from graphgen.errors import InputError


def cosine_alpha_bar(num_steps: int, s: float = 0.008) -> Tensor:
    """``abar_t`` for ``t = 0..T`` (float64 ``[T+1]``, ``abar_0 = 1``, clamped to ``[0, 1]``)."""
    t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    return abar.clamp(min=0.0, max=1.0)


class CategoricalDiffusion(nn.Module):
    """Categorical forward process and its posterior for one kind of variable (node types or edge types).

    Args:
        num_classes: ``K``.
        num_steps: ``T``.
        limit: the limit distribution ``m`` ``[K]`` (uniform or data marginal); normalised here.

    Shapes: states are long tensors of any shape ``[*]``; time steps ``t`` are long tensors broadcastable to it with
    values ``1..T``; probabilities carry a trailing class dim ``[*, K]``.
    """

    def __init__(self, num_classes: int, num_steps: int, limit: Tensor) -> None:
        super().__init__()
        if limit.shape != (num_classes,):
            raise ValueError(f"limit must have shape [{num_classes}], got {tuple(limit.shape)}")
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        self.num_classes = num_classes
        self.num_steps = num_steps
        limit = limit.to(torch.float64).clamp(min=0)
        if float(limit.sum()) <= 0:
            raise ValueError("limit distribution sums to zero")
        abar = cosine_alpha_bar(num_steps)
        alpha = torch.ones_like(abar)
        alpha[1:] = (abar[1:] / abar[:-1].clamp(min=1e-12)).clamp(min=0.0, max=1.0)
        # abar_t / abar_s for every (t, s), in float64 like alpha (so [t, t-1] equals alpha[t] to the bit); jumps read
        # s < t only (s >= t clamps to 1)
        ratio = (abar.unsqueeze(1) / abar.unsqueeze(0).clamp(min=1e-12)).clamp(min=0.0, max=1.0)
        # the limit is data-derived (marginal noise), so it is saved with the weights; the schedule is rebuilt from T
        self.register_buffer("limit", (limit / limit.sum()).float())
        self.register_buffer("alpha_bar", abar.float(), persistent=False)
        self.register_buffer("alpha", alpha.float(), persistent=False)
        self.register_buffer("jump_alpha", ratio.float(), persistent=False)  # [T+1, T+1], row t, column s

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, num_steps={self.num_steps}"

    # -- transition matrices as probabilities ------------------------------------------------------------------
    def _mix(self, probs: Tensor, a: Tensor) -> Tensor:
        """``a · probs + (1 - a) · m`` with ``a`` of shape ``probs.shape[:-1]``."""
        a = a.unsqueeze(-1)
        return a * probs + (1 - a) * self.limit

    def q_xt_given_x0(self, x0: Tensor, t: Tensor) -> Tensor:
        """``q(x_t | x_0)`` as probabilities ``[*, K]`` (row ``x0`` of ``Qbar_t``)."""
        onehot = nn.functional.one_hot(x0, self.num_classes).float()
        return self._mix(onehot, self.alpha_bar[t].expand(x0.shape))

    def sample_xt(self, x0: Tensor, t: Tensor, generator: torch.Generator | None = None) -> Tensor:
        probs = self.q_xt_given_x0(x0, t)
        return sample_categorical(probs, generator)

    def sample_prior(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
        probs = self.limit.expand(*shape, self.num_classes)
        return sample_categorical(probs, generator)

    def posterior(self, xt: Tensor, x0_probs: Tensor, t: Tensor, s: Tensor | None = None) -> Tensor:
        """``p(x_s | x_t) = sum_i x0_probs[i] q(x_s | x_t, x_0 = i)`` as ``[*, K]``; ``s`` defaults to ``t - 1``.

        With a one-hot ``x0_probs`` this is the exact posterior ``q(x_s | x_t, x_0)`` (a jump of ``t - s`` steps when
        ``s < t - 1``, see the module docstring). At ``s = 0`` it equals ``x0_probs`` (``Qbar_0 = I``). ``s`` is a long
        tensor broadcastable to ``xt`` with ``0 <= s < t``.
        """
        K = self.num_classes
        s = t - 1 if s is None else s
        # schedule values at t's own shape (a scalar for the sampler), broadcast against [*, K] below
        a_t = self.jump_alpha[t, s].unsqueeze(-1)  # [*, 1]: abar_t / abar_s (alpha_t when s = t - 1)
        ab_prev = self.alpha_bar[s].unsqueeze(-1)
        ab_t = self.alpha_bar[t].unsqueeze(-1)
        m = self.limit
        xt_onehot = nn.functional.one_hot(xt, K).float()  # [*, K]
        m_j = (m * xt_onehot).sum(-1, keepdim=True)  # m[x_t]
        # Q_{s->t}[k, j] for j = x_t, as a vector over k
        qt_col = a_t * xt_onehot + (1 - a_t) * m_j  # [*, K]
        # Qbar_t[i, j] for j = x_t, as a vector over i
        qbar_t_col = ab_t * xt_onehot + (1 - ab_t) * m_j  # [*, K]
        w = x0_probs / qbar_t_col.clamp(min=1e-12)  # [*, K] over i
        # sum_i w_i Qbar_s[i, k] = ab_prev * w_k + (1 - ab_prev) * m_k * sum_i w_i
        mixed = ab_prev * w + (1 - ab_prev) * m * w.sum(-1, keepdim=True)
        out = qt_col * mixed
        return out / out.sum(-1, keepdim=True).clamp(min=1e-12)

    def loss_terms(self, x0: Tensor, xt: Tensor, t: Tensor, logits: Tensor) -> tuple[Tensor, Tensor]:
        """Per-element ``(vlb, ce)``: ``vlb = KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t))`` for ``t >= 2`` and
        ``-log p(x_0|x_1)`` at ``t = 1``; ``ce = -log p(x_0 | x_t)``. Both have the shape of ``x0``."""
        log_p0 = torch.log_softmax(logits, dim=-1)
        ce = -log_p0.gather(-1, x0.unsqueeze(-1)).squeeze(-1)
        t = t.expand(x0.shape)
        q = self.posterior(xt, nn.functional.one_hot(x0, self.num_classes).float(), t)
        p = self.posterior(xt, log_p0.exp(), t)
        kl = (q * (q.clamp(min=1e-12).log() - p.clamp(min=1e-12).log())).sum(-1)
        vlb = torch.where(t == 1, ce, kl)
        return vlb, ce


def jump_schedule(num_steps: int, steps: int) -> list[int]:
    """The times ``[tau_K = T, tau_{K-1}, ..., tau_0 = 0]`` of a ``K``-step reverse chain, ``tau_k = floor(k T / K)``.

    Evenly spaced over ``0..T`` in integer arithmetic (no float rounding), strictly decreasing for ``1 <= K <= T``;
    ``K = T`` gives ``T, T-1, ..., 0``, today's one-step chain. The sampler jumps from ``tau_k`` to ``tau_{k-1}``.
    """
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or not 1 <= steps <= num_steps:
        raise InputError(f"steps={steps!r}: expected an integer in 1..{num_steps} (T, the model's diffusion steps)")
    steps = int(steps)  # numpy / torch integers too
    return [k * num_steps // steps for k in range(steps, -1, -1)]


def sample_categorical(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One draw per row of ``probs`` ``[*, K]`` (rows need not be normalised), long ``[*]``."""
    flat = probs.reshape(-1, probs.size(-1)).clamp(min=0)
    if flat.size(0) == 0:
        return torch.zeros(probs.shape[:-1], dtype=torch.long, device=probs.device)
    draw = torch.multinomial(flat + 1e-20, 1, generator=generator).squeeze(-1)
    return draw.reshape(probs.shape[:-1])
