"""`CSRGraph`: a destination-sorted CSR view of an ``edge_index``, built once and reused by every op.

PyG's ``edge_index`` is ``[2, E]`` with ``edge_index[0]`` the source ``j`` and ``edge_index[1]`` the destination ``i``
(``flow="source_to_target"``): node ``i`` receives ``msg(x_j, e_ij)``. The fused kernels walk the incoming edges of one
destination row at a time, so they need the edges grouped by destination (CSR over destinations). The backward pass of
``x -> out`` walks the *outgoing* edges of each source node, i.e. the transposed CSR, which is stored too.

Edge tensors (``edge_weight``, ``edge_attr``, ``edge_bias``) always stay in the caller's original edge order: kernels read
them through ``perm`` (sorted position -> original edge id), so no reordered copy of an E x F tensor is ever made.

The compiled kernels index memory with these arrays unchecked, so a ``CSRGraph`` is validated whenever it is built
(also by ``dataclasses.replace`` and ``CSRGraph(...)``) and is read-only afterwards: every op first compares each
tensor's version counter, storage and shape with those recorded at validation (O(1)) and refuses a graph edited in
place.
"""
from __future__ import annotations

import contextvars
import operator
import weakref
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import InputError

__all__ = ["CSRGraph", "InputTypeError"]


class InputTypeError(InputError, TypeError):
    """A graphgen.ops argument has the wrong type or dtype (still a ``TypeError`` for callers that catch one)."""


