"""Dense views of graph batches: ``Data``/``Batch`` <-> ``(X [B, N, *], E [B, N, N, *], node_mask [B, N])`` and back.

This is the helper generators use to build dense tensors (DESIGN.md), e.g. GDSS's ``ScoreSDEGenerator.encode``.
:func:`from_dense` is the exact inverse of :func:`to_dense` (edges come back sorted by (row, col); that is the only
thing that can change).

Encodings (``B`` graphs padded to ``N`` nodes; padding is zero and ``node_mask`` is ``False`` there):

================================  ======================================================================================
input                             dense form
================================  ======================================================================================
``x`` long ``[n]`` / ``[n, F]``   ``X`` long ``[B, N]`` / ``[B, N, F]``
``x`` long ``[n]`` + classes      ``X`` float one-hot ``[B, N, K]`` (``num_node_classes=K``; padding rows all zero)
``x`` float ``[n, F]``            ``X`` float ``[B, N, F]``
``x`` absent                      ``X = None`` (node counts live in ``node_mask``)
no ``edge_attr``                  ``E`` float adjacency ``[B, N, N]``, 1.0 at edges
``edge_attr`` long ``[m]``        ``E`` long ``[B, N, N]``: 0 = no edge, ``t + 1`` = edge of type ``t``
``edge_attr`` long ``[m, D]``     ``E`` long ``[B, N, N, D]``: every column shifted by +1, all-zero = no edge
``edge_attr`` long + classes      ``E`` float one-hot ``[B, N, N, C + 1]`` (``num_edge_classes=C``), channel 0 = no edge
``edge_attr`` float ``[m, D]``    ``E`` float ``[B, N, N, 1 + D]``: channel 0 = adjacency (1.0), channels 1.. = features
                                  (a 1-D float ``edge_attr [m]`` is treated as ``[m, 1]`` and comes back so)
================================  ======================================================================================

The long/one-hot edge encodings follow the DiGress convention that class 0 means "no edge", so bond type ``t`` of a
molecule vocabulary becomes dense class ``t + 1``. Self loops land on the diagonal. Duplicate edges cannot be
represented densely and raise ``ValueError`` (they would otherwise be silently merged).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data


def _check_batch(batch: Tensor, num_nodes: int, batch_size: int | None) -> int:
    if batch.dim() != 1 or batch.numel() != num_nodes:
        raise ValueError(f"batch must be long [num_nodes={num_nodes}], got shape {tuple(batch.shape)}")
    if batch.numel() and bool((batch[1:] < batch[:-1]).any()):
        raise ValueError("batch must be sorted (non-decreasing), as PyG's Batch produces it")
    inferred = int(batch.max()) + 1 if batch.numel() else 0
    if batch_size is None:
        return inferred
    if batch_size < inferred:
        raise ValueError(f"batch_size={batch_size} but batch refers to graph {inferred - 1}")
    return batch_size


def to_dense(
    x: Tensor | None,
    edge_index: Tensor,
    edge_attr: Tensor | None = None,
    batch: Tensor | None = None,
    max_num_nodes: int | None = None,
    *,
    num_nodes: int | None = None,
    batch_size: int | None = None,
    num_node_classes: int | None = None,
    num_edge_classes: int | None = None,
) -> tuple[Tensor | None, Tensor, Tensor]:
    """Pad a (batched) sparse graph into dense node and edge tensors (encodings in the module docstring).

    Args:
        x: node features ``[n]`` or ``[n, F]`` (long or float), or ``None``.
        edge_index: long ``[2, m]``; both endpoints of an edge must be in the same graph.
        edge_attr: ``[m]`` or ``[m, D]`` (long or float), or ``None`` for a plain adjacency.
        batch: long ``[n]`` graph index per node, sorted; ``None`` means one graph.
        max_num_nodes: pad to this many nodes (default: the largest graph). A larger graph raises ``ValueError``.
        num_nodes: total node count; needed only when ``x`` is ``None`` and ``batch`` is ``None``.
        batch_size: number of graphs ``B``; needed only when trailing graphs are empty.
        num_node_classes: one-hot encode long ``x [n]`` into ``K`` classes.
        num_edge_classes: one-hot encode long ``edge_attr [m]`` into ``C + 1`` channels (channel 0 = no edge).

    Returns:
        ``(X, E, node_mask)`` with ``node_mask`` bool ``[B, N]``; see the module docstring for ``X`` and ``E``.
    """
    if batch is not None:
        n = batch.numel()
    elif x is not None:
        n = x.size(0)
    elif num_nodes is not None:
        n = num_nodes
    else:
        raise ValueError("to_dense needs x, batch or num_nodes to know how many nodes there are")
    if x is not None and x.size(0) != n:
        raise ValueError(f"x has {x.size(0)} rows but batch has {n} entries")
    device = edge_index.device
    if batch is None:
        batch = torch.zeros(n, dtype=torch.long, device=device)
        if batch_size is None:
            batch_size = 1
    num_graphs = _check_batch(batch, n, batch_size)

    counts = torch.bincount(batch, minlength=num_graphs)
    largest = int(counts.max()) if num_graphs else 0
    if max_num_nodes is None:
        max_num_nodes = largest
    elif largest > max_num_nodes:
        big = int(counts.argmax())
        raise ValueError(f"graph {big} has {largest} nodes > max_num_nodes={max_num_nodes}; raise max_num_nodes")
    ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
    ptr[1:] = torch.cumsum(counts, 0)
    pos = torch.arange(n, device=device) - ptr[batch]  # position of each node inside its graph

    node_mask = torch.zeros(num_graphs, max_num_nodes, dtype=torch.bool, device=device)
    node_mask[batch, pos] = True

    X = None
    if x is not None:
        if num_node_classes is not None:
            if x.is_floating_point() or x.dim() != 1:
                raise ValueError(f"num_node_classes needs long x [n], got {x.dtype} {tuple(x.shape)}")
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= num_node_classes):
                raise ValueError(f"x has values outside 0..{num_node_classes - 1} (num_node_classes={num_node_classes})")
            x = torch.nn.functional.one_hot(x, num_node_classes).float()
        X = x.new_zeros((num_graphs, max_num_nodes) + tuple(x.shape[1:]))
        X[batch, pos] = x

    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must be long [2, m], got shape {tuple(edge_index.shape)}")
    m = edge_index.size(1)
    if m and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n):
        raise ValueError(f"edge_index refers to nodes outside 0..{n - 1}")
    src, dst = edge_index
    edge_graph = batch[src]
    if bool((batch[dst] != edge_graph).any()):
        raise ValueError("edge_index has edges between different graphs of the batch")
    i, j = pos[src], pos[dst]
    flat = (edge_graph * max_num_nodes + i) * max_num_nodes + j
    if torch.unique(flat).numel() != m:
        raise ValueError("edge_index has duplicate edges; a dense tensor cannot hold them (coalesce first)")

    shape = (num_graphs, max_num_nodes, max_num_nodes)
    if edge_attr is None:
        E = torch.zeros(shape, device=device)
        E[edge_graph, i, j] = 1.0
    else:
        if edge_attr.size(0) != m:
            raise ValueError(f"edge_attr has {edge_attr.size(0)} rows but edge_index has {m} edges")
        if edge_attr.is_floating_point():
            if num_edge_classes is not None:
                raise ValueError("num_edge_classes needs long edge_attr (class indices), got float")
            feats = edge_attr.view(m, -1)
            E = feats.new_zeros(shape + (1 + feats.size(1),))
            E[edge_graph, i, j] = torch.cat([feats.new_ones(m, 1), feats], dim=1)
        elif num_edge_classes is not None:
            if edge_attr.dim() != 1:
                raise ValueError(f"num_edge_classes needs long edge_attr [m], got shape {tuple(edge_attr.shape)}")
            if m and (int(edge_attr.min()) < 0 or int(edge_attr.max()) >= num_edge_classes):
                raise ValueError(f"edge_attr has values outside 0..{num_edge_classes - 1} "
                                 f"(num_edge_classes={num_edge_classes})")
            E = torch.zeros(shape + (num_edge_classes + 1,), device=device)
            E[..., 0] = 1.0
            E[edge_graph, i, j] = torch.nn.functional.one_hot(edge_attr + 1, num_edge_classes + 1).float()
        else:
            if m and int(edge_attr.min()) < 0:
                raise ValueError("long edge_attr must be >= 0 (dense class 0 is reserved for 'no edge')")
            E = edge_attr.new_zeros(shape + tuple(edge_attr.shape[1:]))
            E[edge_graph, i, j] = edge_attr + 1
    return X, E, node_mask


def to_dense_batch_list(data_list: Sequence[Data], max_num_nodes: int | None = None, *,
                        num_node_classes: int | None = None, num_edge_classes: int | None = None,
                        ) -> tuple[Tensor | None, Tensor, Tensor]:
    """:func:`to_dense` of a list of ``Data`` (uses their ``x``, ``edge_index``, ``edge_attr``, ``num_nodes``)."""
    if len(data_list) == 0:
        raise ValueError("to_dense_batch_list needs at least one graph")
    batch = Batch.from_data_list(list(data_list))
    return to_dense(getattr(batch, "x", None), batch.edge_index, getattr(batch, "edge_attr", None), batch.batch,
                    max_num_nodes, batch_size=len(data_list), num_node_classes=num_node_classes,
                    num_edge_classes=num_edge_classes)


def from_dense(X: Tensor | None, E: Tensor, node_mask: Tensor, *, node_one_hot: bool = False,
               edge_one_hot: bool = False) -> list[Data]:
    """Inverse of :func:`to_dense`: one ``Data`` per graph, with ``x`` (if ``X`` is given), ``edge_index`` sorted by
    (row, col), ``edge_attr`` (unless ``E`` is a plain ``[B, N, N]`` float adjacency) and ``num_nodes``.

    Args:
        X: dense node tensor or ``None``.
        E: dense edge tensor in one of the encodings of the module docstring.
        node_mask: bool ``[B, N]``; nodes need not be a prefix (they are renumbered in order), and entries of ``X``
            and ``E`` at masked-out positions are padding and ignored.
        node_one_hot: ``X`` is one-hot/logits ``[B, N, K]``: ``x = X.argmax(-1)`` (long ``[n]``).
        edge_one_hot: ``E`` is one-hot/logits ``[B, N, N, C + 1]``: class ``argmax``; 0 = no edge, else
            ``edge_attr = class - 1``. Without it a float 4-D ``E`` is read as ``[adjacency, features...]``.
    """
    if node_mask.dim() != 2 or node_mask.dtype != torch.bool:
        raise ValueError(f"node_mask must be bool [B, N], got {node_mask.dtype} {tuple(node_mask.shape)}")
    B, N = node_mask.shape
    if E.shape[:3] != (B, N, N):
        raise ValueError(f"E must start with [B={B}, N={N}, N={N}], got {tuple(E.shape)}")
    if X is not None and X.shape[:2] != (B, N):
        raise ValueError(f"X must start with [B={B}, N={N}], got {tuple(X.shape)}")

    if X is not None and node_one_hot:
        if X.dim() != 3:
            raise ValueError(f"node_one_hot needs X [B, N, K], got {tuple(X.shape)}")
        X = X.argmax(-1)

    # present: bool [B, N, N]; values: per-edge attribute tensor [B, N, N, ...] or None
    if edge_one_hot:
        if E.dim() != 4:
            raise ValueError(f"edge_one_hot needs E [B, N, N, C + 1], got {tuple(E.shape)}")
        cls = E.argmax(-1)
        present, values = cls > 0, cls - 1
    elif E.is_floating_point() and E.dim() == 3:
        present, values = E != 0, None
    elif E.is_floating_point():
        if E.dim() != 4 or E.size(-1) < 2:
            raise ValueError(f"float E with features must be [B, N, N, 1 + D], got {tuple(E.shape)}")
        present, values = E[..., 0] != 0, E[..., 1:]
    else:
        shifted = E if E.dim() == 3 else E[..., 0]
        present, values = shifted > 0, E - 1

    out = []
    for b in range(B):
        nodes = node_mask[b].nonzero().view(-1)
        sub = present[b][nodes][:, nodes]
        row, col = sub.nonzero().t()  # row-major: sorted by (row, col)
        data = Data(edge_index=torch.stack([row, col]), num_nodes=nodes.numel())
        if values is not None:
            data.edge_attr = values[b][nodes[row], nodes[col]]
        if X is not None:
            data.x = X[b][nodes]
        out.append(data)
    return out
