"""`fuse(conv)`: one line to put an existing PyG ``MessagePassing`` layer on graphgen's fused kernels.

PyG only calls a layer's fused ``message_and_aggregate`` when ``edge_index`` is a sparse matrix; with an ordinary
``[2, E]`` ``edge_index`` it gathers an E x F message tensor and scatters it back. ``fuse(conv)`` replaces the
instance's ``propagate`` by one that builds (and caches) a :class:`CSRGraph` and runs
``gather_scatter(x, graph, message=..., reduce=conv.aggr)`` followed by the layer's own ``update``. The layer's
parameters, ``forward`` and ``state_dict`` are untouched; ``unfuse(conv)`` restores PyG's path.

Supported: layers whose ``message`` is one of the fused messages (``MESSAGE_OF`` below lists the PyG classes; a user
class can declare ``graphgen_message = "copy" | "mul" | "add_relu"``) and whose ``aggr`` is one of
sum/add, mean, max, min. Propagate hooks and explainability masks are not applied on the fused path.
"""
from __future__ import annotations

import types
from typing import Any

import torch
from torch import Tensor

from torch_geometric.nn import GCNConv, GINConv, GINEConv, GraphConv, SAGEConv
from torch_geometric.nn.conv import MessagePassing

from ..errors import InputError
from .graph import CSRGraph, InputTypeError

__all__ = ["MESSAGE_OF", "fuse", "unfuse"]

# PyG layer -> fused message. "mul_or_copy": w_ij * x_j when the layer passes edge_weight, else x_j.
MESSAGE_OF: dict[type, str] = {
    GINConv: "copy",
    SAGEConv: "copy",
    GINEConv: "add_relu",
    GCNConv: "mul_or_copy",
    GraphConv: "mul_or_copy",
}

_AGGR = {"add": "sum", "sum": "sum", "mean": "mean", "max": "max", "min": "min"}


def _message_kind(conv: MessagePassing) -> str:
    declared = getattr(conv, "graphgen_message", None)
    if declared is not None:
        return declared
    for cls in type(conv).__mro__:
        if cls in MESSAGE_OF:
            return MESSAGE_OF[cls]
    if type(conv).message is MessagePassing.message:      # the default message returns x_j
        return "copy"
    raise InputTypeError(f"fuse: {type(conv).__name__} has a custom message(); fusable layers are "
                         f"{[c.__name__ for c in MESSAGE_OF]} or classes that set graphgen_message = 'copy' | 'mul' | "
                         "'add_relu'")


def fuse(conv: MessagePassing, *, backend: str | None = None) -> MessagePassing:
    """Make ``conv`` aggregate with :func:`graphgen.ops.gather_scatter` (in place; returns ``conv``).

    Example: ``conv = graphgen.ops.fuse(GINEConv(nn, edge_dim=4))``.
    """
    if not isinstance(conv, MessagePassing):
        raise InputTypeError(f"fuse expects a torch_geometric MessagePassing layer, got {type(conv).__name__}")
    kind = _message_kind(conv)
    if not isinstance(conv.aggr, str) or conv.aggr not in _AGGR:
        raise InputError(f"fuse: {type(conv).__name__}(aggr={conv.aggr!r}) is not fusable; use aggr='sum', 'mean', "
                         "'max' or 'min'")
    if "propagate" in conv.__dict__:                       # already fused: just update the backend
        conv._graphgen_backend = backend
        return conv
    conv._graphgen_backend = backend
    conv._graphgen_kind = kind
    conv.propagate = types.MethodType(_fused_propagate, conv)
    return conv


def unfuse(conv: MessagePassing) -> MessagePassing:
    """Undo :func:`fuse`."""
    conv.__dict__.pop("propagate", None)
    return conv


def _fused_propagate(self: MessagePassing, edge_index: Any, size: tuple[int, int] | None = None,
                     **kwargs: Any) -> Tensor:
    from . import gather_scatter

    if not isinstance(edge_index, Tensor) or edge_index.is_sparse or edge_index.layout != torch.strided:
        return type(self).propagate(self, edge_index, size=size, **kwargs)   # sparse inputs: PyG's own fused path
    x = kwargs["x"]
    x_src, x_dst = (x[0], x[1]) if isinstance(x, (tuple, list)) else (x, None)
    num_src = x_src.size(0) if size is None or size[0] is None else size[0]
    if x_dst is not None:
        num_dst = x_dst.size(0)
    elif size is not None and size[1] is not None:
        num_dst = size[1]
    else:
        num_dst = num_src
    if self.flow == "target_to_source":
        edge_index = edge_index.flip(0)
    graph = CSRGraph.from_edge_index(edge_index, (num_src, num_dst))
    reduce = _AGGR[self.aggr]

    kind = self._graphgen_kind
    edge_weight = edge_attr = None
    if kind == "mul_or_copy":
        edge_weight = kwargs.get("edge_weight")
        kind = "copy" if edge_weight is None else "mul"
    elif kind == "mul":
        edge_weight = kwargs["edge_weight"]
    elif kind == "add_relu":
        edge_attr = kwargs["edge_attr"]
        lin = getattr(self, "lin", None)
        if isinstance(self, GINEConv) and lin is not None:
            edge_attr = lin(edge_attr)                     # GINEConv projects edge_attr inside message()
        if edge_attr.size(-1) != x_src.size(-1):
            raise InputError(f"fuse: edge_attr width {edge_attr.size(-1)} != node width {x_src.size(-1)}; set "
                             f"edge_dim on {type(self).__name__}")
    out = gather_scatter(x_src, graph, edge_weight=edge_weight, edge_attr=edge_attr, message=kind, reduce=reduce,
                         backend=self._graphgen_backend)
    return self.update(out)