_REBUILD = "build it with CSRGraph.from_edge_index(edge_index, num_nodes)"


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
    layer of a forward pass costs a dictionary lookup and one comparison of ``edge_index`` with the graph's copy.

    Construction checks every invariant above (O(E + N); :meth:`from_edge_index` checks the ids and builds the rest
    correct by construction) and raises :class:`graphgen.errors.InputError` naming the field; the tensors become the
    graph's own (contiguous, not inference tensors). Treat the graph as read-only: :meth:`check_unmodified` (run by
    every op) refuses it once one of its tensors was edited in place. An edit that bypasses torch's version counter
    (writing through ``.numpy()`` or ``.data`` of the graph's own tensors) is not detected.
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

    def __post_init__(self) -> None:
        _check_layout(self)
        for name in _TENSOR_FIELDS:                               # frozen: set through object.__setattr__
            object.__setattr__(self, name, _owned(getattr(self, name)))
        if not _BUILDING.get():                                   # _build's arrays are right by construction
            _check_values(self)
        object.__setattr__(self, "_stamp", _stamp(self))

    @property
    def num_edges(self) -> int:
        return int(self.col.numel())

    @property
    def device(self) -> torch.device:
        return self.col.device

    def check_unmodified(self, who: str = "graphgen.ops") -> None:
        """Raise :class:`InputError` if a tensor of the graph changed since it was validated (O(1): version counter,
        storage pointer, shape and strides of each tensor)."""
        if _stamp(self) == self._stamp:
            return
        for name, then in zip(_TENSOR_FIELDS, self._stamp):
            if _tensor_stamp(getattr(self, name)) != then:
                raise InputError(f"{who}: CSRGraph.{name} was modified in place after the graph was built (a CSRGraph "
                                 f"is read-only); {_REBUILD}")
        raise InputError(f"{who}: the CSRGraph was modified after it was built; {_REBUILD}")

    @staticmethod
    def from_edge_index(edge_index: Tensor, num_nodes: int | tuple[int, int] | None = None, *,
                        cache: bool = True) -> "CSRGraph":
        """Build (or fetch from the cache) the CSR view of ``edge_index``.

        Args:
            edge_index: ``[2, E]`` integer tensor, row 0 = source ``j``, row 1 = destination ``i``.
            num_nodes: ``N`` for an ordinary graph, ``(N_src, N_dst)`` for a bipartite one; default ``max index + 1``
                (pass it explicitly when the last nodes may be isolated).
            cache: reuse the view built for this very tensor object while its values are unchanged (checked by
                comparing them with the graph's own copy, so any in-place edit, even through ``.numpy()``, misses).
        """
        _check_edge_index_tensor(edge_index)
        num_src, num_dst = _node_counts(edge_index, num_nodes)
        key = (id(edge_index), num_src, num_dst)
        if cache:
            hit = _cached(key, edge_index)                  # equal to a validated copy: its ids are in range
            if hit is not None:
                return hit
        _check_node_ids(edge_index, num_src, num_dst)
        with torch.inference_mode(False):                         # the graph's tensors must track versions
            graph = _build(edge_index, num_src, num_dst)
        if cache:
            _CACHE[key] = (weakref.ref(edge_index, lambda _ref, key=key, cache=_CACHE: cache.pop(key, None)), graph)
        return graph

    def to(self, device: torch.device | str) -> "CSRGraph":
        """The same view on another device."""
        moved = {name: (getattr(self, name).to(device) if isinstance(getattr(self, name), Tensor)
                        else getattr(self, name)) for name in self.__dataclass_fields__}
        return CSRGraph(**moved)

    def __reduce__(self):
        # pickle / deepcopy rebuild through __init__, so the copy is validated and stamped like any new graph
        return CSRGraph, tuple(getattr(self, name) for name in self.__dataclass_fields__)

    def __repr__(self) -> str:
        return (f"CSRGraph(num_src_nodes={self.num_src_nodes}, num_dst_nodes={self.num_dst_nodes}, "
                f"num_edges={self.num_edges}, device={self.device})")


_TENSOR_FIELDS = ("edge_index", "indptr", "col", "row", "perm", "t_indptr", "t_col", "t_perm", "t_pos", "pos",
                  "in_degree")
_EDGE_FIELDS = ("col", "row", "perm", "t_col", "t_perm", "t_pos", "pos")      # one entry per edge

# id(edge_index), sizes -> (weakref to the tensor, graph). Entries die with their tensor; the graph holds a copy of
# edge_index, never the tensor itself, so it does not keep the tensor alive.
_CACHE: dict[tuple[int, int, int], tuple[weakref.ref, CSRGraph]] = {}

# True while _build constructs a graph from checked ids: its arrays are correct by construction, and checking them
# again would double the build time (E = 2M random edges: 0.3 s more, mostly random gathers). Every other
# construction (CSRGraph(...), dataclasses.replace, .to, unpickling) runs the full check.
_BUILDING: contextvars.ContextVar[bool] = contextvars.ContextVar("graphgen_csr_building", default=False)


# ------------------------------------------------------------------------------------------- read-only stamp
def _tensor_stamp(t: Tensor) -> tuple:
    # _version counts in-place ops (views share it); data_ptr, shape and strides catch a swapped storage (.data = ...)
    return t._version, t.data_ptr(), tuple(t.shape), t.stride()


def _stamp(graph: CSRGraph) -> tuple:
    return tuple(_tensor_stamp(getattr(graph, name)) for name in _TENSOR_FIELDS)


def _owned(t: Tensor) -> Tensor:
    """``t`` if it is contiguous and tracks versions, else a contiguous normal copy (the Triton kernels index raw
    memory as contiguous; inference tensors have no version counter)."""
    if t.is_contiguous() and not t.is_inference():
        return t
    with torch.inference_mode(False):
        return t.clone(memory_format=torch.contiguous_format)


# ------------------------------------------------------------------------------------------- validation
def _check_layout(graph: CSRGraph) -> None:
    """Types, dtypes, devices and shapes (O(1))."""
    for name in ("num_src_nodes", "num_dst_nodes"):
        value = getattr(graph, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"CSRGraph: {name} must be an int >= 0, got {value!r}; {_REBUILD}")
    for name in _TENSOR_FIELDS:
        t = getattr(graph, name)
        if not isinstance(t, Tensor):
            raise InputTypeError(f"CSRGraph: {name} must be a tensor, got {type(t).__name__}; {_REBUILD}")
        if t.dtype != torch.long:
            raise InputTypeError(f"CSRGraph: {name} must be torch.long, got {t.dtype}; {_REBUILD}")
        if t.device != graph.edge_index.device:
            raise InputError(f"CSRGraph: {name} is on {t.device} but edge_index on {graph.edge_index.device}; move "
                             "the whole graph with graph.to(device)")
    if graph.edge_index.dim() != 2 or graph.edge_index.size(0) != 2:
        raise InputError(f"CSRGraph: edge_index must be [2, E], got shape {tuple(graph.edge_index.shape)}; {_REBUILD}")
    num_edges = graph.edge_index.size(1)
    expected = {"indptr": (graph.num_dst_nodes + 1,), "t_indptr": (graph.num_src_nodes + 1,),
                "in_degree": (graph.num_dst_nodes,)}
    expected.update({name: (num_edges,) for name in _EDGE_FIELDS})
    for name, shape in expected.items():
        got = tuple(getattr(graph, name).shape)
        if got != shape:
            raise InputError(f"CSRGraph: {name} has shape {got}, expected {shape} for {graph.num_src_nodes} source "
                             f"nodes, {graph.num_dst_nodes} destination nodes and E = edge_index.size(1); {_REBUILD}")


def _check_range(name: str, t: Tensor, upper: int, what: str) -> None:
    """Every entry of ``t`` in ``[0, upper)``; the error names the first bad position and value."""
    if t.numel() == 0:
        return
    low, high = torch.aminmax(t)
    if int(low) < 0 or int(high) >= upper:
        flat = t.reshape(-1)
        at = int(((flat < 0) | (flat >= upper)).nonzero()[0])
        position = f"[{at}]" if t.dim() == 1 else f"[{at // t.size(1)}, {at % t.size(1)}]"
        raise InputError(f"CSRGraph: {name}{position} = {int(flat[at])} is not {what} in [0, {upper}); {_REBUILD}")


def _check_indptr(name: str, indptr: Tensor, num_edges: int) -> None:
    """``indptr[0] == 0``, non-decreasing, ``indptr[-1] == E``."""
    if int(indptr[0]) != 0 or int(indptr[-1]) != num_edges:
        raise InputError(f"CSRGraph: {name} must run from 0 to num_edges = {num_edges}, got {int(indptr[0])} .. "
                         f"{int(indptr[-1])}; {_REBUILD}")
    steps = indptr[1:] - indptr[:-1]
    if steps.numel() > 0 and int(steps.min()) < 0:
        at = int((steps < 0).nonzero()[0])
        raise InputError(f"CSRGraph: {name} decreases at {at} ({int(indptr[at])} -> {int(indptr[at + 1])}); it must "
                         f"be non-decreasing; {_REBUILD}")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise InputError(f"CSRGraph: {message}; {_REBUILD}")


def _check_values(graph: CSRGraph) -> None:
    """Bounds first (the kernels' memory safety), then that every array is the view of ``edge_index`` (O(E + N))."""
    num_edges, n_src, n_dst = graph.edge_index.size(1), graph.num_src_nodes, graph.num_dst_nodes
    src, dst = graph.edge_index[0], graph.edge_index[1]
    _check_range("edge_index[0]", src, n_src, "a source node id")
    _check_range("edge_index[1]", dst, n_dst, "a destination node id")
    _check_range("col", graph.col, n_src, "a source node id")
    for name in ("row", "t_col"):
        _check_range(name, getattr(graph, name), n_dst, "a destination node id")
    for name in ("perm", "t_perm", "t_pos", "pos"):
        _check_range(name, getattr(graph, name), num_edges, "an edge id")
    _check_indptr("indptr", graph.indptr, num_edges)
    _check_indptr("t_indptr", graph.t_indptr, num_edges)
    edge_ids = torch.arange(num_edges, device=src.device)
    _require(torch.equal(graph.pos[graph.perm], edge_ids), "perm is not a permutation of the edge ids with inverse pos")
    _require(torch.equal(graph.t_pos, graph.pos[graph.t_perm]), "t_pos is not pos[t_perm]")
    _require(num_edges == 0 or int(torch.bincount(graph.t_perm, minlength=num_edges).max()) == 1,
             "t_perm is not a permutation of the edge ids")
    _require(torch.equal(graph.col, src[graph.perm]) and torch.equal(graph.row, dst[graph.perm]),
             "col / row are not edge_index[0] / edge_index[1] in the order perm")
    _require(torch.equal(graph.t_col, dst[graph.t_perm]), "t_col is not edge_index[1] in the order t_perm")
    in_degree = graph.indptr[1:] - graph.indptr[:-1]
    out_degree = graph.t_indptr[1:] - graph.t_indptr[:-1]
    _require(torch.equal(graph.in_degree, in_degree), "in_degree is not indptr[1:] - indptr[:-1]")
    _require(torch.equal(graph.row, _bucket_of_position(in_degree, num_edges)),
             "row is not sorted into the ranges indptr gives")
    _require(torch.equal(src[graph.t_perm], _bucket_of_position(out_degree, num_edges)),
             "t_perm does not sort the edges into the ranges t_indptr gives")


def _bucket_of_position(counts: Tensor, num_edges: int) -> Tensor:
    """``[E]`` the bucket ``b`` of each position, bucket ``b`` holding ``counts[b]`` consecutive positions."""
    return torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts, output_size=num_edges)


