"""Scene graphs: the COCO vocabulary, sg2im's geometric relation rule, and the graph representation graphgen uses.

A scene graph is a ``torch_geometric.data.Data`` with

- ``x``: long [n], object class (index into :data:`CATEGORIES`, the 80 COCO thing classes in COCO id order);
- ``box``: float [n, 4], ``(x_c, y_c, w, h)`` normalised by the image width and height (so in [0, 1]);
- ``edge_index``: long [2, E], ordered pairs ``(subject, object)`` that hold a relation;
- ``edge_attr``: long [E], the relation class, ``1 + index`` into :data:`PREDICATES` (0 means "no relation" and is
  never stored).

The relation rule is sg2im's (Johnson et al. 2018, ``sg2im/data/coco.py``): the subject is ``surrounding`` the object
when its box strictly contains the object's box, ``inside`` when strictly contained; otherwise the predicate is read
from the angle ``theta = atan2(dy, dx)`` of ``centre(subject) - centre(object)`` in image coordinates (y down):
``|theta| >= 3pi/4`` left of, ``[-3pi/4, -pi/4)`` above, ``[-pi/4, pi/4)`` right of, ``[pi/4, 3pi/4)`` below.
The reverse direction of a pair always carries the inverse predicate (:data:`INVERSE`).

Below the rule, this module holds:

- augmentation: :func:`hflip` (one ``Data``) and :func:`hflip_dense` (padded dense tensors) mirror the image
  horizontally: ``x_c -> 1 - x_c``, relation classes through :data:`HFLIP` (left of <-> right of; the others keep
  their class). The relations are mapped, not recomputed: away from the angle boundaries this is what the rule gives
  on the mirrored boxes; exactly on a boundary (a centre offset at +-pi/4 or +-3pi/4) the rule's half-open
  intervals are not mirror-symmetric and the mapped class is kept.
- the scene-graph JSON file (sampler output, evaluator input): :func:`write_scene_graphs` /
  :func:`read_scene_graphs`, one graph through :func:`scene_graph_to_dict` / :func:`scene_graph_from_dict`.
  Objects and relations are written by name (category, predicate), relations sorted by ``(subject, object)``; boxes
  are written with the shortest decimal that reads back to the same float32, so a round trip is exact. ``.gz``
  paths are gzipped. The reader checks every field and names file, graph, object or relation and the bad value.
  The file steps shared with the lane-graph format (reading, header checks, writing) are in
  :mod:`graphgen.data.graph_json`.
- :func:`draw_layouts`: a grid of layouts (labelled boxes in the unit square, y down) with matplotlib (figure set-up
  shared with the lane-graph drawings: :func:`graphgen.data.graph_json.panel_grid`).
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
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
    read_json,
    require,
    save_figure,
    short_float,
    write_graph_file,
)

# The 80 COCO thing classes in COCO category-id order (ids 1..90 with gaps; index here = rank of the id), as in
# shared/data/scene_graphs/coco2017_subset_vocab.json. A literal so the package works without the data folder.
CATEGORIES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
    "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli",
    "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet",
    "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)

# sg2im's six geometric predicates, in the order of shared/data/scene_graphs/coco2017_subset_vocab.json;
# relation class k >= 1 is PREDICATES[k - 1]
PREDICATES: tuple[str, ...] = ("left of", "right of", "above", "below", "inside", "surrounding")
LEFT_OF, RIGHT_OF, ABOVE, BELOW, INSIDE, SURROUNDING = range(1, 7)
# relation class -> the class of the reverse direction (index 0: no relation stays no relation)
INVERSE: tuple[int, ...] = (0, RIGHT_OF, LEFT_OF, BELOW, ABOVE, SURROUNDING, INSIDE)
# relation class -> its class after a horizontal flip of the image
HFLIP: tuple[int, ...] = (0, RIGHT_OF, LEFT_OF, ABOVE, BELOW, INSIDE, SURROUNDING)


def xywh_to_corners(box: np.ndarray) -> np.ndarray:
    """``(x_c, y_c, w, h)`` [..., 4] -> ``(x0, y0, x1, y1)`` [..., 4]."""
    box = np.asarray(box, dtype=np.float64)
    half = box[..., 2:] / 2
    return np.concatenate([box[..., :2] - half, box[..., :2] + half], axis=-1)


def sg2im_relations(corners: np.ndarray, centres: np.ndarray | None = None) -> np.ndarray:
    """The sg2im predicate of every ordered pair.

    Args:
        corners: float [n, 4] boxes as ``(x0, y0, x1, y1)`` (any consistent unit; y points down).
        centres: float [n, 2] object centres in the same unit (sg2im uses the mask centroid); ``None``: box centres.

    Returns:
        long [n, n] matrix ``R`` with ``R[s, o]`` the relation class of subject ``s`` and object ``o`` (1..6, see
        :data:`PREDICATES`) and 0 on the diagonal.
    """
    b = np.asarray(corners, dtype=np.float64).reshape(-1, 4)
    c = (b[:, :2] + b[:, 2:]) / 2 if centres is None else np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    if len(c) != len(b):
        raise ValueError(f"sg2im_relations: {len(b)} boxes but {len(c)} centres")
    d = c[:, None, :] - c[None, :, :]                     # centre(s) - centre(o)
    theta = np.arctan2(d[..., 1], d[..., 0])
    # the first rule that holds wins, in sg2im's order (boundaries: theta = -3pi/4 is "left of")
    rel = np.select(
        [(theta >= 3 * math.pi / 4) | (theta <= -3 * math.pi / 4),
         (theta >= -3 * math.pi / 4) & (theta < -math.pi / 4),
         (theta >= -math.pi / 4) & (theta < math.pi / 4)],
        [LEFT_OF, ABOVE, RIGHT_OF], default=BELOW).astype(np.int64)
    s, o = b[:, None, :], b[None, :, :]
    surrounds = (s[..., 0] < o[..., 0]) & (s[..., 1] < o[..., 1]) & (s[..., 2] > o[..., 2]) & (s[..., 3] > o[..., 3])
    inside = (s[..., 0] > o[..., 0]) & (s[..., 1] > o[..., 1]) & (s[..., 2] < o[..., 2]) & (s[..., 3] < o[..., 3])
    rel[inside] = INSIDE
    rel[surrounds] = SURROUNDING
    np.fill_diagonal(rel, 0)
    return rel


# ----------------------------------------------------------------------------------------------------------------------
# Horizontal flip
# ----------------------------------------------------------------------------------------------------------------------
def hflip(data: Data) -> Data:
    """The scene graph of the horizontally mirrored image: ``x_c -> 1 - x_c``, relations through :data:`HFLIP`.

    Returns a copy; ``data`` is not changed. Other attributes are copied as they are.
    """
    if getattr(data, "box", None) is None or data.box.dim() != 2 or data.box.shape[-1] != 4:
        raise ValueError("hflip needs data.box of shape [n, 4] (x_c, y_c, w, h normalised)")
    out = data.clone()
    out.box = _flip_boxes(data.box)
    if getattr(data, "edge_attr", None) is not None:
        out.edge_attr = _flip_relations(data.edge_attr)
    return out


def hflip_dense(box: torch.Tensor, rel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`hflip` on dense tensors (a padded batch or one graph).

    Args:
        box: float [..., N, 4] normalised ``(x_c, y_c, w, h)``.
        rel: long [..., N, N] relation classes (0 = none).

    Returns:
        flipped copies ``(box, rel)``. Padding rows are flipped like any other (a zero box gets ``x_c = 1``); the
        caller's node mask still says which rows are real.
    """
    if box.shape[-1] != 4 or rel.dim() < 2 or rel.shape[-1] != rel.shape[-2] or rel.shape[:-1] != box.shape[:-1]:
        raise ValueError(f"hflip_dense expects box [..., N, 4] and rel [..., N, N]; got box {tuple(box.shape)} and "
                         f"rel {tuple(rel.shape)}")
    return _flip_boxes(box), _flip_relations(rel)


