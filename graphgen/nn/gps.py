"""GPS layer (Rampášek et al., "Recipe for a General, Powerful, Scalable Graph Transformer", NeurIPS 2022) and the
global attention modules it can hold.

A global attention module has the signature ``forward(x [N, d], batch [N]) -> [N, d]`` and attends within each graph
only:

- :class:`MultiheadSelfAttention`: exact softmax attention over all node pairs of a graph. Graphs are grouped by
  node count into a few size buckets, each padded only to its own largest graph (on ZINC batches of 128 this halves
  the padded pairs of one ``[B, N_max, N_max]`` block); padded keys get a ``-inf`` score (key-padding mask). The
  packing index is computed once per ``batch`` tensor and shared by every layer.
- :class:`LinearSelfAttention`: kernelised linear attention (Katharopoulos et al. 2020, feature map
  ``elu(.) + 1``), ``O(N d^2)`` per graph: per-graph sums go through :func:`graphgen.nn.utils.nodes_to_graph` and
  come back through :func:`graphgen.nn.utils.graph_to_nodes`, so no padding at all.
"""
from __future__ import annotations

import math
import weakref
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .utils import graph_to_nodes, nodes_to_graph, num_graphs, resolve_batch

__all__ = ["GPSLayer", "LinearSelfAttention", "MultiheadSelfAttention"]


# A bucket must save this many padded (query, key) slots per head to be worth its own kernels: a bucket's fixed cost
# (about ten torch ops forward and backward) equals that of thousands of padded slots. Tuned on ZINC-12k batches of
# 32 and 128 graphs (figures: benchmarks/results/ops_notes.md).
_BUCKET_COST = 4096
_MAX_BUCKETS = 4


def _size_buckets(sizes: list[int], cost: int = _BUCKET_COST, max_buckets: int = _MAX_BUCKETS) -> list[int]:
    """Upper node counts of the size buckets: graphs of ``sizes`` are grouped into contiguous size ranges, each padded
    to its largest graph, minimising ``sum(graphs * max_nodes^2) + cost * buckets`` (exact DP over distinct sizes)."""
    values = sorted(set(sizes))
    if not values:
        return []
    count = {v: 0 for v in values}
    for v in sizes:
        count[v] += 1
    cum = [0]
    for v in values:
        cum.append(cum[-1] + count[v])
    m, inf = len(values), float("inf")
    # best[k][j]: cheapest cover of the j smallest distinct sizes by k buckets
    best = [[inf] * (m + 1) for _ in range(max_buckets + 1)]
    back = [[0] * (m + 1) for _ in range(max_buckets + 1)]
    best[0][0] = 0.0
    for k in range(1, max_buckets + 1):
        for j in range(k, m + 1):
            top = values[j - 1] ** 2
            for i in range(k - 1, j):
                c = best[k - 1][i] + (cum[j] - cum[i]) * top + cost
                if c < best[k][j]:
                    best[k][j], back[k][j] = c, i
    k = min(range(1, max_buckets + 1), key=lambda kk: best[kk][m])
    uppers, j = [], m
    while k > 0:
        uppers.append(values[j - 1])
        j, k = back[k][j], k - 1
    return uppers[::-1]


class _AttnLayout(NamedTuple):
    """Where every (node, head) of a batch lives in the packed, size-bucketed attention buffers.

    Graphs are grouped by node count into a few buckets (:func:`_size_buckets`); bucket ``k`` holds ``G_k`` graphs
    padded to ``M_k`` nodes. The q/k/v buffer is ``[sum_k 3 * H * G_k * M_k, dh]``: bucket ``k`` is one contiguous
    ``[3, H * G_k, M_k, dh]`` block, so q, k, v of all its graphs and heads are ready-made ``bmm`` batches. The output
    buffer is the concatenation of the per-bucket ``[H * G_k, M_k, dh]`` results."""
    buckets: tuple[tuple[int, int], ...]   # (G_k, M_k)
    qkv_rows: Tensor                       # [N * 3H] row of (node, q/k/v, head) in the q/k/v buffer
    qkv_size: int
    out_rows: Tensor                       # [N * H] row of (node, head) in the output buffer
    key_bias: tuple[Tensor, ...]           # per bucket [H * G_k, 1, M_k]: 0 for real keys, -inf for padding


