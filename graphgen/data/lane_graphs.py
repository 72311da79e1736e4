"""Lane graphs: ego-centred crops of driving lane maps, as graphs of polylines with successor edges.

A lane graph is a ``torch_geometric.data.Data`` with

- ``pos``: float [n, P, 2] lane centerlines in metres, ``P = POINTS_PER_LANE`` points each, in the driving
  direction, in the ego frame (ego at the origin facing +x, y to the left), inside the crop
  ``[-CROP_HALF, CROP_HALF]^2``;
- ``edge_index``: long [2, E] directed successor edges: ``(i, j)`` means lane ``j`` continues lane ``i``.

Lanes are ordered nearest first (distance from the ego to the polyline). The geometric successor rule of SLEDGE
(REFERENCE.md) is :func:`successor_rule`: ``i -> j`` when the gap from the end of ``i`` to the start of ``j`` is below
``GAP_M`` metres and their headings there differ by less than ``ANGLE_DEG`` degrees.

Below the rule, this module holds:

- crop extraction, pure functions on map-frame polylines that the ``lanes`` dataset
  (:mod:`graphgen.data.datasets.lane_graphs`) and the tests use: :func:`contract_short_lanes` (map clean-up),
  :func:`to_ego_frame`, :func:`clip_polyline_to_square`, :func:`resample_polyline`, :func:`distance_to_polyline` and
  :func:`crop_scene`, which chains them. Decisions:

  * a lane that leaves the crop and comes back gives one scene lane per piece inside the crop (a raster of the crop
    would show every piece); the pieces of one lane are not joined by an edge, since the lane left the crop between
    them;
  * pieces shorter than :data:`MIN_LANE_M` (1 m: slivers where a lane grazes the border) are dropped and counted;
    map lanes shorter than that (connector stubs of a few decimetres) are removed before cropping and the map's
    topology is bridged over them (:func:`contract_short_lanes`), so routes through a stub stay connected;
  * successor edges come from the map topology, not from geometry: ``u -> v`` when lane ``b`` follows lane ``a`` in
    the map, ``u`` is the piece of ``a`` that keeps ``a``'s original end and ``v`` the piece of ``b`` that keeps
    ``b``'s original start; if clipping cut either end, the junction lies outside the crop and the edge is not kept;
  * ordering: by distance from the ego to the clipped polyline (ties: map lane index, then piece number); the
    :data:`MAX_LANES` nearest are kept, the rest counted; each kept piece is resampled to :data:`POINTS_PER_LANE`
    points equally spaced by arc length (both ends kept).

- the lane-graph JSON file (sampler output, evaluator input): :func:`write_lane_graphs` / :func:`read_lane_graphs`,
  one graph through :func:`lane_graph_to_dict` / :func:`lane_graph_from_dict`. One graph per line; coordinates are
  written with the shortest decimal that reads back to the same float32, so a round trip is exact; successors sorted
  by ``(i, j)``. ``.gz`` paths are gzipped. The reader checks every field and names file, graph, lane or successor
  and the bad value. The file steps shared with the scene-graph format are in :mod:`graphgen.data.graph_json`.
- :func:`draw_lane_graphs`: a grid of scenes with matplotlib (figure set-up from
  :func:`graphgen.data.graph_json.panel_grid`).
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data

from graphgen.data.graph_json import (
    check_pairs,
    is_int,
    is_number,
    panel_grid,
    read_graph_file,
    require,
    save_figure,
    short_float,
    write_graph_file,
)

POINTS_PER_LANE = 20
CROP_HALF = 32.0           # metres: a 64 m x 64 m crop centred on the ego
MAX_LANES = 50
GAP_M = 1.5                # successor rule: end-to-start gap below this many metres
ANGLE_DEG = 60.0           # successor rule: heading change below this many degrees


def end_headings(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Headings (radians) at the start and at the end of each lane of ``pos`` [n, P, 2], from the first and last
    segments (a zero-length segment gives heading 0)."""
    pos = np.asarray(pos, dtype=np.float64)
    start = pos[:, 1] - pos[:, 0]
    end = pos[:, -1] - pos[:, -2]
    return np.arctan2(start[:, 1], start[:, 0]), np.arctan2(end[:, 1], end[:, 0])


