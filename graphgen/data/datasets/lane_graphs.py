"""The ``lanes`` dataset: ego-centred 64 m x 64 m crops of real lane maps (``shared/data/lane_graphs/maps.json.gz``).

The raw file holds 145 real road networks (CommonRoad, Argoverse 2, Lanelet2; see ``datasets/lanes.md``): lanes as
centerline polylines in the driving direction, metres in a local frame, with successor ids. One raw row of this
dataset is one crop (an ego pose on one map); rows are numbered over the whole file, map by map in file order, crop
by crop within a map, so a row names its map and crop in every split. Graphs follow :mod:`graphgen.data.lane_graphs`
(``pos`` float32 [n, 20, 2] in the ego frame, ``edge_index`` long [2, E] successor edges, nearest lane first).

Decisions:

* Split: by map, as stored in the file (``maps[i].split``: ``train`` / ``val`` / ``test``, 111 / 12 / 22 maps; the
  file splits by location so that crops of one place never straddle splits).
* Map clean-up before any crop (:func:`~graphgen.data.lane_graphs.contract_short_lanes`): lanes shorter than
  ``min_lane_length`` (1 m; connector stubs of a few decimetres) are removed and the successor topology is bridged
  over them. Consecutive repeated points of a centerline are removed (they have no direction).
* Crops per map: ``max(1, round(L / metres_per_crop))`` with ``L`` the map's total lane length after clean-up and
  ``metres_per_crop = 50`` (about 7,200 training scenes: enough for a ~1M-parameter model trained for about a CPU
  hour; overlapping crops of one place add little beyond that).
* Ego poses: per map a ``numpy`` generator seeded with ``(seed, map index)``; for each crop a lane is drawn with
  probability proportional to its length, then a position uniform along it; the heading is the direction of the
  centerline segment holding that position. So poses are uniform over the map's total lane length, and a map's crops
  do not change when another map changes.
* The crop itself is :func:`~graphgen.data.lane_graphs.crop_scene` (clipping, pieces, the 1 m piece minimum, nearest
  first, 50-lane cap, 20 points by arc length, successor edges kept only where both ends of the junction lie in the
  crop). A crop whose 50-lane cap dropped lanes gets a note (cache metadata, ``graphgen data info lanes``); a crop
  without any lane (impossible: the ego's lane passes through the centre) would be skipped with a reason.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from graphgen.data.datasets.base import DatasetSpec, GraphArrays, SplitSource, empty_arrays
from graphgen.data.graph_json import is_number, read_json
from graphgen.data.lane_graphs import (
    CROP_HALF,
    MAX_LANES,
    MIN_LANE_M,
    POINTS_PER_LANE,
    contract_short_lanes,
    crop_scene,
    lane_bounds,
)
from graphgen.data.raw import fetch

SPLITS = ("train", "val", "test")


# ----------------------------------------------------------------------------------------------------------------------
# Raw maps
# ----------------------------------------------------------------------------------------------------------------------
def read_lane_maps(path: Path) -> list[dict[str, Any]]:
    """The ``maps`` of the lane-map file; raises naming the file if there are none."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("maps"), list) or not doc["maps"]:
        raise ValueError(f"{path}: expected a JSON object with a non-empty 'maps' list (one record per road network)")
    return doc["maps"]


@dataclass
class LaneMap:
    """One road network after clean-up.

    Attributes:
        map_id: the file's ``map_id``; split: ``train`` / ``val`` / ``test``.
        lanes: float64 [m_i >= 2, 2] centerlines, map frame, driving direction (lanes >= ``min_lane_length``).
        successors: int64 [E, 2] pairs ``(a, b)``: lane ``b`` continues lane ``a`` (bridged over removed stubs).
        lengths: float64 [L] lane lengths; bounds: float64 [L, 4] bounding boxes.
        removed_short: lanes of the file removed as shorter than ``min_lane_length``.
    """

    map_id: str
    split: str
    lanes: list[np.ndarray]
    successors: np.ndarray
    lengths: np.ndarray
    bounds: np.ndarray
    removed_short: int

    @property
    def total_length(self) -> float:
        return float(self.lengths.sum())


def _centerline(value: Any, where: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError(f"{where}: centerline must be a list of at least 2 [x, y] points, got "
                         f"{value!r:.80}")
    for p, point in enumerate(value):
        if not isinstance(point, list) or len(point) != 2 or not all(is_number(v) and math.isfinite(v) for v in point):
            raise ValueError(f"{where}: centerline point {p} must be [x, y] with 2 finite numbers, got {point!r}")
    pts = np.asarray(value, dtype=np.float64)
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)  # repeated points have no direction
    return pts[keep]


