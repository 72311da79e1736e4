"""GPS layer (Rampášek et al., "Recipe for a General, Powerful, Scalable Graph Transformer", NeurIPS 2022) and the
global attention modules it can hold.

A global attention module has the signature ``forward(x [N, d], batch [N]) -> [N, d]`` and attends within each graph
only:

- :class:`MultiheadSelfAttention`: exact softmax attention over all node pairs of a graph, computed on a padded
  ``[B, N_max, d]`` view with a key-padding mask.
- :class:`LinearSelfAttention`: kernelised linear attention (Katharopoulos et al. 2020, feature map
  ``elu(.) + 1``), ``O(N d^2)`` per graph: per-graph sums go through :func:`graphgen.nn.utils.nodes_to_graph` and
  come back through :func:`graphgen.nn.utils.graph_to_nodes`, so no padding at all.
"""
from __future__ import annotations

import weakref
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .utils import graph_to_nodes, nodes_to_graph, num_graphs, resolve_batch

__all__ = ["GPSLayer", "LinearSelfAttention", "MultiheadSelfAttention"]


class _DenseLayout(NamedTuple):
    num_graphs: int
    max_nodes: int
    flat: Tensor        # [N] row of each node in the padded [B * N_max] view
    key_mask: Tensor    # [B, 1, 1, N_max] True where a node exists


_LAYOUTS: dict[tuple[int, int], tuple[weakref.ref, _DenseLayout]] = {}


def _dense_layout(batch: Tensor) -> _DenseLayout:
    """Padded layout of a sorted ``batch`` vector, cached on the tensor object (every layer of a forward pass reuses
    it): ``flat[n] = batch[n] * N_max + position of n in its graph``."""
    key = (id(batch), batch._version)
    hit = _LAYOUTS.get(key)
    if hit is not None and hit[0]() is batch:
        return hit[1]
    b = num_graphs(batch)
    counts = torch.bincount(batch, minlength=b)
    n_max = int(counts.max()) if b > 0 else 0
    ptr = torch.zeros(b + 1, dtype=torch.long, device=batch.device)
    torch.cumsum(counts, 0, out=ptr[1:])
    pos = torch.arange(batch.numel(), device=batch.device) - ptr[batch]
    if batch.numel() and bool((pos < 0).any()):
        raise ValueError("MultiheadSelfAttention: batch must be sorted (nodes of each graph contiguous), as PyG "
                         "batches are")
    flat = batch * n_max + pos
    valid = torch.zeros(b * n_max, dtype=torch.bool, device=batch.device)
    valid[flat] = True
    layout = _DenseLayout(b, n_max, flat, valid.view(b, 1, 1, n_max))
    _LAYOUTS[key] = (weakref.ref(batch, lambda _r, key=key: _LAYOUTS.pop(key, None)), layout)
    return layout


class _RowsToPadded(torch.autograd.Function):
    """``out = zeros(size, F); out[flat] = src`` with an index-select backward (``flat`` is injective, so no
    scatter-add is needed)."""

    @staticmethod
    def forward(ctx, src: Tensor, flat: Tensor, size: int) -> Tensor:
        ctx.save_for_backward(flat)
        return src.new_zeros(size, src.size(1)).index_copy_(0, flat, src)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (flat,) = ctx.saved_tensors
        return grad.index_select(0, flat), None, None


class _PaddedToRows(torch.autograd.Function):
    """``out = dense[flat]`` with an index-copy backward (``flat`` is injective)."""

    @staticmethod
    def forward(ctx, dense: Tensor, flat: Tensor) -> Tensor:
        ctx.save_for_backward(flat)
        ctx.size = dense.size(0)
        return dense.index_select(0, flat)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (flat,) = ctx.saved_tensors
        return grad.new_zeros(ctx.size, grad.size(1)).index_copy_(0, flat, grad.contiguous()), None