_LAYOUTS: dict[tuple, tuple[weakref.ref, _AttnLayout]] = {}


def _attn_layout(batch: Tensor, heads: int) -> _AttnLayout:
    """The packed layout of a sorted ``batch`` vector, cached on the tensor object: it is computed once per batch and
    shared by every attention layer of the forward (and backward) pass."""
    key = (id(batch), batch._version, heads, _BUCKET_COST, _MAX_BUCKETS)
    hit = _LAYOUTS.get(key)
    if hit is not None and hit[0]() is batch:
        return hit[1]
    dev = batch.device
    b = num_graphs(batch)
    counts = torch.bincount(batch, minlength=b)
    ptr = torch.zeros(b + 1, dtype=torch.long, device=dev)
    torch.cumsum(counts, 0, out=ptr[1:])
    pos = torch.arange(batch.numel(), device=dev) - ptr[batch]
    if batch.numel() and bool((pos < 0).any()):
        raise ValueError("MultiheadSelfAttention: batch must be sorted (nodes of each graph contiguous), as PyG "
                         "batches are")
    uppers = _size_buckets(counts.tolist(), _BUCKET_COST, _MAX_BUCKETS)
    upper_t = torch.tensor(uppers, dtype=torch.long, device=dev)
    gb = torch.searchsorted(upper_t, counts)                               # [B] bucket of each graph
    per_bucket = torch.bincount(gb, minlength=len(uppers))                 # G_k
    order = torch.argsort(gb, stable=True)
    first = torch.zeros(len(uppers), dtype=torch.long, device=dev)
    first[1:] = torch.cumsum(per_bucket, 0)[:-1]
    slot = torch.empty(b, dtype=torch.long, device=dev)
    slot[order] = torch.arange(b, device=dev) - first[gb[order]]           # rank of a graph inside its bucket
    block = per_bucket * upper_t                                           # G_k * M_k
    qkv_base = torch.zeros_like(block)
    out_base = torch.zeros_like(block)
    qkv_base[1:] = torch.cumsum(3 * heads * block, 0)[:-1]
    out_base[1:] = torch.cumsum(heads * block, 0)[:-1]
    nb = gb[batch]                                                         # [N] bucket of each node
    inner = (slot[batch] * upper_t[nb] + pos).unsqueeze(1)                 # [N, 1] row inside one (q/k/v, head)
    stride = block[nb].unsqueeze(1)
    qkv_rows = (qkv_base[nb].unsqueeze(1) + torch.arange(3 * heads, device=dev) * stride + inner).view(-1)
    out_rows = (out_base[nb].unsqueeze(1) + torch.arange(heads, device=dev) * stride + inner).view(-1)
    biases = []
    for k, m in enumerate(uppers):
        n_k = counts[gb == k]                                              # node counts of the bucket, in slot order
        valid = torch.arange(m, device=dev) < n_k.unsqueeze(1)             # [G_k, M_k]
        bias = torch.zeros(valid.shape, device=dev).masked_fill_(~valid, float("-inf"))
        biases.append(bias.unsqueeze(0).expand(heads, -1, -1).reshape(-1, 1, m))
    layout = _AttnLayout(tuple(zip(per_bucket.tolist(), uppers)), qkv_rows, int((3 * heads * block).sum()),
                         out_rows, tuple(biases))
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