def successor_rule(pos: np.ndarray, gap: float = GAP_M, angle_deg: float = ANGLE_DEG) -> np.ndarray:
    """bool [n, n]: ``out[i, j]`` when lane ``j`` geometrically continues lane ``i`` (end of ``i`` within ``gap``
    metres of the start of ``j`` and heading change below ``angle_deg``); never ``i -> i``."""
    pos = np.asarray(pos, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[-1] != 2 or pos.shape[1] < 2:
        raise ValueError(f"successor_rule expects lanes [n, P >= 2, 2], got shape {pos.shape}")
    n = len(pos)
    gaps = np.linalg.norm(pos[:, None, -1, :] - pos[None, :, 0, :], axis=-1)
    start_heading, end_heading = end_headings(pos)
    turn = np.abs((start_heading[None, :] - end_heading[:, None] + math.pi) % (2 * math.pi) - math.pi)
    out = (gaps < gap) & (turn < math.radians(angle_deg))
    out[np.arange(n), np.arange(n)] = False
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Crop extraction: map frame -> ego frame, clipping to the crop square, resampling, successor edges
# ----------------------------------------------------------------------------------------------------------------------
MIN_LANE_M = 1.0           # lanes (in the map) and clipped pieces (in a crop) shorter than this many metres are dropped


def polyline_length(points: np.ndarray) -> float:
    """Arc length of a polyline ``points`` [m, 2] (0 for a single point)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())


def _check_polyline(points: np.ndarray, what: str) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) < 1:
        raise ValueError(f"{what} expects a polyline of shape [m >= 1, 2], got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError(f"{what}: the polyline holds a non-finite coordinate")
    return p


def _drop_repeated_points(p: np.ndarray) -> np.ndarray:
    """``p`` without consecutive duplicates (zero-length segments have no direction and break interpolation)."""
    if len(p) < 2:
        return p
    keep = np.ones(len(p), dtype=bool)
    keep[1:] = np.any(p[1:] != p[:-1], axis=1)
    return p[keep]


def resample_polyline(points: np.ndarray, num: int = POINTS_PER_LANE) -> np.ndarray:
    """``num`` points equally spaced by arc length along ``points`` [m, 2], first and last point included.

    The result [num, 2] (float64) lies on the polyline, so its length is at most the input's (equal for a straight
    line; on a curve the chords cut corners). A polyline of zero length gives ``num`` copies of its point.
    """
    if num < 2:
        raise ValueError(f"resample_polyline needs num >= 2 (a start and an end point), got {num}")
    p = _drop_repeated_points(_check_polyline(points, "resample_polyline"))
    if len(p) == 1:
        return np.repeat(p, num, axis=0)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))])
    target = np.linspace(0.0, s[-1], num)
    return np.stack([np.interp(target, s, p[:, 0]), np.interp(target, s, p[:, 1])], axis=1)


@dataclass
class Piece:
    """One part of a polyline inside the crop square.

    Attributes:
        points: float64 [m >= 2, 2] the clipped polyline (the original vertices inside the square, plus the points
            where it crosses the border).
        keeps_start: the piece starts at the polyline's original first point (nothing was cut at its start).
        keeps_end: the piece ends at the polyline's original last point (nothing was cut at its end).
    """

    points: np.ndarray
    keeps_start: bool
    keeps_end: bool

    @property
    def length(self) -> float:
        return polyline_length(self.points)


def _segment_parameters(a: np.ndarray, b: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
    """Liang-Barsky: for segments ``a -> b`` [S, 2], the interval ``[t0, t1]`` of ``a + t (b - a)`` inside the closed
    square ``[-half, half]^2`` (empty when ``t0 > t1``). An end inside the square gives exactly 0 or 1."""
    d = b - a
    t0 = np.zeros(len(a))
    t1 = np.ones(len(a))
    outside = np.zeros(len(a), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis in (0, 1):
            for p, q in ((-d[:, axis], a[:, axis] + half), (d[:, axis], half - a[:, axis])):
                t = q / p
                outside |= (p == 0) & (q < 0)
                t0 = np.where(p < 0, np.maximum(t0, t), t0)
                t1 = np.where(p > 0, np.minimum(t1, t), t1)
    # an end inside the square is kept exactly: the divisions above may round 1 down to 0.999...
    t0 = np.where(_inside(a, half), 0.0, t0)
    t1 = np.where(_inside(b, half), 1.0, t1)
    t0[outside] = 1.0
    t1[outside] = 0.0
    return t0, t1


def _inside(p: np.ndarray, half: float) -> np.ndarray:
    return (np.abs(p[..., 0]) <= half) & (np.abs(p[..., 1]) <= half)


def clip_polyline_to_square(points: np.ndarray, half: float = CROP_HALF) -> list[Piece]:
    """The parts of ``points`` [m, 2] inside the closed square ``[-half, half]^2``, in driving order.

    A polyline that leaves the square and comes back gives several pieces; every piece keeps its own flags
    (:class:`Piece`), so only the first can keep the start and only the last the end. Parts of zero length (a
    polyline that only touches the border or a corner) are not pieces. Coordinates are clamped to the square to absorb
    rounding of the crossing points.
    """
    p = _drop_repeated_points(_check_polyline(points, "clip_polyline_to_square"))
    if half <= 0:
        raise ValueError(f"clip_polyline_to_square needs half > 0, got {half}")
    if len(p) < 2:
        return []
    a, b = p[:-1], p[1:]
    t0, t1 = _segment_parameters(a, b, half)
    visible = t1 > t0
    vertex_inside = _inside(p, half)
    pieces: list[Piece] = []
    current: list[np.ndarray] = []
    first_seg = last_seg = 0
    for k in np.flatnonzero(visible):
        # a piece goes on through vertex k when the previous segment is visible and vertex k is inside
        continues = current and k > 0 and visible[k - 1] and vertex_inside[k]
        if not continues:
            if current:
                pieces.append(_piece(current, first_seg, last_seg, len(a), t0, t1, half))
            current = [_point_at(a[k], b[k], t0[k])]
            first_seg = k
        current.append(_point_at(a[k], b[k], t1[k]))
        last_seg = k
    if current:
        pieces.append(_piece(current, first_seg, last_seg, len(a), t0, t1, half))
    return pieces


def _point_at(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """``a + t (b - a)``, exactly ``a`` / ``b`` at ``t = 0`` / ``1`` (original vertices are kept bit for bit)."""
    return a if t == 0.0 else b if t == 1.0 else a + t * (b - a)


def _piece(points: list[np.ndarray], first_seg: int, last_seg: int, num_segs: int, t0: np.ndarray, t1: np.ndarray,
           half: float) -> Piece:
    return Piece(points=np.clip(np.asarray(points), -half, half),
                 keeps_start=bool(first_seg == 0 and t0[0] == 0.0),
                 keeps_end=bool(last_seg == num_segs - 1 and t1[-1] == 1.0))


def to_ego_frame(points: np.ndarray, ego_xy: Sequence[float], ego_heading: float) -> np.ndarray:
    """Map-frame points [..., 2] -> the ego frame: origin at ``ego_xy``, rotated by ``-ego_heading`` so that the
    heading (radians, counter-clockwise from +x) becomes +x."""
    c, s = math.cos(ego_heading), math.sin(ego_heading)
    d = np.asarray(points, dtype=np.float64) - np.asarray(ego_xy, dtype=np.float64)
    return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], axis=-1)


def distance_to_polyline(points: np.ndarray, xy: Sequence[float] = (0.0, 0.0)) -> float:
    """Euclidean distance from ``xy`` to the polyline ``points`` [m >= 1, 2] (nearest point on any segment)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2) - np.asarray(xy, dtype=np.float64)
    if len(p) == 1:
        return float(np.linalg.norm(p[0]))
    a, d = p[:-1], np.diff(p, axis=0)
    dd = (d ** 2).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(dd > 0, np.clip(-(a * d).sum(1) / dd, 0.0, 1.0), 0.0)
    return float(np.linalg.norm(a + t[:, None] * d, axis=1).min())


