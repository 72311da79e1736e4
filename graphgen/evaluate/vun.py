"""Validity, uniqueness and novelty (V.U.N.) of generated graphs, as in SPECTRE (Martinkus et al. 2022) and DiGress
(Vignac et al. 2023).

- Validity: planar = connected and planar; tree = ``networkx.is_tree``; SBM = a stochastic block model fitted to the
  graph passes the SPECTRE Wald test (see :func:`sbm_wald_pvalue`).
- Uniqueness: a graph is *unique* if it is not isomorphic to any **earlier** graph of the generated list (so the first
  member of every isomorphism class counts); fraction over all generated graphs.
- Novelty: fraction of generated graphs not isomorphic to any training graph.
- V.U.N.: fraction of generated graphs that are valid, unique (first of their class) and novel.

Isomorphism is exact (``networkx.is_isomorphic``); candidate pairs are pruned with Weisfeiler–Lehman hashes, which are
isomorphism invariants, so pruning never changes the answer.
"""
from __future__ import annotations

import os
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import networkx as nx
import numpy as np
from scipy.stats import chi2
from tqdm.auto import tqdm

from graphgen.evaluate.mmd import single_thread_blas

# ---------------------------------------------------------------------------------------------------------- validity


def _worker_init() -> None:
    single_thread_blas().__enter__()  # for the life of the worker process


def is_planar_valid(graph: nx.Graph) -> bool:
    """SPECTRE planar validity: connected and planar (a graph with 0 nodes is invalid)."""
    return graph.number_of_nodes() > 0 and nx.is_connected(graph) and nx.check_planarity(graph)[0]


def is_tree_valid(graph: nx.Graph) -> bool:
    """Tree validity: connected and acyclic (``networkx.is_tree``; a graph with 0 nodes is invalid)."""
    return graph.number_of_nodes() > 0 and nx.is_tree(graph)