def _flip_boxes(box: torch.Tensor) -> torch.Tensor:
    out = box.clone()
    out[..., 0] = 1 - box[..., 0]
    return out


def _flip_relations(rel: torch.Tensor) -> torch.Tensor:
    if rel.numel() and (int(rel.min()) < 0 or int(rel.max()) >= len(HFLIP)):
        raise ValueError(f"relation classes must lie in 0..{len(HFLIP) - 1}; found {int(rel.min())}..{int(rel.max())}")
    return torch.as_tensor(HFLIP, dtype=rel.dtype, device=rel.device)[rel.long()]


# ----------------------------------------------------------------------------------------------------------------------
# Scene-graph JSON files
# ----------------------------------------------------------------------------------------------------------------------
FILE_FORMAT = "graphgen-scene-graphs"
FILE_VERSION = 1
BOX_FORMAT = "xc, yc, w, h normalised to [0, 1]"
_CATEGORY_INDEX = {name: i for i, name in enumerate(CATEGORIES)}
_PREDICATE_CLASS = {name: k for k, name in enumerate(PREDICATES, start=1)}


def scene_graph_to_dict(data: Data) -> dict[str, Any]:
    """One scene graph as a JSON-able ``{"objects": [...], "relations": [...]}`` (names, relations sorted by
    ``(subject, object)``). Raises ``ValueError`` naming the field for a graph that breaks the conventions."""
    x = _field(data, "x", torch.long, 1)
    n = len(x)
    box = _field(data, "box", None, 2)
    if box.shape != (n, 4):
        raise ValueError(f"box has shape {tuple(box.shape)}, expected [{n}, 4] (one (xc, yc, w, h) per object)")
    if not torch.isfinite(box).all():
        raise ValueError("box holds a non-finite value")
    edge_index = _field(data, "edge_index", torch.long, 2)
    edge_attr = _field(data, "edge_attr", torch.long, 1)
    if edge_index.shape[0] != 2 or edge_index.shape[1] != len(edge_attr):
        raise ValueError(f"edge_index {tuple(edge_index.shape)} and edge_attr {tuple(edge_attr.shape)} do not "
                         f"match (expected [2, E] and [E])")
    bad = ((x < 0) | (x >= len(CATEGORIES))).nonzero().flatten()
    if len(bad):
        k = int(bad[0])
        raise ValueError(f"x[{k}] = {int(x[k])} is not a class index 0..{len(CATEGORIES) - 1}")
    if len(edge_attr) and (int(edge_attr.min()) < 1 or int(edge_attr.max()) > len(PREDICATES)):
        raise ValueError(f"edge_attr must hold relation classes 1..{len(PREDICATES)} (0 = no relation is never "
                         f"stored); found {int(edge_attr.min())}..{int(edge_attr.max())}")
    triples = sorted(zip(edge_index[0].tolist(), edge_index[1].tolist(), edge_attr.tolist()))
    _check_pairs(n, [(s, o) for s, o, _ in triples], "")
    return {
        "objects": [{"category": CATEGORIES[c], "box": [short_float(v) for v in b]}
                    for c, b in zip(x.tolist(), box.tolist())],
        "relations": [[s, o, PREDICATES[p - 1]] for s, o, p in triples],
    }


