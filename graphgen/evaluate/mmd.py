"""Maximum mean discrepancy between sets of graph statistics, as the GraphRNN / GDSS and SPECTRE / DiGress
evaluation protocols compute it.

Every protocol reports the *biased* squared MMD (the V-statistic, diagonal terms included, no square root):

.. math::
    \\mathrm{MMD}^2(X, Y) = \\frac{1}{m^2}\\sum_{i,i'} k(x_i, x_{i'}) + \\frac{1}{n^2}\\sum_{j,j'} k(y_j, y_{j'})
        - \\frac{2}{mn}\\sum_{i,j} k(x_i, y_j)

Sign. For a positive-definite kernel the biased estimate is the squared RKHS distance between the two mean
embeddings, so it is never negative; :func:`mmd2` sets a negative value within float rounding to 0. Of the kernels
below only the plain Gaussian (on Euclidean distance) is positive definite. Gaussian-EMD and Gaussian-TV apply the
Gaussian to an L1 distance, which is not Euclidean, so the published estimator can be genuinely negative (hand
example in ``tests/evaluate/test_reliability.py``: -0.16 for four 4-bin histograms); :func:`mmd2` reports such a
value as computed, as the published code does, with a warning. The unbiased estimator (diagonal terms left out) is
not used by any protocol here.

Which graphs MMD accepts (one definition, applied by :func:`graph_mmd` and
:func:`graphgen.evaluate.graphs.evaluate_graphs` alike, through :func:`as_simple_graph`): any ``networkx`` graph
(directed and multi-graphs included) or PyG ``Data`` with ``edge_index`` and ``num_nodes``, read as the *simple
undirected* graph on the same nodes: edge directions are ignored, duplicate edges count once, self-loops are
dropped. The GraphRNN / GRAN / SPECTRE statistics are defined for simple graphs, and the published loaders build
``networkx.Graph`` objects without self-loops. Graphs with 0 nodes have no statistics: :func:`graph_mmd` and the
reference side of ``evaluate_graphs`` reject them naming the index; ``evaluate_graphs`` leaves empty *generated*
graphs out of the MMD and counts them.

Kernels between two 1-D vectors (histograms are zero-padded to a common length first):

- Gaussian-EMD (GraphRNN, used by GDSS): ``k = exp(-EMD(x, y)² / (2σ²))`` where the ground distance between bins
  ``i`` and ``j`` is ``|i - j| / distance_scaling``. For two histograms of equal mass the 1-D earth mover's distance
  has the closed form ``EMD = Σ_k |F_x(k) - F_y(k)| / distance_scaling`` (``F`` = cumulative sums), which is what
  the LP solver (pyemd) used by the original code returns; we use the closed form.
- Gaussian-TV (GRAN, used by SPECTRE / DiGress): ``k = exp(-TV(x, y)² / (2σ²))`` with ``TV = ½ Σ |x - y|``.
- Gaussian (orbit statistic in GDSS): ``k = exp(-‖x - y‖² / (2σ²))``.

Histogram statistics are normalised to sum 1 before the kernel (``is_hist=True`` in the published code); the
per-node-averaged orbit-count vectors are not normalised.

The published statistics and their kernel parameters live in :data:`PROTOCOLS`; the per-graph statistics are the
functions :func:`degree_histogram`, :func:`clustering_histogram`, :func:`orbit_statistic`, :func:`spectral_histogram`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Sequence

import warnings
from typing import Any

import networkx as nx
import numpy as np
from scipy.spatial.distance import cdist

from graphgen.errors import InputError
from graphgen.evaluate.orbits import orbit_counts

# Kernels for which the biased MMD² is a squared distance (never negative): the Gaussian of a Euclidean distance.
POSITIVE_DEFINITE_KERNELS = frozenset({"gaussian"})
# Float rounding allowed in mean K(x,x) + mean K(y,y) - 2 mean K(x,y), relative to the sum of the three terms: each
# mean is a pairwise sum of up to millions of terms in [0, 1] (error about log2(count) * eps), 64 eps covers it.
_ROUNDING = 64 * np.finfo(np.float64).eps

# ----------------------------------------------------------------------------------------------------- graph input


class GraphTypeError(InputError, TypeError):
    """An object that is neither a networkx graph nor a PyG ``Data`` (a ``TypeError`` as well, as before)."""


def _edge_array(graph: Any) -> np.ndarray:
    """``graph.edge_index`` as an int64 numpy ``[2, E]`` array (``None``: no edges); InputError naming the field
    otherwise."""
    ei = graph.edge_index
    if ei is None:  # a PyG Data without edges may leave edge_index unset
        return np.zeros((2, 0), dtype=np.int64)
    ei = ei.detach().cpu().numpy() if hasattr(ei, "detach") else np.asarray(ei)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise InputError(f"edge_index must have shape [2, E], got {list(ei.shape)}")
    if ei.size and ei.dtype.kind not in "iu":  # float ids would be truncated into other nodes
        raise InputError(f"edge_index must hold integer node ids, got dtype {ei.dtype}")
    return ei.astype(np.int64)


def as_simple_graph(graph: Any) -> nx.Graph:
    """The simple undirected ``networkx.Graph`` MMD scores for ``graph`` (definition in the module docstring).

    Args:
        graph: a ``networkx`` graph (any class: directions ignored, multi-edges counted once) or a PyG ``Data`` with
            ``edge_index`` [2, E] (either or both directions) and ``num_nodes``.

    Raises:
        InputError: a ``Data`` whose ``edge_index`` is not an integer ``[2, E]`` array or refers to a node outside
            ``0..num_nodes-1``, or an object of another type (:class:`GraphTypeError`, also a ``TypeError``).
    """
    if isinstance(graph, nx.Graph):
        g = nx.Graph()  # undirected and simple whatever the input class; node order kept
        g.add_nodes_from(graph.nodes)
        g.add_edges_from((u, v) for u, v in graph.edges() if u != v)
        return g
    if hasattr(graph, "edge_index") and hasattr(graph, "num_nodes"):
        n = graph.num_nodes
        if n is None or int(n) < 0:
            raise InputError(f"num_nodes must be a count >= 0, got {n!r}")
        n = int(n)
        ei = _edge_array(graph)
        if ei.size and (ei.min() < 0 or ei.max() >= n):
            col = int(np.flatnonzero(((ei < 0) | (ei >= n)).any(axis=0))[0])
            raise InputError(f"edge_index[:, {col}] = {ei[:, col].tolist()} refers to a node outside 0..{n - 1} "
                             f"(num_nodes={n})")
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from((u, v) for u, v in ei.T.tolist() if u != v)
        return g
    raise GraphTypeError(f"expected a networkx graph or a torch_geometric Data with edge_index and num_nodes, got "
                         f"{type(graph).__name__}")


def simple_graphs(graphs: Sequence[Any], name: str, *, allow_empty: bool = False) -> list[nx.Graph]:
    """:func:`as_simple_graph` of every graph; InputError naming ``name[index]`` for a graph that cannot be read
    and, unless ``allow_empty``, for a graph with 0 nodes."""
    out = []
    for index, graph in enumerate(graphs):
        try:
            g = as_simple_graph(graph)
        except InputError as err:
            raise type(err)(f"{name}[{index}]: {err}") from err
        if not allow_empty and g.number_of_nodes() == 0:
            raise InputError(f"{name}[{index}] has 0 nodes; MMD statistics are undefined for empty graphs, drop it")
        out.append(g)
    return out


# ----------------------------------------------------------------------------------------------------------- kernels


@functools.lru_cache(maxsize=1)
def _thread_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, built once: building it reads the process's memory map
    (about 8 ms), which made up half the time of scoring a few small graphs when done on every call."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_thread_blas() -> contextlib.AbstractContextManager:
    """Limit BLAS to one thread while computing per-graph statistics: the eigen-decompositions are small, and a
    multi-threaded BLAS on a busy machine slows them down many times over (benchmarks/results/evaluate_notes.md)."""
    try:
        controller = _thread_controller()
    except ImportError:  # optional; without it BLAS keeps its default threads
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")




def stack_padded(vectors: Sequence[np.ndarray], length: int | None = None) -> np.ndarray:
    """Stack 1-D arrays into ``[len(vectors), L]`` float64, zero-padding on the right to ``L = max length``."""
    if len(vectors) == 0:
        raise ValueError("stack_padded needs at least one vector")
    length = max(len(v) for v in vectors) if length is None else length
    out = np.zeros((len(vectors), length), dtype=np.float64)
    for i, v in enumerate(vectors):
        out[i, : len(v)] = v
    return out


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Divide each row by its sum (``is_hist=True`` in the published code). All-zero rows are an error."""
    sums = x.sum(axis=1, keepdims=True)
    if (sums <= 0).any():
        bad = int(np.flatnonzero(sums[:, 0] <= 0)[0])
        raise InputError(f"histogram row {bad} sums to 0; drop empty graphs (0 nodes) before computing MMD")
    return x / sums


