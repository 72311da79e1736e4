"""Scene graphs: sg2im's rule on hand-built boxes, the COCO datasets against the raw file, flips, JSON, drawing."""
from __future__ import annotations

import gzip
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graphgen.data.datasets.scene_graphs import CocoSceneGraphSpec
from graphgen.data.raw import RawFile
from graphgen.data.registry import DATASETS, load_dataset
from graphgen.data.scene_graphs import (
    ABOVE,
    BELOW,
    CATEGORIES,
    HFLIP,
    INSIDE,
    INVERSE,
    LEFT_OF,
    PREDICATES,
    RIGHT_OF,
    SURROUNDING,
    draw_layouts,
    hflip,
    hflip_dense,
    read_scene_graphs,
    scene_graph_from_dict,
    scene_graph_to_dict,
    sg2im_relations,
    write_scene_graphs,
    xywh_to_corners,
)

RAW = "scene_graphs/coco2017_subset_sg.json.gz"


# ----------------------------------------------------------------------------------------------------------------------
# the sg2im rule on hand-built boxes
# ----------------------------------------------------------------------------------------------------------------------
OBJECT = [0.4, 0.4, 0.6, 0.6]  # x0, y0, x1, y1, centre (0.5, 0.5)


@pytest.mark.parametrize("subject, expected", [
    ([0.1, 0.45, 0.2, 0.55], LEFT_OF),        # centre (0.15, 0.5): dx < 0, theta = pi
    ([0.8, 0.45, 0.9, 0.55], RIGHT_OF),       # theta = 0
    ([0.45, 0.1, 0.55, 0.2], ABOVE),          # dy < 0 (y points down): theta = -pi/2
    ([0.45, 0.8, 0.55, 0.9], BELOW),          # theta = pi/2
    ([0.45, 0.45, 0.5, 0.5], INSIDE),         # strictly inside the object's box
    ([0.1, 0.1, 0.9, 0.9], SURROUNDING),      # strictly contains it
    ([0.62, 0.2, 0.7, 0.25], ABOVE),          # theta = atan2(-0.275, 0.16) ~ -1.04 in [-3pi/4, -pi/4)
    ([0.62, 0.8, 0.7, 0.85], BELOW),          # theta ~ +1.04
])
def test_sg2im_rule_each_predicate(subject, expected):
    rel = sg2im_relations(np.asarray([subject, OBJECT]))
    assert rel.shape == (2, 2) and rel[0, 0] == rel[1, 1] == 0
    assert rel[0, 1] == expected
    assert rel[1, 0] == INVERSE[expected]


def test_sg2im_rule_boundaries_and_given_centres():
    # exactly on the left/above boundary: theta = -3pi/4 (dx = dy = -1) is "left of", its reverse pi/4 is "below"
    corners = np.asarray([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]])
    rel = sg2im_relations(corners)
    assert math.atan2(-1.0, -1.0) == -3 * math.pi / 4
    assert rel[0, 1] == LEFT_OF and rel[1, 0] == BELOW  # the half-open sectors are not symmetric on a boundary
    # centres override the box centres: same boxes, subject centre moved to the right
    rel = sg2im_relations(corners, np.asarray([[5.0, 2.0], [2.0, 2.0]]))
    assert rel[0, 1] == RIGHT_OF and rel[1, 0] == LEFT_OF
    assert sg2im_relations(np.zeros((0, 4))).shape == (0, 0)
    assert sg2im_relations(np.asarray([OBJECT])).tolist() == [[0]]


def test_sg2im_rule_inverse_property_off_boundaries():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 0.7, size=(40, 2))
    wh = rng.uniform(0.02, 0.3, size=(40, 2))
    corners = np.concatenate([xy, xy + wh], axis=1)
    rel = sg2im_relations(corners)
    off = ~np.eye(40, dtype=bool)
    assert (rel[off] >= 1).all() and (rel[off] <= 6).all()
    assert np.array_equal(rel.T[off], np.asarray(INVERSE)[rel][off])
    assert {int(v) for v in rel[off]} == set(range(1, 7))  # the sample reaches all six predicates


