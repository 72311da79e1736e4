"""Small helpers shared by the layers of :mod:`graphgen.nn`.

House rule 7: per-graph values reach nodes through :func:`graph_to_nodes` (indexed by the ``batch`` vector) and
nodes reach graphs through :func:`nodes_to_graph`; no layer hard-codes a broadcast axis.
"""
from __future__ import annotations

import torch
from torch import Tensor

from graphgen import ops

__all__ = ["degree", "graph_to_nodes", "nodes_to_graph", "num_graphs", "resolve_batch"]


def resolve_batch(batch: Tensor | None, num_nodes: int, device: torch.device) -> Tensor:
    """``batch`` or, when it is ``None`` (a single graph), a zero vector ``[N]``."""
    if batch is None:
        return torch.zeros(num_nodes, dtype=torch.long, device=device)
    if batch.dim() != 1 or batch.numel() != num_nodes:
        raise ValueError(f"batch must be [N] = [{num_nodes}] (graph id of each node), got {tuple(batch.shape)}")
    return batch


def num_graphs(batch: Tensor) -> int:
    """Number of graphs in a ``batch`` vector (``max + 1``; 0 for an empty batch)."""
    return int(batch.max()) + 1 if batch.numel() > 0 else 0


def graph_to_nodes(values: Tensor, batch: Tensor) -> Tensor:
    """Broadcast per-graph ``values`` ``[B, *]`` to the nodes: ``out[n] = values[batch[n]]`` -> ``[N, *]``."""
    return values.index_select(0, batch)


def nodes_to_graph(x: Tensor, batch: Tensor, size: int | None = None, reduce: str = "sum") -> Tensor:
    """Pool node values ``[N, *]`` per graph -> ``[B, *]`` with ``reduce`` ``"sum" | "mean" | "max"``."""
    size = num_graphs(batch) if size is None else size
    return ops.scatter(x, batch, size, reduce)


def degree(index: Tensor, num_nodes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """How often each node id appears in ``index`` (``edge_index[1]`` gives the in-degree) -> ``[N]``."""
    return torch.bincount(index, minlength=num_nodes).to(dtype)
