"""Reference backend: plain torch gather + ``index_add_`` / ``scatter_reduce_``. It is the ground truth every fused
backend is tested against, and it materialises the E x F message tensor on purpose (that is what PyG does).

All functions take the normalised shapes produced by :mod:`graphgen.ops`: node tensors ``[N, H, D]``, edge weights
``[E, H]``, edge features ``[E, H, D]``, scores/bias ``[E, H]``; edge tensors in the original edge order.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .graph import CSRGraph


# ---- the three visible steps: message (per edge), reduce (per destination), update (identity here) ------------------
def message(x_j: Tensor, edge_weight: Tensor | None, edge_attr: Tensor | None, kind: str) -> Tensor:
    """``[E, H, D]`` messages: copy ``x_j``, mul ``w_ij * x_j``, add_relu ``relu(x_j + e_ij)``."""
    if kind == "copy":
        return x_j
    if kind == "mul":
        return x_j * edge_weight.unsqueeze(-1)
    if kind == "add_relu":
        return torch.relu(x_j + edge_attr)
    raise ValueError(f"unknown message {kind!r}")


def reduce(msg: Tensor, index: Tensor, dim_size: int, kind: str) -> Tensor:
    """Reduce rows of ``msg`` ``[E, *]`` into ``[dim_size, *]`` by ``index`` ``[E]``; empty rows give 0."""
    out_shape = (dim_size,) + tuple(msg.shape[1:])
    if kind in ("sum", "mean"):
        out = msg.new_zeros(out_shape).index_add_(0, index, msg)
        if kind == "mean":
            count = torch.bincount(index, minlength=dim_size).clamp_(min=1).to(msg.dtype)
            out = out / count.view((-1,) + (1,) * (msg.dim() - 1))
        return out
    if kind in ("max", "min"):
        idx = index.view((-1,) + (1,) * (msg.dim() - 1)).expand_as(msg)
        out = msg.new_zeros(out_shape).scatter_reduce(0, idx, msg, reduce="amax" if kind == "max" else "amin",
                                                      include_self=False)
        return out
    raise ValueError(f"unknown reduce {kind!r}")


def scatter(src: Tensor, index: Tensor, dim_size: int, reduce_: str) -> Tensor:
    return reduce(src, index, dim_size, reduce_)


def segment(src: Tensor, indptr: Tensor, reduce_: str) -> Tensor:
    counts = indptr[1:] - indptr[:-1]
    index = torch.repeat_interleave(torch.arange(counts.numel(), device=src.device), counts)
    return reduce(src, index, counts.numel(), reduce_)


def gather_scatter(x: Tensor, graph: CSRGraph, edge_weight: Tensor | None, edge_attr: Tensor | None,
                   message_: str, reduce_: str) -> Tensor:
    src, dst = graph.edge_index[0], graph.edge_index[1]
    msg = message(x[src], edge_weight, edge_attr, message_)       # [E, H, D]  <- the buffer fused backends avoid
    return reduce(msg, dst, graph.num_dst_nodes, reduce_)       # [N_dst, H, D]


def segment_softmax(scores: Tensor, graph: CSRGraph) -> Tensor:
    """Softmax of ``scores`` ``[E, H]`` over the incoming edges of each destination node."""
    dst = graph.edge_index[1]
    row_max = reduce(scores.detach(), dst, graph.num_dst_nodes, "max")
    ex = torch.exp(scores - row_max[dst])
    denom = ex.new_zeros((graph.num_dst_nodes,) + tuple(ex.shape[1:])).index_add_(0, dst, ex)
    return ex / denom[dst]


def edge_attention(q: Tensor, k: Tensor, v: Tensor, graph: CSRGraph, edge_bias: Tensor | None,
                   scale: float) -> Tensor:
    """``out_i = sum_j softmax_j(scale * q_i.k_j + b_ij) v_j`` with q ``[N_dst, H, D]``, k/v ``[N_src, H, D]``."""
    src, dst = graph.edge_index[0], graph.edge_index[1]
    scores = (q[dst] * k[src]).sum(-1) * scale                    # [E, H]
    if edge_bias is not None:
        scores = scores + edge_bias
    alpha = segment_softmax(scores, graph)                        # [E, H]
    return reduce(alpha.unsqueeze(-1) * v[src], dst, graph.num_dst_nodes, "sum")