def _sbm_loglik(e: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Bernoulli SBM profile log-likelihood from block edge counts ``e [..., B, B]`` (undirected; ``e[r, r]`` = edges
    inside r, ``e[r, s]`` = edges between r and s) and block sizes ``[..., B]``; batched over leading dimensions."""
    pairs = sizes[..., :, None] * sizes[..., None, :]
    diag = np.arange(sizes.shape[-1])
    pairs[..., diag, diag] = sizes * (sizes - 1) / 2.0
    iu = np.triu_indices(sizes.shape[-1])
    m, p = e[..., iu[0], iu[1]], pairs[..., iu[0], iu[1]]
    safe_p = np.where(p > 0, p, 1.0)
    q = np.clip(m / safe_p, 0.0, 1.0)
    ll = np.where(m > 0, m * np.log(np.where(q > 0, q, 1.0)), 0.0)
    ll += np.where(p - m > 0, (p - m) * np.log(np.where(q < 1, 1.0 - q, 1.0)), 0.0)
    return ll.sum(axis=-1)


def _block_counts(adj: np.ndarray, labels: np.ndarray, num_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    onehot = np.zeros((adj.shape[0], num_blocks))
    onehot[np.arange(adj.shape[0]), labels] = 1.0
    e = onehot.T @ adj @ onehot  # e[r, s] ordered pairs; diagonal counts each internal edge twice
    e[np.diag_indices(num_blocks)] /= 2.0
    return np.rint(e), onehot.sum(axis=0)


def _refine(adj: np.ndarray, labels: np.ndarray, max_sweeps: int = 10) -> np.ndarray:
    """Greedy single-node moves that increase the SBM log-likelihood (at most the current number of blocks; a block
    may empty). Each node's move is scored against every block at once from incrementally updated edge counts."""
    labels = labels.copy()
    num_blocks = int(labels.max()) + 1
    e, sizes = _block_counts(adj, labels, num_blocks)
    onehot = np.zeros((adj.shape[0], num_blocks))
    onehot[np.arange(adj.shape[0]), labels] = 1.0
    ar = np.arange(num_blocks)
    for _ in range(max_sweeps):
        moved = False
        for v in range(adj.shape[0]):
            r = labels[v]
            k = adj[v] @ onehot  # [B] neighbours of v per block
            # remove v from r
            e[r, :] -= k
            e[:, r] -= k
            e[r, r] += k[r]
            sizes[r] -= 1
            # candidates: v into each block b
            cand = np.repeat(e[None], num_blocks, axis=0)  # [B, B, B]
            cand[ar, ar, :] += k
            cand[ar, :, ar] += k
            cand[ar, ar, ar] -= k
            cand_sizes = np.repeat(sizes[None], num_blocks, axis=0)
            cand_sizes[ar, ar] += 1
            ll = _sbm_loglik(cand, cand_sizes)
            b = r if ll[r] >= ll.max() - 1e-9 else int(np.argmax(ll))
            e = cand[b]
            sizes = cand_sizes[b]
            if b != r:
                labels[v] = b
                onehot[v, r], onehot[v, b] = 0.0, 1.0
                moved = True
        if not moved:
            break
    return labels


def _description_penalty(num_nodes: int, num_blocks: int) -> float:
    """BIC-style penalty: ½·(#block-pair probabilities)·log(#node pairs) + label cost n·log B."""
    num_pairs = max(num_nodes * (num_nodes - 1) / 2.0, 1.0)
    return 0.5 * num_blocks * (num_blocks + 1) / 2.0 * np.log(num_pairs) + num_nodes * np.log(max(num_blocks, 1))


def fit_sbm(graph: nx.Graph, *, seed: int = 0, resolutions: Sequence[float] = (0.5, 1.0, 2.0)) -> np.ndarray:
    """Block labels ``[n]`` (0..B-1) of a plain (not degree-corrected) Bernoulli SBM fitted to ``graph``.

    Approximation of SPECTRE's ``graph_tool.minimize_blockmodel_dl`` + merge-split MCMC, which is not available here:
    Louvain partitions (networkx, fixed ``seed``) at a few ``resolutions`` are each refined by greedy node moves that
    increase the SBM likelihood, and the candidate with the best penalised likelihood (BIC-style block-parameter cost
    plus ``n log B`` label cost, a stand-in for the description length) is returned. For SPECTRE's SBM graphs
    (blocks of 20–40 nodes, p_in 0.3, p_out 0.005) the planted blocks are recovered; the fit can differ from
    graph-tool's on ambiguous graphs, so SBM validity is an approximation of the published number.
    """
    nodes = list(graph.nodes)
    n = len(nodes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    index = {v: i for i, v in enumerate(nodes)}
    adj = nx.to_numpy_array(graph, nodelist=nodes, weight=None)
    np.fill_diagonal(adj, 0.0)
    best_labels, best_score = np.zeros(n, dtype=np.int64), -np.inf
    seen: set[tuple[int, ...]] = set()
    for res in resolutions:
        communities = nx.community.louvain_communities(graph, resolution=res, seed=seed)
        labels = np.empty(n, dtype=np.int64)
        for b, community in enumerate(sorted(communities, key=lambda c: min(index[v] for v in c))):
            labels[[index[v] for v in community]] = b
        labels = _refine(adj, labels)
        _, labels = np.unique(labels, return_inverse=True)  # contiguous labels
        key = tuple(labels.tolist())
        if key in seen:
            continue
        seen.add(key)
        num_blocks = int(labels.max()) + 1
        e, sizes = _block_counts(adj, labels, num_blocks)
        score = float(_sbm_loglik(e, sizes)) - _description_penalty(n, num_blocks)
        if score > best_score:
            best_labels, best_score = labels, score
    return best_labels


def sbm_wald_pvalue(graph: nx.Graph, labels: np.ndarray, p_intra: float = 0.3, p_inter: float = 0.005) -> float:
    """Mean Wald-test p-value of the estimated block probabilities against ``p_intra`` / ``p_inter`` (SPECTRE).

    With block sizes ``n_r`` and edge counts ``e_rs``: ``p̂_rr = e_rr / (n_r(n_r-1)/2)``, ``p̂_rs = e_rs / (n_r n_s)``;
    ``W = (p̂ - p)² / (p̂(1 - p̂) + 1e-6)``; p-value ``1 - χ²₁.cdf(W)``; averaged over all ``B × B`` entries (each
    off-diagonal pair appears twice, as in the published code).
    """
    nodes = list(graph.nodes)
    adj = nx.to_numpy_array(graph, nodelist=nodes, weight=None)
    np.fill_diagonal(adj, 0.0)
    num_blocks = int(labels.max()) + 1
    e, sizes = _block_counts(adj, labels, num_blocks)
    est_intra = np.diag(e) / (sizes * (sizes - 1) / 2.0 + 1e-6)
    est_inter = e / (np.outer(sizes, sizes) + 1e-6)
    w = (est_inter - p_inter) ** 2 / (est_inter * (1.0 - est_inter) + 1e-6)
    w[np.diag_indices(num_blocks)] = (est_intra - p_intra) ** 2 / (est_intra * (1.0 - est_intra) + 1e-6)
    return float((1.0 - chi2.cdf(np.abs(w), 1)).mean())


def is_sbm_valid(
    graph: nx.Graph,
    *,
    p_intra: float = 0.3,
    p_inter: float = 0.005,
    min_block: int = 20,
    max_block: int = 40,
    min_blocks: int = 2,
    max_blocks: int = 5,
    threshold: float = 0.9,
    seed: int = 0,
) -> bool:
    """SPECTRE SBM validity (``strict=True``): fitted blocks number 2–5, each of 20–40 nodes, and the mean Wald
    p-value (:func:`sbm_wald_pvalue`) exceeds 0.9. Block model fitted by :func:`fit_sbm` (an approximation of the
    graph-tool fit the paper uses — see there). Measured with this fit: 89.8 % of SPECTRE's 128 SBM training graphs
    and 95 % of its 40 test graphs pass; Erdős–Rényi graphs with the same sizes and edge counts do not."""
    if graph.number_of_nodes() == 0:
        return False
    labels = fit_sbm(graph, seed=seed)
    sizes = np.bincount(labels)
    if not (min_blocks <= len(sizes) <= max_blocks) or sizes.min() < min_block or sizes.max() > max_block:
        return False
    return sbm_wald_pvalue(graph, labels, p_intra, p_inter) > threshold


VALIDITY: dict[str, Callable[[nx.Graph], bool]] = {
    "planar": is_planar_valid,
    "tree": is_tree_valid,
    "sbm": is_sbm_valid,
}

# ------------------------------------------------------------------------------------------- uniqueness and novelty


def wl_hash(graph: nx.Graph, iterations: int = 3) -> str:
    """Weisfeiler–Lehman hash plus node/edge counts (an isomorphism invariant used only to prune comparisons)."""
    with warnings.catch_warnings():  # networkx >= 3.5 warns that unlabelled hashes changed; we only compare ours
        warnings.simplefilter("ignore", UserWarning)
        h = nx.weisfeiler_lehman_graph_hash(graph, iterations=iterations)
    return f"{graph.number_of_nodes()}:{graph.number_of_edges()}:{h}"


class IsomorphismIndex:
    """Set of graphs up to isomorphism: ``index.contains(g)`` / ``index.add(g)``, bucketed by WL hash."""

    def __init__(self, graphs: Sequence[nx.Graph] = (), hashes: Sequence[str] | None = None) -> None:
        self._buckets: dict[str, list[nx.Graph]] = defaultdict(list)
        hashes = [wl_hash(g) for g in graphs] if hashes is None else hashes
        for g, h in zip(graphs, hashes):
            self._buckets[h].append(g)

    def contains(self, graph: nx.Graph, h: str | None = None) -> bool:
        h = wl_hash(graph) if h is None else h
        return any(nx.is_isomorphic(graph, other) for other in self._buckets.get(h, ()))

    def add(self, graph: nx.Graph, h: str | None = None) -> None:
        self._buckets[wl_hash(graph) if h is None else h].append(graph)

    def __len__(self) -> int:
        return sum(len(b) for b in self._buckets.values())

    def __repr__(self) -> str:
        return f"IsomorphismIndex(graphs={len(self)}, buckets={len(self._buckets)})"


def unique_flags(graphs: Sequence[nx.Graph], hashes: Sequence[str] | None = None) -> np.ndarray:
    """``[N]`` bool: True where a graph is not isomorphic to any earlier graph of the list."""
    hashes = [wl_hash(g) for g in graphs] if hashes is None else hashes
    index = IsomorphismIndex()
    flags = np.zeros(len(graphs), dtype=bool)
    for i, (g, h) in enumerate(zip(graphs, hashes)):
        if not index.contains(g, h):
            flags[i] = True
            index.add(g, h)
    return flags


def novel_flags(
    graphs: Sequence[nx.Graph], train: Sequence[nx.Graph] | IsomorphismIndex, hashes: Sequence[str] | None = None
) -> np.ndarray:
    """``[N]`` bool: True where a graph is not isomorphic to any training graph."""
    index = train if isinstance(train, IsomorphismIndex) else IsomorphismIndex(train)
    hashes = [wl_hash(g) for g in graphs] if hashes is None else hashes
    return np.array([not index.contains(g, h) for g, h in zip(graphs, hashes)], dtype=bool)


def vun_metrics(
    graphs: Sequence[nx.Graph],
    *,
    train: Sequence[nx.Graph] | None = None,
    validity: str | Callable[[nx.Graph], bool] | None = None,
    progress: bool = False,
    num_workers: int | None = None,
) -> dict[str, float]:
    """Fractions ``unique`` and, when given the inputs they need, ``novel``, ``valid``, ``unique_novel`` and ``vun``.

    Args:
        graphs: generated graphs (networkx).
        train: training graphs, for novelty; without it novelty and V.U.N. are not reported.
        validity: ``"planar"``, ``"tree"``, ``"sbm"`` or a callable ``graph -> bool``; without it validity and V.U.N.
            are not reported.
        progress: show a tqdm bar over the validity checks.
        num_workers: process-pool size for the validity checks (default ``min(4, cpus)``; used for 64+ graphs and a
            picklable check; 0 = serial). The SBM fit is the slow one (benchmarks/results/evaluate_notes.md).
    """
    if len(graphs) == 0:
        raise ValueError("vun_metrics needs at least one generated graph")
    hashes = [wl_hash(g) for g in graphs]
    unique = unique_flags(graphs, hashes)
    out = {"unique": float(unique.mean())}
    novel = None
    if train is not None:
        novel = novel_flags(graphs, train, hashes)
        out["novel"] = float(novel.mean())
        out["unique_novel"] = float((unique & novel).mean())
    if validity is not None:
        if isinstance(validity, str):
            if validity not in VALIDITY:
                raise ValueError(f"validity must be one of {sorted(VALIDITY)} or a callable, got {validity!r}")
            validity = VALIDITY[validity]
        workers = min(4, os.cpu_count() or 1) if num_workers is None else num_workers
        bar = dict(total=len(graphs), desc="validity", leave=False)
        # `disable` only switches the bar off: an explicit False would override TQDM_DISABLE (--no-progress)
        if not progress:
            bar["disable"] = True
        if workers > 1 and len(graphs) >= 64 and validity in VALIDITY.values():
            with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool:
                flags = list(tqdm(pool.map(validity, graphs, chunksize=8), **bar))
        else:
            with single_thread_blas():
                flags = [validity(g) for g in tqdm(graphs, **bar)]
        valid = np.array([bool(f) for f in flags], dtype=bool)
        out["valid"] = float(valid.mean())
        if novel is not None:
            out["vun"] = float((valid & unique & novel).mean())
    return out
