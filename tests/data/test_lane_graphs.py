"""Lane graphs: crop extraction on hand-built maps, the successor rule, JSON files, drawing, the ``lanes`` dataset."""
from __future__ import annotations

import dataclasses
import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graphgen.data.datasets.lane_graphs import (
    crop_jobs,
    crops_per_map,
    lane_map,
    read_lane_maps,
    sample_ego_poses,
)
from graphgen.data.lane_graphs import (
    CROP_HALF,
    GAP_M,
    MAX_LANES,
    POINTS_PER_LANE,
    clip_polyline_to_square,
    contract_short_lanes,
    crop_scene,
    distance_to_polyline,
    draw_lane_graphs,
    lane_graph_from_dict,
    lane_graph_to_dict,
    polyline_length,
    read_lane_graphs,
    resample_polyline,
    successor_rule,
    to_ego_frame,
    write_lane_graphs,
)
from graphgen.data.registry import DATASETS

RAW = "lane_graphs/maps.json.gz"


def line(*points: tuple[float, float]) -> np.ndarray:
    return np.asarray(points, dtype=np.float64)


def edges_of(data: Data) -> set[tuple[int, int]]:
    return set(zip(data.edge_index[0].tolist(), data.edge_index[1].tolist()))


# ----------------------------------------------------------------------------------------------------------------------
# resampling
# ----------------------------------------------------------------------------------------------------------------------
def test_resampling_a_straight_line_gives_equal_spacing_and_keeps_the_length():
    out = resample_polyline(line((0, 0), (3, 4), (6, 8), (30, 40)), 20)   # 50 m, unevenly spaced input points
    assert out.shape == (20, 2)
    steps = np.linalg.norm(np.diff(out, axis=0), axis=1)
    np.testing.assert_allclose(steps, 50 / 19, rtol=1e-12)
    np.testing.assert_allclose(out[[0, -1]], [[0, 0], [30, 40]])
    assert polyline_length(out) == pytest.approx(50.0)


def test_resampling_a_corner_goes_by_arc_length():
    out = resample_polyline(line((0, 0), (10, 0), (10, 10)), 5)    # 20 m: points every 5 m, the corner is one of them
    np.testing.assert_allclose(out, [[0, 0], [5, 0], [10, 0], [10, 5], [10, 10]], atol=1e-12)
    curve = line(*[(20 * math.cos(a), 20 * math.sin(a)) for a in np.linspace(0, math.pi / 2, 200)])
    res = resample_polyline(curve, 20)
    # chords cut the curve: a little shorter, never longer
    assert polyline_length(curve) * 0.995 < polyline_length(res) <= polyline_length(curve)


def test_resampling_degenerate_input():
    np.testing.assert_allclose(resample_polyline(line((1, 2), (1, 2)), 4), [[1, 2]] * 4)
    with pytest.raises(ValueError, match="num >= 2"):
        resample_polyline(line((0, 0), (1, 0)), 1)
    with pytest.raises(ValueError, match=r"shape \[m >= 1, 2\]"):
        resample_polyline(np.zeros((3, 3)), 5)
    with pytest.raises(ValueError, match="non-finite"):
        resample_polyline(line((0, 0), (np.nan, 0)), 5)


# ----------------------------------------------------------------------------------------------------------------------
# clipping
# ----------------------------------------------------------------------------------------------------------------------
def test_a_lane_crossing_the_border_is_cut_at_the_border():
    (piece,) = clip_polyline_to_square(line((-10, 5), (40, 5), (50, 20)), 32.0)
    np.testing.assert_allclose(piece.points, [[-10, 5], [32, 5]])
    assert piece.keeps_start and not piece.keeps_end
    (piece,) = clip_polyline_to_square(line((-50, -50), (0, 0)), 32.0)  # enters through the corner
    np.testing.assert_allclose(piece.points, [[-32, -32], [0, 0]])
    assert not piece.keeps_start and piece.keeps_end


