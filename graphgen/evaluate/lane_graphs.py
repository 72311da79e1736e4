"""Lane-graph metrics (SLEDGE's lane metrics plus geometric plausibility) and the independent-lanes baseline.

:func:`evaluate_lane_graphs` scores generated lane graphs (``Data`` with ``pos`` [n, P, 2] lane centerlines in metres
in the ego frame and ``edge_index`` [2, E] successor edges; conventions in :mod:`graphgen.data.lane_graphs`) against
reference lane graphs (the test split). :func:`independent_lanes_baseline` is the floor a generator must beat.

Sources. SLEDGE (Chitta et al., ECCV 2024) names its lane metrics but has not released their code
(``autonomousvision/sledge`` lists "Metrics" as a TODO). Scenario Dreamer (Rowe et al., CVPR 2025,
``princeton-computational-imaging/scenario-dreamer``, ``utils/metrics_helpers.py``) re-implemented them to compare
with SLEDGE on nuPlan, with the reach / convenience statistic marked as provided by the SLEDGE authors; the
definitions below follow that code except where a **deviation** is stated. SLEDGE's own lanes are "edges" of the map:
consecutive lanes without a branch or a merge are summarised into one polyline
(``sledge_line_feature.get_edge_graph``), and Scenario Dreamer merges such chains the same way before every metric.

- **Ego lane**: the lane under the ego, i.e. the lane nearest to the origin. **Deviation:** distance from the origin
  to the polyline (its segments), not to its nearest vertex; ties (lanes at the same distance, e.g. a lane and its
  successor sharing the nearest point) go to the lane whose direction there is closest to the ego heading (+x),
  then to the lower index.
- **Route length** (``route_length``, metres): the length along the ego lane from the ego's projection onto it to
  its end, plus the longest of the shortest routes that continue from the ego lane along successor edges to any
  reachable lane (each lane on a route counted whole). Averaged over graphs with at least one lane; ``_std`` is the
  sample standard deviation over graphs (``ddof=1``). **Deviation:** Scenario Dreamer starts at the nearest vertex
  of the ego lane and takes, for each reachable lane, the path with fewest edges (``networkx.shortest_path``; a tie
  is broken by lane order); we start at the projection and take the shortest path in metres (Dijkstra), which does
  not depend on lane order. SLEDGE reports 35.37 +- 10.28 m for its best model on nuPlan (64 m x 64 m crops, as here).
- **Endpoint gap** (``endpoint_gap``, metres): ``||end(i) - start(j)||`` over every successor edge ``(i, j)``,
  pooled over the graphs (mean, ``_std`` with ``ddof=1``).
- **Keypoint graph** (for the urban-planning statistics): one node per lane endpoint, the end of ``i`` and the start
  of ``j`` being one node for every successor edge ``(i, j)`` (merged transitively), and one directed edge
  start -> end per lane, in a ``networkx.DiGraph`` (two lanes between the same two keypoints are one edge, as in
  Scenario Dreamer). With ``compact_chains`` (default) the lanes are first summarised SLEDGE's way: an edge
  ``(i, j)`` with ``i`` having one successor and ``j`` one predecessor joins the two lanes into one, so a lane split
  into pieces gives the same statistics as the whole lane (a closed ring of such lanes becomes one keypoint with a
  self-loop).
- **Urban-planning Frechet distances** (``connectivity_fd``, ``density_fd``, ``reach_fd``, ``convenience_fd``):
  per-node or per-graph values are pooled over all graphs of a set, a 1-D Gaussian is fitted to each set (mean and
  sample variance, ``ddof=1`` as ``numpy.cov``), and the square root of their Frechet distance is reported,
  ``sqrt((mu_g - mu_r)^2 + (sigma_g - sigma_r)^2)`` (Scenario Dreamer takes the square root "consistent with SLEDGE").
  Values: connectivity = the degree (in + out; a self-loop counts twice) of every keypoint; density = the number of
  keypoints of every graph (0 for a graph without lanes); reach = for every keypoint, the number of other keypoints
  reachable along directed edges; convenience = for every ordered pair (s, t), s != t, with t reachable from s, the
  number of edges on a shortest path. ``nan`` when either set has fewer than two values. **Scale:** Scenario Dreamer
  multiplies connectivity and convenience by 10 in its tables; we report the plain values (multiply those two by 10
  to compare with its tables).
- **Geometric plausibility** (ours; neither paper reports it):

  - ``curvature_mmd``: per graph, the histogram of the discrete curvature ``|turn angle| / mean(adjacent segment
    lengths)`` (1/m) at every interior point of every lane (points next to a zero-length segment have no curvature
    and are counted in ``curvature_points_skipped``), :attr:`LaneMetricsConfig.curvature_bins` bins over
    ``[0, curvature_max]`` (larger values go to the last bin). ``segment_length_mmd``: the same for the distance
    between consecutive points of a lane (m). Both are biased MMD² (:func:`graphgen.evaluate.mmd.mmd2`) with the
    Gaussian-EMD kernel on the normalised histograms, the EMD measured in the histogram's unit (1/m or m) and
    ``sigma`` in that unit; graphs without any value are left out (``nan`` if a side has none).
  - ``overlap_rate``: the fraction of lanes (pooled over graphs) that run on top of another lane: at least
    ``overlap_fraction`` of their points lie within ``overlap_distance`` metres of one other lane whose nearest
    segment points the same way (positive dot product with the lane's own direction at the point). Lanes that only
    share a start or an end (splits, merges) and opposite-direction copies of a lane do not count.
    ``overlap_rate_reference`` is the reference data's own value.
  - Successor agreement: SLEDGE's geometric rule (:func:`graphgen.data.lane_graphs.successor_rule`: end-to-start gap
    below 1.5 m and heading change below 60 degrees) applied to the generated polylines, against the generated
    edges, pooled over graphs: ``successor_precision`` = generated edges the rule also finds / generated edges,
    ``successor_recall`` = rule edges that were generated / rule edges, ``successor_agreement`` = their F1
    ``2 |both| / (|generated| + |rule|)``. ``nan`` when both are empty (precision / recall: when their denominator
    is 0). ``successor_agreement_reference`` is the F1 of the reference data's edges against the rule on its
    polylines (real maps are not built by the rule, so it is below 1).

Also returned: ``num_graphs``, ``num_reference``, ``mean_lanes``, ``mean_edges`` (per generated graph), ``num_empty``
(generated graphs without lanes; they have no route length) and ``num_without_edges``. ``nan`` marks a metric that is
undefined for the input, never a failure.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
import torch
from torch_geometric.data import Data

from graphgen.data.lane_graphs import ANGLE_DEG, GAP_M, successor_rule
from graphgen.evaluate.mmd import gaussian_emd_kernel, normalise_rows
from graphgen.evaluate.structured import check_edge_pairs, checked_arrays, edge_pairs, fraction, size_counts, to_numpy

_ZERO_LENGTH = 1e-9  # metres: a segment shorter than this has no direction
_MAX_GRAM_BLOCK = 4_000_000  # kernel entries per block of the MMD Gram matrices (memory bound, not a result change)


@dataclasses.dataclass(frozen=True)
class LaneMetricsConfig:
    """Settings of :func:`evaluate_lane_graphs` (definitions in the module docstring)."""

    compact_chains: bool = True       # summarise unbranched chains of lanes into one lane (SLEDGE) for the keypoints
    gap_m: float = GAP_M              # successor rule: end-to-start gap below this (m)
    angle_deg: float = ANGLE_DEG      # successor rule: heading change below this (degrees)
    overlap_distance: float = 1.0     # m; about a third of a lane width, so neighbouring lanes (~3.5 m) never count
    overlap_fraction: float = 0.5     # share of a lane's points that must lie on the other lane
    curvature_bins: int = 50
    curvature_max: float = 0.5        # 1/m: radius 2 m, tighter than any drivable turn
    curvature_sigma: float = 0.05     # 1/m, a tenth of the histogram range (as GraphRNN's clustering kernel)
    segment_bins: int = 60
    segment_max: float = 6.0          # m: a straight lane along the crop's diagonal has 4.8 m between its 20 points
    segment_sigma: float = 0.6        # m, a tenth of the histogram range


# ------------------------------------------------------------------------------------------------ graph arrays


@dataclasses.dataclass(frozen=True)
class LaneGraphArrays:
    """One checked lane graph as numpy arrays.

    Attributes:
        pos: float64 [n, P, 2] lane centerlines (metres, ego frame).
        edges: int64 [E, 2] successor edges ``(i, j)``: lane ``j`` continues lane ``i``.
    """

    pos: np.ndarray
    edges: np.ndarray

    @property
    def num_lanes(self) -> int:
        return len(self.pos)


def lane_graph_arrays(graph: Data, where: str) -> LaneGraphArrays:
    """Check one lane graph and return its arrays; ``where`` (e.g. ``"generated graph 3"``) starts every error.

    Raises:
        ValueError: missing ``pos``, ``pos`` not [n, P >= 2, 2], a non-finite point, ``edge_index`` not [2, E], a lane
            index out of range, a self edge or a repeated edge.
    """
    pos = getattr(graph, "pos", None)
    if pos is None:
        raise ValueError(f"{where}: a lane graph needs 'pos' ([n, P, 2] lane centerlines in metres)")
    pos = to_numpy(pos).astype(np.float64)
    if pos.size == 0 and pos.ndim != 3:
        pos = pos.reshape(0, 2, 2)
    if pos.ndim != 3 or pos.shape[2] != 2 or pos.shape[1] < 2:
        raise ValueError(f"{where}: 'pos' has shape {tuple(pos.shape)}, expected [n, P >= 2, 2] (n lanes of P "
                         f"points)")
    if not np.isfinite(pos).all():
        lane = int(np.flatnonzero(~np.isfinite(pos).all(axis=(1, 2)))[0])
        raise ValueError(f"{where}: lane {lane} has a non-finite point")
    edges = edge_pairs(getattr(graph, "edge_index", None), where)
    if len(edges):
        check_edge_pairs(edges, len(pos), where, item="edge", index="a lane index", self_pair="a self edge",
                         repeat="an earlier edge")
    return LaneGraphArrays(pos, edges)


def _as_arrays(graphs: Sequence[Data], role: str) -> list[LaneGraphArrays]:
    return checked_arrays(graphs, role, lane_graph_arrays)


# -------------------------------------------------------------------------------------------------- geometry


def lane_lengths(pos: np.ndarray) -> np.ndarray:
    """float64 [n]: polyline length of each lane of ``pos`` [n, P, 2]."""
    return np.linalg.norm(np.diff(pos, axis=1), axis=-1).sum(axis=1)


def segment_projection(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance [..., m, k] from each point of ``points`` [..., m, 2] to each segment ``a[s] -> b[s]`` (``a, b``
    [..., k, 2], same leading dimensions) and the position ``t`` in [0, 1] of the nearest point along the segment
    (0 for a zero-length segment)."""
    # x and y handled as separate arrays: numpy reductions over a trailing axis of size 2 are slow
    px, py = points[..., :, None, 0], points[..., :, None, 1]       # [..., m, 1]
    ax, ay = a[..., None, :, 0], a[..., None, :, 1]                   # [..., 1, k]
    dx, dy = b[..., None, :, 0] - ax, b[..., None, :, 1] - ay         # [..., 1, k]
    rx, ry = px - ax, py - ay                                         # [..., m, k]
    length2 = dx * dx + dy * dy
    t = np.divide(rx * dx + ry * dy, length2, out=np.zeros(rx.shape), where=np.broadcast_to(length2 > 0, rx.shape))
    t = np.clip(t, 0.0, 1.0)
    ox, oy = rx - t * dx, ry - t * dy
    return np.sqrt(ox * ox + oy * oy), t


