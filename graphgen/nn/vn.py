"""MPNN + virtual node (Gilmer et al. 2017; the form analysed by Cai et al., "On the Connection Between MPNN and
Graph Transformer", ICML 2023, and used in the OGB baselines)."""
from __future__ import annotations

from typing import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from .utils import graph_to_nodes, nodes_to_graph, num_graphs, resolve_batch

__all__ = ["VirtualNodeLayer"]


class VirtualNodeLayer(nn.Module):
    r"""Any local MPNN plus a virtual node per graph, connected to all its nodes. With ``vn`` ``[B, d]``:

    .. math::
        \tilde x_i &= x_i + \mathrm{vn}_{b(i)} \\
        x_i' &= \tilde x_i + \mathrm{Dropout}(\mathrm{post}(\mathrm{MPNN}(\tilde x, A, e)_i)) \\
        \mathrm{vn}' &= \mathrm{vn} + \mathrm{Dropout}\Big(\mathrm{MLP}\big(\textstyle\sum_{i \in G} \tilde x_i
            + \mathrm{vn}\big)\Big) \quad (\text{only if } \texttt{update\_vn})

    ``MLP = Lin-Norm-ReLU-Lin-Norm-ReLU``. The per-graph ``vn`` reaches nodes through
    :func:`graphgen.nn.utils.graph_to_nodes`; the last layer of a stack uses ``update_vn=False``.

    Args:
        channels: ``d``.
        conv: built local conv, ``forward(x, edge_index, edge_attr, batch) -> x'`` or ``(x', edge_attr')``.
        post: module applied to the conv output before the residual (for GINE: ``Sequential(BatchNorm1d, ReLU)``;
            ``None`` for a conv that normalises itself, such as GatedGCN).
        dropout: dropout on the node update and the virtual-node update (default 0).
        update_vn: compute ``vn'`` (default True).
        norm: constructor for the MLP norms (default ``BatchNorm1d``) or ``None``.

    Shapes:
        x ``[N, d]``, edge_index ``[2, E]``, edge_attr ``[E, d_e]``, batch ``[N]`` or ``None``, vn ``[B, d]``
        -> ``(x' [N, d], edge_attr' [E, d_e], vn' [B, d])``.
    """

    def __init__(self, channels: int, conv: nn.Module, *, post: nn.Module | None = None, dropout: float = 0.0,
                 update_vn: bool = True, norm: Callable[[int], nn.Module] | None = nn.BatchNorm1d):
        super().__init__()
        self.channels = channels
        self.conv = conv
        self.post = post if post is not None else nn.Identity()
        self.dropout = float(dropout)
        self.update_vn = update_vn

        def make_norm() -> nn.Module:
            return norm(channels) if norm is not None else nn.Identity()

        self.mlp = nn.Sequential(nn.Linear(channels, 2 * channels), norm(2 * channels) if norm else nn.Identity(),
                                 nn.ReLU(), nn.Linear(2 * channels, channels), make_norm(), nn.ReLU()) \
            if update_vn else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, batch: Tensor | None,
                vn: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        batch = resolve_batch(batch, x.size(0), x.device)
        if vn.dim() != 2 or vn.size(1) != self.channels or vn.size(0) < num_graphs(batch):
            raise ValueError(f"VirtualNodeLayer: vn must be [B, {self.channels}] with one row per graph, "
                             f"got {tuple(vn.shape)}")
        x_tilde = x + graph_to_nodes(vn, batch)
        local = self.conv(x_tilde, edge_index, edge_attr, batch)
        if isinstance(local, tuple):                          # an edge-updating conv (GatedGCN)
            local, edge_attr = local
        x_out = x_tilde + F.dropout(self.post(local), self.dropout, self.training)
        if self.mlp is not None:
            pooled = nodes_to_graph(x_tilde, batch, vn.size(0), "sum") + vn
            vn = vn + F.dropout(self.mlp(pooled), self.dropout, self.training)
        return x_out, edge_attr, vn

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.channels}, conv={self.conv}, update_vn={self.update_vn})"