def test_sg2im_containment_is_strict():
    equal = np.asarray([[0.2, 0.2, 0.6, 0.6], [0.2, 0.2, 0.6, 0.6]])
    rel = sg2im_relations(equal)
    # equal boxes: neither inside nor surrounding; identical centres give theta = atan2(0, 0) = 0, "right of"
    assert rel[0, 1] == rel[1, 0] == RIGHT_OF
    # sharing one edge (x0) is not strict containment either: the angle decides
    shared = np.asarray([[0.2, 0.2, 0.6, 0.6], [0.2, 0.3, 0.4, 0.5]])
    rel = sg2im_relations(shared)
    assert rel[0, 1] == RIGHT_OF and rel[1, 0] == LEFT_OF
    # one hair inside on every side: contained
    inner = np.asarray([[0.2, 0.2, 0.6, 0.6], [0.2001, 0.2001, 0.5999, 0.5999]])
    rel = sg2im_relations(inner)
    assert rel[0, 1] == SURROUNDING and rel[1, 0] == INSIDE


# ----------------------------------------------------------------------------------------------------------------------
# the raw file
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def records(shared_data) -> list[dict]:
    with gzip.open(shared_data / RAW, "rt") as f:
        return json.load(f)["records"]


def test_rule_in_pixel_units_reproduces_every_stored_relation(records):
    index = {p: k for k, p in enumerate(PREDICATES, start=1)}
    checked = 0
    for rec in records:
        if not rec["objects"]:
            assert rec["relations"] == []
            continue
        b = np.asarray([o["bbox_xywh"] for o in rec["objects"]], dtype=np.float64)
        corners = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
        rel = sg2im_relations(corners, np.asarray([o["center_xy"] for o in rec["objects"]]))
        n = len(b)
        assert len(rec["relations"]) == n * (n - 1) // 2
        for s, o, p in rec["relations"]:
            assert rel[s, o] == index[p], (rec["image_id"], s, o, p)
            checked += 1
    assert checked == 33148


def test_categories_and_predicates_equal_the_vocab_file(shared_data):
    vocab = json.loads((shared_data / "scene_graphs" / "coco2017_subset_vocab.json").read_text())
    assert [c["name"] for c in vocab["coco_categories"]] == list(CATEGORIES)
    ids = [c["id"] for c in vocab["coco_categories"]]
    assert ids == sorted(ids)  # COCO id order
    assert vocab["geometric_predicates"] == list(PREDICATES)


# ----------------------------------------------------------------------------------------------------------------------
# the datasets
# ----------------------------------------------------------------------------------------------------------------------
RAW_SIZES = {"coco_sg": {"train": 295, "val": 92, "test": 96}, "coco_sg2im": {"train": 137, "val": 42, "test": 41}}
GRAPHS = {"coco_sg": {"train": 293, "val": 91, "test": 95}, "coco_sg2im": {"train": 137, "val": 42, "test": 41}}


@pytest.fixture(scope="module")
def coco(shared_data) -> dict[tuple[str, str], object]:
    with pytest.warns(UserWarning, match="no non-crowd object"):
        out = {("coco_sg", s): load_dataset("coco_sg", s, data_dir=shared_data) for s in ("train", "val", "test")}
    out.update({("coco_sg2im", s): load_dataset("coco_sg2im", s, data_dir=shared_data)
                for s in ("train", "val", "test")})
    return out