def ego_distances(pos: np.ndarray) -> np.ndarray:
    """float64 [n]: distance from the ego (the origin) to each lane polyline of ``pos`` [n, P, 2]."""
    if len(pos) == 0:
        return np.zeros(0)
    a, b = pos[:, :-1].reshape(-1, 2), pos[:, 1:].reshape(-1, 2)
    dist, _ = segment_projection(np.zeros((1, 2)), a, b)
    return dist.reshape(len(pos), -1).min(axis=1)


def ego_lane(pos: np.ndarray) -> tuple[int, float]:
    """(index of the lane under the ego, length from the ego's projection onto it to its end), for ``pos`` [n >= 1,
    P, 2]. Nearest lane to the origin; ties go to the lane pointing closest to +x at the projection, then to the
    lower index."""
    n, p = pos.shape[:2]
    a, b = pos[:, :-1].reshape(-1, 2), pos[:, 1:].reshape(-1, 2)
    dist, t = segment_projection(np.zeros((1, 2)), a, b)
    dist, t = dist.reshape(n, p - 1), t.reshape(n, p - 1)
    seg = dist.argmin(axis=1)                              # nearest segment of every lane
    lane_dist = dist[np.arange(n), seg]
    tied = np.flatnonzero(lane_dist <= lane_dist.min() + 1e-9)
    direction = pos[tied, seg[tied] + 1] - pos[tied, seg[tied]]
    cos_x = np.divide(direction[:, 0], np.linalg.norm(direction, axis=1), out=np.full(len(tied), -1.0),
                      where=np.linalg.norm(direction, axis=1) > 0)
    lane = int(tied[np.argmax(cos_x)])                     # argmax keeps the first (lowest index) of equal values
    seg_lengths = np.linalg.norm(np.diff(pos[lane], axis=0), axis=-1)
    k = int(seg[lane])
    remaining = (1.0 - t[lane, k]) * seg_lengths[k] + seg_lengths[k + 1:].sum()
    return lane, float(remaining)


