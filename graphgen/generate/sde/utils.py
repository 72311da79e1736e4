"""Dense-graph helpers shared by the SDE networks, losses and samplers.

Shapes: node features ``X [B, N, F]``, adjacency ``A [B, N, N]``, boolean node mask ``mask [B, N]``. Padding
nodes carry zeros in X and zero rows/columns in A; the adjacency has a zero diagonal.
"""
from __future__ import annotations

import torch
from torch import Tensor


def mask_x(x: Tensor, mask: Tensor) -> Tensor:
    """Zero the rows of padding nodes. ``x [B, N, F]``, ``mask [B, N]``."""
    return x * mask.unsqueeze(-1).to(x.dtype)


def pair_mask(mask: Tensor, *, diagonal: bool = True) -> Tensor:
    """``[B, N, N]`` mask of node pairs that both exist (and, with ``diagonal=False``, are distinct)."""
    m = mask.unsqueeze(-1) & mask.unsqueeze(-2)
    if not diagonal:
        m = m & ~torch.eye(mask.shape[-1], dtype=torch.bool, device=mask.device)
    return m


def mask_adj(adj: Tensor, mask: Tensor) -> Tensor:
    """Zero rows/columns of padding nodes. ``adj [B, N, N]`` or ``[B, C, N, N]``."""
    m = pair_mask(mask).to(adj.dtype)
    return adj * (m.unsqueeze(1) if adj.dim() == 4 else m)


def gaussian_noise(shape: torch.Size | tuple[int, ...], *, generator: torch.Generator | None = None,
                   device: torch.device | str | None = None) -> Tensor:
    return torch.randn(shape, generator=generator, device=device)


def noise_like(x: Tensor, mask: Tensor, *, symmetric: bool, generator: torch.Generator | None = None) -> Tensor:
    """Standard normal noise shaped like ``x``, zero on padding. ``symmetric=True`` (adjacency): the strict upper
    triangle is drawn and mirrored, so the noise is symmetric with a zero diagonal."""
    z = gaussian_noise(x.shape, generator=generator, device=x.device)
    if symmetric:
        z = z.triu(1)
        z = z + z.transpose(-1, -2)
        return mask_adj(z, mask)
    return mask_x(z, mask)


def adjacency_powers(adj: Tensor, num_powers: int) -> Tensor:
    """``[A, A², ..., A^c]`` stacked as ``[B, c, N, N]`` (GDSS's multi-channel input to the adjacency network)."""
    out, cur = [adj], adj
    for _ in range(num_powers - 1):
        cur = cur @ adj
        out.append(cur)
    return torch.stack(out, dim=1)


def degree_one_hot(adj: Tensor, mask: Tensor, num_classes: int) -> Tensor:
    """One-hot node degree ``[B, N, num_classes]`` (GDSS's ``init: deg`` node features), zero on padding."""
    deg = adj.sum(-1).round().long()
    too_big = (deg >= num_classes) & mask
    if too_big.any():
        raise ValueError(
            f"a node has degree {int(deg[too_big].max())} but num_node_features={num_classes}; "
            f"set ScoreSDEConfig.num_node_features (GDSS's max_feat_num) to at least {int(deg[too_big].max()) + 1}"
        )
    return mask_x(torch.nn.functional.one_hot(deg.clamp(0, num_classes - 1), num_classes).float(), mask)