def test_a_lane_inside_is_kept_whole_and_a_lane_outside_gives_nothing():
    inside = line((-5, 0), (0, 1), (5, 0))
    (piece,) = clip_polyline_to_square(inside, 32.0)
    np.testing.assert_array_equal(piece.points, inside)
    assert piece.keeps_start and piece.keeps_end
    assert clip_polyline_to_square(line((-40, 40), (40, 40)), 32.0) == []
    assert clip_polyline_to_square(line((40, -40), (40, 40)), 32.0) == []
    assert clip_polyline_to_square(line((-40, 24), (-24, 40)), 32.0) == []   # touches the corner region only outside
    assert clip_polyline_to_square(line((-33, 31), (-31, 33)), 32.0) == []   # grazes the corner (-32, 32): no length


def test_a_lane_leaving_and_coming_back_gives_one_piece_per_visit():
    pieces = clip_polyline_to_square(line((0, 0), (0, 50), (10, 50), (10, 0)), 32.0)
    assert len(pieces) == 2
    np.testing.assert_allclose(pieces[0].points, [[0, 0], [0, 32]])
    np.testing.assert_allclose(pieces[1].points, [[10, 32], [10, 0]])
    assert [(p.keeps_start, p.keeps_end) for p in pieces] == [(True, False), (False, True)]


def test_points_on_the_border_count_as_inside():
    (piece,) = clip_polyline_to_square(line((0, 0), (32, 0)), 32.0)
    assert piece.keeps_start and piece.keeps_end


# ----------------------------------------------------------------------------------------------------------------------
# crops
# ----------------------------------------------------------------------------------------------------------------------
def test_rotation_a_lane_going_north_faces_plus_x_when_the_ego_faces_north():
    north = line((100, 190), (100, 230))
    np.testing.assert_allclose(to_ego_frame(north, (100, 200), math.pi / 2), [[-10, 0], [30, 0]], atol=1e-12)
    crop = crop_scene([north, line((110, 230), (110, 190))], [], (100, 200), math.pi / 2)
    pos = crop.data.pos.numpy()
    np.testing.assert_allclose(pos[0, [0, -1]], [[-10, 0], [30, 0]], atol=1e-5)   # the ego's lane, along +x
    np.testing.assert_allclose(pos[1, [0, -1]], [[30, -10], [-10, -10]], atol=1e-5)  # east of the ego = its right
    assert pos.shape == (2, POINTS_PER_LANE, 2) and crop.data.pos.dtype == torch.float32


# a hand-built map around the ego at (0, 0) facing +x (map frame = ego frame)
MAP = [
    line((-20, 0), (10, 0)),         # 0: the ego's lane
    line((10, 0), (25, 0)),          # 1: follows 0 inside the crop
    line((25, 0), (60, 0)),          # 2: follows 1; its end is cut at x = 32
    line((60, 0), (80, 0)),          # 3: follows 2; outside the crop
    line((20, 10), (20, 50)),        # 4: leaves the crop at y = 32
    line((20, 50), (-20, 50), (-20, 20)),  # 5: follows 4 outside the crop, enters it at (-20, 32)
    line((-25, -40), (-25, -10)),    # 6: starts outside, ends inside
    line((-25, -10), (-25, -9.5)),   # 7: follows 6 (0.5 m long: dropped as too short)
]
SUCCESSORS = [(0, 1), (1, 2), (2, 3), (4, 5), (6, 7)]


def test_successor_edges_are_kept_inside_and_cut_when_the_junction_is_outside():
    crop = crop_scene(MAP, SUCCESSORS, (0, 0), 0.0)
    lane_of = {int(lane): u for u, (lane, _) in enumerate(crop.source)}
    assert set(lane_of) == {0, 1, 2, 4, 5, 6}                    # 3 is outside, 7 too short
    assert crop.dropped_short == 1 and crop.dropped_beyond_cap == 0 and crop.num_pieces == 7
    # 0 -> 1 and 1 -> 2 inside; 2 -> 3 and 4 -> 5 meet outside; 6 -> 7 lost with the dropped piece
    assert edges_of(crop.data) == {(lane_of[0], lane_of[1]), (lane_of[1], lane_of[2])}
    pos = crop.data.pos.numpy()
    np.testing.assert_allclose(pos[lane_of[2], [0, -1]], [[25, 0], [32, 0]])
    np.testing.assert_allclose(pos[lane_of[5], [0, -1]], [[-20, 32], [-20, 20]])
    assert np.abs(pos).max() <= CROP_HALF