def emd_1d(x: np.ndarray, y: np.ndarray, distance_scaling: float = 1.0) -> float:
    """Earth mover's distance between two 1-D histograms of equal total mass on bins ``0, 1, 2, ...``,
    ground distance ``|i - j| / distance_scaling``. Closed form ``Σ_k |F_x(k) - F_y(k)| / distance_scaling``."""
    xs, ys = stack_padded([np.asarray(x, float), np.asarray(y, float)])
    if not np.isclose(xs.sum(), ys.sum()):
        raise ValueError(f"emd_1d needs equal masses, got {xs.sum()} and {ys.sum()}; normalise the histograms")
    return float(np.abs(np.cumsum(xs) - np.cumsum(ys)).sum() / distance_scaling)


def gaussian_emd_kernel(x: np.ndarray, y: np.ndarray, sigma: float = 1.0, distance_scaling: float = 1.0) -> np.ndarray:
    """Gram matrix ``[m, n]`` of ``exp(-EMD² / 2σ²)`` between rows of ``x [m, L]`` and ``y [n, L]`` (equal-mass rows)."""
    d = cdist(np.cumsum(x, axis=1), np.cumsum(y, axis=1), metric="cityblock") / distance_scaling
    return np.exp(-(d * d) / (2.0 * sigma * sigma))