def lane_bounds(lanes: Sequence[np.ndarray]) -> np.ndarray:
    """float64 [L, 4] bounding box ``(x_min, y_min, x_max, y_max)`` of each lane."""
    if not lanes:
        return np.zeros((0, 4))
    return np.asarray([[*np.min(p, axis=0), *np.max(p, axis=0)] for p in lanes], dtype=np.float64).reshape(-1, 4)


def successor_pairs(successors: np.ndarray | Sequence[Sequence[int]], num_lanes: int, what: str) -> np.ndarray:
    """``successors`` as int64 [E, 2], checked: indices in ``0..num_lanes - 1``."""
    e = np.asarray(successors, dtype=np.int64).reshape(-1, 2)
    if e.size and (e.min() < 0 or e.max() >= num_lanes):
        raise ValueError(f"{what}: successor index out of range 0..{num_lanes - 1} "
                         f"(found {int(e.min())}..{int(e.max())})")
    return e


def contract_short_lanes(lanes: Sequence[np.ndarray], successors: np.ndarray | Sequence[Sequence[int]],
                         min_length: float = MIN_LANE_M) -> tuple[np.ndarray, np.ndarray]:
    """Remove the lanes shorter than ``min_length`` from a map and bridge the topology over them.

    Real maps hold short connector stubs (a few decimetres) between longer lanes; dropping them alone would cut every
    route through them. So ``a -> b`` is an edge of the result when the map leads from kept lane ``a`` to kept lane
    ``b`` through removed lanes only (a direct edge is the case of none); an edge from a lane to itself (direct or
    bridged) is not kept.

    Returns:
        ``(kept, edges)``: int64 [K] indices of the kept lanes (increasing) and int64 [E', 2] successor pairs among
        them, indexed ``0..K-1`` in the order of ``kept``, sorted and without duplicates.
    """
    n = len(lanes)
    e = successor_pairs(successors, n, "contract_short_lanes")
    lengths = np.asarray([polyline_length(p) for p in lanes], dtype=np.float64)
    short = lengths < min_length
    kept = np.flatnonzero(~short)
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[kept] = np.arange(len(kept))
    following: list[list[int]] = [[] for _ in range(n)]
    for a, b in e.tolist():
        following[a].append(b)
    out: set[tuple[int, int]] = set()
    for a in kept.tolist():
        stack, seen = list(following[a]), set()
        while stack:
            b = stack.pop()
            if b in seen:
                continue
            seen.add(b)
            if short[b]:
                stack.extend(following[b])          # walk on through a removed stub
            elif b != a:
                out.add((int(new_index[a]), int(new_index[b])))
    edges = np.asarray(sorted(out), dtype=np.int64).reshape(-1, 2)
    return kept, edges