def test_pieces_of_one_lane_are_separate_lanes_and_edges_attach_to_the_right_piece():
    lanes = [line((-10, 0), (0, 20), (0, 50), (10, 50), (10, 10)),   # 0: in, out, back in; ends inside
             line((10, 10), (20, 10)),                                  # 1: follows 0
             line((-20, 0), (-10, 0))]                                  # 2: 0 follows it
    crop = crop_scene(lanes, [(0, 1), (2, 0), (0, 0)], (0, 0), 0.0)
    src = [tuple(s) for s in crop.source.tolist()]
    assert sorted(src) == [(0, 0), (0, 1), (1, 0), (2, 0)]
    first, second = src.index((0, 0)), src.index((0, 1))
    assert edges_of(crop.data) == {(src.index((2, 0)), first), (second, src.index((1, 0))),
                                   (second, first)}  # a lane that follows itself: its end and start are both inside


def test_lanes_are_ordered_nearest_first_and_capped():
    ys = np.arange(60) - 29.5                  # 60 parallel lanes, 1 m apart: |y| = 0.5, 0.5, 1.5, 1.5, ...
    lanes = [line((-30, y), (30, y)) for y in ys]
    crop = crop_scene(lanes, [], (0, 0), 0.0)
    assert crop.data.num_nodes == MAX_LANES and crop.dropped_beyond_cap == 10
    dist = [distance_to_polyline(p) for p in crop.data.pos.numpy()]
    assert dist == sorted(dist)
    # the 50 nearest lanes, ties by map lane index
    expected = sorted(range(60), key=lambda k: (abs(ys[k]), k))[:MAX_LANES]
    assert crop.source[:, 0].tolist() == expected
    assert crop_scene(lanes, [], (0, 0), 0.0, max_lanes=3).data.num_nodes == 3


def test_crop_far_from_every_lane_is_empty():
    crop = crop_scene([line((100, 100), (200, 100))], [], (0, 0), 0.0)
    assert crop.data.num_nodes == 0 and crop.data.pos.shape == (0, POINTS_PER_LANE, 2)
    assert crop.data.edge_index.shape == (2, 0)


def test_crop_rejects_bad_successor_indices():
    with pytest.raises(ValueError, match=r"successor index out of range 0\.\.1"):
        crop_scene([line((0, 0), (1, 0)), line((1, 0), (2, 0))], [(0, 2)], (0, 0), 0.0)


def test_short_map_lanes_are_removed_and_bridged():
    lanes = [line((0, 0), (10, 0)),        # 0
             line((10, 0), (10.3, 0)),     # 1: stub
             line((10.3, 0), (10.6, 0)),   # 2: stub after a stub
             line((10.6, 0), (20, 0)),     # 3
             line((10.6, 0), (20, 5)),     # 4
             line((20, 0), (30, 0))]       # 5
    kept, edges = contract_short_lanes(lanes, [(0, 1), (1, 2), (2, 3), (2, 4), (3, 5), (2, 1)], 1.0)
    assert kept.tolist() == [0, 3, 4, 5]
    assert edges.tolist() == [[0, 1], [0, 2], [1, 3]]   # 0 -> 3, 0 -> 4 bridged; the stub loop 2 -> 1 is harmless


# ----------------------------------------------------------------------------------------------------------------------
# ego poses and map records
# ----------------------------------------------------------------------------------------------------------------------
def record(lanes, split="train", map_id="m"):
    return {"map_id": map_id, "split": split, "lanes": lanes}


