"""Encoders that turn the PE/SE of :mod:`graphgen.data.transforms` into node (and pair) features.

Node encoders share one signature, ``forward(h, pe, pe_val=None, *, generator=None) -> h'``:

| encoder | ``pe`` / ``pe_val`` | output |
|---|---|---|
| :class:`RWSENodeEncoder` | ``rwse`` ``[N, K]`` / - | ``cat(h, Lin(BN(rwse)))``: width ``d_h + dim_pe`` |
| :class:`LapPENodeEncoder` | ``lap_eigvec`` / ``lap_eigval`` ``[N, k]`` | ``cat(h, DeepSet(eigvec, eigval))`` |
| :class:`RRWPNodeEncoder` | ``rrwp`` ``[N, K]`` / - | ``h + Lin(rrwp)`` (same width) |
| :class:`NoPE` | ignored | ``h`` |

:class:`RRWPPairEncoder` builds GRIT's pair representations from ``rrwp_index`` / ``rrwp_val`` and the bond
embeddings.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["LapPENodeEncoder", "NoPE", "RRWPNodeEncoder", "RRWPPairEncoder", "RWSENodeEncoder", "pair_positions"]


class NoPE(nn.Module):
    """No positional encoding: returns ``h`` unchanged (``dim_pe = 0``)."""

    dim_pe = 0

    def reset_parameters(self) -> None:
        pass

    def forward(self, h: Tensor, pe: Tensor | None = None, pe_val: Tensor | None = None, *,
                generator: torch.Generator | None = None) -> Tensor:
        return h


class RWSENodeEncoder(nn.Module):
    r"""Random-walk SE (GPS): :math:`h' = [h \,\Vert\, W\,\mathrm{BN}(\mathrm{rwse})]`.

    Args:
        steps: ``K``, width of ``rwse``.
        dim_pe: output width (GPS on ZINC: 28 from K=20).

    Shapes: h ``[N, d_h]``, pe = rwse ``[N, K]`` -> ``[N, d_h + dim_pe]``.
    """

    def __init__(self, steps: int, dim_pe: int):
        super().__init__()
        self.steps, self.dim_pe = steps, dim_pe
        self.norm = nn.BatchNorm1d(steps)
        self.lin = nn.Linear(steps, dim_pe)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()
        self.lin.reset_parameters()

    def forward(self, h: Tensor, pe: Tensor | None = None, pe_val: Tensor | None = None, *,
                generator: torch.Generator | None = None) -> Tensor:
        if pe is None or pe.dim() != 2 or pe.size(1) != self.steps:
            got = None if pe is None else tuple(pe.shape)
            raise ValueError(f"RWSENodeEncoder: pe must be rwse [N, {self.steps}] (AddRWSE(steps={self.steps})), "
                             f"got {got}")
        return torch.cat([h, self.lin(self.norm(pe))], dim=-1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(steps={self.steps}, dim_pe={self.dim_pe})"


class LapPENodeEncoder(nn.Module):
    r"""Laplacian PE through a DeepSet over eigenpairs (GPS): for each node and eigenpair ``m``,

    .. math::
        z_{i} = \rho\Big(\sum_{m \le k,\ \text{not padded}} \phi([s_m u_{im}, \lambda_m])\Big), \qquad
        h' = [h \,\Vert\, z]

    with :math:`\phi = \mathrm{Lin}(2, p)\text{-ReLU-}\mathrm{Lin}(p, p)\text{-ReLU}`, :math:`\rho = \mathrm{Lin}(p, p)`
    and :math:`s_m \in \{\pm 1\}`: during training each eigenvector's sign flips with probability 1/2, **once per
    batch** (one draw of ``k`` signs from ``generator``, shared by all graphs of the batch); in eval ``s_m = 1``.
    NaN padding (graphs with fewer than ``k`` non-trivial eigenpairs) is masked out of the sum.

    Args:
        k: number of eigenpairs (width of ``lap_eigvec``).
        dim_pe: output width ``p``.

    Shapes: h ``[N, d_h]``, pe = lap_eigvec ``[N, k]``, pe_val = lap_eigval ``[N, k]`` -> ``[N, d_h + dim_pe]``.
    """

    def __init__(self, k: int, dim_pe: int):
        super().__init__()
        self.k, self.dim_pe = k, dim_pe
        self.phi = nn.Sequential(nn.Linear(2, dim_pe), nn.ReLU(), nn.Linear(dim_pe, dim_pe), nn.ReLU())
        self.rho = nn.Linear(dim_pe, dim_pe)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in (*self.phi, self.rho):
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, h: Tensor, pe: Tensor | None = None, pe_val: Tensor | None = None, *,
                generator: torch.Generator | None = None) -> Tensor:
        if pe is None or pe_val is None or pe.shape != pe_val.shape or pe.dim() != 2 or pe.size(1) != self.k:
            raise ValueError(f"LapPENodeEncoder: pe and pe_val must be lap_eigvec / lap_eigval [N, {self.k}] "
                             f"(AddLapPE(k={self.k}))")
        if self.training:
            flip = torch.rand(self.k, generator=generator, device=generator.device if generator else pe.device)
            pe = pe * torch.where(flip.to(pe.device) < 0.5, -1.0, 1.0).to(pe.dtype)   # one sign per eigvec
        pad = torch.isnan(pe) | torch.isnan(pe_val)                                  # [N, k]
        pair = torch.stack([pe, pe_val], dim=-1).masked_fill(pad.unsqueeze(-1), 0.0)  # [N, k, 2]
        z = self.phi(pair).masked_fill(pad.unsqueeze(-1), 0.0).sum(1)                  # [N, p]
        return torch.cat([h, self.rho(z)], dim=-1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(k={self.k}, dim_pe={self.dim_pe})"


class RRWPNodeEncoder(nn.Module):
    r"""GRIT node encoding: :math:`h' = h + W\,\mathrm{diag}(P)_i` with ``W: K -> d``.

    Shapes: h ``[N, d]``, pe = rrwp ``[N, K]`` -> ``[N, d]``.
    """

    dim_pe = 0

    def __init__(self, steps: int, channels: int):
        super().__init__()
        self.steps, self.channels = steps, channels
        self.lin = nn.Linear(steps, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, h: Tensor, pe: Tensor | None = None, pe_val: Tensor | None = None, *,
                generator: torch.Generator | None = None) -> Tensor:
        if pe is None or pe.dim() != 2 or pe.size(1) != self.steps:
            raise ValueError(f"RRWPNodeEncoder: pe must be rrwp [N, {self.steps}] (AddRRWP(steps={self.steps}))")
        return h + self.lin(pe)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(steps={self.steps}, channels={self.channels})"


def pair_positions(pair_index: Tensor, edge_index: Tensor, num_nodes: int) -> Tensor:
    """For each edge ``(j, i)`` of ``edge_index`` ``[2, E]``, its position in ``pair_index`` ``[2, P]`` -> ``[E]``.

    Raises if an edge is not among the pairs (sparse RRWP pairs must contain every real edge).
    """
    pair_key = pair_index[1] * num_nodes + pair_index[0]
    edge_key = edge_index[1] * num_nodes + edge_index[0]
    order = torch.argsort(pair_key)
    sorted_key = pair_key[order]
    pos = torch.searchsorted(sorted_key, edge_key).clamp(max=max(sorted_key.numel() - 1, 0))
    if edge_key.numel() > 0 and (sorted_key.numel() == 0 or not bool((sorted_key[pos] == edge_key).all())):
        raise ValueError("pair_positions: some edges of edge_index are not in rrwp_index; build the pairs with "
                         "AddRRWP on the same edge_index (full=True, or full=False which keeps every edge)")
    return order[pos]


class RRWPPairEncoder(nn.Module):
    r"""GRIT pair representations: :math:`e_{ji} = W P_{ji} + \mathrm{bond}_{ji}` where ``bond`` is the embedded
    bond of ``j -> i`` if it is a real edge and 0 otherwise.

    Args:
        steps: ``K``, width of ``rrwp_val``.
        channels: ``d``.

    Shapes: pair_index ``[2, P]``, pair_val ``[P, K]``, edge_index ``[2, E]``, edge_emb ``[E, d]`` -> ``[P, d]``.
    """

    def __init__(self, steps: int, channels: int):
        super().__init__()
        self.steps, self.channels = steps, channels
        self.lin = nn.Linear(steps, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, pair_index: Tensor, pair_val: Tensor, edge_index: Tensor, edge_emb: Tensor,
                num_nodes: int) -> Tensor:
        if pair_val.shape != (pair_index.size(1), self.steps):
            raise ValueError(f"RRWPPairEncoder: pair_val must be rrwp_val [P, {self.steps}] matching rrwp_index, "
                             f"got {tuple(pair_val.shape)} for P={pair_index.size(1)}")
        out = self.lin(pair_val)                                                  # [P, d]
        pos = pair_positions(pair_index, edge_index, num_nodes)                   # [E]
        return out.index_add(0, pos, edge_emb)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(steps={self.steps}, channels={self.channels})"
