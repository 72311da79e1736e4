"""Maximum mean discrepancy between sets of graph statistics, as the GraphRNN / GDSS and SPECTRE / DiGress
evaluation protocols compute it.

Every protocol reports the *biased* squared MMD (the V-statistic, diagonal terms included, no square root):

.. math::
    \\mathrm{MMD}^2(X, Y) = \\frac{1}{m^2}\\sum_{i,i'} k(x_i, x_{i'}) + \\frac{1}{n^2}\\sum_{j,j'} k(y_j, y_{j'})
        - \\frac{2}{mn}\\sum_{i,j} k(x_i, y_j)

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
from collections.abc import Callable, Sequence

import networkx as nx
import numpy as np
from scipy.spatial.distance import cdist

from graphgen.evaluate.orbits import orbit_counts

# ----------------------------------------------------------------------------------------------------------- kernels


def single_thread_blas() -> contextlib.AbstractContextManager:
    """Limit BLAS to one thread while computing per-graph statistics: the eigen-decompositions are small, and a
    multi-threaded BLAS on a busy machine slows them down many times over (benchmarks/results/evaluate_notes.md)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional; without it BLAS keeps its default threads
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")




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
        raise ValueError(f"histogram row {bad} sums to 0; drop empty graphs (0 nodes) before computing MMD")
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
    """Biased squared MMD between two samples of 1-D statistics.

    Args:
        x, y: sequences of 1-D arrays (lengths may differ; they are zero-padded to a common length) or 2-D arrays.
        kernel: ``"gaussian_emd"``, ``"gaussian_tv"`` or ``"gaussian"`` (see module docstring).
        is_hist: normalise every vector to sum 1 first (histogram statistics).
        **kernel_kwargs: ``sigma`` and, for ``gaussian_emd``, ``distance_scaling``.

    Returns:
        ``mean K(x, x) + mean K(y, y) - 2 mean K(x, y)`` as a float (0 when the samples are equal).
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {sorted(KERNELS)}, got {kernel!r}")
    if len(x) == 0 or len(y) == 0:
        raise ValueError(f"mmd2 needs two non-empty samples, got sizes {len(x)} and {len(y)}")
    length = max(max(len(v) for v in x), max(len(v) for v in y))
    xs, ys = stack_padded(list(x), length), stack_padded(list(y), length)
    if is_hist:
        xs, ys = normalise_rows(xs), normalise_rows(ys)
    k = KERNELS[kernel]
    value = k(xs, xs, **kernel_kwargs).mean() + k(ys, ys, **kernel_kwargs).mean() - 2.0 * k(xs, ys, **kernel_kwargs).mean()
    return float(value)


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
    ``[-1e-5, 2]``, divided by the number of eigenvalues (a probability mass function)."""
    eigs = normalized_laplacian_eigenvalues(graph)
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
        raise ValueError(f"protocol must be one of {sorted(PROTOCOLS) + ['digress']}, got {protocol!r}")
    return PROTOCOLS[key]


def compute_statistics(graphs: Sequence[nx.Graph], spec: StatSpec) -> list[np.ndarray]:
    """Per-graph statistic vectors (serial; see :func:`graphgen.evaluate.graphs.graph_statistics` for the pooled
    version)."""
    return [spec.statistic(g) for g in graphs]


def mmd_from_statistics(x: Sequence[np.ndarray], y: Sequence[np.ndarray], spec: StatSpec) -> float:
    """Biased MMD² between precomputed statistics under one protocol entry."""
    return mmd2(x, y, spec.kernel, is_hist=spec.is_hist, **spec.kernel_kwargs)


def graph_mmd(graphs_x: Sequence[nx.Graph], graphs_y: Sequence[nx.Graph], stat: str, protocol: str = "gdss") -> float:
    """Biased MMD² of one named statistic (``"degree"``, ``"clustering"``, ``"orbit"``, ``"spectral"``) between two
    lists of networkx graphs under ``protocol`` (``"gdss"`` or ``"spectre"``)."""
    specs = protocol_spec(protocol)
    if stat not in specs:
        raise ValueError(f"protocol {protocol!r} has statistics {sorted(specs)}, got {stat!r}")
    spec = specs[stat]
    return mmd_from_statistics(compute_statistics(graphs_x, spec), compute_statistics(graphs_y, spec), spec)