def _field(data: Data, name: str, dtype: torch.dtype | None, dim: int) -> torch.Tensor:
    value = getattr(data, name, None)
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"scene graph has no tensor '{name}'")
    if value.dim() != dim or (dtype is not None and value.dtype != dtype):
        raise ValueError(f"'{name}' must be a {dim}-d {dtype or 'float'} tensor; got {value.dim()}-d {value.dtype}")
    return value.detach().cpu()


def _check_pairs(n: int, pairs: Sequence[tuple[int, int]], where: str) -> None:
    """Object indices in range, no self relation, no repeated ordered pair (``where`` prefixes the message)."""
    check_pairs(n, pairs, where, item="relation", index="object", self_pair="self relation (subject == object)",
                duplicate="duplicate ordered pair (each (subject, object) holds at most one relation)")


def scene_graph_from_dict(obj: dict[str, Any], where: str) -> Data:
    """One graph entry of a scene-graph JSON file -> ``Data`` (``x``, ``box``, ``edge_index``, ``edge_attr``).

    Args:
        obj: ``{"objects": [{"category", "box"}, ...], "relations": [[subject, object, predicate], ...]}``.
        where: location quoted in errors, e.g. ``"sg.json: graph 3"``.

    Raises:
        ValueError: a missing key, an unknown category or predicate, a box that is not 4 finite numbers, an index
            out of range, a self relation or a repeated ordered pair; the message names ``where``, the object or
            relation index and the bad value.
    """
    require(obj, ("objects", "relations"), where)
    objects, relations = obj["objects"], obj["relations"]
    for key, value in (("objects", objects), ("relations", relations)):
        if not isinstance(value, list):
            raise ValueError(f"{where}: '{key}' must be a list, got {type(value).__name__}")
    classes, boxes = [], []
    for k, o in enumerate(objects):
        at = f"{where}, object {k}"
        require(o, ("category", "box"), at)
        if o["category"] not in _CATEGORY_INDEX:
            raise ValueError(f"{at}: unknown category {o['category']!r} (not one of the {len(CATEGORIES)} COCO "
                             f"classes of graphgen.data.scene_graphs.CATEGORIES)")
        b = o["box"]
        if not isinstance(b, list) or len(b) != 4 or not all(is_number(v) for v in b):
            raise ValueError(f"{at}: box must be a list of 4 numbers ({BOX_FORMAT}); got {b!r}")
        if not all(math.isfinite(v) for v in b):
            raise ValueError(f"{at}: box holds a non-finite value: {b!r}")
        classes.append(_CATEGORY_INDEX[o["category"]])
        boxes.append(b)
    triples = []
    for r, rel in enumerate(relations):
        at = f"{where}, relation {r}"
        if not isinstance(rel, list) or len(rel) != 3:
            raise ValueError(f"{at}: expected [subject_index, object_index, predicate]; got {rel!r}")
        s, o, p = rel
        if not (is_int(s) and is_int(o)):
            raise ValueError(f"{at}: subject and object must be integer object indices; got {rel!r}")
        if p not in _PREDICATE_CLASS:
            raise ValueError(f"{at}: unknown predicate {p!r} (one of {list(PREDICATES)})")
        triples.append((s, o, _PREDICATE_CLASS[p]))
    _check_pairs(len(classes), [(s, o) for s, o, _ in triples], f"{where}, ")
    triples.sort()
    return Data(
        x=torch.tensor(classes, dtype=torch.long),
        box=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        edge_index=torch.tensor([[s for s, _, _ in triples], [o for _, o, _ in triples]],
                                dtype=torch.long).reshape(2, -1),
        edge_attr=torch.tensor([p for _, _, p in triples], dtype=torch.long),
        num_nodes=len(classes),
    )