def lane_map(record: dict[str, Any], where: str, min_lane_length: float = MIN_LANE_M) -> LaneMap:
    """Check one map record of the file and clean it up (see the module docstring).

    Raises ``ValueError`` naming ``where``, the lane index and id, and the bad value: a missing key, a split other
    than train / val / test, a repeated lane id, a centerline that is not >= 2 finite ``[x, y]`` points, a successor
    id that is not a lane of the map.
    """
    for key in ("map_id", "split", "lanes"):
        if not isinstance(record, dict) or key not in record:
            raise ValueError(f"{where}: missing key '{key}'")
    where = f"{where} ({record['map_id']})"
    if record["split"] not in SPLITS:
        raise ValueError(f"{where}: split is {record['split']!r}, expected one of {list(SPLITS)}")
    if not isinstance(record["lanes"], list) or not record["lanes"]:
        raise ValueError(f"{where}: 'lanes' must be a non-empty list")
    index: dict[str, int] = {}
    for j, lane in enumerate(record["lanes"]):
        for key in ("id", "centerline", "successors"):
            if not isinstance(lane, dict) or key not in lane:
                raise ValueError(f"{where}, lane {j}: missing key '{key}'")
        if lane["id"] in index:
            raise ValueError(f"{where}, lane {j}: lane id {lane['id']!r} repeats lane {index[lane['id']]}")
        index[lane["id"]] = j
    lanes, pairs = [], []
    for j, lane in enumerate(record["lanes"]):
        at = f"{where}, lane {j} (id {lane['id']!r})"
        lanes.append(_centerline(lane["centerline"], at))
        if not isinstance(lane["successors"], list):
            raise ValueError(f"{at}: successors must be a list of lane ids, got {lane['successors']!r}")
        for s in lane["successors"]:
            if s not in index:
                raise ValueError(f"{at}: successor id {s!r} is not a lane of this map")
            pairs.append((j, index[s]))
    kept, successors = contract_short_lanes(lanes, pairs, min_lane_length)
    lanes = [lanes[k] for k in kept.tolist()]
    lengths = np.asarray([np.linalg.norm(np.diff(p, axis=0), axis=1).sum() for p in lanes], dtype=np.float64)
    if not lanes:
        raise ValueError(f"{where}: no lane is at least {min_lane_length} m long")
    return LaneMap(map_id=str(record["map_id"]), split=record["split"], lanes=lanes, successors=successors,
                   lengths=lengths, bounds=lane_bounds(lanes), removed_short=len(record["lanes"]) - len(lanes))


def crops_per_map(total_length: float, metres_per_crop: float) -> int:
    """Number of crops of a map with ``total_length`` metres of lanes: ``max(1, round(L / metres_per_crop))``."""
    return max(1, int(round(total_length / metres_per_crop)))


def sample_ego_poses(lane_map: LaneMap, count: int, rng: np.random.Generator) -> np.ndarray:
    """float64 [count, 3] ego poses ``(x, y, heading)`` on ``lane_map``: a lane drawn with probability proportional
    to its length, a position uniform along it, the heading of the centerline segment at that position."""
    lane_of = rng.choice(len(lane_map.lanes), size=count, p=lane_map.lengths / lane_map.lengths.sum())
    along = rng.uniform(0.0, 1.0, size=count) * lane_map.lengths[lane_of]
    poses = np.empty((count, 3))
    for c, (lane, s) in enumerate(zip(lane_of.tolist(), along.tolist())):
        p = lane_map.lanes[lane]
        d = np.diff(p, axis=0)
        cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(d, axis=1))])
        k = min(int(np.searchsorted(cum, s, side="right")) - 1, len(d) - 1)
        t = (s - cum[k]) / (cum[k + 1] - cum[k])
        poses[c] = (*(p[k] + t * d[k]), math.atan2(d[k, 1], d[k, 0]))
    return poses


@dataclass
class CropJob:
    """One raw row: the map (shared by all its crops), its index in the file, the crop number and the ego pose."""

    lane_map: LaneMap
    map_index: int
    crop: int
    pose: np.ndarray


def crop_jobs(records: list[dict[str, Any]], path: Path, *, seed: int, metres_per_crop: float,
              min_lane_length: float) -> tuple[list[CropJob], list[LaneMap]]:
    """Every crop of the file in row order (map by map, crop by crop) and the cleaned-up maps."""
    maps = [lane_map(r, f"{path}: map {i}", min_lane_length) for i, r in enumerate(records)]
    jobs = []
    for i, m in enumerate(maps):
        rng = np.random.default_rng([seed, i])
        poses = sample_ego_poses(m, crops_per_map(m.total_length, metres_per_crop), rng)
        jobs.extend(CropJob(m, i, c, pose) for c, pose in enumerate(poses))
    return jobs, maps