def test_ego_poses_are_on_the_lanes_facing_along_them_and_uniform_in_length():
    m = lane_map(record([{"id": "a", "centerline": [[0, 0], [10, 0]], "successors": ["b"]},
                         {"id": "b", "centerline": [[10, 0], [10, 30]], "successors": []}]), "test map")
    poses = sample_ego_poses(m, 4000, np.random.default_rng(0))
    on_a = (poses[:, 1] == 0) & (poses[:, 0] >= 0) & (poses[:, 0] <= 10)
    on_b = (poses[:, 0] == 10) & (poses[:, 1] >= 0) & (poses[:, 1] <= 30)
    assert np.all(on_a | on_b)
    np.testing.assert_allclose(poses[on_a & ~on_b, 2], 0.0)
    np.testing.assert_allclose(poses[on_b & ~on_a, 2], math.pi / 2)
    assert abs(on_b.mean() - 0.75) < 0.03                  # b holds 30 of the 40 m
    assert abs(np.median(poses[on_b, 1]) - 15) < 1.5       # uniform along b
    np.testing.assert_array_equal(poses, sample_ego_poses(m, 4000, np.random.default_rng(0)))


def test_crops_per_map():
    assert [crops_per_map(L, 50.0) for L in (0.5, 24.9, 25.1, 1000.0)] == [1, 1, 1, 20]


@pytest.mark.parametrize("rec, match", [
    ({"map_id": "m", "lanes": []}, "missing key 'split'"),
    (record([], split="dev"), "split is 'dev'"),
    (record([{"id": "a", "centerline": [[0, 0]], "successors": []}]),
     r"lane 0 \(id 'a'\): centerline must be a list of at least 2"),
    (record([{"id": "a", "centerline": [[0, 0], [1, "x"]], "successors": []}]), "centerline point 1"),
    (record([{"id": "a", "centerline": [[0, 0], [1, 0]], "successors": ["z"]}]), "successor id 'z' is not a lane"),
    (record([{"id": "a", "centerline": [[0, 0], [1, 0]], "successors": []}] * 2), "lane id 'a' repeats lane 0"),
    (record([{"id": "a", "centerline": [[0, 0], [1, 0]]}]), "lane 0: missing key 'successors'"),
])
def test_bad_map_records_are_errors_naming_map_and_lane(rec, match):
    with pytest.raises(ValueError, match=match):
        lane_map(rec, "maps.json: map 3")


def test_bad_map_file_is_an_error(tmp_path):
    bad = tmp_path / "maps.json"
    bad.write_text('{"maps": []}')
    with pytest.raises(ValueError, match="non-empty 'maps' list"):
        read_lane_maps(bad)
    bad.write_text("{")
    with pytest.raises(ValueError, match="not a readable JSON"):
        read_lane_maps(bad)


# ----------------------------------------------------------------------------------------------------------------------
# SLEDGE's geometric successor rule
# ----------------------------------------------------------------------------------------------------------------------
def two_lanes(gap: float, turn_deg: float) -> np.ndarray:
    a = resample_polyline(line((-10, 0), (0, 0)), POINTS_PER_LANE)
    t = math.radians(turn_deg)
    start = np.array([gap, 0.0])
    b = resample_polyline(np.stack([start, start + 10 * np.array([math.cos(t), math.sin(t)])]), POINTS_PER_LANE)
    return np.stack([a, b])


@pytest.mark.parametrize("gap, turn, expected", [
    (1.49, 0.0, True), (1.51, 0.0, False),     # gap just under / over 1.5 m
    (0.0, 59.0, True), (0.0, 61.0, False),     # turn just under / over 60 degrees
    (0.0, -59.0, True), (0.0, -61.0, False),
])
def test_successor_rule_thresholds(gap, turn, expected):
    rule = successor_rule(two_lanes(gap, turn))
    assert rule[0, 1] == expected
    assert not rule[1, 0] and not rule[0, 0] and not rule[1, 1]