@dataclass
class LaneCrop:
    """A cropped scene and what the crop did.

    Attributes:
        data: the lane graph (``pos`` float32 [n, P, 2], ``edge_index`` long [2, E], ``num_nodes``), see the module
            docstring.
        source: int64 [n, 2] for each lane of ``data``: the index of the map lane it was cut from and the number of
            the piece within that lane (0 for the first piece inside the crop).
        num_pieces: pieces of positive length inside the crop before the length filter and the cap.
        dropped_short: pieces shorter than the minimum length (dropped).
        dropped_beyond_cap: pieces beyond the ``max_lanes`` nearest (dropped).
    """

    data: Data
    source: np.ndarray
    num_pieces: int
    dropped_short: int
    dropped_beyond_cap: int


def crop_scene(lanes: Sequence[np.ndarray], successors: np.ndarray | Sequence[Sequence[int]],
               ego_xy: Sequence[float], ego_heading: float, *, half: float = CROP_HALF,
               points_per_lane: int = POINTS_PER_LANE, max_lanes: int = MAX_LANES, min_length: float = MIN_LANE_M,
               bounds: np.ndarray | None = None) -> LaneCrop:
    """The lane graph seen from an ego pose: a ``2 half`` x ``2 half`` square centred on the ego, ego facing +x.

    Steps: (1) every lane [m_i, 2] (map frame, driving direction) is moved into the ego frame
    (:func:`to_ego_frame`) and clipped to the square (:func:`clip_polyline_to_square`); every piece becomes a lane
    of the scene; (2) pieces shorter than ``min_length`` are dropped; (3) the rest are ordered by their distance to
    the ego (:func:`distance_to_polyline`; ties by map lane index, then piece number) and the first ``max_lanes``
    are kept; (4) each is resampled to ``points_per_lane`` points (:func:`resample_polyline`); (5) ``u -> v`` is an
    edge when the map says lane ``b`` follows lane ``a``, ``u`` is the piece of ``a`` that keeps ``a``'s original
    end and ``v`` the piece of ``b`` that keeps ``b``'s original start (else the junction lies outside the crop, or
    it was cut away with a dropped piece). Two pieces of one lane are never joined: the lane left the crop between
    them.

    Args:
        lanes: map lanes, float [m_i >= 1, 2] each, metres, in the driving direction.
        successors: int [E, 2] pairs ``(a, b)``: lane ``b`` continues lane ``a`` in the map.
        ego_xy: ego position in the map frame; ego_heading: its heading (radians, counter-clockwise from +x).
        bounds: optional [L, 4] :func:`lane_bounds` of ``lanes`` (precompute them once per map).
    """
    e = successor_pairs(successors, len(lanes), "crop_scene")
    if bounds is None:
        bounds = lane_bounds(lanes)
    ego = np.asarray(ego_xy, dtype=np.float64)
    # a lane can reach the square only if its bounding box comes within the square's circumradius of the ego
    gap = np.maximum(np.maximum(bounds[:, :2] - ego, ego - bounds[:, 2:]), 0.0)
    near = np.flatnonzero(np.linalg.norm(gap, axis=1) <= half * math.sqrt(2) * (1 + 1e-9) + 1e-9)
    pieces: list[tuple[float, int, int, Piece]] = []
    num_pieces = 0
    for lane in near.tolist():
        local = to_ego_frame(lanes[lane], ego, ego_heading)
        for k, piece in enumerate(clip_polyline_to_square(local, half)):
            num_pieces += 1
            if piece.length >= min_length:
                pieces.append((distance_to_polyline(piece.points), lane, k, piece))
    dropped_short = num_pieces - len(pieces)
    pieces.sort(key=lambda item: item[:3])
    kept = pieces[:max_lanes]
    end_node = {lane: u for u, (_, lane, _, p) in enumerate(kept) if p.keeps_end}
    start_node = {lane: v for v, (_, lane, _, p) in enumerate(kept) if p.keeps_start}
    edges = sorted({(end_node[a], start_node[b]) for a, b in e.tolist()
                    if a in end_node and b in start_node and end_node[a] != start_node[b]})
    pos = np.stack([resample_polyline(p.points, points_per_lane) for *_, p in kept]) if kept else \
        np.zeros((0, points_per_lane, 2))
    data = Data(pos=torch.from_numpy(np.clip(pos, -half, half).astype(np.float32)),
                edge_index=torch.tensor(edges, dtype=torch.long).reshape(-1, 2).T.contiguous(),
                num_nodes=len(kept))
    source = np.asarray([(lane, k) for _, lane, k, _ in kept], dtype=np.int64).reshape(-1, 2)
    return LaneCrop(data=data, source=source, num_pieces=num_pieces, dropped_short=dropped_short,
                    dropped_beyond_cap=len(pieces) - len(kept))


