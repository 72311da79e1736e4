"""COCO 2017 scene graphs (``coco_sg``, ``coco_sg2im``) from ``shared/data/scene_graphs/coco2017_subset_sg.json.gz``.

The raw file holds 483 real COCO 2017 images (boxes and categories, no pixels; see ``datasets/coco_sg.md``). One raw
row is one image record. Graphs follow :mod:`graphgen.data.scene_graphs`: ``x`` long [n] class index into
:data:`~graphgen.data.scene_graphs.CATEGORIES`, ``box`` float32 [n, 4] ``(x_c, y_c, w, h)`` divided by the image
width and height, ``edge_index`` long [2, E], ``edge_attr`` long [E] relation class 1..6.

Decisions:

* Objects (``coco_sg``): the non-crowd objects of the image, at most the :attr:`CocoSceneGraphSpec.max_objects` (32)
  largest by box area ``w * h`` in pixels. Node order is by decreasing box area, ties broken by increasing COCO
  annotation id, so the order does not depend on the order of the raw file. Images without a non-crowd object are
  skipped with a reason (cache metadata, ``graphgen data info coco_sg``); an image with one object is a graph
  without edges.
* Objects (``coco_sg2im``, the sg2im view): only images with ``sg2im_eligible`` (3-8 kept objects), objects with
  ``sg2im_keep`` (non-crowd, box area >= 2 % of the image), same node order. An eligible image whose kept count is
  not 3-8 contradicts the file and is skipped with a reason.
* Relations: EVERY ordered pair ``i != j`` (complete directed graph, edges sorted by ``(i, j)``) carries the class
  :func:`~graphgen.data.scene_graphs.sg2im_relations` gives in normalised coordinates (box corners and centres
  divided by the image width / height, as sg2im does), not the stored relations (those were computed in pixel units).
  The centre is the stored polygon centroid ``center_xy``, except when it lies outside its own box (closed interval):
  such a centroid is known to be wrong (signed polygon areas that cancel, see PROVENANCE.md) and the box centre is
  used instead; those images are listed in the cache metadata ``notes`` with the annotation ids.
* Corners are computed from the pixel values as ``x / W`` and ``(x + w) / W`` (not from the rounded float32
  ``x_c, w``), so two boxes sharing an edge in pixels share it exactly for the strict-containment test.
* Splits: ``train`` = the ``train2017`` images; the ``val2017`` images are divided by image-id parity: even
  ``image_id`` -> ``val``, odd -> ``test``. Graphs keep the raw file order within a split.
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
from graphgen.data.graph_json import read_json
from graphgen.data.raw import fetch
from graphgen.data.scene_graphs import CATEGORIES, PREDICATES, sg2im_relations

_CATEGORY_INDEX = {name: i for i, name in enumerate(CATEGORIES)}


def read_coco_sg(path: Path) -> list[dict[str, Any]]:
    """The ``records`` of the scene-graph file (one per image); raises naming the file if there are none."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("records"), list):
        raise ValueError(f"{path}: expected a JSON object with a 'records' list (one record per image)")
    return doc["records"]


def split_of(record: dict[str, Any], where: str) -> str:
    """``train`` for train2017; val2017: ``val`` for an even image id, ``test`` for an odd one."""
    for key in ("image_id", "coco_split"):
        if key not in record:
            raise ValueError(f"{where}: missing field '{key}'")
    image_id, coco_split = record["image_id"], record["coco_split"]
    if not isinstance(image_id, int) or isinstance(image_id, bool):
        raise ValueError(f"{where}: image_id must be an integer, got {image_id!r}")
    if coco_split == "train2017":
        return "train"
    if coco_split == "val2017":
        return "val" if image_id % 2 == 0 else "test"
    raise ValueError(f"{where}: coco_split is {coco_split!r}, expected 'train2017' or 'val2017'")


# ----------------------------------------------------------------------------------------------------------------------
# One image -> one graph
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class ImageGraph:
    """One converted image: ``x`` int64 [n], ``box`` float32 [n, 4], ``edge_index`` int64 [E, 2] (all ordered
    pairs, sorted), ``edge_attr`` int64 [E], and the annotation ids whose centroid fell back to the box centre."""

    x: np.ndarray
    box: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray
    centre_fallback: list[int]


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _numbers(value: Any, length: int, what: str) -> list[float]:
    if not isinstance(value, list) or len(value) != length:
        raise ValueError(f"{what} must be a list of {length} numbers, got {value!r}")
    return [_number(v, what) for v in value]


def selected_objects(record: dict[str, Any], *, sg2im_only: bool, max_objects: int) -> list[int]:
    """Indices into ``record["objects"]`` of the graph's nodes, in node order (see the module docstring)."""
    objects = record["objects"]
    if sg2im_only:
        keep = [k for k, o in enumerate(objects) if o["sg2im_keep"] is True]
    else:
        keep = [k for k, o in enumerate(objects) if o["iscrowd"] == 0]
    areas = {k: _numbers(objects[k]["bbox_xywh"], 4, f"object {k} bbox_xywh") for k in keep}
    keep.sort(key=lambda k: (-areas[k][2] * areas[k][3], objects[k]["coco_ann_id"]))
    return keep[:max_objects]