# ----------------------------------------------------------------------------------------------------------------------
# JSON files
# ----------------------------------------------------------------------------------------------------------------------
def lane_graph(n: int, edges: list[tuple[int, int]], seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    return Data(pos=(torch.rand(n, POINTS_PER_LANE, 2, generator=g) * 64 - 32),
                edge_index=torch.tensor(edges, dtype=torch.long).reshape(-1, 2).T, num_nodes=n)


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_json_round_trip(tmp_path, suffix):
    graphs = [lane_graph(3, [(2, 0), (0, 1)]), lane_graph(1, [], 1), lane_graph(0, [], 2)]
    path = write_lane_graphs(graphs, tmp_path / f"lanes{suffix}")
    back = read_lane_graphs(path)
    assert len(back) == 3
    for a, b in zip(graphs, back):
        assert torch.equal(a.pos, b.pos) and b.pos.shape == (a.num_nodes, POINTS_PER_LANE, 2)
        assert edges_of(a) == edges_of(b) and b.num_nodes == a.num_nodes
    assert back[0].edge_index.tolist() == [[0, 2], [1, 0]]             # sorted by (i, j)
    text = gzip.open(path, "rt").read() if suffix.endswith(".gz") else path.read_text()
    doc = json.loads(text)
    assert doc["format"] == "graphgen-lane-graphs" and doc["version"] == 1 and doc["points_per_lane"] == 20
    assert doc["units"] == "metres; ego at (0, 0) facing +x"
    assert len(text.splitlines()) == 2 + 3 + 1                         # header, one line per graph, closing line
    # the writer is deterministic (gzip mtime 0; the header also holds the file name)
    again = write_lane_graphs(graphs, tmp_path / "again" / f"lanes{suffix}")
    assert again.read_bytes() == path.read_bytes()


def test_json_empty_graph_list(tmp_path):
    assert read_lane_graphs(write_lane_graphs([], tmp_path / "none.json")) == []


def _doc() -> dict:
    lanes = [[[float(k), y] for k in range(POINTS_PER_LANE)] for y in (0.0, 3.5)]
    return {"format": "graphgen-lane-graphs", "version": 1, "units": "metres; ego at (0, 0) facing +x",
            "points_per_lane": POINTS_PER_LANE, "graphs": [{"lanes": lanes, "successors": [[0, 1]]}]}


def _set(path, value):
    def edit(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _delete(path):
    def edit(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return edit


@pytest.mark.parametrize("edit, match", [
    (_delete(["graphs"]), "missing key 'graphs'"),
    (_delete(["points_per_lane"]), "missing key 'points_per_lane'"),
    (_set(["format"], "graphgen-scene-graphs"), "format is 'graphgen-scene-graphs'"),
    (_set(["version"], 2), "version 2 is not supported"),
    (_set(["points_per_lane"], 10), "points_per_lane is 10; this reader knows only 20-point lanes"),
    (_set(["units"], "feet"), "units are 'feet'"),
    (_set(["graphs"], {}), "'graphs' must be a list"),
    (_delete(["graphs", 0, "successors"]), "graph 0: missing key 'successors'"),
    (_delete(["graphs", 0, "lanes"]), "graph 0: missing key 'lanes'"),
    (_set(["graphs", 0, "lanes", 1], [[0.0, 0.0]] * 19), "graph 0, lane 1: expected a list of 20 .* got 19 entries"),
    (_set(["graphs", 0, "lanes", 1, 4], [1.0]), r"graph 0, lane 1, point 4: expected \[x, y\] .* got \[1.0\]"),
    (_set(["graphs", 0, "lanes", 1, 4], [1.0, "a"]), r"lane 1, point 4: expected \[x, y\]"),
    (_set(["graphs", 0, "lanes", 0, 7], [float("nan"), 0.0]), "graph 0, lane 0, point 7: non-finite coordinate"),
    (_set(["graphs", 0, "lanes", 0, 7], [float("inf"), 0.0]), "lane 0, point 7: non-finite coordinate"),
    (_set(["graphs", 0, "successors"], [[0, 2]]), r"graph 0, successor 0 \(0, 2\): lane index out of range 0\.\.1"),
    (_set(["graphs", 0, "successors"], [[-1, 0]]), r"successor 0 \(-1, 0\): lane index out of range"),
    (_set(["graphs", 0, "successors"], [[1, 1]]), r"successor 0 \(1, 1\): self edge"),
    (_set(["graphs", 0, "successors"], [[0, 1], [0, 1]]), r"successor 1 \(0, 1\): duplicate edge"),
    (_set(["graphs", 0, "successors"], [[0, 1.0]]), r"successor 0: expected \[i, j\] .* got \[0, 1.0\]"),
    (_set(["graphs", 0, "successors"], [[0, 1, 2]]), r"successor 0: expected \[i, j\]"),
])
def test_bad_json_files_give_errors_naming_the_problem(tmp_path, edit, match):
    doc = _doc()
    edit(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))   # json writes NaN / Infinity, which json reads back
    with pytest.raises(ValueError, match=match) as info:
        read_lane_graphs(path)
    assert str(path) in str(info.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no lane-graph file"):
        read_lane_graphs(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="broken.json: not a readable JSON file"):
        read_lane_graphs(tmp_path / "broken.json")
    (tmp_path / "plain.json.gz").write_text("{}")
    with pytest.raises(ValueError, match=r"not a readable JSON \(gzip\) file"):
        read_lane_graphs(tmp_path / "plain.json.gz")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        read_lane_graphs(tmp_path / "list.json")


def test_from_dict_and_writer_reject_bad_graphs(tmp_path):
    with pytest.raises(ValueError, match="here: 'lanes' must be a list"):
        lane_graph_from_dict({"lanes": {}, "successors": []}, "here")
    with pytest.raises(ValueError, match=r"pos has shape \(2, 19, 2\), expected \[n, 20, 2\]"):
        lane_graph_to_dict(Data(pos=torch.zeros(2, 19, 2), edge_index=torch.zeros(2, 0, dtype=torch.long)))
    with pytest.raises(ValueError, match="no float tensor 'pos'"):
        lane_graph_to_dict(Data(x=torch.zeros(2)))
    bad = lane_graph(2, [])
    bad.pos[1, 3, 0] = float("nan")
    with pytest.raises(ValueError, match="lane 1 holds a non-finite coordinate"):
        lane_graph_to_dict(bad)
    with pytest.raises(ValueError, match=r"successor 0 \(1, 1\): self edge"):
        lane_graph_to_dict(lane_graph(2, [(1, 1)]))
    with pytest.raises(ValueError, match="edge_index must be a long tensor"):
        lane_graph_to_dict(Data(pos=torch.zeros(2, 20, 2), edge_index=torch.zeros(2, 1)))
    with pytest.raises(ValueError, match=r"cannot write .*out.json: graph 1: .*lane index out of range"):
        write_lane_graphs([lane_graph(2, []), lane_graph(2, [(0, 5)])], tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


# ----------------------------------------------------------------------------------------------------------------------
# drawing
# ----------------------------------------------------------------------------------------------------------------------
def test_draw_lane_graphs_writes_a_png(tmp_path):
    crop = crop_scene(MAP, SUCCESSORS, (0, 0), 0.0)
    graphs = [crop.data, lane_graph(3, [(0, 1), (1, 2)]), lane_graph(0, [])]
    path = tmp_path / "sub" / "lanes.png"
    assert draw_lane_graphs(graphs, path, count=16, columns=2, title="hand-built") == 3
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert draw_lane_graphs(graphs, tmp_path / "one.png", count=1) == 1
    assert draw_lane_graphs([], tmp_path / "none.png") == 0 and (tmp_path / "none.png").exists()
    with pytest.raises(ValueError, match="columns >= 1"):
        draw_lane_graphs(graphs, tmp_path / "x.png", columns=0)


# ----------------------------------------------------------------------------------------------------------------------
# the lanes dataset (needs the shared data)
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def maps_file(shared_data) -> Path:
    return shared_data / RAW


def test_split_by_map_as_stored(shared_data, maps_file):
    spec = DATASETS["lanes"]
    assert spec.map_split_sizes(shared_data) == {"train": 111, "val": 12, "test": 22}
    records = read_lane_maps(maps_file)
    jobs, maps = crop_jobs(records, maps_file, seed=0, metres_per_crop=spec.metres_per_crop,
                           min_lane_length=spec.min_lane_length)
    assert [m.split for m in maps] == [r["split"] for r in records]
    sizes = spec.split_sizes(shared_data)
    for split in spec.splits:
        assert sizes[split] == sum(crops_per_map(m.total_length, spec.metres_per_crop) for m in maps
                                   if m.split == split)
    assert sum(sizes.values()) == len(jobs)
    # rows run map by map, crop by crop
    assert [(j.map_index, j.crop) for j in jobs] == sorted((j.map_index, j.crop) for j in jobs)


@pytest.mark.parametrize("split", ["val", "test"])
def test_every_scene_follows_the_conventions(shared_data, split):
    ds = DATASETS["lanes"].load(split, shared_data, num_workers=1)
    assert len(ds) == DATASETS["lanes"].split_sizes(shared_data)[split]
    for g in ds:
        n = g.num_nodes
        assert 1 <= n <= MAX_LANES and g.pos.shape == (n, POINTS_PER_LANE, 2) and g.pos.dtype == torch.float32
        assert float(g.pos.abs().max()) <= CROP_HALF                       # inside the crop
        lengths = np.linalg.norm(np.diff(g.pos.numpy(), axis=1), axis=2).sum(1)
        assert lengths.min() >= 1.0 - 1e-3                                    # no piece under 1 m
        dist = [distance_to_polyline(p) for p in g.pos.numpy()]
        assert dist[0] < 0.5                                                  # the ego's lane (chords cut corners)
        assert all(a <= b + 0.5 for a, b in zip(dist, dist[1:]))             # nearest first, up to resampling
        ei = g.edge_index
        assert ei.dtype == torch.long and ei.shape[0] == 2
        if ei.numel():
            assert int(ei.min()) >= 0 and int(ei.max()) < n and bool((ei[0] != ei[1]).all())
            assert len(edges_of(g)) == ei.shape[1]
            # a kept edge joins an original end to an original start: they coincide in these maps up to the
            # removed stubs bridged over (< 1 m each)
            gaps = torch.linalg.norm(g.pos[ei[0], -1] - g.pos[ei[1], 0], dim=1)
            assert float(gaps.max()) < GAP_M


def test_dataset_graphs_equal_crop_scene_on_the_drawn_poses(shared_data, maps_file):
    spec = DATASETS["lanes"]
    ds = spec.load("val", shared_data, num_workers=1)
    jobs, _ = crop_jobs(read_lane_maps(maps_file), maps_file, seed=spec.seed, metres_per_crop=spec.metres_per_crop,
                        min_lane_length=spec.min_lane_length)
    for i in (0, len(ds) // 2, len(ds) - 1):
        job = jobs[int(ds.rows[i])]
        assert job.lane_map.split == "val"
        crop = crop_scene(job.lane_map.lanes, job.lane_map.successors, job.pose[:2], float(job.pose[2]))
        assert torch.equal(crop.data.pos, ds[i].pos) and torch.equal(crop.data.edge_index, ds[i].edge_index)


def test_two_builds_give_the_same_scenes_and_another_seed_others(shared_data, tmp_path, monkeypatch):
    spec = DATASETS["lanes"]
    built = []
    for k, s in enumerate((spec, spec, dataclasses.replace(spec, seed=1))):
        monkeypatch.setenv("GRAPHGEN_CACHE", str(tmp_path / f"cache{k}"))
        built.append(s.load("val", shared_data, num_workers=1))
    a, b, other = built
    assert a.cache_dir != b.cache_dir and len(a) == len(b) == len(other)
    for i in range(len(a)):
        assert torch.equal(a[i].pos, b[i].pos) and torch.equal(a[i].edge_index, b[i].edge_index)
    assert any(a[i].pos.shape != other[i].pos.shape or not torch.equal(a[i].pos, other[i].pos)
               for i in range(len(a)))


def test_dataset_graphs_round_trip_through_json(shared_data, tmp_path):
    ds = DATASETS["lanes"].load("test", shared_data, num_workers=1)
    graphs = [ds[i] for i in range(0, len(ds), 10)]
    back = read_lane_graphs(write_lane_graphs(graphs, tmp_path / "lanes.json.gz"))
    for a, b in zip(graphs, back):
        assert torch.equal(a.pos, b.pos) and torch.equal(a.edge_index, b.edge_index)
