"""Fused message-passing ops: ``out_i = reduce_{j -> i} msg(x_j, e_ij)`` without an E x F message buffer.

Public functions (all differentiable with respect to every floating-point tensor argument):

- :func:`scatter` ``(src [E, *], index [E], dim_size, reduce) -> [dim_size, *]``
- :func:`segment` ``(src [E, *], indptr [N + 1], reduce) -> [N, *]`` (rows of ``src`` already grouped)
- :func:`gather_scatter` ``(x [N_src, F] or [N_src, H, D], graph, *, edge_weight, edge_attr, message, reduce)
  -> [N_dst, F] or [N_dst, H, D]``
- :func:`segment_softmax` ``(scores [E] or [E, H], graph) -> same shape``
- :func:`edge_attention` ``(q [N_dst, H, D], k [N_src, H, D], v [N_src, H, D], graph, *, edge_bias [E, H])
  -> [N_dst, H, D]``
- :class:`CSRGraph` (``CSRGraph.from_edge_index(edge_index, num_nodes)``), the cached destination-sorted view.
- :func:`fuse` puts an existing PyG ``MessagePassing`` layer (GINConv, GINEConv, GCNConv, SAGEConv, GraphConv, ...)
  on the fused path in one line: ``conv = graphgen.ops.fuse(conv)``; :func:`unfuse` undoes it.

Reduces are ``"sum" | "mean" | "max" | "min"``; a destination with no incoming edge gets 0 for every reduce (as PyG).
NaN follows torch (the reference backend): a NaN message makes its destination's sum, mean, max and min NaN.
Bad arguments raise :class:`graphgen.errors.InputError` (:class:`InputTypeError` for a wrong dtype) naming them.
Messages are ``"copy"`` (``x_j``), ``"mul"`` (``w_ij * x_j``, ``edge_weight`` ``[E]`` or ``[E, H]``) and ``"add_relu"``
(``relu(x_j + e_ij)``, the GINE message, ``edge_attr`` shaped like ``x`` per edge). Edge tensors are given in the
original ``edge_index`` order.

Backends (``backend=`` argument, :func:`use_backend` context manager, or ``GRAPHGEN_OPS_BACKEND``):

- ``"reference"``: plain torch gather + ``index_add_`` (materialises E x F; the ground truth in tests),
- ``"cpu"``: numba kernels parallel over destination rows (compiled lazily, cached on disk). When an ``add_relu``
  sum/mean needs a gradient, its forward pass also keeps relu' as one byte per message element (an ``[E, F]`` bool
  tensor, a quarter of a float32 message buffer), which lets the backward pass skip re-reading ``edge_attr``,
- ``"triton"``: Triton kernels for CUDA tensors (CPU tensors only under ``TRITON_INTERPRET=1``),
- ``"torch_scatter"``: gather + ``torch_scatter.segment_csr`` when torch_scatter is installed.

The ``cpu`` backend's large outputs (>= 8 MB) live on huge pages and come from a small buffer cache that keeps freed
blocks resident for the next call of the same size (``GRAPHGEN_BUFFER_POOL_MB``, default 2048, 0 = off);
:func:`empty_cache` gives the free blocks back to the system (see ``graphgen/ops/_memory.py`` for the measurements).

Default: ``"cpu"`` for CPU tensors, ``"triton"`` for CUDA tensors (``"torch_scatter"`` / ``"reference"`` if missing).
"""
from __future__ import annotations

import contextlib
import importlib
import math
import os
from types import ModuleType
from typing import Iterator

import torch
from torch import Tensor

from ..errors import InputError
from ._memory import empty_cache
from .graph import CSRGraph, InputTypeError, check_count

__all__ = ["BACKENDS", "CSRGraph", "InputTypeError", "MESSAGES", "REDUCES", "available_backends", "edge_attention",
           "empty_cache", "fuse", "gather_scatter", "get_backend", "scatter", "segment", "segment_softmax", "unfuse",
           "use_backend"]

BACKENDS = ("reference", "cpu", "triton", "torch_scatter")
MESSAGES = ("copy", "mul", "add_relu")
REDUCES = ("sum", "mean", "max", "min")