# ------------------------------------------------------------------------------------------- from_edge_index
def _check_edge_index_tensor(edge_index: Tensor) -> None:
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
        shape = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else type(edge_index).__name__
        raise InputError(f"CSRGraph.from_edge_index: edge_index must be a [2, E] tensor, got {shape}; "
                         "transpose an [E, 2] edge list with .t()")
    if edge_index.dtype.is_floating_point or edge_index.dtype.is_complex or edge_index.dtype == torch.bool:
        raise InputTypeError(f"CSRGraph.from_edge_index: edge_index must be an integer tensor, got "
                             f"{edge_index.dtype}; node ids are whole numbers (convert with .long())")


_OP = "CSRGraph.from_edge_index"


def check_count(value: object, op: str, name: str) -> int:
    """A count (node count, row count) given as a Python / numpy / 0-d tensor integer, >= 0."""
    try:
        if isinstance(value, bool):                      # True would silently mean 1
            raise TypeError
        count = operator.index(value)
    except TypeError:
        raise InputTypeError(f"{op}: {name} must be an integer, got {value!r}") from None
    if count < 0:
        raise InputError(f"{op}: {name} must be >= 0, got {count}")
    return count


def _node_counts(edge_index: Tensor, num_nodes) -> tuple[int, int]:
    if num_nodes is None:
        n = int(edge_index.max()) + 1 if edge_index.numel() > 0 else 0
        return max(n, 0), max(n, 0)                     # a negative id is reported by _check_node_ids
    if isinstance(num_nodes, (tuple, list)):
        if len(num_nodes) != 2:
            raise InputError(f"CSRGraph.from_edge_index: num_nodes must be N or (N_src, N_dst), got {num_nodes!r}")
        return (check_count(num_nodes[0], _OP, "num_nodes[0] (sources)"),
                check_count(num_nodes[1], _OP, "num_nodes[1] (destinations)"))
    n = check_count(num_nodes, _OP, "num_nodes")
    return n, n