class MultiheadSelfAttention(nn.Module):
    r"""Multi-head self-attention within each graph of a batch, with a key-padding mask:

    .. math::
        \mathrm{MHA}(X)_i = W_O\,\big\Vert_{h=1}^{H} \sum_{j \in G(i)}
            \mathrm{softmax}_j\!\Big(\frac{\langle W_Q^h x_i, W_K^h x_j\rangle}{\sqrt{d/H}}\Big) W_V^h x_j

    where :math:`G(i)` are the nodes of the graph of ``i``. Dropout ``dropout`` is applied to the attention weights.

    Args:
        channels: ``d`` (divisible by ``heads``).
        heads: ``H``.
        dropout: attention-weight dropout (GPS on ZINC: 0.5).

    Shapes: x ``[N, d]``, batch ``[N]`` sorted (or ``None`` for one graph) -> ``[N, d]``.
    """

    def __init__(self, channels: int, heads: int, *, dropout: float = 0.0):
        super().__init__()
        if channels % heads != 0:
            raise ValueError(f"MultiheadSelfAttention: channels={channels} must be divisible by heads={heads}")
        self.channels, self.heads, self.dropout = channels, heads, float(dropout)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.qkv.weight)
        nn.init.zeros_(self.qkv.bias)
        self.out.reset_parameters()
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, batch: Tensor | None = None) -> Tensor:
        n, d = x.shape
        batch = resolve_batch(batch, n, x.device)
        b, n_max, flat, key_mask = _dense_layout(batch)
        h, dh = self.heads, d // self.heads
        qkv = self.qkv(x)                                                         # [N, 3d]
        dense = _RowsToPadded.apply(qkv, flat, b * n_max)                         # [B*Nmax, 3d], zero padding
        dense = dense.view(b, n_max, 3, h, dh).permute(2, 0, 3, 1, 4)            # [3, B, H, Nmax, dh]
        q, k, v = dense[0], dense[1], dense[2]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask,         # mask: keys that exist
                                             dropout_p=self.dropout if self.training else 0.0)   # [B, H, Nmax, dh]
        out = _PaddedToRows.apply(out.permute(0, 2, 1, 3).reshape(b * n_max, d), flat)      # [N, d]
        return self.out(out)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.channels}, heads={self.heads}, dropout={self.dropout})"


class LinearSelfAttention(nn.Module):
    r"""Kernelised linear attention within each graph (Katharopoulos et al., "Transformers are RNNs", 2020), with
    :math:`\phi(u) = \mathrm{elu}(u) + 1`:

    .. math::
        \mathrm{LA}(X)_i = W_O\,\big\Vert_{h} \frac{\phi(q_i^h)^\top \sum_{j \in G(i)} \phi(k_j^h) (v_j^h)^\top}
            {\phi(q_i^h)^\top \sum_{j \in G(i)} \phi(k_j^h)}

    Per-graph sums are scatters over ``batch``; no padding and ``O(N d^2 / H)`` work.

    Args:
        channels: ``d`` (divisible by ``heads``).
        heads: ``H``.
        dropout: dropout on the output (default 0).

    Shapes: x ``[N, d]``, batch ``[N]`` (or ``None``) -> ``[N, d]``.
    """

    def __init__(self, channels: int, heads: int, *, dropout: float = 0.0):
        super().__init__()
        if channels % heads != 0:
            raise ValueError(f"LinearSelfAttention: channels={channels} must be divisible by heads={heads}")
        self.channels, self.heads, self.dropout = channels, heads, float(dropout)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.qkv.weight)
        nn.init.zeros_(self.qkv.bias)
        self.out.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor | None = None) -> Tensor:
        n, d = x.shape
        batch = resolve_batch(batch, n, x.device)
        b = num_graphs(batch)
        h, dh = self.heads, d // self.heads
        q, k, v = self.qkv(x).view(n, 3, h, dh).unbind(1)                       # each [N, H, dh]
        q, k = F.elu(q) + 1.0, F.elu(k) + 1.0
        kv = torch.einsum("nhd,nhe->nhde", k, v).reshape(n, h * dh * dh)          # [N, H*dh*dh]
        kv_g = graph_to_nodes(nodes_to_graph(kv, batch, b), batch).view(n, h, dh, dh)
        k_g = graph_to_nodes(nodes_to_graph(k.reshape(n, d), batch, b), batch).view(n, h, dh)
        num = torch.einsum("nhd,nhde->nhe", q, kv_g)                              # [N, H, dh]
        den = (q * k_g).sum(-1, keepdim=True).clamp(min=1e-6)                     # [N, H, 1]
        out = (num / den).reshape(n, d)
        return F.dropout(self.out(out), self.dropout, self.training)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.channels}, heads={self.heads})"