def route_length(lg: LaneGraphArrays) -> float:
    """Route length of one lane graph in metres (module docstring); ``nan`` without lanes."""
    if lg.num_lanes == 0:
        return float("nan")
    start, remaining = ego_lane(lg.pos)
    lengths = lane_lengths(lg.pos)
    g = nx.DiGraph()
    g.add_nodes_from(range(lg.num_lanes))
    # entering lane j costs its whole length, so the distance to j is the route length up to j's end
    g.add_weighted_edges_from((int(i), int(j), float(lengths[j])) for i, j in lg.edges)
    farthest = max(nx.single_source_dijkstra_path_length(g, start).values())
    return remaining + float(farthest)


def endpoint_gaps(lg: LaneGraphArrays) -> np.ndarray:
    """float64 [E]: distance from the end of lane ``i`` to the start of lane ``j`` for every edge ``(i, j)``."""
    if len(lg.edges) == 0:
        return np.zeros(0)
    return np.linalg.norm(lg.pos[lg.edges[:, 0], -1] - lg.pos[lg.edges[:, 1], 0], axis=-1)


def discrete_curvatures(pos: np.ndarray) -> tuple[np.ndarray, int]:
    """(curvature in 1/m at every interior point of every lane of ``pos`` [n, P, 2], number of interior points left
    out because an adjacent segment has zero length). Curvature = ``|turn angle| / mean of the two segment lengths``.
    """
    if len(pos) == 0 or pos.shape[1] < 3:
        return np.zeros(0), 0
    d = np.diff(pos, axis=1)                               # [n, P-1, 2]
    length = np.linalg.norm(d, axis=-1)                    # [n, P-1]
    before, after = d[:, :-1], d[:, 1:]                    # [n, P-2, 2] segments around each interior point
    cross = before[..., 0] * after[..., 1] - before[..., 1] * after[..., 0]
    dot = (before * after).sum(-1)
    turn = np.abs(np.arctan2(cross, dot))
    mean_length = (length[:, :-1] + length[:, 1:]) / 2
    ok = (length[:, :-1] > _ZERO_LENGTH) & (length[:, 1:] > _ZERO_LENGTH)
    return (turn[ok] / mean_length[ok]), int((~ok).sum())