def gaussian_tv_kernel(x: np.ndarray, y: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Gram matrix ``[m, n]`` of ``exp(-TV² / 2σ²)``, ``TV(x, y) = ½‖x - y‖₁``."""
    d = cdist(x, y, metric="cityblock") / 2.0
    return np.exp(-(d * d) / (2.0 * sigma * sigma))


def gaussian_kernel(x: np.ndarray, y: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Gram matrix ``[m, n]`` of ``exp(-‖x - y‖₂² / 2σ²)``."""
    d2 = cdist(x, y, metric="sqeuclidean")
    return np.exp(-d2 / (2.0 * sigma * sigma))


KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "gaussian_emd": gaussian_emd_kernel,
    "gaussian_tv": gaussian_tv_kernel,
    "gaussian": gaussian_kernel,
}


def mmd2(
    x: Sequence[np.ndarray] | np.ndarray,
    y: Sequence[np.ndarray] | np.ndarray,
    kernel: str = "gaussian_emd",
    *,
    is_hist: bool = True,
    **kernel_kwargs: float,
) -> float:
    """Biased squared MMD (V-statistic) between two samples of 1-D statistics.

    Args:
        x, y: sequences of 1-D arrays (lengths may differ; they are zero-padded to a common length) or 2-D arrays.
        kernel: ``"gaussian_emd"``, ``"gaussian_tv"`` or ``"gaussian"`` (see module docstring).
        is_hist: normalise every vector to sum 1 first (histogram statistics).
        **kernel_kwargs: ``sigma`` and, for ``gaussian_emd``, ``distance_scaling``.

    Returns:
        ``mean K(x, x) + mean K(y, y) - 2 mean K(x, y)`` as a float (exactly 0 when ``x`` and ``y`` are the same
        sample). A negative value within float rounding is returned as 0. For the positive-definite ``"gaussian"``
        kernel nothing else can be negative; for ``"gaussian_emd"`` / ``"gaussian_tv"`` (not positive definite) a
        genuinely negative value is returned as computed, with a ``RuntimeWarning`` (module docstring, "Sign").

    Raises:
        InputError: an unknown kernel, an empty sample, a non-finite value, or (``is_hist``) a vector summing to 0.
    """
    if kernel not in KERNELS:
        raise InputError(f"kernel must be one of {sorted(KERNELS)}, got {kernel!r}")
    if len(x) == 0 or len(y) == 0:
        raise InputError(f"mmd2 needs two non-empty samples, got sizes {len(x)} and {len(y)}")
    length = max(max(len(v) for v in x), max(len(v) for v in y))
    xs, ys = stack_padded(list(x), length), stack_padded(list(y), length)
    for name, arr in (("x", xs), ("y", ys)):
        if not np.isfinite(arr).all():
            row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
            raise InputError(f"mmd2: {name}[{row}] holds a NaN or infinite value; statistics must be finite")
    if is_hist:
        xs, ys = normalise_rows(xs), normalise_rows(ys)
    k = KERNELS[kernel]
    kxx, kyy, kxy = (float(k(a, b, **kernel_kwargs).mean()) for a, b in ((xs, xs), (ys, ys), (xs, ys)))
    return _biased_estimate(kxx, kyy, kxy, kernel)


