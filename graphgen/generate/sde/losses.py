"""Denoising score matching for the joint (X, A) diffusion (GDSS Eq. 6; Song et al. 2021, Eq. 7).

For ``t ~ U(eps, T)`` and ``X_t = mean_X(t) + std_X(t) z_X``, ``A_t = mean_A(t) + std_A(t) z_A`` (``z_A`` symmetric,
zero diagonal, both zero on padding) the losses are

    L_X = E || std_X(t) s_X(X_t, A_t, t) + z_X ||²,     L_A = E || std_A(t) s_A(X_t, A_t, t) + z_A ||²

(the ``λ(t) = std²`` weighting), summed over entries per graph (``reduce_mean=False``, GDSS's setting) or averaged,
then averaged over graphs. Both networks see the same ``t`` and the same perturbed pair.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from graphgen.generate.sde.sde import SDE, append_dims
from graphgen.generate.sde.utils import mask_adj, mask_x, noise_like

ScoreFn = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]  # (x, adj, mask, t) -> score of one component


def perturb(x0: Tensor, adj0: Tensor, mask: Tensor, t: Tensor, sde_x: SDE, sde_adj: SDE, *,
            generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Sample ``(X_t, A_t)`` from the forward marginals. Returns ``x_t, adj_t, z_x, z_adj, std_x, std_adj``."""
    z_x = noise_like(x0, mask, symmetric=False, generator=generator)
    z_a = noise_like(adj0, mask, symmetric=True, generator=generator)
    mean_x, std_x = sde_x.marginal_prob(x0, t)
    mean_a, std_a = sde_adj.marginal_prob(adj0, t)
    x_t = mask_x(mean_x + append_dims(std_x, x0.dim()) * z_x, mask)
    adj_t = mask_adj(mean_a + append_dims(std_a, adj0.dim()) * z_a, mask)
    return x_t, adj_t, z_x, z_a, std_x, std_a


def dsm_losses(score_x: ScoreFn, score_adj: ScoreFn, x0: Tensor, adj0: Tensor, mask: Tensor, sde_x: SDE,
               sde_adj: SDE, *, eps: float = 1e-5, reduce_mean: bool = False,
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Denoising score-matching losses ``(L_X, L_A)`` on one dense batch.

    Args:
        score_x, score_adj: ``(x, adj, mask, t) -> score`` for X ``[B, N, F]`` and A ``[B, N, N]``.
        x0, adj0, mask: clean batch; ``mask [B, N]`` bool.
        eps: smallest diffusion time sampled (GDSS: 1e-5).
        reduce_mean: average instead of sum over the entries of each graph.
        generator: source of ``t`` and of the noise.
    """
    B = x0.shape[0]
    t = torch.rand(B, generator=generator, device=x0.device) * (sde_x.T - eps) + eps
    x_t, adj_t, z_x, z_a, std_x, std_a = perturb(x0, adj0, mask, t, sde_x, sde_adj, generator=generator)
    s_x = score_x(x_t, adj_t, mask, t)
    s_a = score_adj(x_t, adj_t, mask, t)
    reduce = torch.mean if reduce_mean else torch.sum
    loss_x = reduce((s_x * append_dims(std_x, s_x.dim()) + z_x).pow(2).reshape(B, -1), dim=-1).mean()
    loss_a = reduce((s_a * append_dims(std_a, s_a.dim()) + z_a).pow(2).reshape(B, -1), dim=-1).mean()
    return loss_x, loss_a