def image_graph(record: dict[str, Any], *, sg2im_only: bool, max_objects: int) -> ImageGraph:
    """Convert one image record; raises ``ValueError`` / ``KeyError`` naming the field of a bad record."""
    width = _number(record["width"], "width")
    height = _number(record["height"], "height")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width} x {height} is not positive")
    if not isinstance(record["objects"], list):
        raise ValueError("objects must be a list")
    nodes = selected_objects(record, sg2im_only=sg2im_only, max_objects=max_objects)
    if sg2im_only and not 3 <= len(nodes) <= 8:
        raise ValueError(f"sg2im_eligible, but {len(nodes)} objects have sg2im_keep (expected 3-8)")
    if not nodes:
        crowd = sum(o.get("iscrowd") == 1 for o in record["objects"])
        raise ValueError(f"no non-crowd object (the image has {len(record['objects'])} objects, {crowd} crowd)")
    classes, corners, centres, fallback = [], [], [], []
    for k in nodes:
        o = record["objects"][k]
        if o["category"] not in _CATEGORY_INDEX:
            raise ValueError(f"object {k}: unknown category {o['category']!r}")
        x, y, w, h = _numbers(o["bbox_xywh"], 4, f"object {k} bbox_xywh")
        if w <= 0 or h <= 0:
            raise ValueError(f"object {k}: box {[x, y, w, h]} has no area")
        cx, cy = _numbers(o["center_xy"], 2, f"object {k} center_xy")
        if not (x <= cx <= x + w and y <= cy <= y + h):
            # a centroid outside its own box is wrong (PROVENANCE: cancelling signed polygon areas)
            cx, cy = x + w / 2, y + h / 2
            fallback.append(int(o["coco_ann_id"]))
        classes.append(_CATEGORY_INDEX[o["category"]])
        corners.append([x / width, y / height, (x + w) / width, (y + h) / height])
        centres.append([cx / width, cy / height])
    c = np.asarray(corners, dtype=np.float64)
    rel = sg2im_relations(c, np.asarray(centres, dtype=np.float64))
    n = len(nodes)
    i, j = np.nonzero(~np.eye(n, dtype=bool))  # every ordered pair i != j, row-major = sorted by (i, j)
    box = np.stack([(c[:, 0] + c[:, 2]) / 2, (c[:, 1] + c[:, 3]) / 2, c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]], axis=1)
    return ImageGraph(x=np.asarray(classes, dtype=np.int64), box=box.astype(np.float32),
                      edge_index=np.stack([i, j], axis=1).astype(np.int64), edge_attr=rel[i, j].astype(np.int64),
                      centre_fallback=fallback)


def convert_coco_records(rows: np.ndarray, items: Sequence[dict[str, Any]], *, sg2im_only: bool, max_objects: int
                         ) -> GraphArrays:
    """Converter: image records -> ``x``, ``box``; ``edge_index``, ``edge_attr``. Bad records are skipped with the
    reason; images whose centroid fell back to the box centre get a note."""
    graphs, kept, skipped, notes = [], [], [], []
    for row, record in zip(rows, items):
        try:
            g = image_graph(record, sg2im_only=sg2im_only, max_objects=max_objects)
        except KeyError as exc:
            skipped.append((int(row), f"KeyError: missing field {exc}"))
            continue
        except (TypeError, ValueError) as exc:
            skipped.append((int(row), f"{type(exc).__name__}: {exc}"))
            continue
        graphs.append(g)
        kept.append(int(row))
        if g.centre_fallback:
            notes.append((int(row), f"polygon centroid outside its box, box centre used: coco_ann_id "
                                    f"{g.centre_fallback}"))
    if graphs:
        out = GraphArrays(
            num_nodes=np.asarray([len(g.x) for g in graphs], np.int64),
            num_edges=np.asarray([len(g.edge_attr) for g in graphs], np.int64),
            node={"x": np.concatenate([g.x for g in graphs]), "box": np.concatenate([g.box for g in graphs])},
            edge={"edge_index": np.concatenate([g.edge_index for g in graphs]),
                  "edge_attr": np.concatenate([g.edge_attr for g in graphs])},
            graph={}, rows=np.asarray(kept, np.int64))
    else:
        out = empty_arrays({"x": ((), np.int64), "box": ((4,), np.float32)},
                           {"edge_index": ((2,), np.int64), "edge_attr": ((), np.int64)})
    out.skipped = skipped
    out.notes = notes
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Spec
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CocoSceneGraphSpec(DatasetSpec):
    """COCO scene graphs from raw role ``records`` (the scene-graph JSON); splits ``train`` / ``val`` / ``test``.

    Args:
        sg2im_only: the sg2im view: only ``sg2im_eligible`` images and their ``sg2im_keep`` objects.
        max_objects: keep at most this many objects per image, the largest boxes first.
    """

    directed_edges = True

    sg2im_only: bool = False
    max_objects: int = 32

    def _rows_by_split(self, records: list[dict[str, Any]], path: Path) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {s: [] for s in self.splits}
        for r, record in enumerate(records):
            split = split_of(record, f"{path}: record {r}")
            if self.sg2im_only and record.get("sg2im_eligible") is not True:
                continue
            out[split].append(r)
        return out

    def split_sizes(self, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
        path = fetch(self.raw["records"], data_dir)
        return {s: len(rows) for s, rows in self._rows_by_split(read_coco_sg(path), path).items()}

    def read_split(self, split: str, paths: dict[str, Path]) -> SplitSource:
        records = read_coco_sg(paths["records"])
        rows = self._rows_by_split(records, paths["records"])[split]
        return SplitSource(rows=np.asarray(rows, dtype=np.int64), items=[records[r] for r in rows])

    def converter(self) -> Callable[[np.ndarray, Sequence[Any]], GraphArrays]:
        return partial(convert_coco_records, sg2im_only=self.sg2im_only, max_objects=self.max_objects)

    def vocabulary(self) -> dict[str, Any]:
        return {"categories": list(CATEGORIES), "predicates": list(PREDICATES),
                "x": "index into categories",
                "box": "(x_c, y_c, w, h) divided by image width/height, float32",
                "edge_attr": "1 + index into predicates; every ordered pair of objects (complete directed graph), "
                             "sg2im rule in normalised coordinates"}