def write_scene_graphs(graphs: Sequence[Data], path: str | os.PathLike) -> Path:
    """Write ``graphs`` as a scene-graph JSON file (gzipped when ``path`` ends in ``.gz``); returns the path.

    One graph per line, so the file reads and diffs well. Raises ``ValueError`` naming the graph index for a graph
    that breaks the conventions (nothing is written then).
    """
    head = {"format": FILE_FORMAT, "version": FILE_VERSION, "box_format": BOX_FORMAT,
            "categories": list(CATEGORIES), "predicates": list(PREDICATES)}
    return write_graph_file(Path(path), head, graphs, scene_graph_to_dict)


def read_scene_graphs(path: str | os.PathLike) -> list[Data]:
    """Read a scene-graph JSON file (``.json`` or ``.json.gz``) into ``Data`` graphs, checking every field.

    The header must carry ``format`` (``"graphgen-scene-graphs"``), ``version`` 1 and ``graphs``; ``categories`` and
    ``predicates``, when present, must be graphgen's (:data:`CATEGORIES`, :data:`PREDICATES`). Errors name the file,
    the graph index, the object or relation index and the bad value (see :func:`scene_graph_from_dict`).
    """
    path = Path(path)
    doc = read_graph_file(path, "scene-graph", FILE_FORMAT, FILE_VERSION)
    for key, ours in (("categories", CATEGORIES), ("predicates", PREDICATES)):
        if key in doc and list(doc[key]) != list(ours):
            raise ValueError(f"{path}: '{key}' differs from graphgen's vocabulary "
                             f"(graphgen.data.scene_graphs.{key.upper()}); this reader knows only that vocabulary")
    return [scene_graph_from_dict(g, f"{path}: graph {i}") for i, g in enumerate(doc["graphs"])]