# ----------------------------------------------------------------------------------------------------------------------
# Lane-graph JSON files
# ----------------------------------------------------------------------------------------------------------------------
FILE_FORMAT = "graphgen-lane-graphs"
FILE_VERSION = 1
UNITS = "metres; ego at (0, 0) facing +x"


def _check_edges(n: int, pairs: Sequence[tuple[int, int]], where: str) -> None:
    """Lane indices in range, no self edge, no repeated edge (``where`` prefixes the message)."""
    check_pairs(n, pairs, where, item="successor", index="lane", self_pair="self edge (a lane cannot continue itself)",
                duplicate="duplicate edge (each ordered pair is listed at most once)")


def lane_graph_to_dict(data: Data) -> dict[str, Any]:
    """One lane graph as a JSON-able ``{"lanes": [[[x, y] x P], ...], "successors": [[i, j], ...]}`` (successors
    sorted). Raises ``ValueError`` naming the field for a graph that breaks the conventions."""
    pos = getattr(data, "pos", None)
    if not isinstance(pos, torch.Tensor) or not pos.is_floating_point():
        raise ValueError("lane graph has no float tensor 'pos' (lane centerlines [n, P, 2])")
    pos = pos.detach().cpu()
    if pos.dim() != 3 or pos.shape[1:] != (POINTS_PER_LANE, 2):
        raise ValueError(f"pos has shape {tuple(pos.shape)}, expected [n, {POINTS_PER_LANE}, 2] "
                         f"({POINTS_PER_LANE} [x, y] points per lane)")
    bad = (~torch.isfinite(pos)).flatten(1).any(1).nonzero().flatten()
    if len(bad):
        raise ValueError(f"pos: lane {int(bad[0])} holds a non-finite coordinate")
    edge_index = getattr(data, "edge_index", None)
    if edge_index is None:
        edge_index = torch.zeros(2, 0, dtype=torch.long)
    if not isinstance(edge_index, torch.Tensor) or edge_index.dtype != torch.long or edge_index.dim() != 2 \
            or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must be a long tensor [2, E]; got "
                         f"{getattr(edge_index, 'dtype', type(edge_index).__name__)} "
                         f"{tuple(getattr(edge_index, 'shape', ()))}")
    pairs = sorted(zip(edge_index[0].tolist(), edge_index[1].tolist()))
    _check_edges(len(pos), pairs, "")
    return {"lanes": [[[short_float(x), short_float(y)] for x, y in lane] for lane in pos.tolist()],
            "successors": [[i, j] for i, j in pairs]}