def segment_lengths(pos: np.ndarray) -> np.ndarray:
    """float64 [n * (P - 1)]: distance between consecutive points of every lane."""
    return np.linalg.norm(np.diff(pos, axis=1), axis=-1).reshape(-1)


def overlapping_lanes(pos: np.ndarray, distance: float = 1.0, fraction: float = 0.5) -> np.ndarray:
    """bool [n]: lanes of ``pos`` [n, P, 2] with at least ``fraction`` of their points on one other lane: the
    nearest point of that lane is within ``distance`` metres, is not one of its two end points (a point beyond the
    other lane's end is not on it), and its segment there points the same way as the lane at the point."""
    n, p = pos.shape[:2]
    out = np.zeros(n, dtype=bool)
    if n < 2:
        return out
    lo, hi = pos.min(axis=1) - distance, pos.max(axis=1) + distance
    # only lanes whose bounding boxes (grown by `distance`) meet can share points; saves most distance computations
    meets = ((lo[:, None] <= hi[None]) & (lo[None] <= hi[:, None])).all(axis=-1)
    np.fill_diagonal(meets, False)
    lane, other = np.nonzero(meets)                                   # [K] candidate pairs
    if len(lane) == 0:
        return out
    dist, t = segment_projection(pos[lane], pos[other, :-1], pos[other, 1:])        # [K, P, P-1]
    seg = dist.argmin(axis=2)                                         # [K, P] nearest segment of the other lane
    dist = np.take_along_axis(dist, seg[..., None], axis=2)[..., 0]
    t = np.take_along_axis(t, seg[..., None], axis=2)[..., 0]
    beyond = ((seg == 0) & (t <= 0.0)) | ((seg == p - 2) & (t >= 1.0))
    seg_dir = (pos[:, 1:] - pos[:, :-1])[other[:, None], seg]          # [K, P, 2]
    own_dir = np.gradient(pos, axis=1)[lane]                          # [K, P, 2] central differences along the lane
    on_other = (dist < distance) & ~beyond & ((seg_dir * own_dir).sum(-1) > 0)
    np.logical_or.at(out, lane, on_other.mean(axis=1) >= fraction)
    return out