@pytest.mark.parametrize("name", ["coco_sg", "coco_sg2im"])
def test_split_sizes(name, coco, records, shared_data):
    assert DATASETS[name].split_sizes(shared_data) == RAW_SIZES[name]
    for split in ("train", "val", "test"):
        ds = coco[(name, split)]
        assert len(ds) == GRAPHS[name][split]
        for row in ds.rows:  # the split rule, checked on the raw records
            rec = records[row]
            if split == "train":
                assert rec["coco_split"] == "train2017"
            else:
                assert rec["coco_split"] == "val2017" and rec["image_id"] % 2 == (0 if split == "val" else 1)
            assert name == "coco_sg" or rec["sg2im_eligible"]
    skipped = {s: coco[(name, s)].meta["skipped"] for s in ("train", "val", "test")}
    if name == "coco_sg":  # the four images without objects
        assert [sk["count"] for sk in skipped.values()] == [2, 1, 1]
        for sk in skipped.values():
            for row, why in sk["rows"]:
                assert records[row]["objects"] == [] and "no non-crowd object" in why
    else:
        assert all(sk["count"] == 0 for sk in skipped.values())
    assert sum(GRAPHS[name].values()) + sum(sk["count"] for sk in skipped.values()) == sum(RAW_SIZES[name].values())


