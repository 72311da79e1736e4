"""PARD block decomposition: a permutation-invariant order of node *blocks* (Zhao et al., "Permutation-Invariant
Autoregressive Diffusion for Graph Generation", 2024).

Rule (REFERENCE.md §3, PARD). On the graph that remains, give every node the hashed multi-hop degree key

    x^(0) = 1;   for k = 1..K:  x^(k) = x^(k-1) + A x^(k-1)          key(v) = (x^(1)_v, x^(2)_v, ..., x^(K)_v)

compared lexicographically (``x^(1) = 1 + degree``, ``x^(2)`` = 1 + 2·degree + sum of the neighbours' degrees, ...;
the paper packs the tuple into one integer ``w <- w·N + x``, which orders the same way when N exceeds every entry).
All nodes with the minimum key form one block; remove them and repeat on the rest. The list of removed blocks is then
reversed, so block 0 is the core that is generated first and the last block holds the periphery.

Because the keys depend only on the graph structure, the block of each node is permutation *equivariant*: relabelling
the nodes relabels the block vector the same way. Block sizes are not a hyper-parameter. All nodes of a block share
their key at removal time, so they share their degree in the graph made of blocks ``0..b`` (:func:`block_degrees`).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

# Bump whenever block_decomposition or block_degrees change what they compute: stored decompositions
# (graphgen.generate.pard.train caches them beside each dataset cache) carry it in their key and are rebuilt.
DECOMPOSITION_VERSION = 1

# The loops below run on numpy integer arrays: per-graph work on tiny matrices, where torch's intra-op threads only
# add overhead (and stall on a busy machine).


def _dense_adjacency(edge_index: Tensor, num_nodes: int) -> np.ndarray:
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
    if edge_index.numel() and int(edge_index.max()) >= num_nodes:
        raise ValueError(f"edge_index refers to node {int(edge_index.max())} but num_nodes={num_nodes}")
    ei = edge_index.numpy()
    adj = np.zeros((num_nodes, num_nodes), dtype=np.int64)
    adj[ei[0], ei[1]] = 1
    adj[ei[1], ei[0]] = 1  # undirected: either direction counts
    np.fill_diagonal(adj, 0)  # self-loops do not count as degree
    return adj


def hashed_degree(adj: Tensor | np.ndarray, max_hops: int) -> Tensor:
    """The multi-hop degree keys ``[N, K]`` (int64) of every node of the dense 0/1 adjacency ``adj`` ``[N, N]``.

    Column ``k-1`` holds ``x^(k)`` with ``x^(0) = 1`` and ``x^(k) = x^(k-1) + A x^(k-1)``; rows compare
    lexicographically. Raises if the walk counts could overflow int64.
    """
    return torch.from_numpy(_hashed_degree(np.asarray(adj, dtype=np.int64), max_hops))


def _hashed_degree(adj: np.ndarray, max_hops: int) -> np.ndarray:
    if max_hops < 1:
        raise ValueError(f"max_hops must be >= 1, got {max_hops}")
    n = adj.shape[0]
    if n > 0 and max_hops * np.log2(n + 1) > 62:
        raise ValueError(f"max_hops={max_hops} overflows int64 walk counts on {n} nodes; lower max_hops")
    x = np.ones(n, dtype=np.int64)
    keys = np.zeros((n, max_hops), dtype=np.int64)
    for k in range(max_hops):
        x = x + adj @ x
        keys[:, k] = x
    return keys


def _argmin_rows(keys: np.ndarray) -> np.ndarray:
    """Bool mask of the rows equal to the lexicographic minimum row of ``keys`` ``[N, K]``."""
    sel = np.ones(keys.shape[0], dtype=bool)
    for k in range(keys.shape[1]):
        col = keys[:, k]
        sel &= col == col[sel].min()
    return sel


def block_decomposition(edge_index: Tensor, num_nodes: int, *, max_hops: int = 1) -> Tensor:
    """Block index of every node, in generation order (0 = the core generated first).

    Args:
        edge_index: ``[2, E]`` edges (one or both directions; self-loops ignored).
        num_nodes: number of nodes ``N``.
        max_hops: ``K``, the number of hops in the hashed degree key (PARD's ``max_hops``; 1 = plain degree).

    Returns:
        long ``[N]`` with values ``0..B-1``, where ``B`` is the number of blocks.
    """
    if max_hops < 1:
        raise ValueError(f"max_hops must be >= 1, got {max_hops}")
    adj = _dense_adjacency(edge_index, num_nodes)
    remaining = np.arange(num_nodes)
    removal = np.full(num_nodes, -1, dtype=np.int64)  # order of removal (0 = removed first)
    step = 0
    while remaining.size:
        sub = adj[np.ix_(remaining, remaining)]
        chosen = _argmin_rows(_hashed_degree(sub, max_hops))
        removal[remaining[chosen]] = step
        remaining = remaining[~chosen]
        step += 1
    return torch.from_numpy((step - 1) - removal)  # reverse: the last removed block is generated first


def block_degrees(edge_index: Tensor, block: Tensor) -> Tensor:
    """Per block ``b``: the (common) degree of its nodes in the graph induced by blocks ``0..b``. long ``[B]``."""
    num_nodes = block.numel()
    adj = _dense_adjacency(edge_index, num_nodes)
    blk = block.numpy()
    num_blocks = int(blk.max()) + 1 if num_nodes else 0
    out = torch.zeros(num_blocks, dtype=torch.long)
    for b in range(num_blocks):
        deg = adj[blk == b][:, blk <= b].sum(axis=1)
        if deg.size and not bool((deg == deg[0]).all()):
            raise ValueError(f"block {b} mixes degrees {deg.tolist()}: `block` is not a PARD decomposition")
        out[b] = int(deg[0]) if deg.size else 0
    return out


def block_sizes(block: Tensor) -> Tensor:
    """Number of nodes in each block, long ``[B]``."""
    return torch.bincount(block) if block.numel() else torch.zeros(0, dtype=torch.long)


def order_agreement(graphs: list, *, max_hops: int = 1) -> float:
    """Fraction of generated graphs whose generation blocks (the ``block`` attribute PARD's sampler attaches) are
    exactly the PARD decomposition of the graph that came out.

    A sampler that respects the model's own order scores 1.0 on every graph of the training data. A lower value
    means blocks came out that the decomposition would have split or merged (e.g. a first block of 5 isolated nodes
    where the data only has 5-rings), a sign that sampling left the training distribution. Graphs without
    ``block`` raise ``ValueError``.
    """
    if not graphs:
        raise ValueError("order_agreement needs at least one graph")
    hits = 0
    for i, g in enumerate(graphs):
        block = getattr(g, "block", None)
        if block is None:
            raise ValueError(f"graph {i} has no `block` attribute (only PARD samples carry their generation order)")
        hits += bool(torch.equal(block_decomposition(g.edge_index, int(g.num_nodes), max_hops=max_hops),
                                 block.long().view(-1)))
    return hits / len(graphs)