# ----------------------------------------------------------------------------------------------------------------------
# Converter
# ----------------------------------------------------------------------------------------------------------------------
def convert_crops(rows: np.ndarray, items: Sequence[CropJob], *, max_lanes: int, min_lane_length: float
                  ) -> GraphArrays:
    """Converter: crop jobs -> ``pos`` [n, 20, 2]; ``edge_index``. A crop without a lane is skipped with the reason;
    a crop whose lane cap dropped lanes gets a note."""
    pos, edges, nn, ne, kept, skipped, notes = [], [], [], [], [], [], []
    for row, job in zip(rows, items):
        crop = crop_scene(job.lane_map.lanes, job.lane_map.successors, job.pose[:2], float(job.pose[2]),
                          half=CROP_HALF, points_per_lane=POINTS_PER_LANE, max_lanes=max_lanes,
                          min_length=min_lane_length, bounds=job.lane_map.bounds)
        where = f"map {job.map_index} ({job.lane_map.map_id}) crop {job.crop}"
        if crop.data.num_nodes == 0:
            skipped.append((int(row), f"{where}: no lane inside the crop at pose {job.pose.round(2).tolist()}"))
            continue
        pos.append(crop.data.pos.numpy())
        edges.append(crop.data.edge_index.numpy().T)
        nn.append(crop.data.num_nodes)
        ne.append(edges[-1].shape[0])
        kept.append(int(row))
        if crop.dropped_beyond_cap:
            k = crop.dropped_beyond_cap
            notes.append((int(row), f"{where}: {k} lane piece{'s' * (k != 1)} beyond the {max_lanes} nearest "
                                    f"dropped"))
    if pos:
        out = GraphArrays(num_nodes=np.asarray(nn, np.int64), num_edges=np.asarray(ne, np.int64),
                          node={"pos": np.concatenate(pos)},
                          edge={"edge_index": np.concatenate(edges).astype(np.int64).reshape(-1, 2)},
                          graph={}, rows=np.asarray(kept, np.int64))
    else:
        out = empty_arrays({"pos": ((POINTS_PER_LANE, 2), np.float32)}, {"edge_index": ((2,), np.int64)})
    out.skipped = skipped
    out.notes = notes
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Spec
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LaneGraphSpec(DatasetSpec):
    """Lane-graph crops from raw role ``maps`` (the lane-map JSON); splits ``train`` / ``val`` / ``test`` by map.

    Args:
        seed: seed of the ego poses (with the map index: ``numpy.random.default_rng([seed, map_index])``).
        metres_per_crop: one crop per this many metres of lane (at least one per map).
        min_lane_length: map lanes and clipped pieces shorter than this (metres) are dropped.
        max_lanes: lanes kept per scene, nearest first.
    """

    directed_edges = True

    seed: int = 0
    metres_per_crop: float = 50.0
    min_lane_length: float = MIN_LANE_M
    max_lanes: int = MAX_LANES

    def _jobs(self, path: Path) -> list[CropJob]:
        jobs, _ = crop_jobs(read_lane_maps(path), path, seed=self.seed, metres_per_crop=self.metres_per_crop,
                            min_lane_length=self.min_lane_length)
        return jobs

    def split_sizes(self, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
        path = fetch(self.raw["maps"], data_dir)
        maps = [lane_map(r, f"{path}: map {i}", self.min_lane_length) for i, r in enumerate(read_lane_maps(path))]
        sizes = dict.fromkeys(self.splits, 0)
        for m in maps:
            sizes[m.split] += crops_per_map(m.total_length, self.metres_per_crop)
        return sizes

    def map_split_sizes(self, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
        """Number of maps in each split."""
        path = fetch(self.raw["maps"], data_dir)
        sizes = dict.fromkeys(self.splits, 0)
        for i, r in enumerate(read_lane_maps(path)):
            sizes[lane_map(r, f"{path}: map {i}", self.min_lane_length).split] += 1
        return sizes

    def read_split(self, split: str, paths: dict[str, Path]) -> SplitSource:
        jobs = self._jobs(paths["maps"])
        rows = [r for r, job in enumerate(jobs) if job.lane_map.split == split]
        return SplitSource(rows=np.asarray(rows, dtype=np.int64), items=[jobs[r] for r in rows])

    def converter(self) -> Callable[[np.ndarray, Sequence[Any]], GraphArrays]:
        return partial(convert_crops, max_lanes=self.max_lanes, min_lane_length=self.min_lane_length)

    def vocabulary(self) -> dict[str, Any]:
        return {"pos": f"lane centerlines, float32 [n, {POINTS_PER_LANE}, 2], metres in the ego frame (ego at the "
                       f"origin facing +x, y to the left), inside [-{CROP_HALF:g}, {CROP_HALF:g}]^2, nearest lane "
                       f"first, at most {self.max_lanes} lanes",
                "edge_index": "DIRECTED successor edges (i, j): lane j continues lane i, from the map topology; "
                              "each edge is stored once",
                "row": "a raw row is one crop, numbered over the whole file map by map"}