def _check_node_ids(edge_index: Tensor, num_src: int, num_dst: int) -> None:
    """Every id in range, one min/max per row; the error names the first bad entry."""
    if edge_index.numel() == 0:
        return
    for row, (upper, what) in enumerate(((num_src, "source"), (num_dst, "destination"))):
        ids = edge_index[row]
        low, high = torch.aminmax(ids)
        if int(low) >= 0 and int(high) < upper:
            continue
        at = int(((ids < 0) | (ids >= upper)).nonzero()[0])
        value = int(ids[at])
        fix = "node ids start at 0" if value < 0 else "pass the right num_nodes"
        raise InputError(f"CSRGraph.from_edge_index: edge_index[{row}, {at}] = {value} is not a {what} node id in "
                         f"[0, {upper}) (num_nodes=({num_src}, {num_dst})); {fix}")


def _cached(key: tuple[int, int, int], edge_index: Tensor) -> CSRGraph | None:
    """The cached graph of this very tensor if its values still equal the graph's copy and the graph is intact."""
    hit = _CACHE.get(key)
    if hit is None or hit[0]() is not edge_index:
        return None
    graph = hit[1]
    if graph._stamp == _stamp(graph) and torch.equal(graph.edge_index, edge_index):
        return graph
    del _CACHE[key]                                      # edited since: rebuild
    return None


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
    """The view of an ``edge_index`` whose ids were checked; the graph keeps its own copy of ``edge_index``."""
    edge_index = edge_index.to(torch.long, memory_format=torch.contiguous_format, copy=True)
    src, dst = edge_index[0], edge_index[1]
    indptr, perm = _sort_by(dst, num_dst)
    row = dst[perm]
    col = src[perm]
    in_degree = indptr[1:] - indptr[:-1]
    t_indptr, t_perm = _sort_by(src, num_src)
    t_col = dst[t_perm]
    pos = torch.empty_like(perm)                                  # original edge id -> destination-sorted position
    pos[perm] = torch.arange(perm.numel(), device=perm.device)
    t_pos = pos[t_perm]
    token = _BUILDING.set(True)
    try:
        return CSRGraph(edge_index=edge_index, num_src_nodes=num_src, num_dst_nodes=num_dst, indptr=indptr,
                        col=col.contiguous(), row=row.contiguous(), perm=perm, t_indptr=t_indptr,
                        t_col=t_col.contiguous(), t_perm=t_perm, t_pos=t_pos.contiguous(), pos=pos,
                        in_degree=in_degree)
    finally:
        _BUILDING.reset(token)