def _biased_estimate(kxx: float, kyy: float, kxy: float, kernel: str) -> float:
    """``kxx + kyy - 2 kxy`` with float rounding below 0 set to 0 (see :func:`mmd2` for genuine negatives)."""
    value = kxx + kyy - 2.0 * kxy
    if value >= 0.0:
        return value
    if value >= -_ROUNDING * (kxx + kyy + 2.0 * kxy):
        return 0.0  # rounding only: the exact value of these means is >= 0 or within eps of it
    reason = (f"the {kernel} kernel is not positive definite, so the published biased estimator can be negative"
              if kernel not in POSITIVE_DEFINITE_KERNELS else "more than float rounding explains for this kernel")
    warnings.warn(f"MMD² = {value:.3g} < 0: {reason}; reported as computed", RuntimeWarning, stacklevel=3)
    return value


# ------------------------------------------------------------------------------------------------ graph statistics


def degree_histogram(graph: nx.Graph) -> np.ndarray:
    """Counts of nodes with degree 0, 1, ..., max degree (``networkx.degree_histogram``)."""
    return np.asarray(nx.degree_histogram(graph), dtype=np.float64)


def local_clustering(graph: nx.Graph) -> np.ndarray:
    """Local clustering coefficient ``2 t_v / (d_v (d_v - 1))`` per node (0 where ``d_v < 2``), i.e.
    ``networkx.clustering`` for unweighted graphs, from the triangle (orbit 3) and degree (orbit 0) counts."""
    counts = orbit_counts(graph)
    deg, tri = counts[:, 0].astype(np.float64), counts[:, 3].astype(np.float64)
    denom = deg * (deg - 1.0)
    return np.divide(2.0 * tri, denom, out=np.zeros_like(tri), where=denom > 0)


def clustering_histogram(graph: nx.Graph, bins: int = 100) -> np.ndarray:
    """Histogram (counts) of the local clustering coefficients over ``bins`` equal bins of [0, 1]."""
    coeffs = local_clustering(graph)
    hist, _ = np.histogram(coeffs, bins=bins, range=(0.0, 1.0), density=False)
    return hist.astype(np.float64)


def orbit_statistic(graph: nx.Graph) -> np.ndarray:
    """The 15 induced graphlet-orbit counts (orbits 0..14, see :mod:`graphgen.evaluate.orbits`) summed over nodes and
    divided by the number of nodes — GraphRNN's ``orbit_stats_all`` statistic, used by GDSS and SPECTRE."""
    n = graph.number_of_nodes()
    if n == 0:
        raise ValueError("orbit_statistic of a graph with 0 nodes is undefined; drop empty graphs first")
    return orbit_counts(graph).sum(axis=0).astype(np.float64) / n


def normalized_laplacian_eigenvalues(graph: nx.Graph) -> np.ndarray:
    """Eigenvalues of ``L = D^{-1/2} (D - A) D^{-1/2}``, with ``D^{-1/2}`` set to 0 at isolated nodes (so an isolated
    node contributes eigenvalue 0), i.e. ``networkx.normalized_laplacian_matrix``. Ascending, in [0, 2]."""
    n = graph.number_of_nodes()
    a = nx.to_numpy_array(graph, dtype=np.float64, weight=None)
    np.fill_diagonal(a, 0.0)  # simple graph statistics: ignore self-loops
    deg = a.sum(axis=1)
    inv_sqrt = np.zeros(n)
    inv_sqrt[deg > 0] = 1.0 / np.sqrt(deg[deg > 0])
    lap = (np.diag(deg) - a) * inv_sqrt[:, None] * inv_sqrt[None, :]
    return np.linalg.eigvalsh(lap)


def spectral_histogram(graph: nx.Graph, bins: int = 200) -> np.ndarray:
    """SPECTRE's spectral statistic: normalised-Laplacian eigenvalues binned into ``bins`` equal bins over
    ``[-1e-5, 2]``, divided by the number of eigenvalues (a probability mass function). Unlike SPECTRE's code, an
    eigenvalue that rounding puts just outside ``[0, 2]`` is clipped into it rather than dropped, so the statistic
    does not depend on the order of the nodes."""
    # The eigenvalues lie in [0, 2]; rounding puts the eigenvalue 2 of a bipartite graph just above 2 for some node
    # orders (a quarter of random trees), where np.histogram (and SPECTRE's code) would drop it: clip it back.
    eigs = np.clip(normalized_laplacian_eigenvalues(graph), 0.0, 2.0)
    hist, _ = np.histogram(eigs, bins=bins, range=(-1e-5, 2.0), density=False)
    return hist.astype(np.float64) / max(hist.sum(), 1)