# ------------------------------------------------------------------------------------------ keypoint graph


def lane_chains(num_lanes: int, edges: np.ndarray) -> list[list[int]]:
    """Lanes grouped into maximal unbranched chains (SLEDGE's lane summary): ``i`` and ``j`` follow each other in a
    chain when ``(i, j)`` is an edge, ``i`` has no other successor and ``j`` no other predecessor. Chains are listed
    in driving order; a closed ring starts at its lowest lane index."""
    out_deg = np.bincount(edges[:, 0], minlength=num_lanes) if len(edges) else np.zeros(num_lanes, int)
    in_deg = np.bincount(edges[:, 1], minlength=num_lanes) if len(edges) else np.zeros(num_lanes, int)
    following = {int(i): int(j) for i, j in edges if out_deg[i] == 1 and in_deg[j] == 1}
    has_previous = set(following.values())
    chains, seen = [], set()
    heads = [i for i in range(num_lanes) if i not in has_previous]
    rings = [i for i in range(num_lanes) if i in has_previous]  # visited only if not reached from a head
    for head in heads + rings:
        if head in seen:
            continue
        chain, lane = [], head
        while lane is not None and lane not in seen:
            chain.append(lane)
            seen.add(lane)
            lane = following.get(lane)
        chains.append(chain)
    return chains


