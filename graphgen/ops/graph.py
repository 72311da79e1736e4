"""`CSRGraph`: a destination-sorted CSR view of an ``edge_index``, built once and reused by every op.

PyG's ``edge_index`` is ``[2, E]`` with ``edge_index[0]`` the source ``j`` and ``edge_index[1]`` the destination ``i``
(``flow="source_to_target"``): node ``i`` receives ``msg(x_j, e_ij)``. The fused kernels walk the incoming edges of one
destination row at a time, so they need the edges grouped by destination (CSR over destinations). The backward pass of
``x -> out`` walks the *outgoing* edges of each source node, i.e. the transposed CSR, which is stored too.

Edge tensors (``edge_weight``, ``edge_attr``, ``edge_bias``) always stay in the caller's original edge order: kernels read
them through ``perm`` (sorted position -> original edge id), so no reordered copy of an E x F tensor is ever made.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["CSRGraph"]


@dataclass(frozen=True, eq=False)
class CSRGraph:
    """Destination-sorted CSR view of a (possibly bipartite) edge list, plus its transpose.

    Attributes (``E`` edges, ``N_src`` source nodes, ``N_dst`` destination nodes, all ``torch.long``):
        edge_index: ``[2, E]`` the original edge list (row 0 source ``j``, row 1 destination ``i``).
        num_src_nodes, num_dst_nodes: node counts (equal for an ordinary graph).
        indptr: ``[N_dst + 1]`` incoming edges of ``i`` are sorted positions ``indptr[i]:indptr[i+1]``.
        col: ``[E]`` source node ``j`` of each sorted position.
        row: ``[E]`` destination node ``i`` of each sorted position (non-decreasing).
        perm: ``[E]`` original edge id of each sorted position (stable sort, so multi-edges keep their order).
        t_indptr: ``[N_src + 1]`` outgoing edges of ``j`` are transposed positions ``t_indptr[j]:t_indptr[j+1]``.
        t_col: ``[E]`` destination node ``i`` of each transposed position.
        t_perm: ``[E]`` original edge id of each transposed position.
        t_pos: ``[E]`` destination-sorted position of the edge at each transposed position (``perm[t_pos] ==
            t_perm``), so a pass over the transposed CSR can read and write per-edge values kept in destination order.
        pos: ``[E]`` destination-sorted position of each original edge id (the inverse of ``perm``), so a pass in
            original edge order can read per-edge values kept in destination order.
        in_degree: ``[N_dst]`` number of incoming edges (multi-edges and self loops counted).

    Build with :meth:`from_edge_index`, which caches the view on the ``edge_index`` tensor object, so calling it in every
    layer of a forward pass costs one dictionary lookup after the first call.
    """

    edge_index: Tensor
    num_src_nodes: int
    num_dst_nodes: int
    indptr: Tensor
    col: Tensor
    row: Tensor
    perm: Tensor
    t_indptr: Tensor
    t_col: Tensor
    t_perm: Tensor
    t_pos: Tensor
    pos: Tensor
    in_degree: Tensor

    @property
    def num_edges(self) -> int:
        return int(self.col.numel())

    @property
    def device(self) -> torch.device:
        return self.col.device

    @staticmethod
    def from_edge_index(edge_index: Tensor, num_nodes: int | tuple[int, int] | None = None, *,
                        cache: bool = True) -> "CSRGraph":
        """Build (or fetch from the cache) the CSR view of ``edge_index``.

        Args:
            edge_index: ``[2, E]`` integer tensor, row 0 = source ``j``, row 1 = destination ``i``.
            num_nodes: ``N`` for an ordinary graph, ``(N_src, N_dst)`` for a bipartite one; default ``max index + 1``
                (pass it explicitly when the last nodes may be isolated).
            cache: reuse the view built for this very tensor object (invalidated if the tensor is modified in place).
        """
        if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
            shape = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else type(edge_index).__name__
            raise ValueError(f"CSRGraph.from_edge_index: edge_index must be a [2, E] tensor, got {shape}; "
                             "transpose an [E, 2] edge list with .t()")
        if edge_index.dtype.is_floating_point or edge_index.dtype == torch.bool:
            raise TypeError(f"CSRGraph.from_edge_index: edge_index must be an integer tensor, got {edge_index.dtype}")
        if num_nodes is None:
            n = int(edge_index.max()) + 1 if edge_index.numel() > 0 else 0
            num_src, num_dst = n, n
        elif isinstance(num_nodes, (tuple, list)):
            num_src, num_dst = int(num_nodes[0]), int(num_nodes[1])
        else:
            num_src = num_dst = int(num_nodes)

        key = (id(edge_index), edge_index._version, num_src, num_dst)
        if cache:
            hit = _CACHE.get(key)
            if hit is not None and hit[0]() is edge_index:
                return hit[1]

        graph = _build(edge_index, num_src, num_dst)
        if cache:
            _CACHE[key] = (weakref.ref(edge_index, lambda _ref, key=key, cache=_CACHE: cache.pop(key, None)), graph)
        return graph

    def to(self, device: torch.device | str) -> "CSRGraph":
        """The same view on another device."""
        moved = {name: (getattr(self, name).to(device) if isinstance(getattr(self, name), Tensor)
                        else getattr(self, name)) for name in self.__dataclass_fields__}
        return CSRGraph(**moved)

    def __repr__(self) -> str:
        return (f"CSRGraph(num_src_nodes={self.num_src_nodes}, num_dst_nodes={self.num_dst_nodes}, "
                f"num_edges={self.num_edges}, device={self.device})")


# id(edge_index), version, sizes -> (weakref to the tensor, graph). Entries die with their tensor.
_CACHE: dict[tuple[int, int, int, int], tuple[weakref.ref, CSRGraph]] = {}


def _sort_by(keys: Tensor, num_bins: int) -> tuple[Tensor, Tensor]:
    """Stable sort of edge ids by ``keys``: ``(indptr [num_bins + 1], perm [E])``. On CPU an O(E) counting sort
    (numba) when available, else ``torch.argsort``."""
    if keys.device.type == "cpu":
        try:
            from ._cpu import counting_sort
        except ImportError:
            counting_sort = None
        if counting_sort is not None:
            return counting_sort(keys.contiguous(), num_bins)
    perm = torch.argsort(keys, stable=True)
    indptr = torch.zeros(num_bins + 1, dtype=torch.long, device=keys.device)
    torch.cumsum(torch.bincount(keys, minlength=num_bins), 0, out=indptr[1:])
    return indptr, perm


def _build(edge_index: Tensor, num_src: int, num_dst: int) -> CSRGraph:
    edge_index = edge_index.long()
    src, dst = edge_index[0], edge_index[1]
    if src.numel() > 0:
        if int(src.min()) < 0 or int(dst.min()) < 0:
            raise ValueError("CSRGraph.from_edge_index: edge_index has negative node ids")
        if int(src.max()) >= num_src or int(dst.max()) >= num_dst:
            raise ValueError(f"CSRGraph.from_edge_index: edge_index refers to node {int(edge_index.max())} but "
                             f"num_nodes=({num_src}, {num_dst}); pass the right num_nodes")
    indptr, perm = _sort_by(dst, num_dst)
    row = dst[perm]
    col = src[perm]
    in_degree = indptr[1:] - indptr[:-1]
    t_indptr, t_perm = _sort_by(src, num_src)
    t_col = dst[t_perm]
    pos = torch.empty_like(perm)                                  # original edge id -> destination-sorted position
    pos[perm] = torch.arange(perm.numel(), device=perm.device)
    t_pos = pos[t_perm]
    return CSRGraph(edge_index=edge_index, num_src_nodes=num_src, num_dst_nodes=num_dst, indptr=indptr,
                    col=col.contiguous(), row=row.contiguous(), perm=perm, t_indptr=t_indptr,
                    t_col=t_col.contiguous(), t_perm=t_perm, t_pos=t_pos.contiguous(), pos=pos,
                    in_degree=in_degree)