def _keep_mask(shape: tuple[int, ...], p: float, device: torch.device) -> tuple[Tensor, float]:
    """A dropout keep mask (bool, ``True`` with probability ``1 - p``) and the keep probability it realises. Bits come
    16 at a time from int64 draws of the default generator (``p`` is rounded to a multiple of 2^-16): on CPU this is
    far cheaper than ``bernoulli_``, which dominated the attention's cost (benchmarks/results/ops_notes.md)."""
    numel = math.prod(shape)
    words = torch.randint(-2 ** 63, 2 ** 63 - 1, ((numel + 3) // 4,), dtype=torch.int64, device=device)
    level = round(p * 65536)
    kept = words.view(torch.int16)[:numel].view(shape) >= level - 32768    # P(drop) = level / 65536
    return kept, 1.0 - level / 65536


class MultiheadSelfAttention(nn.Module):
    r"""Multi-head self-attention within each graph of a batch, with a key-padding mask:

    .. math::
        \mathrm{MHA}(X)_i = W_O\,\big\Vert_{h=1}^{H} \sum_{j \in G(i)}
            \mathrm{softmax}_j\!\Big(\frac{\langle W_Q^h x_i, W_K^h x_j\rangle}{\sqrt{d/H}}\Big) W_V^h x_j

    where :math:`G(i)` are the nodes of the graph of ``i``. Dropout ``dropout`` is applied to the attention weights
    (inverted dropout, as ``nn.MultiheadAttention``; the keep mask is drawn 16 bits at a time, see :func:`_keep_mask`).
    Initialisation as ``nn.MultiheadAttention``: Xavier-uniform fused q/k/v projection, zero biases.

    Computation: one fused q/k/v ``Linear`` on the ``N`` real nodes, then per size bucket (see :func:`_attn_layout`)
    ``baddbmm`` scores with a ``-inf`` key-padding bias, ``softmax``, dropout, ``bmm``; the output rows are gathered
    back to the ``N`` nodes. Padded rows are zero and never reach a real node.

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
        h, dh = self.heads, d // self.heads
        qkv = self.qkv(x)                                                          # [N, 3d]
        drop = self.dropout if self.training else 0.0
        if n == 0 or drop >= 1.0:
            return self.out(qkv[:, :d] * 0.0)
        layout = _attn_layout(batch, h)
        packed = _RowsToPadded.apply(qkv.reshape(n * 3 * h, dh), layout.qkv_rows, layout.qkv_size)   # zero padding
        outs, keep = [], 1.0
        blocks = packed.split([3 * h * g * m for g, m in layout.buckets]) if len(layout.buckets) > 1 else (packed,)
        for (g, m), bias, block in zip(layout.buckets, layout.key_bias, blocks):
            q, k, v = block.view(3, h * g, m, dh).unbind(0)                       # [H*G, M, dh] each
            scores = torch.baddbmm(bias.to(q.dtype), q, k.transpose(1, 2), alpha=dh ** -0.5)   # [H*G, M, M]
            attn = torch.softmax(scores, -1)
            if drop > 0.0:
                kept, keep = _keep_mask(attn.shape, drop, attn.device)
                attn = attn * kept
            outs.append(torch.bmm(attn, v).view(-1, dh))
        out = outs[0] if len(outs) == 1 else torch.cat(outs)
        out = _PaddedToRows.apply(out, layout.out_rows).view(n, d)                 # [N, d]
        if keep != 1.0:                     # inverted-dropout scale, folded into W_O (d x d) instead of the N x d rows
            return F.linear(out, self.out.weight * (1.0 / keep), self.out.bias)
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
        h = None
        if self.conv is not None:
            local = self.conv(x, edge_index, edge_attr, batch)
            if isinstance(local, tuple):                     # an edge-updating conv (GatedGCN)
                local, edge_attr = local
            h = self.norm_local(x + F.dropout(local, self.dropout, self.training))
        if self.attn is not None:
            glob = self.norm_attn(x + F.dropout(self.attn(x, batch), self.dropout, self.training))
            h = glob if h is None else h + glob
        out = self.norm_out(h + self.ffn(h))
        return out, edge_attr

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.channels}, conv={self.conv}, attn={self.attn}, "
                f"norm={type(self.norm_out).__name__})")