def lane_graph_from_dict(obj: dict[str, Any], where: str, points_per_lane: int = POINTS_PER_LANE) -> Data:
    """One graph entry of a lane-graph JSON file -> ``Data`` (``pos`` float32 [n, P, 2], ``edge_index``).

    Args:
        obj: ``{"lanes": [[[x, y] x points_per_lane], ...], "successors": [[i, j], ...]}``.
        where: location quoted in errors, e.g. ``"lanes.json: graph 3"``.

    Raises:
        ValueError: a missing key, a lane without exactly ``points_per_lane`` finite ``[x, y]`` points, a lane index
            out of range, a self edge or a repeated edge; the message names ``where``, the lane or successor index
            and the bad value.
    """
    require(obj, ("lanes", "successors"), where)
    lanes, successors = obj["lanes"], obj["successors"]
    for key, value in (("lanes", lanes), ("successors", successors)):
        if not isinstance(value, list):
            raise ValueError(f"{where}: '{key}' must be a list, got {type(value).__name__}")
    for k, lane in enumerate(lanes):
        at = f"{where}, lane {k}"
        if not isinstance(lane, list) or len(lane) != points_per_lane:
            got = f"{len(lane)} entries" if isinstance(lane, list) else repr(lane)
            raise ValueError(f"{at}: expected a list of {points_per_lane} [x, y] points; got {got}")
        for p, point in enumerate(lane):
            if not isinstance(point, list) or len(point) != 2 or not all(is_number(v) for v in point):
                raise ValueError(f"{at}, point {p}: expected [x, y] (2 numbers, metres); got {point!r}")
            if not all(math.isfinite(v) for v in point):
                raise ValueError(f"{at}, point {p}: non-finite coordinate {point!r}")
    pairs = []
    for r, edge in enumerate(successors):
        if not isinstance(edge, list) or len(edge) != 2 or not all(is_int(v) for v in edge):
            raise ValueError(f"{where}, successor {r}: expected [i, j] (two integer lane indices); got {edge!r}")
        pairs.append((edge[0], edge[1]))
    _check_edges(len(lanes), pairs, f"{where}, ")
    pairs.sort()
    return Data(pos=torch.tensor(lanes, dtype=torch.float32).reshape(-1, points_per_lane, 2),
                edge_index=torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T.contiguous(),
                num_nodes=len(lanes))


def write_lane_graphs(graphs: Sequence[Data], path: str | os.PathLike) -> Path:
    """Write ``graphs`` as a lane-graph JSON file (gzipped when ``path`` ends in ``.gz``); returns the path.

    One graph per line, so the file reads and diffs well. Raises ``ValueError`` naming the graph index for a graph
    that breaks the conventions (nothing is written then).
    """
    head = {"format": FILE_FORMAT, "version": FILE_VERSION, "units": UNITS, "points_per_lane": POINTS_PER_LANE}
    # compact separators: one line holds up to 50 lanes x 20 points x 2 coordinates
    return write_graph_file(Path(path), head, graphs, lane_graph_to_dict, separators=(",", ":"))