# ------------------------------------------------------------------------------------------------------ protocols


@dataclasses.dataclass(frozen=True)
class StatSpec:
    """One MMD statistic of a protocol: per-graph statistic, kernel name, kernel arguments, histogram or not."""

    statistic: Callable[[nx.Graph], np.ndarray]
    kernel: str
    kernel_kwargs: dict[str, float]
    is_hist: bool = True


PROTOCOLS: dict[str, dict[str, StatSpec]] = {
    # GDSS (Jo et al. 2022), inheriting GraphRNN's code: Gaussian-EMD for degree (σ=1) and clustering (σ=0.1,
    # 100 bins, ground distance |i-j|/100); plain Gaussian σ=30 on per-node-averaged orbit counts.
    "gdss": {
        "degree": StatSpec(degree_histogram, "gaussian_emd", {"sigma": 1.0, "distance_scaling": 1.0}),
        "clustering": StatSpec(clustering_histogram, "gaussian_emd", {"sigma": 0.1, "distance_scaling": 100.0}),
        "orbit": StatSpec(orbit_statistic, "gaussian", {"sigma": 30.0}, is_hist=False),
    },
    # SPECTRE (Martinkus et al. 2022) / DiGress (Vignac et al. 2023), GRAN's kernels (compute_emd=False):
    # Gaussian-TV for degree (σ=1), clustering (σ=0.1, 100 bins), orbit (σ=30, unnormalised per-node averages)
    # and the 200-bin normalised-Laplacian spectrum (σ=1).
    "spectre": {
        "degree": StatSpec(degree_histogram, "gaussian_tv", {"sigma": 1.0}),
        "clustering": StatSpec(clustering_histogram, "gaussian_tv", {"sigma": 0.1}),
        "orbit": StatSpec(orbit_statistic, "gaussian_tv", {"sigma": 30.0}, is_hist=False),
        "spectral": StatSpec(spectral_histogram, "gaussian_tv", {"sigma": 1.0}),
    },
}


def protocol_spec(protocol: str) -> dict[str, StatSpec]:
    """The statistics of a protocol; ``"digress"`` is an alias of ``"spectre"``."""
    key = "spectre" if protocol == "digress" else protocol
    if key not in PROTOCOLS:
        raise InputError(f"protocol must be one of {sorted(PROTOCOLS) + ['digress']}, got {protocol!r}")
    return PROTOCOLS[key]


def compute_statistics(graphs: Sequence[nx.Graph], spec: StatSpec) -> list[np.ndarray]:
    """Per-graph statistic vectors (serial; see :func:`graphgen.evaluate.graphs.graph_statistics` for the pooled
    version)."""
    return [spec.statistic(g) for g in graphs]


def mmd_from_statistics(x: Sequence[np.ndarray], y: Sequence[np.ndarray], spec: StatSpec) -> float:
    """Biased MMD² between precomputed statistics under one protocol entry."""
    return mmd2(x, y, spec.kernel, is_hist=spec.is_hist, **spec.kernel_kwargs)


def graph_mmd(graphs_x: Sequence[Any], graphs_y: Sequence[Any], stat: str, protocol: str = "gdss") -> float:
    """Biased MMD² of one named statistic (``"degree"``, ``"clustering"``, ``"orbit"``, ``"spectral"``) between two
    lists of graphs under ``protocol`` (``"gdss"`` or ``"spectre"``).

    Graphs are networkx graphs or PyG ``Data``, each read as its simple undirected graph (self-loops dropped,
    duplicate edges counted once; :func:`as_simple_graph`), exactly as
    :func:`graphgen.evaluate.graphs.evaluate_graphs` reads them, so the two report the same value.

    Raises:
        InputError: an unknown protocol or statistic, an empty list, or a graph with 0 nodes or a malformed
            ``edge_index`` (the message names the list, ``graphs_x`` or ``graphs_y``, and the index).
    """
    specs = protocol_spec(protocol)
    if stat not in specs:
        raise InputError(f"protocol {protocol!r} has statistics {sorted(specs)}, got {stat!r}")
    if len(graphs_x) == 0 or len(graphs_y) == 0:
        raise InputError(f"graph_mmd needs two non-empty lists, got {len(graphs_x)} and {len(graphs_y)} graphs")
    spec = specs[stat]
    xs, ys = simple_graphs(graphs_x, "graphs_x"), simple_graphs(graphs_y, "graphs_y")
    return mmd_from_statistics(compute_statistics(xs, spec), compute_statistics(ys, spec), spec)
