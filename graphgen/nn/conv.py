"""Local message-passing convolutions on :mod:`graphgen.ops`: GINE and GatedGCN.

Both follow PyG's ``flow="source_to_target"``: ``edge_index[0]`` is the source ``j``, ``edge_index[1]`` the
destination ``i``; node ``i`` aggregates over its incoming edges. Message, reduce and update stay visible steps:
GINE uses the fused ``gather_scatter(message="add_relu")``; GatedGCN computes its per-edge gates, then reduces with
``gather_scatter(message="mul")`` / ``scatter``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from graphgen import ops

__all__ = ["GINEConv", "GatedGCNConv"]


def _reset(module: nn.Module) -> None:
    """Reset every sub-module that knows how (``Linear``, norms, nested layers)."""
    for m in module.modules():
        if m is not module and hasattr(m, "reset_parameters"):
            m.reset_parameters()


class GINEConv(nn.Module):
    r"""GIN with edge features (Hu et al., "Strategies for Pre-training Graph Neural Networks", ICLR 2020):

    .. math::
        x_i' = h_\Theta\Big((1 + \epsilon)\, x_i + \sum_{j \to i} \mathrm{ReLU}(x_j + W e_{ji})\Big)

    The sum is one fused ``graphgen.ops.gather_scatter(message="add_relu")`` call (no ``[E, F]`` message buffer on
    fused backends).

    Args:
        nn: the network :math:`h_\Theta` mapping ``[N, in_channels]`` to ``[N, out_channels]`` (for instance
            ``Sequential(Linear(d, d), ReLU(), Linear(d, d))``, the GPS recipe). ``in_channels`` is read from its
            first ``Linear``.
        eps: initial :math:`\epsilon` (default 0).
        train_eps: learn :math:`\epsilon` (default False: it is a buffer).
        edge_dim: width of ``edge_attr``. If given, a ``Linear(edge_dim, in_channels)`` projects edges; if ``None``,
            ``edge_attr`` must already have width ``in_channels``.

    Shapes:
        x ``[N, in_channels]``, edge_index ``[2, E]``, edge_attr ``[E, edge_dim or in_channels]``, batch ``[N]`` or
        ``None`` (unused; accepted so every local conv has the same signature) -> ``[N, out_channels]``.
    """

    def __init__(self, nn: nn.Module, *, eps: float = 0.0, train_eps: bool = False, edge_dim: int | None = None):
        super().__init__()
        self.nn = nn
        self.initial_eps = float(eps)
        if train_eps:
            self.eps = torch.nn.Parameter(torch.tensor([eps]))
        else:
            self.register_buffer("eps", torch.tensor([eps]))
        first = next((m for m in nn.modules() if isinstance(m, torch.nn.Linear)), None)
        if first is None:
            raise ValueError("GINEConv: cannot infer in_channels; nn must contain a torch.nn.Linear")
        self.in_channels = first.in_features
        self.edge_dim = edge_dim
        self.lin = torch.nn.Linear(edge_dim, self.in_channels) if edge_dim is not None else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset(self.nn)
        if self.lin is not None:
            self.lin.reset_parameters()
        self.eps.data.fill_(self.initial_eps)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, batch: Tensor | None = None) -> Tensor:
        if self.lin is not None:
            edge_attr = self.lin(edge_attr)
        if edge_attr.size(-1) != x.size(-1):
            raise ValueError(f"GINEConv: node width {x.size(-1)} != edge width {edge_attr.size(-1)}; pass "
                             f"edge_dim={edge_attr.size(-1)} to project edges to the node width")
        graph = ops.CSRGraph.from_edge_index(edge_index, x.size(0))
        aggr = ops.gather_scatter(x, graph, edge_attr=edge_attr, message="add_relu", reduce="sum")  # [N, F]
        if isinstance(self.eps, nn.Parameter):
            return self.nn((1.0 + self.eps) * x + aggr)
        return self.nn(aggr.add(x, alpha=1.0 + float(self.eps)))    # fixed eps: one fused op, no [1] tensor math

    def __repr__(self) -> str:
        return f"{type(self).__name__}(nn={self.nn}, edge_dim={self.edge_dim})"


class GatedGCNConv(nn.Module):
    r"""Residual gated graph convolution with an edge stream (Bresson & Laurent 2017, in the form of Dwivedi et al.,
    "Benchmarking Graph Neural Networks"):

    .. math::
        \hat e_{ji} &= C e_{ji} + D x_i + E x_j, \qquad \sigma_{ji} = \mathrm{sigmoid}(\hat e_{ji}) \\
        \hat x_i &= A x_i + \frac{\sum_{j \to i} \sigma_{ji} \odot B x_j}{\sum_{j \to i} \sigma_{ji} + 10^{-6}} \\
        x_i' &= [x_i +]\ \mathrm{Dropout}(\mathrm{act}(\mathrm{Norm}(\hat x_i))), \qquad
        e_{ji}' = [e_{ji} +]\ \mathrm{Dropout}(\mathrm{act}(\mathrm{Norm}(\hat e_{ji})))

    Args:
        channels: node and edge width ``d``.
        dropout: dropout on both outputs (default 0).
        residual: add the inputs back (default True; GPS sets False because it adds its own residual).
        norm: constructor ``d -> module`` for the two norms (default ``BatchNorm1d``; ``None`` for none).
        act: activation module (default ``ReLU``).

    Shapes:
        x ``[N, d]``, edge_index ``[2, E]``, edge_attr ``[E, d]``, batch unused -> ``(x' [N, d], e' [E, d])``.
    """

    def __init__(self, channels: int, *, dropout: float = 0.0, residual: bool = True,
                 norm: Callable[[int], nn.Module] | None = nn.BatchNorm1d, act: nn.Module | None = None):
        super().__init__()
        self.channels = channels
        self.dropout = float(dropout)
        self.residual = residual
        self.A, self.B, self.C, self.D, self.E = (nn.Linear(channels, channels) for _ in range(5))
        self.norm_x = norm(channels) if norm is not None else nn.Identity()
        self.norm_e = norm(channels) if norm is not None else nn.Identity()
        self.act = act if act is not None else nn.ReLU()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.A, self.B, self.C, self.D, self.E):
            lin.reset_parameters()
        for norm in (self.norm_x, self.norm_e):
            if hasattr(norm, "reset_parameters"):
                norm.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor,
                batch: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if edge_attr.size(-1) != self.channels or x.size(-1) != self.channels:
            raise ValueError(f"GatedGCNConv: x and edge_attr must both have width channels={self.channels}, got "
                             f"{x.size(-1)} and {edge_attr.size(-1)}; project edges first")
        src, dst = edge_index[0], edge_index[1]
        num_nodes = x.size(0)
        graph = ops.CSRGraph.from_edge_index(edge_index, num_nodes)
        # message: per-edge gates from both endpoints and the edge
        e_hat = self.C(edge_attr) + self.D(x)[dst] + self.E(x)[src]              # [E, d]
        sigma = torch.sigmoid(e_hat)
        # reduce: gated sum of B x_j (each channel is its own "head" of width 1) and the gate normaliser
        bx = self.B(x).unsqueeze(-1)                                             # [N, d, 1]
        num = ops.gather_scatter(bx, graph, edge_weight=sigma, message="mul").squeeze(-1)   # [N, d]
        den = ops.scatter(sigma, dst, num_nodes, "sum")                          # [N, d]
        # update
        x_hat = self.A(x) + num / (den + 1e-6)
        x_out = nn.functional.dropout(self.act(self.norm_x(x_hat)), self.dropout, self.training)
        e_out = nn.functional.dropout(self.act(self.norm_e(e_hat)), self.dropout, self.training)
        if self.residual:
            x_out = x + x_out
            e_out = edge_attr + e_out
        return x_out, e_out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.channels}, dropout={self.dropout}, residual={self.residual}, "
                f"norm={type(self.norm_x).__name__})")