def _expected_graph(rec: dict, sg2im_only: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classes, normalised boxes and the relation matrix of one record, written out here from the conventions."""
    objs = [o for o in rec["objects"] if (o["sg2im_keep"] if sg2im_only else o["iscrowd"] == 0)]
    objs.sort(key=lambda o: (-o["bbox_xywh"][2] * o["bbox_xywh"][3], o["coco_ann_id"]))
    objs = objs[:32]
    w, h = rec["width"], rec["height"]
    corners, centres = [], []
    for o in objs:
        x, y, bw, bh = o["bbox_xywh"]
        cx, cy = o["center_xy"]
        if not (x <= cx <= x + bw and y <= cy <= y + bh):
            cx, cy = x + bw / 2, y + bh / 2
        corners.append([x / w, y / h, (x + bw) / w, (y + bh) / h])
        centres.append([cx / w, cy / h])
    c = np.asarray(corners)
    box = np.stack([(c[:, 0] + c[:, 2]) / 2, (c[:, 1] + c[:, 3]) / 2, c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]], 1)
    classes = np.asarray([CATEGORIES.index(o["category"]) for o in objs])
    return classes, box, sg2im_relations(c, np.asarray(centres))


@pytest.mark.parametrize("name", ["coco_sg", "coco_sg2im"])
def test_every_graph_is_complete_with_the_rules_relations(name, coco, records):
    fallback = 0
    for split in ("train", "val", "test"):
        ds = coco[(name, split)]
        for d, row in zip(ds, ds.rows):
            rec = records[row]
            n = d.num_nodes
            assert d.x.dtype == torch.long and d.box.dtype == torch.float32
            assert d.edge_index.dtype == torch.long and d.edge_attr.dtype == torch.long
            assert d.box.shape == (n, 4) and d.edge_index.shape == (2, n * (n - 1))
            assert d.edge_attr.shape == (n * (n - 1),)
            assert n <= 32 and (name == "coco_sg" or 3 <= n <= 8)
            pairs = [[i, j] for i in range(n) for j in range(n) if i != j]
            assert d.edge_index.t().tolist() == pairs  # every ordered pair once, sorted
            classes, box, rel = _expected_graph(rec, name == "coco_sg2im")
            assert d.x.tolist() == classes.tolist()
            assert torch.allclose(d.box, torch.from_numpy(box).float(), atol=1e-6)
            assert d.edge_attr.tolist() == [int(rel[i, j]) for i, j in pairs]
            assert ((d.edge_attr >= 1) & (d.edge_attr <= 6)).all()
        fallback += sum(len(note.split("coco_ann_id ")[1].split(",")) for _, note in ds.meta["notes"])
    assert fallback == {"coco_sg": 56, "coco_sg2im": 24}[name]


def test_single_object_image_has_no_edges(coco):
    singles = [d for d in coco[("coco_sg", "train")] if d.num_nodes == 1]
    assert singles and all(d.edge_index.shape == (2, 0) and d.edge_attr.shape == (0,) for d in singles)


def test_vocabulary_lists_categories_and_predicates():
    for name in ("coco_sg", "coco_sg2im"):
        vocab = DATASETS[name].vocabulary()
        assert vocab["categories"] == list(CATEGORIES) and vocab["predicates"] == list(PREDICATES)


# --- bad raw files ----------------------------------------------------------------------------------------------------
def _doctored_spec(tmp_path: Path, records: list[dict], **options) -> tuple[CocoSceneGraphSpec, Path]:
    root = tmp_path / "data"
    path = root / "scene_graphs" / "doctored.json.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(json.dumps({"records": records}).encode())
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    spec = CocoSceneGraphSpec(name="doctored", raw={"records": RawFile("scene_graphs/doctored.json.gz", sha,
                                                                       "https://example.org/doctored")},
                              splits=("train", "val", "test"), **options)
    return spec, root


def _object(category: str = "cat", bbox=(10.0, 10.0, 20.0, 20.0), ann: int = 1, crowd: int = 0,
            center=None) -> dict:
    x, y, w, h = bbox
    return {"category": category, "bbox_xywh": list(bbox), "iscrowd": crowd, "coco_ann_id": ann,
            "center_xy": list(center) if center else [x + w / 2, y + h / 2], "sg2im_keep": crowd == 0}


def _record(image_id: int, objects: list[dict], split: str = "train2017") -> dict:
    return {"image_id": image_id, "width": 100, "height": 50, "coco_split": split, "objects": objects,
            "sg2im_eligible": 3 <= len(objects) <= 8}


def test_bad_records_are_skipped_with_their_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHGEN_CACHE", str(tmp_path / "cache"))
    good = [_object("dog", (0, 0, 40, 40), ann=7), _object("cat", (50, 10, 20, 20), ann=3,
                                                             center=(90.0, 5.0))]  # centroid outside its box
    records = [
        _record(1, good),
        _record(2, [_object("unicorn")]),
        _record(3, [{**_object(), "bbox_xywh": [1.0, 2.0, 3.0]}]),
        _record(4, [_object(crowd=1)]),
        _record(5, [{k: v for k, v in _object().items() if k != "center_xy"}]),
        _record(6, [_object(bbox=(1.0, 2.0, 0.0, 3.0))]),
    ]
    spec, root = _doctored_spec(tmp_path, records)
    with pytest.warns(UserWarning, match="skipped 5 of 6 raw rows"):
        ds = spec.load("train", root)
    assert len(ds) == 1 and ds.rows.tolist() == [0]
    reasons = dict(ds.meta["skipped"]["rows"])
    assert "unknown category 'unicorn'" in reasons[1]
    assert "bbox_xywh must be a list of 4 numbers" in reasons[2]
    assert "no non-crowd object (the image has 1 objects, 1 crowd)" in reasons[3]
    assert "missing field 'center_xy'" in reasons[4]
    assert "has no area" in reasons[5]
    d = ds[0]
    # node order: larger box first (dog 1600 px^2 before cat 400 px^2); boxes normalised by 100 x 50
    assert d.x.tolist() == [CATEGORIES.index("dog"), CATEGORIES.index("cat")]
    assert torch.allclose(d.box, torch.tensor([[0.2, 0.4, 0.4, 0.8], [0.6, 0.4, 0.2, 0.4]]))
    # the cat's stored centroid lies outside its box: the box centre (60, 20) is used and the image noted
    assert ds.meta["notes"] == [[0, "polygon centroid outside its box, box centre used: coco_ann_id [3]"]]
    assert d.edge_attr.tolist() == [LEFT_OF, RIGHT_OF]  # dog centre (20, 20) vs cat (60, 20)


def test_ties_in_area_are_ordered_by_annotation_id(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHGEN_CACHE", str(tmp_path / "cache"))
    objs = [_object("dog", (0, 0, 10, 10), ann=9), _object("cat", (50, 0, 10, 10), ann=2),
            _object("cow", (20, 20, 5, 5), ann=1)]
    spec, root = _doctored_spec(tmp_path, [_record(1, objs)])
    assert spec.load("train", root)[0].x.tolist() == [CATEGORIES.index(c) for c in ("cat", "dog", "cow")]
    capped, _ = _doctored_spec(tmp_path, [_record(1, objs)], max_objects=2)
    assert capped.load("train", root)[0].x.tolist() == [CATEGORIES.index(c) for c in ("cat", "dog")]


@pytest.mark.parametrize("records, match", [
    ([_record(1, [_object()], split="test2017")], r"record 0: coco_split is 'test2017'"),
    ([{k: v for k, v in _record(1, [_object()]).items() if k != "image_id"}], r"record 0: missing field 'image_id'"),
])
def test_bad_split_fields_are_errors_naming_file_and_record(tmp_path, monkeypatch, records, match):
    monkeypatch.setenv("GRAPHGEN_CACHE", str(tmp_path / "cache"))
    spec, root = _doctored_spec(tmp_path, records)
    with pytest.raises(ValueError, match=match) as err:
        spec.split_sizes(root)
    assert "doctored.json.gz" in str(err.value)


def test_file_without_records_is_an_error(tmp_path):
    path = tmp_path / "scene_graphs" / "x.json.gz"
    path.parent.mkdir()
    with gzip.open(path, "wt") as f:
        f.write('{"images": []}')
    spec = CocoSceneGraphSpec(name="x", splits=("train", "val", "test"), raw={"records": RawFile(
        "scene_graphs/x.json.gz", hashlib.sha256(path.read_bytes()).hexdigest(), "https://example.org/x")})
    with pytest.raises(ValueError, match=r"x.json.gz: expected a JSON object with a 'records' list"):
        spec.split_sizes(tmp_path)


# ----------------------------------------------------------------------------------------------------------------------
# horizontal flip
# ----------------------------------------------------------------------------------------------------------------------
def _graph(classes: list[int], boxes: list[list[float]]) -> Data:
    """A complete scene graph with the rule's relations on box centres."""
    box = torch.tensor(boxes, dtype=torch.float32)
    rel = sg2im_relations(xywh_to_corners(box.double().numpy()))
    n = len(classes)
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    return Data(x=torch.tensor(classes), box=box, edge_index=torch.from_numpy(np.stack([i, j])).long(),
                edge_attr=torch.from_numpy(rel[i, j]).long(), num_nodes=n)


SCENE = _graph([0, 16, 56, 60], [[0.3, 0.6, 0.2, 0.5], [0.7, 0.75, 0.3, 0.2], [0.45, 0.2, 0.1, 0.1],
                                 [0.5, 0.5, 0.9, 0.9]])


def test_hflip_swaps_left_and_right_and_twice_is_identity():
    flipped = hflip(SCENE)
    assert torch.allclose(flipped.box[:, 0], 1 - SCENE.box[:, 0]) and torch.equal(flipped.box[:, 1:], SCENE.box[:, 1:])
    assert torch.equal(flipped.edge_index, SCENE.edge_index)
    assert torch.equal(flipped.edge_attr, torch.tensor(HFLIP)[SCENE.edge_attr])
    # the mapped relations are the rule's relations of the mirrored boxes (no pair of SCENE lies on a boundary)
    assert torch.equal(flipped.edge_attr, _graph(SCENE.x.tolist(), flipped.box.tolist()).edge_attr)
    assert SCENE.edge_attr[0] == LEFT_OF and flipped.edge_attr[0] == RIGHT_OF  # person (x 0.3) left of dog (0.7)
    assert set(SCENE.edge_attr.tolist()) >= {LEFT_OF, RIGHT_OF, ABOVE, BELOW, INSIDE, SURROUNDING}
    twice = hflip(flipped)
    assert torch.allclose(twice.box, SCENE.box, atol=1e-7) and torch.equal(twice.edge_attr, SCENE.edge_attr)
    assert torch.equal(SCENE.box[:, 0], torch.tensor([0.3, 0.7, 0.45, 0.5]))  # the input is not changed


def test_hflip_dense_agrees_with_hflip():
    graphs = [SCENE, _graph([1, 2], [[0.2, 0.2, 0.1, 0.1], [0.6, 0.9, 0.2, 0.1]])]
    n_max = 5
    box = torch.zeros(2, n_max, 4)
    rel = torch.zeros(2, n_max, n_max, dtype=torch.long)
    for b, g in enumerate(graphs):
        box[b, :g.num_nodes] = g.box
        rel[b, g.edge_index[0], g.edge_index[1]] = g.edge_attr
    fbox, frel = hflip_dense(box, rel)
    for b, g in enumerate(graphs):
        f = hflip(g)
        assert torch.equal(fbox[b, :g.num_nodes], f.box)
        assert torch.equal(frel[b, f.edge_index[0], f.edge_index[1]], f.edge_attr)
        assert int(frel[b].count_nonzero()) == f.edge_attr.numel()  # "no relation" stays 0
    assert torch.equal(box[0, :4], SCENE.box)  # inputs untouched
    with pytest.raises(ValueError, match=r"box \[..., N, 4\] and rel \[..., N, N\]"):
        hflip_dense(box, rel[:, :4, :4])
    with pytest.raises(ValueError, match="relation classes must lie in 0..6"):
        hflip_dense(box, rel + 7)


# ----------------------------------------------------------------------------------------------------------------------
# scene-graph JSON files
# ----------------------------------------------------------------------------------------------------------------------
EMPTY = Data(x=torch.zeros(0, dtype=torch.long), box=torch.zeros(0, 4), edge_index=torch.zeros(2, 0, dtype=torch.long),
             edge_attr=torch.zeros(0, dtype=torch.long), num_nodes=0)
# a partial graph with relations listed out of order: written sorted by (subject, object)
PARTIAL = Data(x=torch.tensor([5, 0, 79]), box=torch.tensor([[0.1, 0.2, 0.3, 0.4], [1 / 3, 0.5, 0.25, 0.125],
                                                              [0.9, 0.9, 0.05, 0.05]]),
               edge_index=torch.tensor([[2, 0, 1], [0, 2, 0]]), edge_attr=torch.tensor([BELOW, ABOVE, INSIDE]),
               num_nodes=3)


def _assert_same(a: Data, b: Data) -> None:
    assert a.num_nodes == b.num_nodes
    assert torch.equal(a.x, b.x) and a.x.dtype == b.x.dtype == torch.long
    assert torch.equal(a.box, b.box) and b.box.dtype == torch.float32 and b.box.shape == (a.num_nodes, 4)
    order = torch.argsort(a.edge_index[0] * max(a.num_nodes, 1) + a.edge_index[1])
    assert torch.equal(a.edge_index[:, order], b.edge_index) and torch.equal(a.edge_attr[order], b.edge_attr)


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_json_round_trip(tmp_path, suffix):
    graphs = [SCENE, EMPTY, PARTIAL, hflip(SCENE)]
    path = write_scene_graphs(graphs, tmp_path / f"sg{suffix}")
    back = read_scene_graphs(path)
    assert len(back) == len(graphs)
    for a, b in zip(graphs, back):
        _assert_same(a, b)
    opener = gzip.open if suffix.endswith(".gz") else open
    with opener(path, "rt") as f:
        doc = json.load(f)
    assert doc["format"] == "graphgen-scene-graphs" and doc["version"] == 1
    assert doc["categories"] == list(CATEGORIES) and doc["predicates"] == list(PREDICATES)
    assert doc["box_format"] == "xc, yc, w, h normalised to [0, 1]"
    assert doc["graphs"][1] == {"objects": [], "relations": []}
    assert doc["graphs"][2]["relations"] == [[0, 2, "above"], [1, 0, "inside"], [2, 0, "below"]]
    assert doc["graphs"][2]["objects"][1] == {"category": "person", "box": [0.33333334, 0.5, 0.25, 0.125]}


def test_json_empty_graph_list(tmp_path):
    assert read_scene_graphs(write_scene_graphs([], tmp_path / "none.json")) == []


def test_json_round_trip_of_dataset_graphs(coco, tmp_path):
    graphs = list(coco[("coco_sg", "val")])
    back = read_scene_graphs(write_scene_graphs(graphs, tmp_path / "val.json.gz"))
    for a, b in zip(graphs, back):
        _assert_same(a, b)


def _good_doc() -> dict:
    return {"format": "graphgen-scene-graphs", "version": 1, "box_format": "xc, yc, w, h normalised to [0, 1]",
            "categories": list(CATEGORIES), "predicates": list(PREDICATES),
            "graphs": [scene_graph_to_dict(PARTIAL), scene_graph_to_dict(SCENE)]}


def _set(path: list, value):
    def edit(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return doc
    return edit


BAD_DOCS = [
    (_set(["graphs", 1, "objects", 2, "category"], "unicorn"), r"graph 1, object 2: unknown category 'unicorn'"),
    (_set(["graphs", 1, "relations", 3, 2], "next to"), r"graph 1, relation 3: unknown predicate 'next to'"),
    (_set(["graphs", 1, "objects", 0, "box"], [0.1, 0.2, 0.3]), r"graph 1, object 0: box must be a list of 4"),
    (_set(["graphs", 1, "objects", 0, "box"], [0.1, float("nan"), 0.3, 0.2]), r"graph 1, object 0: box holds a "
                                                                                r"non-finite value"),
    (_set(["graphs", 1, "objects", 0, "box"], [0.1, True, 0.3, 0.2]), r"graph 1, object 0: box must be a list of 4"),
    (_set(["graphs", 1, "objects", 1, "box"], KeyError), r"graph 1, object 1: missing key 'box'"),
    (_set(["graphs", 0, "relations"], KeyError), r"graph 0: missing key 'relations'"),
    (_set(["graphs", 0, "relations", 1], [0, 3, "above"]), r"graph 0, relation 1 \(0, 3\): object index out of "
                                                            r"range 0..2"),
    (_set(["graphs", 0, "relations", 1], [-1, 0, "above"]), r"graph 0, relation 1 \(-1, 0\): object index out of"),
    (_set(["graphs", 0, "relations", 1], [2, 2, "above"]), r"graph 0, relation 1 \(2, 2\): self relation"),
    (_set(["graphs", 0, "relations", 2], [0, 2, "below"]), r"graph 0, relation 2 \(0, 2\): duplicate ordered pair"),
    (_set(["graphs", 0, "relations", 1], [1.0, 0, "inside"]), r"graph 0, relation 1: subject and object must be "
                                                               r"integer"),
    (_set(["graphs", 0, "relations", 1], [1, 0]), r"graph 0, relation 1: expected \[subject_index, object_index, "),
    (_set(["graphs", 0, "objects"], {}), r"graph 0: 'objects' must be a list"),
    (_set(["format"], "sg2im"), r"format is 'sg2im', expected 'graphgen-scene-graphs'"),
    (_set(["format"], KeyError), r"missing key 'format'"),
    (_set(["version"], 2), r"version 2 is not supported"),
    (_set(["graphs"], KeyError), r"missing key 'graphs'"),
    (_set(["predicates"], ["on", "under"]), r"'predicates' differs from graphgen's vocabulary"),
    (_set(["categories"], list(CATEGORIES[:79])), r"'categories' differs from graphgen's vocabulary"),
]


@pytest.mark.parametrize("edit, match", BAD_DOCS)
def test_bad_json_files_give_errors_naming_the_problem(tmp_path, edit, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(edit(_good_doc())))
    with pytest.raises(ValueError, match=match) as err:
        read_scene_graphs(path)
    assert str(path) in str(err.value)


def test_unreadable_files(tmp_path):
    (tmp_path / "trunc.json").write_text('{"format": "graphgen-scene-graphs", "graphs": [')
    with pytest.raises(ValueError, match=r"trunc.json: not a readable JSON file"):
        read_scene_graphs(tmp_path / "trunc.json")
    (tmp_path / "plain.json.gz").write_text("{}")
    with pytest.raises(ValueError, match=r"plain.json.gz: not a readable JSON \(gzip\) file"):
        read_scene_graphs(tmp_path / "plain.json.gz")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError, match=r"list.json: expected a JSON object"):
        read_scene_graphs(tmp_path / "list.json")
    with pytest.raises(FileNotFoundError, match="no scene-graph file"):
        read_scene_graphs(tmp_path / "absent.json")


def test_from_dict_and_writer_reject_bad_graphs(tmp_path):
    d = scene_graph_from_dict({"objects": [{"category": "tv", "box": [0.5, 0.5, 1, 1]}], "relations": []}, "here")
    assert d.x.tolist() == [CATEGORIES.index("tv")] and d.edge_index.shape == (2, 0) and d.box.dtype == torch.float32
    with pytest.raises(ValueError, match="^here: missing key 'objects'"):
        scene_graph_from_dict({"relations": []}, "here")
    no_rel = PARTIAL.clone()
    no_rel.edge_attr = torch.tensor([0, ABOVE, INSIDE])
    with pytest.raises(ValueError, match=r"cannot write .*bad.json: graph 1: edge_attr must hold relation classes"):
        write_scene_graphs([SCENE, no_rel], tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()
    bad_class = PARTIAL.clone()
    bad_class.x = torch.tensor([5, 80, 0])
    with pytest.raises(ValueError, match=r"x\[1\] = 80 is not a class index 0..79"):
        scene_graph_to_dict(bad_class)
    loop = PARTIAL.clone()
    loop.edge_index = torch.tensor([[2, 0, 1], [0, 2, 1]])
    with pytest.raises(ValueError, match=r"relation 1 \(1, 1\): self relation"):
        scene_graph_to_dict(loop)
    with pytest.raises(ValueError, match="box has shape"):
        scene_graph_to_dict(Data(x=PARTIAL.x, box=PARTIAL.box[:2], edge_index=PARTIAL.edge_index,
                                 edge_attr=PARTIAL.edge_attr))


# ----------------------------------------------------------------------------------------------------------------------
# drawing
# ----------------------------------------------------------------------------------------------------------------------
def test_draw_layouts_writes_a_png_of_the_grid(tmp_path):
    from PIL import Image

    graphs = [SCENE, PARTIAL, EMPTY, hflip(SCENE), SCENE, PARTIAL]
    path = tmp_path / "out" / "layouts.png"
    assert draw_layouts(graphs, path, count=5, columns=3, title="five layouts") == 5
    with Image.open(path) as im:
        assert im.format == "PNG"
        w, h = im.size
    # 3 columns x 2 rows of 2.6-inch panels at 120 dpi, plus a title strip
    assert abs(w - 3 * 2.6 * 120) <= 2 and 2 * 2.6 * 120 <= h <= 2 * 2.6 * 120 + 60
    # the figure grows with the number of rows
    assert draw_layouts(graphs, tmp_path / "one_row.png", count=2, columns=4) == 2
    with Image.open(tmp_path / "one_row.png") as im:
        assert abs(im.size[0] - 2 * 2.6 * 120) <= 2 and abs(im.size[1] - 2.6 * 120) <= 2
        # boxes were drawn: the picture is not a blank white page
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 20)) > 10
    assert draw_layouts([], tmp_path / "none.png") == 0 and (tmp_path / "none.png").stat().st_size > 0