class GPSLayer(nn.Module):
    r"""One GPS layer: a local MPNN and a global attention read the same input, then a feed-forward block
    (Rampášek et al. 2022, Eq. 6–11):

    .. math::
        h_L &= \mathrm{Norm}(x + \mathrm{Dropout}(\mathrm{MPNN}(x, A, e))) \\
        h_A &= \mathrm{Norm}(x + \mathrm{Dropout}(\mathrm{GlobalAttn}(x))) \\
        h &= h_L + h_A, \qquad x' = \mathrm{Norm}(h + \mathrm{FFN}(h)),
        \quad \mathrm{FFN} = \mathrm{Lin}(d, 2d)\text{-act-Dropout-}\mathrm{Lin}(2d, d)\text{-Dropout}

    Either branch may be ``None`` (MPNN only = a plain residual MPNN; attention only = a graph Transformer).

    Args:
        channels: ``d``.
        conv: a built local conv with ``forward(x, edge_index, edge_attr, batch)`` returning ``x'`` or
            ``(x', edge_attr')`` (GatedGCN updates edges; build it with ``residual=False``), or ``None``.
        attn: a built global attention module ``forward(x, batch) -> [N, d]``
            (:class:`MultiheadSelfAttention`, :class:`LinearSelfAttention`) or ``None``.
        dropout: dropout after each branch and in the FFN (default 0).
        norm: constructor ``d -> module`` (``nn.BatchNorm1d`` default, ``nn.LayerNorm``) or ``None``.
        act: FFN activation module (default ``ReLU``).

    Shapes:
        x ``[N, d]``, edge_index ``[2, E]``, edge_attr ``[E, d_e]``, batch ``[N]`` or ``None``
        -> ``(x' [N, d], edge_attr' [E, d_e])``; ``edge_attr`` is returned unchanged unless ``conv`` updates it.
    """

    def __init__(self, channels: int, conv: nn.Module | None, attn: nn.Module | None, *, dropout: float = 0.0,
                 norm: Callable[[int], nn.Module] | None = nn.BatchNorm1d, act: nn.Module | None = None):
        super().__init__()
        if conv is None and attn is None:
            raise ValueError("GPSLayer: pass a local conv, a global attention module, or both")
        self.channels = channels
        self.conv = conv
        self.attn = attn
        self.dropout = float(dropout)

        def make_norm() -> nn.Module:
            return norm(channels) if norm is not None else nn.Identity()

        self.norm_local = make_norm() if conv is not None else None
        self.norm_attn = make_norm() if attn is not None else None
        self.norm_out = make_norm()
        self.ffn = nn.Sequential(nn.Linear(channels, 2 * channels), act if act is not None else nn.ReLU(),
                                 nn.Dropout(dropout), nn.Linear(2 * channels, channels), nn.Dropout(dropout))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in (self.conv, self.attn, self.norm_local, self.norm_attn, self.norm_out):
            if m is not None and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        for m in self.ffn:
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor,
                batch: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = x.new_zeros(())
        if self.conv is not None:
            local = self.conv(x, edge_index, edge_attr, batch)
            if isinstance(local, tuple):                     # an edge-updating conv (GatedGCN)
                local, edge_attr = local
            h = h + self.norm_local(x + F.dropout(local, self.dropout, self.training))
        if self.attn is not None:
            glob = self.attn(x, batch)
            h = h + self.norm_attn(x + F.dropout(glob, self.dropout, self.training))
        out = self.norm_out(h + self.ffn(h))
        return out, edge_attr

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.channels}, conv={self.conv}, attn={self.attn}, "
                f"norm={type(self.norm_out).__name__})")