def read_partial_scene_graph(path: str | os.PathLike) -> Data:
    """One partial scene graph for completion (``graphgen sample --complete``): a JSON file holding either one graph
    entry ``{"objects": [...], "relations": [...]}`` or a scene-graph file with exactly one graph.

    An object's ``"category"`` or ``"box"`` may be ``null`` (or absent): unknown, to be generated. The ``Data`` then
    holds class -1 and a NaN box, the convention of ``HeteroDiffusionGenerator.sample(complete=...)``. Relations
    list the fixed (subject, object, predicate) triplets; pairs not listed are generated.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no partial scene-graph file at {path}")
    doc = read_json(path)
    where = f"{path}"
    if isinstance(doc, dict) and "graphs" in doc:
        if not isinstance(doc["graphs"], list) or len(doc["graphs"]) != 1:
            raise ValueError(f"{path}: a partial scene-graph file holds exactly one graph")
        doc, where = doc["graphs"][0], f"{path}: graph 0"
    require(doc, ("objects",), where)
    if not isinstance(doc["objects"], list):
        raise ValueError(f"{where}: 'objects' must be a list")
    filled, unknown_class, unknown_box = [], [], []
    for k, o in enumerate(doc["objects"]):
        if not isinstance(o, dict):
            raise ValueError(f"{where}, object {k}: expected a JSON object, got {type(o).__name__}")
        unknown_class.append(o.get("category") is None)
        unknown_box.append(o.get("box") is None)
        filled.append({"category": CATEGORIES[0] if unknown_class[-1] else o["category"],
                       "box": [0.0, 0.0, 0.0, 0.0] if unknown_box[-1] else o["box"]})
    data = scene_graph_from_dict({"objects": filled, "relations": doc.get("relations", [])}, where)
    data.x[torch.tensor(unknown_class, dtype=torch.bool)] = -1
    data.box[torch.tensor(unknown_box, dtype=torch.bool)] = float("nan")
    return data


# ----------------------------------------------------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------------------------------------------------
def draw_layouts(graphs: Sequence[Data], path: str | os.PathLike, *, count: int = 16, columns: int = 4,
                 title: str | None = None) -> int:
    """Draw the layouts of the first ``count`` graphs as a grid of panels and save the figure (PNG, PDF, ...).

    Each panel is the unit square of the image with y pointing down; every object is a rectangle coloured by its
    class and labelled with the class name; the panel title gives the graph index, object and relation counts.

    Returns:
        the number of graphs drawn (``min(count, len(graphs))``).
    """
    import matplotlib
    from matplotlib.patches import Rectangle

    # panels of 2.6 inches; a margin of 0.03 keeps boxes on the image border visible beside the grey unit square
    fig, axes, shown = panel_grid(graphs, count=count, columns=columns, panel=2.6, title=title, caller="draw_layouts",
                                  square=(0.0, 1.0), margin=0.03, y_down=True, empty_text="no scene graphs")
    palette = matplotlib.colormaps["tab20"]
    for i, (ax, g) in enumerate(zip(axes.flat, shown)):
        classes = g.x.tolist()
        corners = xywh_to_corners(g.box.detach().cpu().numpy()).reshape(-1, 4)
        # big boxes first, so small ones stay visible on top
        order = np.argsort(-(corners[:, 2] - corners[:, 0]) * (corners[:, 3] - corners[:, 1]), kind="stable")
        for k in order:
            x0, y0, x1, y1 = corners[k].tolist()
            colour = palette(classes[k] % palette.N)
            # dark text on light colours, white on dark ones (relative luminance)
            ink = "black" if 0.2126 * colour[0] + 0.7152 * colour[1] + 0.0722 * colour[2] > 0.6 else "white"
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=1.5))
            ax.text(min(max(x0, 0.0), 0.98), min(max(y0, 0.0), 0.98), CATEGORIES[classes[k]], fontsize=6,
                    va="top", ha="left", color=ink, clip_on=True,
                    bbox={"facecolor": colour, "edgecolor": "none", "pad": 1.0, "alpha": 0.85})
        num_rel = 0 if getattr(g, "edge_attr", None) is None else int(g.edge_attr.numel())
        ax.set_title(f"#{i}: {len(classes)} object{'s' * (len(classes) != 1)}, "
                     f"{num_rel} relation{'s' * (num_rel != 1)}", fontsize=7)
    save_figure(fig, path)
    return len(shown)
