"""Graph Transformer layer with an edge stream (Dwivedi & Bresson, "A Generalization of Transformer Networks to
Graphs", AAAI-DLG 2021): attention only over the graph's edges, modulated by edge features, which are updated too."""
from __future__ import annotations

import math
from typing import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from graphgen import ops

__all__ = ["GraphTransformerLayer"]


class GraphTransformerLayer(nn.Module):
    r"""Graph Transformer layer with edge features (Dwivedi & Bresson 2021, Eq. 9–12 of the edge variant).

    Per head ``h`` of width ``D = d / H`` and each edge ``j -> i``:

    .. math::
        \hat w_{ji}^h &= \frac{Q^h x_i \odot K^h x_j}{\sqrt{D}} \odot E^h e_{ji} \in \mathbb{R}^D \\
        \alpha_{ji}^h &= \mathrm{softmax}_{j \to i}\big(\mathrm{clamp}(\textstyle\sum_D \hat w_{ji}^h, -c, c)\big)
            \quad (= \exp(\cdot) / \sum \exp(\cdot) \text{ of the paper}) \\
        \hat x_i &= O_x \big\Vert_h \sum_{j \to i} \alpha_{ji}^h V^h x_j, \qquad
        \hat e_{ji} = O_e \big\Vert_h \hat w_{ji}^h \\
        x' &= \mathrm{Norm}(x + \mathrm{Dropout}(\hat x)), \quad x'' = \mathrm{Norm}(x' + \mathrm{FFN}_x(x')) \\
        e' &= \mathrm{Norm}(e + \mathrm{Dropout}(\hat e)), \quad e'' = \mathrm{Norm}(e' + \mathrm{FFN}_e(e'))

    A node with no incoming edge receives 0 from attention (its residual keeps it).

    Args:
        channels: ``d`` (node and edge width), divisible by ``heads``.
        heads: ``H`` (ZINC: 8).
        dropout: dropout after attention and in the FFNs (default 0).
        clamp: score clamp ``c`` (default 5).
        norm: constructor ``d -> module`` (default ``BatchNorm1d``) or ``None``.

    Shapes:
        x ``[N, d]``, edge_index ``[2, E]``, edge_attr ``[E, d]``, batch unused -> ``(x'' [N, d], e'' [E, d])``.
    """

    def __init__(self, channels: int, heads: int, *, dropout: float = 0.0, clamp: float = 5.0,
                 norm: Callable[[int], nn.Module] | None = nn.BatchNorm1d):
        super().__init__()
        if channels % heads != 0:
            raise ValueError(f"GraphTransformerLayer: channels={channels} must be divisible by heads={heads}")
        self.channels, self.heads, self.head_dim = channels, heads, channels // heads
        self.dropout, self.clamp = float(dropout), float(clamp)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.E = nn.Linear(channels, channels)
        self.O_x = nn.Linear(channels, channels)
        self.O_e = nn.Linear(channels, channels)

        def make_norm() -> nn.Module:
            return norm(channels) if norm is not None else nn.Identity()

        def make_ffn() -> nn.Sequential:
            return nn.Sequential(nn.Linear(channels, 2 * channels), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(2 * channels, channels))

        self.norm_x1, self.norm_x2, self.norm_e1, self.norm_e2 = (make_norm() for _ in range(4))
        self.ffn_x, self.ffn_e = make_ffn(), make_ffn()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor,
                batch: Tensor | None = None) -> tuple[Tensor, Tensor]:
        n, m = x.size(0), edge_index.size(1)
        h, dh = self.heads, self.head_dim
        if edge_attr.shape != (m, self.channels):
            raise ValueError(f"GraphTransformerLayer: edge_attr must be [E, d] = [{m}, {self.channels}], got "
                             f"{tuple(edge_attr.shape)}; embed edges to the node width first")
        src, dst = edge_index[0], edge_index[1]
        graph = ops.CSRGraph.from_edge_index(edge_index, n)
        q, k, v = self.qkv(x).view(n, 3, h, dh).unbind(1)                          # each [N, H, dh]
        w = q.index_select(0, dst) * k.index_select(0, src) / math.sqrt(dh)       # [E, H, dh]
        w = w * self.E(edge_attr).view(m, h, dh)
        alpha = ops.segment_softmax(w.sum(-1).clamp(-self.clamp, self.clamp), graph)   # [E, H]
        x_hat = ops.gather_scatter(v, graph, edge_weight=alpha, message="mul")      # [N, H, dh]
        x_hat = self.O_x(x_hat.reshape(n, self.channels))
        e_hat = self.O_e(w.reshape(m, self.channels))
        x = self.norm_x1(x + F.dropout(x_hat, self.dropout, self.training))
        x = self.norm_x2(x + F.dropout(self.ffn_x(x), self.dropout, self.training))
        e = self.norm_e1(edge_attr + F.dropout(e_hat, self.dropout, self.training))
        e = self.norm_e2(e + F.dropout(self.ffn_e(e), self.dropout, self.training))
        return x, e

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.channels}, heads={self.heads}, dropout={self.dropout}, "
                f"norm={type(self.norm_x1).__name__})")