# backend name -> module implementing it (imported on first use so that numba/triton load only when needed)
_MODULES = {"reference": "._reference", "cpu": "._cpu", "triton": "._triton", "torch_scatter": "._torch_scatter"}
_override: list[str] = []


# ---------------------------------------------------------------------------------------------------------- backends
def _check_backend_name(name: str) -> str:
    if name not in BACKENDS:
        raise InputError(f"unknown graphgen.ops backend {name!r}; choose one of {BACKENDS}")
    return name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Run every op inside the ``with`` block on backend ``name`` (unless an op gets ``backend=`` explicitly)."""
    _override.append(_check_backend_name(name))
    try:
        yield
    finally:
        _override.pop()


def available_backends() -> list[str]:
    """Backends whose dependencies import on this machine (triton is listed even without a GPU)."""
    names = []
    for name in BACKENDS:
        try:
            _load(name)
        except ImportError:
            continue
        names.append(name)
    return names


def _load(name: str) -> ModuleType:
    return importlib.import_module(_MODULES[name], __name__)


def get_backend(device: torch.device | str, backend: str | None = None) -> str:
    """The backend name an op on ``device`` runs on: explicit argument, then :func:`use_backend`, then the
    ``GRAPHGEN_OPS_BACKEND`` environment variable, then the device default."""
    if backend is not None:
        return _check_backend_name(backend)
    if _override:
        return _override[-1]
    env = os.environ.get("GRAPHGEN_OPS_BACKEND")
    if env:
        return _check_backend_name(env)
    device = torch.device(device)
    preferred = ("cpu", "torch_scatter", "reference") if device.type == "cpu" else \
        ("triton", "torch_scatter", "reference")
    for name in preferred:
        try:
            _load(name)
            return name
        except ImportError:
            continue
    return "reference"


def _backend_module(device: torch.device, backend: str | None) -> ModuleType:
    name = get_backend(device, backend)
    try:
        return _load(name)
    except ImportError as err:
        raise ImportError(f"graphgen.ops backend {name!r} is not usable here ({err}); install it or pass "
                          f"backend='reference'") from err


# ------------------------------------------------------------------------------------------------- argument checks
def _check_reduce(reduce: str) -> None:
    if reduce not in REDUCES:
        raise InputError(f"reduce={reduce!r} is not supported; choose one of {REDUCES}")


def _as_heads(x: Tensor, name: str) -> Tensor:
    """``[N, F] -> [N, 1, F]``; ``[N, H, D]`` unchanged."""
    if x.dim() == 2:
        return x.unsqueeze(1)
    if x.dim() == 3:
        return x
    raise InputError(f"{name} must be [N, F] or [N, H, D], got shape {tuple(x.shape)}")


def _check_tensor(t: object, op: str, name: str, *, floating: bool) -> None:
    """``t`` is a tensor, of a floating dtype (features) or an integer one (indices)."""
    if not isinstance(t, Tensor):
        raise InputTypeError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if floating and not t.dtype.is_floating_point:
        raise InputTypeError(f"{op}: {name} must be a floating tensor, got {t.dtype}; cast it with .float()")
    if not floating and (t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool):
        raise InputTypeError(f"{op}: {name} must be an integer tensor, got {t.dtype}; a {t.dtype} index would be "
                             "truncated: compute it as integers (or round explicitly, then .long())")


def _check_graph(graph: object, op: str) -> None:
    """A :class:`CSRGraph` whose tensors were not edited since it was built (O(1))."""
    if not isinstance(graph, CSRGraph):
        raise InputTypeError(f"{op}: graph must be a CSRGraph, got {type(graph).__name__}; build it with "
                             "graphgen.ops.CSRGraph.from_edge_index(edge_index, num_nodes)")
    graph.check_unmodified(op)


def _check_device(t: Tensor, graph: CSRGraph, op: str, name: str) -> None:
    if t.device != graph.device:
        raise InputError(f"{op}: {name} is on {t.device} but the graph on {graph.device}; move one with .to()")


def _check_index_range(index: Tensor, upper: int | None, op: str) -> int:
    """One min/max pass over ``index``: every entry in ``[0, upper)``; returns ``upper`` (default ``max + 1``)."""
    if index.numel() == 0:
        return 0 if upper is None else upper
    low, high = (int(v) for v in torch.aminmax(index))
    if upper is None:
        upper = max(high + 1, 0)
    if low >= 0 and high < upper:
        return upper
    at = int(((index < 0) | (index >= upper)).nonzero()[0])
    value = int(index[at])
    fix = "indices start at 0" if value < 0 else f"pass dim_size > {value}"
    raise InputError(f"{op}: index[{at}] = {value} is outside [0, dim_size = {upper}); {fix}")


# ----------------------------------------------------------------------------------------------------------- scatter
def scatter(src: Tensor, index: Tensor, dim_size: int | None = None, reduce: str = "sum", *,
            backend: str | None = None) -> Tensor:
    """Reduce the rows of ``src`` into ``dim_size`` buckets: ``out[i] = reduce_{e: index[e] = i} src[e]``.

    Args:
        src: ``[E]`` or ``[E, *]`` floating tensor (reduced along dim 0).
        index: ``[E]`` integer bucket of each row, in any order.
        dim_size: number of output rows (default ``index.max() + 1``).
        reduce: ``"sum" | "mean" | "max" | "min"``; empty buckets give 0.

    Returns:
        ``[dim_size, *]``.
    """
    _check_reduce(reduce)
    _check_tensor(src, "scatter", "src", floating=True)
    _check_tensor(index, "scatter", "index", floating=False)
    if src.dim() == 0 or index.dim() != 1 or index.numel() != src.size(0):
        raise InputError(f"scatter: index must be [E] with E = src.size(0) = {src.size(0) if src.dim() else '-'} "
                         f"(src [E, *]), got index {tuple(index.shape)} and src {tuple(src.shape)}")
    if index.device != src.device:
        raise InputError(f"scatter: index is on {index.device} but src on {src.device}; move one with .to()")
    dim_size = _check_index_range(index, None if dim_size is None else check_count(dim_size, "scatter", "dim_size"),
                                  "scatter")
    name = get_backend(src.device, backend)
    if name == "reference":
        return _load("reference").scatter(src, index.long(), dim_size, reduce)
    num_rows = src.size(0)
    # edge e goes from "source node" e (row e of src) to destination index[e]: a gather_scatter with x = src.
    edge_index = torch.stack([torch.arange(num_rows, device=src.device), index.long()])
    graph = CSRGraph.from_edge_index(edge_index, (num_rows, dim_size), cache=False)
    flat = src.reshape(num_rows, math.prod(src.shape[1:]))             # [E, F]
    out = gather_scatter(flat, graph, reduce=reduce, backend=name)    # [dim_size, F]
    return out.reshape((dim_size,) + tuple(src.shape[1:]))


def segment(src: Tensor, indptr: Tensor, reduce: str = "sum", *, backend: str | None = None) -> Tensor:
    """Reduce consecutive row ranges: ``out[i] = reduce(src[indptr[i]:indptr[i+1]])``.

    Args:
        src: ``[E]`` or ``[E, *]``; rows already grouped by output row.
        indptr: ``[N + 1]`` non-decreasing, ``indptr[0] = 0``, ``indptr[-1] = E``.
        reduce: ``"sum" | "mean" | "max" | "min"``; empty segments give 0.

    Returns:
        ``[N, *]``.
    """
    _check_reduce(reduce)
    _check_tensor(src, "segment", "src", floating=True)
    _check_tensor(indptr, "segment", "indptr", floating=False)
    if src.dim() == 0:
        raise InputError("segment: src must be [E] or [E, *], got a 0-d tensor")
    if indptr.dim() != 1 or indptr.numel() < 1 or int(indptr[0]) != 0 or int(indptr[-1]) != src.size(0):
        ends = f"{int(indptr[0])} .. {int(indptr[-1])}" if indptr.dim() == 1 and indptr.numel() else "no entries"
        raise InputError(f"segment: indptr must be [N + 1] from 0 to src.size(0) = {src.size(0)}, got shape "
                         f"{tuple(indptr.shape)} ({ends})")
    counts = indptr[1:] - indptr[:-1]
    if counts.numel() > 0 and int(counts.min()) < 0:
        at = int((counts < 0).nonzero()[0])
        raise InputError(f"segment: indptr decreases at {at} ({int(indptr[at])} -> {int(indptr[at + 1])}); it must "
                         "be non-decreasing")
    name = get_backend(src.device, backend)
    if name == "reference":
        return _load("reference").segment(src, indptr.long(), reduce)
    index = torch.repeat_interleave(torch.arange(counts.numel(), device=src.device), counts)
    return scatter(src, index, counts.numel(), reduce, backend=name)


# ---------------------------------------------------------------------------------------------------- gather_scatter
def gather_scatter(x: Tensor, graph: CSRGraph, *, edge_weight: Tensor | None = None, edge_attr: Tensor | None = None,
                   message: str = "copy", reduce: str = "sum", backend: str | None = None) -> Tensor:
    """Fused message passing ``out_i = reduce_{j -> i} msg(x_j, e_ij)`` (no ``[E, F]`` message tensor on fused
    backends).

    Args:
        x: ``[N_src, F]`` or ``[N_src, H, D]`` source node features.
        graph: :class:`CSRGraph` of the edges ``j -> i`` (``CSRGraph.from_edge_index(edge_index, num_nodes)``).
        edge_weight: ``[E]`` or ``[E, H]`` (per head), required by ``message="mul"``.
        edge_attr: ``[E, F]`` or ``[E, H, D]`` (same trailing shape as ``x``), required by ``message="add_relu"``.
        message: ``"copy"``: ``x_j``; ``"mul"``: ``w_ij * x_j``; ``"add_relu"``: ``relu(x_j + e_ij)``.
        reduce: ``"sum" | "mean" | "max" | "min"``; nodes with no incoming edge get 0.
        backend: override the backend for this call.

    Returns:
        ``[N_dst, F]`` or ``[N_dst, H, D]`` (same rank as ``x``).
    """
    _check_reduce(reduce)
    if message not in MESSAGES:
        raise InputError(f"message={message!r} is not supported; choose one of {MESSAGES}")
    _check_graph(graph, "gather_scatter")
    _check_tensor(x, "gather_scatter", "x", floating=True)
    _check_device(x, graph, "gather_scatter", "x")
    x3 = _as_heads(x, "x")
    if x3.size(0) != graph.num_src_nodes:
        raise InputError(f"gather_scatter: x has {x3.size(0)} rows but the graph has {graph.num_src_nodes} source "
                         "nodes; pass num_nodes to CSRGraph.from_edge_index")
    num_edges, heads = graph.num_edges, x3.size(1)
    w2 = e3 = None
    if message == "mul":
        if edge_weight is None:
            raise InputError("gather_scatter: message='mul' needs edge_weight [E] or [E, H]")
        _check_tensor(edge_weight, "gather_scatter", "edge_weight", floating=True)
        _check_device(edge_weight, graph, "gather_scatter", "edge_weight")
        w2 = edge_weight.unsqueeze(1) if edge_weight.dim() == 1 else edge_weight
        if w2.dim() != 2 or w2.size(0) != num_edges or w2.size(1) not in (1, heads):
            raise InputError(f"gather_scatter: edge_weight must be [E] or [E, H] = [{num_edges}, {heads}], "
                             f"got {tuple(edge_weight.shape)}")
        w2 = w2.expand(num_edges, heads).to(x.dtype)
    elif edge_weight is not None:
        raise InputError(f"gather_scatter: edge_weight is only used by message='mul' (got message={message!r})")
    if message == "add_relu":
        if edge_attr is None:
            raise InputError("gather_scatter: message='add_relu' needs edge_attr shaped like x per edge")
        _check_tensor(edge_attr, "gather_scatter", "edge_attr", floating=True)
        _check_device(edge_attr, graph, "gather_scatter", "edge_attr")
        if tuple(edge_attr.shape) != (num_edges,) + tuple(x.shape[1:]):
            raise InputError(f"gather_scatter: edge_attr must be {(num_edges,) + tuple(x.shape[1:])} (E + x's "
                             f"trailing shape), got {tuple(edge_attr.shape)}; project it to x's width first")
        e3 = _as_heads(edge_attr, "edge_attr").to(x.dtype)
    elif edge_attr is not None:
        raise InputError(f"gather_scatter: edge_attr is only used by message='add_relu' (got message={message!r})")
    out = _backend_module(x.device, backend).gather_scatter(x3, graph, w2, e3, message, reduce)
    return out if x.dim() == 3 else out.squeeze(1)


# --------------------------------------------------------------------------------------------------------- attention
def segment_softmax(scores: Tensor, graph: CSRGraph, *, backend: str | None = None) -> Tensor:
    """Softmax of edge scores over the incoming edges of each destination node.

    Args:
        scores: ``[E]`` or ``[E, H]`` in the original edge order.
        graph: :class:`CSRGraph`.

    Returns:
        ``alpha`` of the same shape, ``sum_{j -> i} alpha_ij = 1`` for every node with an incoming edge.
    """
    _check_graph(graph, "segment_softmax")
    _check_tensor(scores, "segment_softmax", "scores", floating=True)
    _check_device(scores, graph, "segment_softmax", "scores")
    if scores.dim() not in (1, 2) or scores.size(0) != graph.num_edges:
        raise InputError(f"segment_softmax: scores must be [E] or [E, H] with E = {graph.num_edges}, "
                         f"got {tuple(scores.shape)}")
    s2 = scores.unsqueeze(1) if scores.dim() == 1 else scores                # [E, H]
    out = _backend_module(scores.device, backend).segment_softmax(s2, graph)
    return out.reshape(scores.shape)


def edge_attention(q: Tensor, k: Tensor, v: Tensor, graph: CSRGraph, *, edge_bias: Tensor | None = None,
                   scale: float | None = None, backend: str | None = None) -> Tensor:
    """Fused sparse attention over the edges of ``graph``:

    ``s_ij = scale * <q_i, k_j> + b_ij`` per head, ``alpha_ij = softmax over j -> i of s_ij``,
    ``out_i = sum_j alpha_ij v_j`` (0 for a node with no incoming edge).

    Args:
        q: ``[N_dst, H, D]`` queries (destination nodes).
        k, v: ``[N_src, H, D]`` keys and values (source nodes).
        graph: :class:`CSRGraph`.
        edge_bias: optional ``[E, H]`` (or ``[E]`` for ``H = 1``) additive score bias, original edge order.
        scale: default ``1 / sqrt(D)``.

    Returns:
        ``[N_dst, H, D]``.
    """
    _check_graph(graph, "edge_attention")
    for name, t in (("q", q), ("k", k), ("v", v)):
        _check_tensor(t, "edge_attention", name, floating=True)
        _check_device(t, graph, "edge_attention", name)
    if not q.dtype == k.dtype == v.dtype:
        raise InputTypeError(f"edge_attention: q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}; "
                             "cast them to one")
    if q.dim() != 3 or k.shape != v.shape or k.dim() != 3 or q.shape[1:] != k.shape[1:]:
        raise InputError(f"edge_attention: q must be [N_dst, H, D] and k, v [N_src, H, D]; got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    if q.size(0) != graph.num_dst_nodes or k.size(0) != graph.num_src_nodes:
        raise InputError(f"edge_attention: graph has ({graph.num_src_nodes} src, {graph.num_dst_nodes} dst) nodes "
                         f"but k has {k.size(0)} and q {q.size(0)} rows")
    heads = q.size(1)
    b2 = None
    if edge_bias is not None:
        _check_tensor(edge_bias, "edge_attention", "edge_bias", floating=True)
        _check_device(edge_bias, graph, "edge_attention", "edge_bias")
        if edge_bias.dim() == 0 or edge_bias.numel() != graph.num_edges * heads or \
                edge_bias.size(0) != graph.num_edges:
            raise InputError(f"edge_attention: edge_bias must be [E, H] = [{graph.num_edges}, {heads}], "
                             f"got {tuple(edge_bias.shape)}")
        b2 = edge_bias.reshape(graph.num_edges, heads).to(q.dtype)
    if scale is None:
        scale = 1.0 / math.sqrt(q.size(-1))
    return _backend_module(q.device, backend).edge_attention(q, k, v, graph, b2, float(scale))


from .fuse import fuse, unfuse  # noqa: E402  (needs the functions above)