def read_lane_graphs(path: str | os.PathLike) -> list[Data]:
    """Read a lane-graph JSON file (``.json`` or ``.json.gz``) into ``Data`` graphs, checking every field.

    The header must carry ``format`` (``"graphgen-lane-graphs"``), ``version`` 1, ``points_per_lane`` (20, the only
    lane size graphgen uses: :data:`POINTS_PER_LANE`) and ``graphs``; ``units``, when present, must be graphgen's.
    Errors name the file, the graph index, the lane or successor index and the bad value (see
    :func:`lane_graph_from_dict`). Points outside the crop square are not an error (the file records what a
    generator produced; evaluators judge it).
    """
    path = Path(path)
    doc = read_graph_file(path, "lane-graph", FILE_FORMAT, FILE_VERSION, header_keys=("points_per_lane",))
    if not is_int(doc["points_per_lane"]) or doc["points_per_lane"] != POINTS_PER_LANE:
        raise ValueError(f"{path}: points_per_lane is {doc['points_per_lane']!r}; this reader knows only "
                         f"{POINTS_PER_LANE}-point lanes (graphgen.data.lane_graphs.POINTS_PER_LANE; resample with "
                         f"resample_polyline)")
    if "units" in doc and doc["units"] != UNITS:
        raise ValueError(f"{path}: units are {doc['units']!r}, expected {UNITS!r}")
    return [lane_graph_from_dict(g, f"{path}: graph {i}") for i, g in enumerate(doc["graphs"])]


# ----------------------------------------------------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------------------------------------------------
def draw_lane_graphs(graphs: Sequence[Data], path: str | os.PathLike, *, count: int = 16, columns: int = 4,
                     title: str | None = None) -> int:
    """Draw the first ``count`` lane graphs as a grid of panels and save the figure (PNG, PDF, ...).

    Each panel is the crop square (grey dashed border, x forward, y to the left, metres); every lane is a centerline
    with an arrow head at its middle pointing in the driving direction; every successor edge ``i -> j`` is a thin
    dashed red connector from the end of ``i`` to the start of ``j`` with a dot at the start of ``j`` (in real maps
    the two points nearly coincide, so the dot shows the junction); the ego is a small black triangle at the origin
    facing +x. The panel title gives the graph index, lane and successor counts.

    Returns:
        the number of graphs drawn (``min(count, len(graphs))``).
    """
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Polygon

    fig, axes, shown = panel_grid(graphs, count=count, columns=columns, panel=2.8, title=title,
                                  caller="draw_lane_graphs", square=(-CROP_HALF, CROP_HALF), margin=2.0, y_down=False,
                                  empty_text="no lane graphs")
    for i, (ax, g) in enumerate(zip(axes.flat, shown)):
        pos = g.pos.detach().cpu().double().numpy().reshape(-1, POINTS_PER_LANE, 2)
        edge_index = getattr(g, "edge_index", None)
        edges = np.zeros((0, 2), dtype=np.int64) if edge_index is None else edge_index.detach().cpu().numpy().T
        ax.add_collection(LineCollection(list(pos), colors="tab:blue", linewidths=1.0))
        mid = POINTS_PER_LANE // 2
        for lane in pos:
            # an arrow head on the middle segment; its size is in points, whatever the segment length
            ax.annotate("", xy=tuple(lane[mid]), xytext=tuple(lane[mid - 1]), zorder=3,
                        arrowprops={"arrowstyle": "-|>", "color": "tab:blue", "mutation_scale": 7, "linewidth": 0.8,
                                    "shrinkA": 0, "shrinkB": 0})
        if len(edges):
            ends, starts = pos[edges[:, 0], -1], pos[edges[:, 1], 0]
            ax.add_collection(LineCollection(np.stack([ends, starts], axis=1), colors="tab:red", linewidths=0.6,
                                             linestyles="dashed", zorder=4))
            ax.scatter(starts[:, 0], starts[:, 1], s=5, color="tab:red", zorder=5, linewidths=0)
        # the ego: a 4.5 m x 2.5 m triangle pointing along +x
        ax.add_patch(Polygon([[2.5, 0.0], [-2.0, 1.25], [-2.0, -1.25]], closed=True, color="black", zorder=6))
        ax.set_title(f"#{i}: {len(pos)} lane{'s' * (len(pos) != 1)}, {len(edges)} successor{'s' * (len(edges) != 1)}",
                     fontsize=7)
    save_figure(fig, path)
    return len(shown)

