"""Neighbourhood subgraph pairwise distance kernel (NSPDK) and its MMD, as sparse feature vectors.

Costa & De Grave, "Fast Neighborhood Subgraph Pairwise Distance Kernel", ICML 2010. A graph is mapped to counts of
features ``(N_r(v), N_r(u), d)``: a pair of rooted neighbourhood subgraphs of radius ``r`` whose roots are ``d`` apart,
for every ``r <= R`` and ``d <= D``. The kernel is the dot product of the normalised feature vectors, so

    K(G, G') = <phi(G), phi(G')>,    K(G, G) = 1,
    MMD^2(X, Y) = mean K(X, X) + mean K(Y, Y) - 2 mean K(X, Y) = || mean phi(X) - mean phi(Y) ||^2

(the biased estimator with the diagonal included, which is what the GDSS protocol reports). The last identity is what
makes 10k-vs-10k cheap: only the two mean feature vectors are needed, and the reference one can be cached.

Feature definition (the EDeN ``graph.Vectorizer`` with ``discrete=True`` that GDSS calls as
``vectorize(graphs, complexity=4, discrete=True)``; re-derived here, not copied):

- Edges become vertices ("edge-to-vertex" graph): a bond is a vertex carrying the bond label and joined to its two
  atoms, so atom-atom distances double and a neighbourhood of radius ``r`` holds the atoms within ``r`` bonds of the
  root and the bonds with an end closer than ``r``.
- Each vertex has the invariant ``(label, degree)`` (a bond vertex has degree 2). The neighbourhood hash of root ``v``
  at radius ``r`` hashes, level by level for expanded distances ``0..2r``, the multiset of invariants at that level
  (EDeN sorts and hashes each level; we use an order-free sum of mixed 64-bit hashes, which identifies the same
  multisets up to hash collisions). It exists only if the root has an atom at distance exactly ``r``.
- For each ordered pair of atoms ``(v, u)`` at distance ``d`` and each radius ``r`` where both hashes exist, one
  "pair" feature ``hash(sorted(h_v, h_u), r, d)`` and one "half" feature ``hash(h_u, r, d)`` (context of ``u`` only)
  are counted, each with weight 1.
- Counts are L2-normalised inside each ``(r, d)`` block ("inner normalisation"), then the whole vector is
  L2-normalised. Feature ids are folded into ``2**nbits`` columns (EDeN default ``nbits=16``).

"complexity 4", checked against the EDeN source: ``complexity`` sets ``r = d = complexity`` and the loops run over
expanded radii/distances ``0, 2, ..., 2 * complexity``, i.e. original radius 0..4 and distance 0..4 inclusive. So
GDSS's setting is ``radius=4, distance=4`` here (not "up to 3"). Differences from EDeN that change numbers slightly:
hashes are deterministic 64-bit mixes instead of Python's per-process string ``hash`` (so cached features are stable
across runs), and a feature id that two ``(r, d)`` blocks share after folding is summed (EDeN keeps the last block's
value). Both only matter through hash collisions.

Node labels: atom symbols; edge labels: ``int(bond.GetBondTypeAsDouble())`` -- so aromatic bonds (1.5) get label 1,
as in GDSS's ``mols_to_nx``. Molecules are compared as RDKit parses their SMILES (aromatic form).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

_U64 = np.uint64
_M1 = _U64(0xBF58476D1CE4E5B9)
_M2 = _U64(0x94D049BB133111EB)
_GOLD = _U64(0x9E3779B97F4A7C15)
_TAG_PAIR = _U64(0x1F2E3D4C5B6A7988)
_TAG_HALF = _U64(0x7A6B5C4D3E2F1A0B)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = np.asarray(x, dtype=_U64)
    x = x ^ (x >> _U64(30))
    x = x * _M1
    x = x ^ (x >> _U64(27))
    x = x * _M2
    return x ^ (x >> _U64(31))


def _combine(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """Order-dependent hash of two uint64 arrays."""
    return _mix(np.asarray(a, dtype=_U64) * _GOLD + _mix(np.asarray(b, dtype=_U64) + _GOLD))


def label_code(label: object) -> int:
    """Deterministic 64-bit code of a node/edge label (stable across processes, unlike ``hash(str)``)."""
    return int.from_bytes(hashlib.blake2b(repr(label).encode(), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class LabeledGraph:
    """A small undirected labelled graph: ``labels[i]`` of node ``i``; ``edges[k] = (i, j)`` with ``edge_labels[k]``."""

    labels: tuple
    edges: tuple[tuple[int, int], ...]
    edge_labels: tuple

    @property
    def num_nodes(self) -> int:
        return len(self.labels)


def mol_to_labeled_graph(mol) -> LabeledGraph:
    """RDKit molecule -> :class:`LabeledGraph` with atom symbols and ``int(bond order)`` labels (aromatic -> 1)."""
    labels = tuple(a.GetSymbol() for a in mol.GetAtoms())
    edges, elabels = [], []
    for b in mol.GetBonds():
        edges.append((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
        elabels.append(int(b.GetBondTypeAsDouble()))
    return LabeledGraph(labels, tuple(edges), tuple(elabels))


def nx_to_labeled_graph(graph, node_label: str = "label", edge_label: str = "label") -> LabeledGraph:
    """networkx graph -> :class:`LabeledGraph` (missing labels become ``None``; nodes relabelled 0..n-1)."""
    nodes = list(graph.nodes())
    index = {n: i for i, n in enumerate(nodes)}
    labels = tuple(graph.nodes[n].get(node_label) for n in nodes)
    edges, elabels = [], []
    for u, v, d in graph.edges(data=True):
        if u == v:
            continue
        edges.append((index[u], index[v]))
        elabels.append(d.get(edge_label))
    return LabeledGraph(labels, tuple(edges), tuple(elabels))


class NSPDK:
    """NSPDK feature map ``phi``: list of labelled graphs -> CSR matrix ``[num_graphs, 2**nbits]`` with unit rows.

    Args:
        radius: largest neighbourhood radius ``R`` (default 4 = EDeN ``complexity=4``, the GDSS setting).
        distance: largest root distance ``D`` (default 4).
        nbits: feature ids are folded into ``2**nbits`` columns (default 16, EDeN's default).
        chunk_size: graphs processed together in one padded numpy batch.

    Empty graphs (no nodes) get an all-zero row (GDSS drops them before calling EDeN; :func:`nspdk_mmd` does too).
    """

    def __init__(self, radius: int = 4, distance: int = 4, nbits: int = 16, chunk_size: int = 512) -> None:
        if radius < 0 or distance < 0:
            raise ValueError(f"radius and distance must be >= 0, got radius={radius}, distance={distance}")
        if not 1 <= nbits <= 30:
            raise ValueError(f"nbits must be in 1..30, got {nbits}")
        self.radius = radius
        self.distance = distance
        self.nbits = nbits
        self.chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"NSPDK(radius={self.radius}, distance={self.distance}, nbits={self.nbits})"

    @property
    def num_features(self) -> int:
        return 1 << self.nbits

    def transform(self, graphs: list[LabeledGraph], *, progress: bool = False) -> sp.csr_matrix:
        """Feature matrix ``[len(graphs), 2**nbits]`` (float64 CSR), each non-empty row of unit L2 norm."""
        rows, cols, vals = [], [], []
        # Sort by size so each padded chunk is tight; rows are put back in input order at the end.
        order = np.argsort([g.num_nodes for g in graphs], kind="stable")
        starts = range(0, len(graphs), self.chunk_size)
        # `disable` only switches the bar off: an explicit False would override TQDM_DISABLE (--no-progress)
        bar_off = {} if progress else {"disable": True}
        for s in tqdm(starts, desc="NSPDK features", unit="chunk", **bar_off):
            idx = order[s:s + self.chunk_size]
            r, c, v = self._transform_chunk([graphs[i] for i in idx])
            rows.append(idx[r])
            cols.append(c)
            vals.append(v)
        if rows:
            row, col, val = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        else:
            row = col = np.zeros(0, dtype=np.int64)
            val = np.zeros(0)
        mat = sp.csr_matrix((val, (row, col)), shape=(len(graphs), self.num_features))
        mat.sum_duplicates()
        # global L2 normalisation of each row (scaling .data in place: no n_col-sized work arrays)
        row_of = np.repeat(np.arange(len(graphs)), np.diff(mat.indptr))
        norms = np.sqrt(np.bincount(row_of, weights=mat.data ** 2, minlength=len(graphs)))
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        mat.data *= scale[row_of]
        return mat

    # -- one padded chunk ------------------------------------------------------------------------------------------
    def _transform_chunk(self, graphs: list[LabeledGraph]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        B = len(graphs)
        N = max(1, max(g.num_nodes for g in graphs))
        M = max(1, max(len(g.edges) for g in graphs))
        R, Dmax = self.radius, self.distance
        depth = max(R, Dmax)
        node_mask = np.zeros((B, N), dtype=bool)
        node_lab = np.zeros((B, N), dtype=_U64)
        adj = np.zeros((B, N, N), dtype=np.float32)
        ea = np.zeros((B, M), dtype=np.int64)
        eb = np.zeros((B, M), dtype=np.int64)
        edge_lab = np.zeros((B, M), dtype=_U64)
        edge_mask = np.zeros((B, M), dtype=bool)
        codes: dict[object, int] = {}

        def code(lab: object) -> int:
            if lab not in codes:
                codes[lab] = label_code(lab)
            return codes[lab]

        for b, g in enumerate(graphs):
            n = g.num_nodes
            node_mask[b, :n] = True
            node_lab[b, :n] = [code(("node", lab)) for lab in g.labels]
            for k, ((i, j), lab) in enumerate(zip(g.edges, g.edge_labels)):
                if i == j:
                    continue
                adj[b, i, j] = adj[b, j, i] = 1.0
                ea[b, k], eb[b, k] = i, j
                edge_lab[b, k] = code(("edge", lab))
                edge_mask[b, k] = True

        # All-pairs shortest path (capped at `depth`) by breadth-first frontier expansion; INF marks "farther".
        INF = np.int16(depth + 1)
        dist = np.full((B, N, N), INF, dtype=np.int16)
        eye = np.broadcast_to(np.eye(N, dtype=bool), (B, N, N)) & node_mask[:, :, None]
        reached = eye.copy()
        dist[reached] = 0
        for k in range(1, depth + 1):
            grown = (reached.astype(np.float32) @ adj) > 0
            new = grown & ~reached
            dist[new] = k
            reached |= grown
        degree = adj.sum(-1).astype(np.int64)

        with np.errstate(over="ignore"):
            inv_node = _mix(_combine(node_lab, degree.astype(_U64)))  # (label, degree) invariant [B, N]
            inv_edge = _mix(_combine(edge_lab, _U64(2)))  # bond vertex: (label, degree 2) [B, M]
            inv_edge = np.where(edge_mask, inv_edge, _U64(0))
            # distance from root v to bond vertex e = (a, b): 2 * min(d(v,a), d(v,b)) + 1 in the expanded graph
            da = np.take_along_axis(dist, np.broadcast_to(ea[:, None, :], (B, N, M)), axis=2)
            db = np.take_along_axis(dist, np.broadcast_to(eb[:, None, :], (B, N, M)), axis=2)
            edist = np.minimum(da, db)
            edist = np.where(edge_mask[:, None, :], edist, INF)
            # Prefix hash over expanded levels 0, 1, ..., 2R: atoms at distance k (level 2k), bonds at k (level 2k+1).
            neigh = np.zeros((B, N, R + 1), dtype=_U64)
            valid = np.zeros((B, N, R + 1), dtype=bool)
            h = np.zeros((B, N), dtype=_U64)
            for k in range(R + 1):
                at_k = dist == k
                level = np.where(at_k, inv_node[:, None, :], _U64(0)).sum(-1, dtype=_U64)
                h = _combine(h, _combine(level, _U64(2 * k)))
                neigh[:, :, k] = h
                valid[:, :, k] = at_k.any(-1) & node_mask
                if k < R:
                    elevel = np.where(edist == k, inv_edge[:, None, :], _U64(0)).sum(-1, dtype=_U64)
                    h = _combine(h, _combine(elevel, _U64(2 * k + 1)))

            # Ordered root pairs (v, u) with d(v, u) = d <= D, for every radius r with both hashes defined.
            bs, vs, us = np.nonzero((dist <= Dmax) & node_mask[:, :, None] & node_mask[:, None, :])
            ds = dist[bs, vs, us].astype(np.int64)
            out_graph, out_block, out_feat = [], [], []
            for r in range(R + 1):
                ok = valid[bs, vs, r] & valid[bs, us, r]
                b_, d_ = bs[ok], ds[ok]
                hv, hu = neigh[b_, vs[ok], r], neigh[b_, us[ok], r]
                lo, hi = np.minimum(hv, hu), np.maximum(hv, hu)
                rd = _U64(r * 64) + d_.astype(_U64)
                pair = _combine(_combine(_combine(lo, hi), rd), _TAG_PAIR)
                half = _combine(_combine(hu, rd), _TAG_HALF)
                block = r * (Dmax + 1) + d_
                out_graph += [b_, b_]
                out_block += [block, block]
                out_feat += [pair, half]
            g_all = np.concatenate(out_graph)
            blk = np.concatenate(out_block)
            fid = (np.concatenate(out_feat) & _U64((1 << self.nbits) - 1)).astype(np.int64)

        nblocks = (R + 1) * (Dmax + 1)
        key = (g_all * nblocks + blk) << self.nbits | fid
        ukey, counts = np.unique(key, return_counts=True)
        counts = counts.astype(np.float64)
        gb = ukey >> self.nbits  # graph * nblocks + block
        block_norm = np.sqrt(np.bincount(gb, weights=counts * counts))
        vals = counts / block_norm[gb]
        return gb // nblocks, ukey & ((1 << self.nbits) - 1), vals


def nspdk_kernel(x: sp.spmatrix, y: sp.spmatrix | None = None) -> np.ndarray:
    """Dense kernel matrix ``phi(X) phi(Y)^T`` (for small sets and tests; the MMD never builds it)."""
    x = sp.csr_matrix(x)
    y = x if y is None else sp.csr_matrix(y)
    # Compact the column space first: with many hash bits, a transposed CSR would allocate 2**nbits row pointers.
    used, inverse = np.unique(np.concatenate([x.indices, y.indices]), return_inverse=True)
    xc = sp.csr_matrix((x.data, inverse[:x.nnz], x.indptr), shape=(x.shape[0], len(used)))
    yc = sp.csr_matrix((y.data, inverse[x.nnz:], y.indptr), shape=(y.shape[0], len(used)))
    return np.asarray((xc @ yc.T).todense())


def mean_embedding(features: sp.spmatrix) -> np.ndarray:
    """Mean feature vector ``[num_features]`` over the non-empty rows (empty graphs are excluded, as in GDSS)."""
    features = sp.csr_matrix(features)
    nonempty = np.diff(features.indptr) > 0
    if not nonempty.any():
        raise ValueError("no non-empty graph to embed: every graph has zero nodes")
    return np.asarray(features[nonempty].mean(axis=0)).ravel()


def mmd_from_means(mean_x: np.ndarray, mean_y: np.ndarray) -> float:
    """Biased MMD^2 with the linear kernel on normalised features: ``||mu_x - mu_y||^2`` (clipped at 0)."""
    diff = np.asarray(mean_x, dtype=np.float64) - np.asarray(mean_y, dtype=np.float64)
    return float(max(diff @ diff, 0.0))


def nspdk_mmd(x: list[LabeledGraph], y: list[LabeledGraph], *, nspdk: NSPDK | None = None) -> float:
    """NSPDK MMD^2 between two lists of labelled graphs (empty graphs dropped)."""
    nspdk = nspdk or NSPDK()
    return mmd_from_means(mean_embedding(nspdk.transform(x)), mean_embedding(nspdk.transform(y)))
