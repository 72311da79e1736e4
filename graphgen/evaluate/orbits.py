"""Exact per-node graphlet-orbit counts for graphlets of 2–4 nodes (the 15 orbits ORCA counts).

Orbit numbering (Pržulj 2007; Hočevar & Demšar, "A combinatorial approach to graphlet counting", 2014 — the ORCA
tool that GraphRNN, GRAN, GDSS and SPECTRE call for their orbit MMD):

====  ==============================  ====  ==============================================
  0   edge (the node's degree)           8   4-cycle
  1   3-path, end                        9   paw (tailed triangle), tail end (degree 1)
  2   3-path, middle                    10   paw, the two degree-2 triangle nodes
  3   triangle                          11   paw, the degree-3 node
  4   4-path, end                       12   diamond, the two degree-2 nodes
  5   4-path, middle                    13   diamond, the two degree-3 nodes
  6   3-star (claw), leaf               14   4-clique
  7   3-star, centre
====  ==============================  ====  ==============================================

Counts are over *induced* connected subgraphs, as ORCA counts them: entry ``[v, k]`` is the number of node subsets
``S ∋ v`` whose induced subgraph is the graphlet of orbit ``k`` with ``v`` sitting in orbit ``k``.

Method (no ORCA binary). One pass over the CSR adjacency (numba) computes, per node, closed-form counts of
*non-induced* 4-node pattern copies from degrees, per-edge triangle counts ``t_uv``, node triangle counts ``t_v``,
2-path multiplicities (4-cycles) and an explicit 4-clique enumeration, e.g.

- 4-path end ``N4(v) = Σ_{a~v} Σ_{b~a}(d_b-1) - d_v(d_v-1) - 2 t_v``; 4-path middle ``N5(v) = (d_v-1)Σ_{b~v}(d_b-1) - 2t_v``
- claw ``N6(v) = Σ_{u~v} C(d_u-1, 2)``, ``N7(v) = C(d_v, 3)``; 4-cycle ``N8(v) = Σ_{b≠v} C((A²)_vb, 2)``
- paw ``N9(v) = Σ_{r~v}(t_r - t_vr)``, ``N10(v) = Σ_{q~v} t_vq (d_q-2)``, ``N11(v) = t_v (d_v-2)``
- diamond ``N12(v) = Σ_{triangles vrs}(t_rs - 1)``, ``N13(v) = Σ_{u~v} C(t_vu, 2)``; clique ``N14(v)`` enumerated.

Each non-induced count is a fixed non-negative combination of the induced counts,
``N_k(v) = Σ_j M[k, j] I_j(v)`` where ``M[k, j]`` is the number of spanning subgraphs of the orbit-``j`` graphlet
that put its node in orbit ``k``; ``M`` is built at import by enumerating edge subsets of the six 4-node graphlets
(:func:`_pattern_matrix`), and is unitriangular, so the induced counts follow exactly by back-substitution.
Tests compare against brute force over every 4-node subset.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import networkx as nx
import numba
import numpy as np

NUM_ORBITS = 15

# The six connected 4-node graphlets on nodes 0..3, as edge lists.
_GRAPHLETS_4: dict[str, tuple[tuple[int, int], ...]] = {
    "path": ((0, 1), (1, 2), (2, 3)),
    "star": ((0, 1), (0, 2), (0, 3)),
    "cycle": ((0, 1), (1, 2), (2, 3), (0, 3)),
    "paw": ((0, 1), (1, 2), (0, 2), (2, 3)),
    "diamond": ((0, 1), (1, 2), (2, 3), (0, 3), (0, 2)),
    "clique": ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)),
}


def classify_orbit_4(edges: Iterable[tuple[int, int]], node: int) -> int:
    """Orbit (4..14) of ``node`` in a *connected* graph on exactly 4 nodes given by ``edges``.

    On 4 nodes the number of edges, the degree sequence and the node's own degree identify the orbit uniquely.
    """
    edges = list(edges)
    deg = {i: 0 for i in range(4)}
    nodes: set[int] = set()
    for u, v in edges:
        deg[u] += 1
        deg[v] += 1
        nodes.update((u, v))
    m, d = len(edges), deg[node]
    if m == 3:
        if max(deg.values()) == 3:  # star
            return 7 if d == 3 else 6
        return 4 if d == 1 else 5  # path
    if m == 4:
        if max(deg.values()) == 2:  # cycle
            return 8
        return {1: 9, 2: 10, 3: 11}[d]  # paw
    if m == 5:
        return 13 if d == 3 else 12  # diamond
    if m == 6:
        return 14
    raise ValueError(f"classify_orbit_4 expects a connected 4-node graph, got {m} edges: {edges}")


def _is_connected_4(edges: Sequence[tuple[int, int]]) -> bool:
    g = nx.Graph()
    g.add_nodes_from(range(4))
    g.add_edges_from(edges)
    return nx.is_connected(g)


def _pattern_matrix() -> np.ndarray:
    """``M[k-4, j-4]`` = number of connected spanning subgraphs of the orbit-``j`` graphlet putting its node in orbit k."""
    m = np.zeros((11, 11), dtype=np.int64)
    for edges in _GRAPHLETS_4.values():
        for node in range(4):
            j = classify_orbit_4(edges, node)
            col = np.zeros(11, dtype=np.int64)
            for r in range(3, len(edges) + 1):
                for subset in itertools.combinations(edges, r):
                    if _is_connected_4(subset):
                        col[classify_orbit_4(subset, node) - 4] += 1
            if m[:, j - 4].any() and not np.array_equal(m[:, j - 4], col):  # nodes of one orbit must agree
                raise AssertionError(f"orbit {j}: inconsistent pattern counts {m[:, j - 4]} vs {col}")
            m[:, j - 4] = col
    return m


_M = _pattern_matrix()
_M_INV = np.rint(np.linalg.inv(_M.astype(np.float64))).astype(np.int64)  # unitriangular -> exact integer inverse
assert np.array_equal(_M @ _M_INV, np.eye(11, dtype=np.int64)), "orbit pattern matrix is not unimodular"


@numba.njit(cache=True, nogil=True)
def _noninduced_counts(indptr: np.ndarray, indices: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover (jit)
    """Columns 0..3: induced orbits 0..3; columns 4..14: non-induced 4-node pattern counts N4..N14 (see module doc)."""
    out = np.zeros((n, 15), dtype=np.int64)
    deg = np.empty(n, dtype=np.int64)
    for v in range(n):
        deg[v] = indptr[v + 1] - indptr[v]
    nnz = indices.shape[0]
    # per directed edge slot: triangles through the edge
    tri_e = np.zeros(nnz, dtype=np.int64)
    mark = np.full(n, -1, dtype=np.int64)
    for u in range(n):
        for p in range(indptr[u], indptr[u + 1]):
            mark[indices[p]] = u
        for p in range(indptr[u], indptr[u + 1]):
            w = indices[p]
            c = 0
            for q in range(indptr[w], indptr[w + 1]):
                if mark[indices[q]] == u:
                    c += 1
            tri_e[p] = c
    tri_v = np.zeros(n, dtype=np.int64)
    for v in range(n):
        s = 0
        for p in range(indptr[v], indptr[v + 1]):
            s += tri_e[p]
        tri_v[v] = s // 2
    # S_a = Σ_{b~a} (d_b - 1)
    s_deg = np.zeros(n, dtype=np.int64)
    for a in range(n):
        s = 0
        for p in range(indptr[a], indptr[a + 1]):
            s += deg[indices[p]] - 1
        s_deg[a] = s

    mark.fill(-1)
    mark2 = np.full(n, -1, dtype=np.int64)
    w2 = np.zeros(n, dtype=np.int64)  # 2-path multiplicities from v
    touched = np.empty(n, dtype=np.int64)
    for v in range(n):
        dv = deg[v]
        tv = tri_v[v]
        out[v, 0] = dv
        out[v, 3] = tv
        n1 = 0
        for p in range(indptr[v], indptr[v + 1]):
            n1 += deg[indices[p]] - 1
        out[v, 1] = n1 - 2 * tv
        out[v, 2] = dv * (dv - 1) // 2 - tv
        # 4-path end and middle
        n4 = 0
        for p in range(indptr[v], indptr[v + 1]):
            n4 += s_deg[indices[p]]
        out[v, 4] = n4 - dv * (dv - 1) - 2 * tv
        out[v, 5] = (dv - 1) * s_deg[v] - 2 * tv if dv > 0 else 0
        # claw
        n6 = 0
        for p in range(indptr[v], indptr[v + 1]):
            du = deg[indices[p]] - 1
            n6 += du * (du - 1) // 2
        out[v, 6] = n6
        out[v, 7] = dv * (dv - 1) * (dv - 2) // 6
        # 4-cycle: Σ_{b≠v} C(W_vb, 2)
        nt = 0
        for p in range(indptr[v], indptr[v + 1]):
            a = indices[p]
            for q in range(indptr[a], indptr[a + 1]):
                b = indices[q]
                if b != v:
                    if w2[b] == 0:
                        touched[nt] = b
                        nt += 1
                    w2[b] += 1
        n8 = 0
        for i in range(nt):
            b = touched[i]
            n8 += w2[b] * (w2[b] - 1) // 2
            w2[b] = 0
        out[v, 8] = n8
        # paw
        n9 = 0
        n10 = 0
        n13 = 0
        for p in range(indptr[v], indptr[v + 1]):
            u = indices[p]
            n9 += tri_v[u] - tri_e[p]
            n10 += tri_e[p] * (deg[u] - 2)
            n13 += tri_e[p] * (tri_e[p] - 1) // 2
        out[v, 9] = n9
        out[v, 10] = n10
        out[v, 11] = tv * (dv - 2) if dv >= 2 else 0
        out[v, 13] = n13
        # diamond deg-2 and 4-clique: walk triangles (v, r, s) with r < s
        for p in range(indptr[v], indptr[v + 1]):
            mark[indices[p]] = v
        n12 = 0
        n14 = 0
        for p in range(indptr[v], indptr[v + 1]):
            r = indices[p]
            for q in range(indptr[r], indptr[r + 1]):
                mark2[indices[q]] = r
            for q in range(indptr[r], indptr[r + 1]):
                s = indices[q]
                if s > r and mark[s] == v:
                    n12 += tri_e[q] - 1
                    for z in range(indptr[s], indptr[s + 1]):
                        w = indices[z]
                        if w > s and mark[w] == v and mark2[w] == r:
                            n14 += 1
        out[v, 12] = n12
        out[v, 14] = n14
    return out


def _csr(num_nodes: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric CSR (indptr, indices) without self-loops or duplicate edges from an ``[E, 2]`` edge array."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if edges.size and (edges.min() < 0 or edges.max() >= num_nodes):
        raise ValueError(f"edge endpoints must lie in [0, {num_nodes}); got range [{edges.min()}, {edges.max()}]")
    edges = edges[edges[:, 0] != edges[:, 1]]
    both = np.concatenate([edges, edges[:, ::-1]], axis=0)
    key = np.unique(both[:, 0] * num_nodes + both[:, 1]) if both.size else np.zeros(0, dtype=np.int64)
    rows, cols = key // max(num_nodes, 1), key % max(num_nodes, 1)
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=num_nodes), out=indptr[1:])
    return indptr, cols.astype(np.int64)


def orbit_counts_from_edges(num_nodes: int, edges: np.ndarray) -> np.ndarray:
    """Induced orbit counts ``[num_nodes, 15]`` (int64) of an undirected simple graph.

    Args:
        num_nodes: number of nodes ``n`` (isolated nodes get zero rows).
        edges: ``[E, 2]`` integer array of undirected edges (either or both directions; self-loops and duplicates
            are ignored, as ORCA ignores them).
    """
    indptr, indices = _csr(int(num_nodes), edges)
    raw = _noninduced_counts(indptr, indices, int(num_nodes))
    out = raw.copy()
    out[:, 4:] = raw[:, 4:] @ _M_INV.T  # I = M^{-1} N, per node
    if (out < 0).any():  # cannot happen for a simple graph; guards the algebra
        raise RuntimeError("negative orbit count: internal error in graphgen.evaluate.orbits")
    return out


def orbit_counts(graph: nx.Graph) -> np.ndarray:
    """Induced orbit counts ``[n, 15]`` for a networkx graph; rows follow ``list(graph.nodes)`` order."""
    index = {node: i for i, node in enumerate(graph.nodes)}
    edges = np.array([(index[u], index[v]) for u, v in graph.edges], dtype=np.int64).reshape(-1, 2)
    return orbit_counts_from_edges(graph.number_of_nodes(), edges)


def orbit_counts_bruteforce(graph: nx.Graph) -> np.ndarray:
    """Reference: enumerate every 2-, 3- and 4-node subset and classify it. O(n^4); for tests only."""
    nodes = list(graph.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    out = np.zeros((len(nodes), NUM_ORBITS), dtype=np.int64)
    for v in nodes:
        out[index[v], 0] = graph.degree(v)
    for trio in itertools.combinations(nodes, 3):
        sub = graph.subgraph(trio)
        m = sub.number_of_edges()
        if m == 3:
            for v in trio:
                out[index[v], 3] += 1
        elif m == 2:
            for v in trio:
                out[index[v], 2 if sub.degree(v) == 2 else 1] += 1
    for quad in itertools.combinations(nodes, 4):
        sub = graph.subgraph(quad)
        local = {node: i for i, node in enumerate(quad)}
        edges = [(local[u], local[v]) for u, v in sub.edges]
        if len(edges) < 3 or not _is_connected_4(edges):
            continue
        for v in quad:
            out[index[v], classify_orbit_4(edges, local[v])] += 1
    return out