def keypoint_graph(lg: LaneGraphArrays, compact_chains: bool = True) -> nx.DiGraph:
    """The keypoint graph of one lane graph (module docstring): nodes are merged lane endpoints, one directed edge
    start -> end per lane (or per chain of lanes with ``compact_chains``)."""
    n = lg.num_lanes
    chains = lane_chains(n, lg.edges) if compact_chains else [[i] for i in range(n)]
    first = {c[0]: k for k, c in enumerate(chains)}
    last = {c[-1]: k for k, c in enumerate(chains)}
    chain_of = {lane: k for k, c in enumerate(chains) for lane in c}
    position = {lane: pos for c in chains for pos, lane in enumerate(c)}
    # endpoint ids: 2k = start of chain k, 2k + 1 = end of chain k; merged with a union-find over the edges
    parent = list(range(2 * len(chains)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in lg.edges.tolist():
        inside = chain_of[i] == chain_of[j] and position[j] == position[i] + 1
        if not inside:  # an edge between chains always leaves a chain's last lane and enters a chain's first lane
            parent[root(2 * last[i] + 1)] = root(2 * first[j])
    g = nx.DiGraph()
    g.add_nodes_from({root(x) for x in range(2 * len(chains))})
    g.add_edges_from((root(2 * k), root(2 * k + 1)) for k in range(len(chains)))
    return g


def urban_planning_values(g: nx.DiGraph) -> dict[str, np.ndarray]:
    """Per-node / per-graph values of one keypoint graph: ``connectivity`` (degree of every node), ``density``
    ([number of nodes]), ``reach`` (other nodes reachable from every node) and ``convenience`` (edges on a shortest
    path for every ordered reachable pair)."""
    reach, convenience = [], []
    for source in g.nodes:
        hops = nx.single_source_shortest_path_length(g, source)
        reach.append(len(hops) - 1)
        convenience.extend(h for target, h in hops.items() if target != source)
    return {"connectivity": np.array([d for _, d in g.degree()], dtype=np.float64),
            "density": np.array([g.number_of_nodes()], dtype=np.float64),
            "reach": np.array(reach, dtype=np.float64),
            "convenience": np.array(convenience, dtype=np.float64)}


def frechet_1d(x: np.ndarray, y: np.ndarray) -> float:
    """Square root of the Frechet distance between 1-D Gaussians fitted to ``x`` and ``y`` (mean, sample variance):
    ``sqrt((mu_x - mu_y)^2 + (sigma_x - sigma_y)^2)``; ``nan`` if either has fewer than two values."""
    if len(x) < 2 or len(y) < 2:
        return float("nan")
    sx, sy = math.sqrt(np.var(x, ddof=1)), math.sqrt(np.var(y, ddof=1))
    return math.sqrt((float(np.mean(x)) - float(np.mean(y))) ** 2 + (sx - sy) ** 2)


# ------------------------------------------------------------------------------------------------ aggregates


def _pooled_std(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if len(values) >= 2 else float("nan")


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def _histogram(values: np.ndarray, bins: int, high: float) -> np.ndarray:
    """Counts of ``values`` over ``bins`` equal bins of ``[0, high]``; values above ``high`` go to the last bin."""
    hist, _ = np.histogram(np.clip(values, 0.0, high), bins=bins, range=(0.0, high))
    return hist.astype(np.float64)


def _mean_kernel(x: np.ndarray, y: np.ndarray, sigma: float, distance_scaling: float) -> float:
    """Mean of the Gaussian-EMD Gram matrix between the rows of ``x`` and ``y``, built in blocks of rows so that a
    training-split reference (thousands of graphs) never holds the whole matrix."""
    rows = max(1, _MAX_GRAM_BLOCK // max(len(y), 1))
    total = sum(float(gaussian_emd_kernel(x[k:k + rows], y, sigma, distance_scaling).sum())
                for k in range(0, len(x), rows))
    return total / (len(x) * len(y))


def _histogram_mmd(generated: list[np.ndarray], reference: list[np.ndarray], bins: int, high: float,
                   sigma: float) -> float:
    """Biased MMD² (Gaussian-EMD, EMD in the values' unit) between the normalised per-graph histograms of the graphs
    that have values; ``nan`` if a side has none. Equals :func:`graphgen.evaluate.mmd.mmd2` (tested), in blocks."""
    gen = [_histogram(v, bins, high) for v in generated if len(v)]
    ref = [_histogram(v, bins, high) for v in reference if len(v)]
    if not gen or not ref:
        return float("nan")
    x, y = normalise_rows(np.stack(gen)), normalise_rows(np.stack(ref))
    scale = bins / high  # ground distance between neighbouring bins = one bin width, in the values' unit
    return (_mean_kernel(x, x, sigma, scale) + _mean_kernel(y, y, sigma, scale)
            - 2.0 * _mean_kernel(x, y, sigma, scale))


def successor_counts(graphs: Sequence[LaneGraphArrays], gap_m: float = GAP_M,
                     angle_deg: float = ANGLE_DEG) -> tuple[int, int, int]:
    """(edges both stored and given by the rule, stored edges, rule edges), summed over ``graphs``."""
    both = stored = rule_total = 0
    for lg in graphs:
        if lg.num_lanes == 0:
            continue
        rule = successor_rule(lg.pos, gap_m, angle_deg)
        both += int(rule[lg.edges[:, 0], lg.edges[:, 1]].sum()) if len(lg.edges) else 0
        stored += len(lg.edges)
        rule_total += int(rule.sum())
    return both, stored, rule_total


def successor_agreement(graphs: Sequence[Data], gap_m: float = GAP_M, angle_deg: float = ANGLE_DEG) -> float:
    """``successor_agreement`` (F1 of the stored edges against the geometric rule) of ``graphs`` alone; it needs no
    reference set."""
    both, stored, rule = successor_counts(_as_arrays(graphs, "generated"), gap_m, angle_deg)
    return fraction(2 * both, stored + rule)


def _set_statistics(graphs: Sequence[LaneGraphArrays], cfg: LaneMetricsConfig) -> dict[str, Any]:
    """Every per-graph quantity of one set, pooled where the metrics pool them."""
    routes = np.array([route_length(lg) for lg in graphs if lg.num_lanes])
    gaps = np.concatenate([endpoint_gaps(lg) for lg in graphs] + [np.zeros(0)])
    planning = [urban_planning_values(keypoint_graph(lg, cfg.compact_chains)) for lg in graphs]
    pooled = {k: np.concatenate([p[k] for p in planning]) for k in ("connectivity", "density", "reach",
                                                                       "convenience")}
    curvature = [discrete_curvatures(lg.pos) for lg in graphs]
    overlaps = np.concatenate([overlapping_lanes(lg.pos, cfg.overlap_distance, cfg.overlap_fraction)
                               for lg in graphs] + [np.zeros(0, bool)])
    both, stored, rule = successor_counts(graphs, cfg.gap_m, cfg.angle_deg)
    return {"routes": routes, "gaps": gaps, "planning": pooled,
            "curvatures": [c for c, _ in curvature], "curvature_skipped": sum(s for _, s in curvature),
            "segments": [segment_lengths(lg.pos) for lg in graphs], "overlaps": overlaps,
            "successor": (both, stored, rule)}


# ---------------------------------------------------------------------------------------------------- evaluator


def evaluate_lane_graphs(
    generated: Sequence[Data],
    reference: Sequence[Data],
    *,
    config: LaneMetricsConfig = LaneMetricsConfig(),
) -> dict[str, float]:
    """Score generated lane graphs against reference lane graphs (definitions in the module docstring).

    Args:
        generated: generated lane graphs (``pos`` [n, P, 2], ``edge_index`` [2, E]); may have no lanes or no edges.
        reference: reference lane graphs, normally the test split.
        config: metric settings (:class:`LaneMetricsConfig`).

    Returns:
        Flat ``dict[str, float]``: ``route_length``, ``route_length_std``, ``endpoint_gap``, ``endpoint_gap_std``,
        ``connectivity_fd``, ``density_fd``, ``reach_fd``, ``convenience_fd``, ``curvature_mmd``,
        ``segment_length_mmd``, ``overlap_rate``, ``successor_precision``, ``successor_recall``,
        ``successor_agreement`` (F1); the reference set's own ``route_length_reference``,
        ``route_length_reference_std``, ``endpoint_gap_reference``, ``overlap_rate_reference``,
        ``successor_agreement_reference``; and the counts ``num_graphs``, ``num_reference``, ``mean_lanes``,
        ``mean_edges``, ``num_empty``, ``num_without_edges``, ``curvature_points_skipped``. ``nan`` marks a metric
        that is undefined for the input (e.g. ``endpoint_gap`` when no generated graph has an edge).

    Raises:
        ValueError: an empty list, or a graph that breaks the lane-graph conventions (the message names the list,
            the graph index, the field and the bad value).
    """
    gen = _as_arrays(generated, "generated")
    ref = _as_arrays(reference, "reference")
    g, r = _set_statistics(gen, config), _set_statistics(ref, config)
    out: dict[str, float] = {}
    out["route_length"] = _mean(g["routes"])
    out["route_length_std"] = _pooled_std(g["routes"])
    out["endpoint_gap"] = _mean(g["gaps"])
    out["endpoint_gap_std"] = _pooled_std(g["gaps"])
    for name in ("connectivity", "density", "reach", "convenience"):
        out[f"{name}_fd"] = frechet_1d(g["planning"][name], r["planning"][name])
    out["curvature_mmd"] = _histogram_mmd(g["curvatures"], r["curvatures"], config.curvature_bins,
                                          config.curvature_max, config.curvature_sigma)
    out["segment_length_mmd"] = _histogram_mmd(g["segments"], r["segments"], config.segment_bins,
                                               config.segment_max, config.segment_sigma)
    out["overlap_rate"] = _mean(g["overlaps"].astype(np.float64))
    both, stored, rule = g["successor"]
    out["successor_precision"] = fraction(both, stored)
    out["successor_recall"] = fraction(both, rule)
    out["successor_agreement"] = fraction(2 * both, stored + rule)
    out["route_length_reference"] = _mean(r["routes"])
    out["route_length_reference_std"] = _pooled_std(r["routes"])
    out["endpoint_gap_reference"] = _mean(r["gaps"])
    out["overlap_rate_reference"] = _mean(r["overlaps"].astype(np.float64))
    both_r, stored_r, rule_r = r["successor"]
    out["successor_agreement_reference"] = fraction(2 * both_r, stored_r + rule_r)
    out.update(size_counts(len(ref), [lg.num_lanes for lg in gen], [len(lg.edges) for lg in gen], nodes="lanes",
                           edges="edges"))
    out["curvature_points_skipped"] = float(g["curvature_skipped"])
    return out


# ------------------------------------------------------------------------------------------------------ baseline


def rule_lane_graph(pos: torch.Tensor, gap_m: float = GAP_M, angle_deg: float = ANGLE_DEG) -> Data:
    """A lane graph from lanes ``pos`` [n, P, 2]: lanes reordered nearest to the ego first (stable for ties) and
    successor edges given by SLEDGE's rule (:func:`~graphgen.data.lane_graphs.successor_rule`), row-major."""
    pos = pos[torch.from_numpy(np.argsort(ego_distances(pos.double().numpy()), kind="stable"))]
    rule = torch.from_numpy(successor_rule(pos.double().numpy(), gap_m, angle_deg))
    return Data(pos=pos.float(), edge_index=torch.nonzero(rule).T.contiguous().long(), num_nodes=len(pos))


def independent_lanes_baseline(train: Sequence[Data], num_graphs: int, *, generator: torch.Generator) -> list[Data]:
    """The independent-lanes baseline: per graph, the lane count is drawn from the training histogram of lane counts
    and each lane i.i.d. uniformly from all training lanes (its polyline as stored, in its own scene's ego frame);
    edges come from SLEDGE's rule on the drawn lanes (:func:`rule_lane_graph`).

    Why this baseline: it matches every per-lane marginal of the data exactly (position in the crop, shape, length,
    point spacing) and nothing about how lanes fit together, with no parameter to tune, like the independent-marginals
    baseline of scene graphs. A generator has to beat it on route length, endpoint gap, the keypoint-graph statistics
    and overlap; on the curvature and segment-length MMDs it sits near the floor by construction. (Jittered training
    crops were the alternative; their scores depend on the chosen jitter size, so they set no fixed bar.)

    Args:
        train: training lane graphs (at least one lane in total).
        num_graphs: number of graphs to draw.
        generator: the only source of randomness.
    """
    arrays = _as_arrays(train, "train")
    lanes = [torch.from_numpy(lg.pos) for lg in arrays if lg.num_lanes]
    if not lanes:
        raise ValueError("independent_lanes_baseline needs training graphs with at least one lane")
    points = {lane.shape[1] for lane in lanes}
    if len(points) > 1:
        raise ValueError(f"training lanes have different numbers of points {sorted(points)}; expected one P")
    pool = torch.cat(lanes)
    count_probs = torch.bincount(torch.tensor([lg.num_lanes for lg in arrays])).double()
    out: list[Data] = []
    if num_graphs <= 0:
        return out
    for n in torch.multinomial(count_probs, num_graphs, replacement=True, generator=generator).tolist():
        drawn = pool[torch.randint(len(pool), (n,), generator=generator)]
        out.append(rule_lane_graph(drawn))
    return out
