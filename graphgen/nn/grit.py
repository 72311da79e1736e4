"""GRIT layer (Ma et al., "Graph Inductive Biases in Transformers without Message Passing", ICML 2023).

Attention runs over a list of node *pairs* ``(j, i)`` that carry their own representation ``e_ji``: every pair of
nodes of a graph (full attention; build the pairs with ``graphgen.data.transforms.AddRRWP(full=True)``) or only the
real edges plus self loops (sparse attention, ``full=False``). The pair list is an ordinary ``edge_index``, so the
same layer does both.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphgen import ops

__all__ = ["GRITLayer", "log_degree", "signed_sqrt"]


def signed_sqrt(x: Tensor) -> Tensor:
    r""":math:`\sqrt{\mathrm{relu}(x)} - \sqrt{\mathrm{relu}(-x)} = \mathrm{sign}(x)\sqrt{|x|}` (GRIT Eq. 2), exact for
    :math:`|x| \ge 10^{-8}`; below that the root's argument is clamped so the gradient stays finite (at most 5e3)."""
    return torch.sign(x) * torch.sqrt(x.abs().clamp(min=1e-8))


class GRITLayer(nn.Module):
    r"""One GRIT layer: attention with pair representations, degree scaler, FFN.

    For each pair ``j -> i`` with representation ``e_ji`` and heads ``h`` of width ``D = d / H`` (GRIT Eq. 2–3):

    .. math::
        \hat e_{ji} &= \sigma\big(\rho\big((W_Q x_i + W_K x_j) \odot W_{Ew} e_{ji}\big) + W_{Eb} e_{ji}\big),
            \quad \rho = \text{signed sqrt},\ \sigma = \text{ReLU} \\
        \alpha_{ji} &= \mathrm{softmax}_{j \to i}\big(\mathrm{clamp}(A_w^h \cdot \hat e_{ji}^h, -c, c)\big) \\
        \hat x_i &= \sum_{j \to i} \alpha_{ji} W_V x_j + W_{ev}^h \sum_{j \to i} \alpha_{ji} \hat e_{ji}^h

    then the degree scaler :math:`\hat x_i \leftarrow \theta_1 \odot \hat x_i + \theta_2 \odot \log(1 + \deg_i)\,
    \hat x_i` (``deg`` = in-degree in the *real* graph), and

    .. math::
        x' = \mathrm{Norm}(x + \mathrm{Dropout}(W_O \hat x)), \quad x'' = \mathrm{Norm}(x' + \mathrm{FFN}(x')), \quad
        e' = \mathrm{Norm}(e + \mathrm{Dropout}(W_{Oe} \hat e))

    Args:
        channels: ``d`` (node and pair width), divisible by ``heads``.
        heads: ``H`` (GRIT on ZINC: 8).
        dropout: dropout on the node/pair outputs and in the FFN (default 0).
        attn_dropout: dropout on ``alpha`` (GRIT on ZINC: 0.2).
        clamp: score clamp ``c`` (default 5).
        degree_scaler: use the degree scaler (default True); then ``forward`` needs ``log_deg``.
        norm: constructor ``d -> module`` (default ``BatchNorm1d``) or ``None``.

    Shapes:
        x ``[N, d]``, edge_index = pairs ``[2, P]`` (row 0 source ``j``, row 1 destination ``i``),
        edge_attr = pair representations ``[P, d]``, batch ``[N]`` or ``None`` (unused),
        log_deg ``[N]`` = ``log(1 + in-degree)`` in the real graph -> ``(x'' [N, d], e' [P, d])``.
    """

    def __init__(self, channels: int, heads: int, *, dropout: float = 0.0, attn_dropout: float = 0.0,
                 clamp: float = 5.0, degree_scaler: bool = True,
                 norm: Callable[[int], nn.Module] | None = nn.BatchNorm1d):
        super().__init__()
        if channels % heads != 0:
            raise ValueError(f"GRITLayer: channels={channels} must be divisible by heads={heads}")
        self.channels, self.heads, self.head_dim = channels, heads, channels // heads
        self.dropout, self.attn_dropout, self.clamp = float(dropout), float(attn_dropout), float(clamp)
        self.degree_scaler = degree_scaler
        self.W_Q = nn.Linear(channels, channels, bias=True)
        self.W_K = nn.Linear(channels, channels, bias=False)
        self.W_V = nn.Linear(channels, channels, bias=True)
        self.W_E = nn.Linear(channels, 2 * channels, bias=True)                  # [W_Ew | W_Eb]
        self.A_w = nn.Parameter(torch.empty(heads, self.head_dim))                # score vector per head
        self.W_ev = nn.Parameter(torch.empty(heads, self.head_dim, self.head_dim))
        self.deg_coef = nn.Parameter(torch.empty(2, channels)) if degree_scaler else None
        self.O_x = nn.Linear(channels, channels)
        self.O_e = nn.Linear(channels, channels)

        def make_norm() -> nn.Module:
            return norm(channels) if norm is not None else nn.Identity()

        self.norm_x, self.norm_e, self.norm_ffn = make_norm(), make_norm(), make_norm()
        self.ffn = nn.Sequential(nn.Linear(channels, 2 * channels), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(2 * channels, channels), nn.Dropout(dropout))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.W_Q, self.W_K, self.W_V, self.W_E, self.O_x, self.O_e):
            nn.init.xavier_normal_(lin.weight)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)
        nn.init.xavier_normal_(self.A_w)
        nn.init.xavier_normal_(self.W_ev)
        if self.deg_coef is not None:
            nn.init.xavier_normal_(self.deg_coef)
        for m in (self.norm_x, self.norm_e, self.norm_ffn, *self.ffn):
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, batch: Tensor | None = None, *,
                log_deg: Tensor | None = None) -> tuple[Tensor, Tensor]:
        n, p = x.size(0), edge_index.size(1)
        h, dh = self.heads, self.head_dim
        if edge_attr.shape != (p, self.channels):
            raise ValueError(f"GRITLayer: edge_attr (pair representations) must be [P, d] = [{p}, {self.channels}], "
                             f"got {tuple(edge_attr.shape)}")
        if self.degree_scaler and (log_deg is None or log_deg.shape != (n,)):
            raise ValueError("GRITLayer: degree_scaler=True needs log_deg [N] = log(1 + in-degree of the real graph)")
        src, dst = edge_index[0], edge_index[1]
        graph = ops.CSRGraph.from_edge_index(edge_index, n)
        q = self.W_Q(x).view(n, h, dh)
        k = self.W_K(x).view(n, h, dh)
        v = self.W_V(x).view(n, h, dh)
        e_w, e_b = self.W_E(edge_attr).view(p, 2, h, dh).unbind(1)               # each [P, H, dh]
        # pair update (Eq. 2)
        s = (q.index_select(0, dst) + k.index_select(0, src)) * e_w               # [P, H, dh]
        e_hat = F.relu(signed_sqrt(s) + e_b)                                      # [P, H, dh]
        # attention (Eq. 3)
        score = (e_hat * self.A_w).sum(-1).clamp(-self.clamp, self.clamp)         # [P, H]
        alpha = ops.segment_softmax(score, graph)
        alpha = F.dropout(alpha, self.attn_dropout, self.training)
        x_hat = ops.gather_scatter(v, graph, edge_weight=alpha, message="mul")    # [N, H, dh]
        e_agg = ops.scatter(alpha.unsqueeze(-1) * e_hat, dst, n, "sum")           # [N, H, dh]
        x_hat = (x_hat + torch.einsum("nhd,hdc->nhc", e_agg, self.W_ev)).reshape(n, self.channels)
        if self.deg_coef is not None:
            x_hat = x_hat * self.deg_coef[0] + (log_deg.unsqueeze(-1) * x_hat) * self.deg_coef[1]
        x = self.norm_x(x + F.dropout(self.O_x(x_hat), self.dropout, self.training))
        e = self.norm_e(edge_attr + F.dropout(self.O_e(e_hat.reshape(p, self.channels)), self.dropout,
                                              self.training))
        x = self.norm_ffn(x + self.ffn(x))
        return x, e

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.channels}, heads={self.heads}, attn_dropout={self.attn_dropout}, "
                f"degree_scaler={self.degree_scaler}, norm={type(self.norm_x).__name__})")


def log_degree(edge_index: Tensor, num_nodes: int) -> Tensor:
    """``log(1 + in-degree)`` ``[N]`` of the real graph, the input of GRIT's degree scaler."""
    return torch.log1p(torch.bincount(edge_index[1], minlength=num_nodes).float())

