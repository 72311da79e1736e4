"""torch_scatter backend: gather the per-edge messages in destination order, then ``torch_scatter.segment_csr``.

It materialises the E x F message tensor (like PyG) but reduces it with torch_scatter's deterministic CSR kernels;
autograd comes from torch_scatter. Importing this module fails with ImportError when torch_scatter is missing, which
makes the backend unavailable (the default backend then falls back).
"""
from __future__ import annotations

import torch_scatter
from torch import Tensor

from . import _reference
from .graph import CSRGraph


def gather_scatter(x: Tensor, graph: CSRGraph, w: Tensor | None, e: Tensor | None, message: str,
                   reduce: str) -> Tensor:
    # message step, per edge in destination order
    msg = _reference.message(x[graph.col], None if w is None else w[graph.perm], None if e is None else e[graph.perm],
                             message)                                   # [E, H, D]
    # reduce step; segment_csr gives 0 for empty segments for every reduce
    return torch_scatter.segment_csr(msg, graph.indptr, reduce=reduce)  # [N_dst, H, D]


def segment_softmax(s: Tensor, graph: CSRGraph) -> Tensor:
    return torch_scatter.composite.scatter_softmax(s, graph.edge_index[1], dim=0, dim_size=graph.num_dst_nodes)


def edge_attention(q: Tensor, k: Tensor, v: Tensor, graph: CSRGraph, b: Tensor | None, scale: float) -> Tensor:
    scores = (q[graph.row] * k[graph.col]).sum(-1) * scale              # [E, H], destination order
    if b is not None:
        scores = scores + b[graph.perm]
    alpha = torch_scatter.composite.scatter_softmax(scores, graph.row, dim=0, dim_size=graph.num_dst_nodes)
    return torch_scatter.segment_csr(alpha.unsqueeze(-1) * v[graph.col], graph.indptr, reduce="sum")

