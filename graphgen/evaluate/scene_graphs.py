"""Scene-graph metrics (DiffuseSG's protocol plus relation-geometry consistency) and the marginal baseline.

:func:`evaluate_scene_graphs` scores generated scene graphs (``Data`` with ``x``, ``box``, ``edge_index``,
``edge_attr``; conventions in :mod:`graphgen.data.scene_graphs`) against reference graphs (the test split) and,
for novelty, the training graphs. :func:`marginal_baseline` is the floor a generator must beat.

Definitions. "DiffuseSG" below means ``ubc-vision/DiffuseSG``: ``helper/eval_sg_samples.py``,
``evaluation/bbox_metrics.py`` (``SceneGraphEvaluator``), ``evaluation/stats.py``, ``evaluation/mmd.py``,
``evaluation/blt_utils.py`` and ``evaluation/bbox_utils.py``.

- **MMD** (``degree_mmd``, ``node_type_mmd``, ``edge_type_mmd``): biased MMD² (:func:`graphgen.evaluate.mmd.mmd2`)
  with the plain Gaussian kernel ``exp(-||x - y||² / 2)`` (σ = 1; DiffuseSG calls its metrics with
  ``mmd_kernels = ['gaussian']``) between per-graph histograms, each divided by its sum first. As in DiffuseSG's
  ``compute_mmd``, an all-zero histogram is kept as zeros, not normalised.

  - degree: each graph is read as an undirected simple graph (an object pair is an edge when a relation holds in
    either direction: ``networkx.from_numpy_matrix`` on the relation matrix), isolated objects are removed, a graph
    left empty becomes one isolated node (``adjs_to_graphs``), then ``networkx.degree_histogram``. In coco_sg every
    ordered pair holds a relation, so every object has degree ``n - 1``.
  - node type: counts of each of the 80 classes in the graph.
  - edge type: counts of each of the 6 predicates over the stored (directed) relations; graphs without relations
    are left out on both sides (``_get_edge_type_hist``) and counted in ``num_without_relations``. With no
    relations at all on one side DiffuseSG returns -1; here the value is ``nan`` (undefined).

- **Triplet TV** (``triplet_tv``): a triplet is (subject class, predicate, object class) of one stored relation.
  Counts are pooled over all relations of a set (per instance, not per unique triplet) and normalised; the distance
  is between the generated and the reference distribution over the union of their triplet types. DiffuseSG reports
  ``sum |p_ref - p_gen|`` over the reference types plus the generated mass on types absent from the reference (its
  "full" TV, ``compute_triplet_tv_dist``): that is the L1 distance, twice the total variation. **Deviation:** we
  report the total variation ``½ Σ |p_ref - p_gen|`` (in [0, 1]); multiply by 2 for DiffuseSG's scale.
  ``nan`` when the generated graphs hold no relation (DiffuseSG would compare an all-zero vector).
- **Triplet novelty** (``triplet_novelty``, only with ``train``): the fraction of generated relation instances whose
  triplet type never occurs in the training graphs (DiffuseSG: the generated mass outside the training triplet
  dictionary). ``nan`` without generated relations.
- **Box F1** (``box_f1``, ``box_max_f1``): for every pair (generated graph G, reference graph R) and IoU threshold
  ``t`` in ``0.05, 0.10, ..., 0.50`` (10 values), per class c present in G or R: ``F1_c = 2 M_c / (|G_c| + |R_c|)``
  where ``M_c`` is the number of one-to-one matches of G's class-c boxes to R's class-c boxes with IoU ≥ t (a
  maximum matching); the pair's score is the mean of ``F1_c`` over the union of classes (0 for a class present on
  one side only, and 0 when G and R share no class, as in DiffuseSG), averaged over the thresholds. Boxes are
  clipped to the unit square first (DiffuseSG: ``box_convert(...).clip(0, 1)``). ``box_f1`` is the mean over all
  (G, R) pairs (DiffuseSG's ``avg_mean_f1``); ``box_max_f1`` is the mean over G of the best R (``avg_max_f1``).
  **Deviations** from DiffuseSG's ``measure_two_sets_of_bboxes`` (PASCAL-VOC code from ``rafaelpadilla``):
  (1) it names each box by its node index (``imageName=str(i_bbox)``), so a generated box can only match the
  reference box *with the same index*: the score depends on node order; we match any two boxes of the same class,
  which makes the metric invariant to node order; (2) its IoU adds 1 to widths and heights (pixel convention) on
  coordinates in [0, 1], which puts the IoU of any two touching boxes above 1/7 and near 1 for small boxes (two
  0.1 x 0.1 boxes sharing only a corner score 0.70); we use the plain IoU; (3) it takes
  precision and recall as the *means* of the cumulative precision / recall curves over detections in input order;
  we use the matched counts ``M_c / |G_c|`` and ``M_c / |R_c|`` (whose F1 is the ``F1_c`` above); (4) it drops
  boxes that end at or before the image's top or left edge after clipping; we keep them (they never match, so an
  off-image generated box costs precision).
- **Layout** (BLT / LayoutGAN metrics as DiffuseSG adapts them, on clipped ``(x0, y0, x1, y1)`` boxes of one
  graph): ``overlap`` = sum over unordered object pairs of their intersection area (``get_overlap_index``);
  ``alignment`` = ``Σ_i min_{j≠i} min(d_left, d_centre, d_right)`` with ``d_left`` the mean of ``|x0_i - x0_j|`` and
  ``|y0_i - y0_j|``, ``d_right`` the same on ``x1, y1`` and ``d_centre`` on the box centres
  (``get_alignment_loss``). Both are averaged over the generated graphs with at least two objects (the others are
  undefined and counted in ``layouts_skipped``); ``overlap_reference`` / ``alignment_reference`` give the same on
  the reference graphs. **Deviation:** DiffuseSG's ``get_overlap_index`` returns ``None`` (so leaves the layout out
  of the mean) when no pair intersects, although its docstring says 0; we count such a layout as 0.
- **Relation consistency** (``relation_consistency``; ours, no paper reports it): the fraction of generated
  relations ``(s, o, p)`` for which sg2im's rule on the generated boxes gives ``p`` back:
  ``sg2im_relations(xywh_to_corners(box))[s, o] == p`` with box centres (generated graphs have no masks; the
  dataset's relations use mask centroids, so real data scores a little below 1: see ``relation_consistency_reference``).
  ``nan`` without generated relations.

Also returned: ``num_graphs`` (generated), ``num_reference``, ``mean_objects`` / ``mean_relations`` (per generated
graph), ``num_empty`` (generated graphs with no object) and ``num_without_relations``.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch_geometric.data import Data

from graphgen.data.scene_graphs import CATEGORIES, PREDICATES, sg2im_relations, xywh_to_corners
from graphgen.evaluate.mmd import mmd2
from graphgen.evaluate.structured import (
    check_edge_pairs,
    checked_arrays,
    edge_pairs,
    fraction,
    size_counts,
    to_numpy,
)

# DiffuseSG's thresholds: np.linspace(0.05, 0.5, 10)
IOU_THRESHOLDS: tuple[float, ...] = tuple(np.linspace(0.05, 0.5, 10).tolist())
MMD_SIGMA = 1.0  # DiffuseSG's Gaussian kernel default
# box-pair IoU blocks larger than this are computed in chunks of generated graphs (memory bound, not a result change)
_MAX_IOU_BLOCK = 4_000_000


# ------------------------------------------------------------------------------------------------ graph arrays


@dataclasses.dataclass(frozen=True)
class SceneGraphArrays:
    """One checked scene graph as numpy arrays.

    Attributes:
        classes: int64 [n] object classes.
        boxes: float64 [n, 4] ``(x_c, y_c, w, h)`` as given.
        edges: int64 [E, 2] ``(subject, object)`` pairs.
        predicates: int64 [E] relation classes 1..6.
    """

    classes: np.ndarray
    boxes: np.ndarray
    edges: np.ndarray
    predicates: np.ndarray

    @property
    def num_objects(self) -> int:
        return len(self.classes)

    @property
    def corners(self) -> np.ndarray:
        """float64 [n, 4] ``(x0, y0, x1, y1)`` clipped to the unit square (DiffuseSG clips before every box metric)."""
        return np.clip(xywh_to_corners(self.boxes), 0.0, 1.0)


def scene_graph_arrays(graph: Data, where: str, num_classes: int = len(CATEGORIES)) -> SceneGraphArrays:
    """Check one scene graph and return its arrays; ``where`` (e.g. ``"generated graph 3"``) starts every error.

    Raises:
        ValueError: missing ``x`` / ``box``, wrong shapes, a class outside ``0..num_classes-1``, a non-finite box,
            relations without ``edge_attr`` (or the reverse), a predicate outside 1..6, an object index out of range,
            a self relation or a repeated ordered pair.
    """
    x, box = getattr(graph, "x", None), getattr(graph, "box", None)
    if x is None or box is None:
        raise ValueError(f"{where}: a scene graph needs 'x' (object classes) and 'box' ([n, 4] x_c, y_c, w, h)")
    classes = to_numpy(x)
    if classes.ndim != 1 or (classes.size and not np.issubdtype(classes.dtype, np.integer)):
        raise ValueError(f"{where}: 'x' must be a 1-d integer tensor of object classes, got shape "
                         f"{tuple(classes.shape)} dtype {classes.dtype}")
    classes = classes.astype(np.int64)
    n = len(classes)
    boxes = to_numpy(box).astype(np.float64)
    if boxes.shape != (n, 4) and not (n == 0 and boxes.size == 0):
        raise ValueError(f"{where}: 'box' has shape {tuple(boxes.shape)}, expected [{n}, 4] (x_c, y_c, w, h)")
    boxes = boxes.reshape(n, 4)
    if n and (classes.min() < 0 or classes.max() >= num_classes):
        bad = int(np.flatnonzero((classes < 0) | (classes >= num_classes))[0])
        raise ValueError(f"{where}: object {bad} has class {int(classes[bad])}, outside 0..{num_classes - 1}")
    if not np.isfinite(boxes).all():
        bad = int(np.flatnonzero(~np.isfinite(boxes).all(axis=1))[0])
        raise ValueError(f"{where}: object {bad} has a non-finite box {boxes[bad].tolist()}")
    edge_index, edge_attr = getattr(graph, "edge_index", None), getattr(graph, "edge_attr", None)
    edges = edge_pairs(edge_index, where)
    predicates = np.zeros(0, np.int64) if edge_attr is None else to_numpy(edge_attr).astype(np.int64).reshape(-1)
    if len(predicates) != len(edges):
        raise ValueError(f"{where}: {len(edges)} relations in 'edge_index' but {len(predicates)} classes in "
                         f"'edge_attr' (one relation class 1..{len(PREDICATES)} per relation)")
    if len(edges):
        _check_relations(edges, predicates, n, where)
    return SceneGraphArrays(classes, boxes, edges, predicates)


def _check_relations(edges: np.ndarray, predicates: np.ndarray, n: int, where: str) -> None:
    bad = (predicates < 1) | (predicates > len(PREDICATES))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}: relation {r} has class {int(predicates[r])}, expected 1..{len(PREDICATES)} "
                         f"(0 = no relation is never stored)")
    check_edge_pairs(edges, n, where, item="relation", index="an object index", self_pair="a self relation",
                     repeat="an ordered pair")


def _as_arrays(graphs: Sequence[Data], role: str, num_classes: int) -> list[SceneGraphArrays]:
    return checked_arrays(graphs, role, lambda g, where: scene_graph_arrays(g, where, num_classes))


# ---------------------------------------------------------------------------------------------------- histograms


def degree_histogram(sg: SceneGraphArrays) -> np.ndarray:
    """DiffuseSG's degree statistic: counts of undirected degree 0, 1, ... after removing isolated objects (an object
    pair is an edge when a relation holds in either direction); ``[1]`` (one isolated node) if nothing is left."""
    if len(sg.edges) == 0:
        return np.ones(1)
    pairs = np.unique(np.sort(sg.edges, axis=1), axis=0)  # unordered pairs, each once
    degree = np.bincount(pairs.reshape(-1), minlength=sg.num_objects)
    return np.bincount(degree[degree > 0]).astype(np.float64)


def node_type_histogram(sg: SceneGraphArrays, num_classes: int = len(CATEGORIES)) -> np.ndarray:
    """Counts of each object class in one graph, float64 [num_classes]."""
    return np.bincount(sg.classes, minlength=num_classes).astype(np.float64)


def edge_type_histogram(sg: SceneGraphArrays) -> np.ndarray:
    """Counts of each predicate over the graph's stored relations, float64 [6] (index k = relation class k + 1)."""
    return np.bincount(sg.predicates - 1, minlength=len(PREDICATES)).astype(np.float64)


def _pmf(hist: np.ndarray) -> np.ndarray:
    """Histogram / its sum; an all-zero histogram stays zero (DiffuseSG ``compute_mmd``)."""
    total = hist.sum()
    return hist / total if total > 0 else hist


def histogram_mmd(generated: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> float:
    """Biased MMD² with the Gaussian kernel (σ = 1) between normalised histograms (zero-padded to one length);
    ``nan`` when either side is empty."""
    if len(generated) == 0 or len(reference) == 0:
        return float("nan")
    return mmd2([_pmf(h) for h in generated], [_pmf(h) for h in reference], "gaussian", is_hist=False,
                sigma=MMD_SIGMA)


# ------------------------------------------------------------------------------------------------------- triplets


def triplet_counts(graphs: Sequence[SceneGraphArrays]) -> Counter:
    """Counts of ``(subject class, predicate, object class)`` over every stored relation of ``graphs``."""
    counts: Counter = Counter()
    for sg in graphs:
        if len(sg.edges):
            counts.update(zip(sg.classes[sg.edges[:, 0]].tolist(), sg.predicates.tolist(),
                              sg.classes[sg.edges[:, 1]].tolist()))
    return counts


def total_variation(p: Counter, q: Counter) -> float:
    """``½ Σ_k |p(k)/|p| - q(k)/|q||`` over the union of keys; ``nan`` if either counter is empty."""
    np_, nq = sum(p.values()), sum(q.values())
    if np_ == 0 or nq == 0:
        return float("nan")
    return 0.5 * sum(abs(p.get(k, 0) / np_ - q.get(k, 0) / nq) for k in p.keys() | q.keys())


def novel_fraction(counts: Counter, seen: set | Counter) -> float:
    """Fraction of the instances in ``counts`` whose key is not in ``seen``; ``nan`` if ``counts`` is empty."""
    total = sum(counts.values())
    if total == 0:
        return float("nan")
    return sum(c for k, c in counts.items() if k not in seen) / total


# ------------------------------------------------------------------------------------------------------- box F1


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU [m, k] between corner boxes ``a [m, 4]`` and ``b [k, 4]`` (0 where the union has no area)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(hi - lo, 0.0, None).prod(axis=-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0.0, None).prod(axis=-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0.0, None).prod(axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclasses.dataclass(frozen=True)
class _ClassBoxes:
    """The boxes of one class over a list of graphs, grouped by graph: graph ``owners[k]`` holds rows
    ``starts[k] : starts[k] + sizes[k]`` of ``corners``."""

    owners: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    corners: np.ndarray


def _boxes_by_class(graphs: Sequence[SceneGraphArrays], num_classes: int) -> list[_ClassBoxes | None]:
    owner = np.concatenate([np.full(sg.num_objects, i) for i, sg in enumerate(graphs)] + [np.zeros(0, int)])
    classes = np.concatenate([sg.classes for sg in graphs] + [np.zeros(0, np.int64)])
    corners = np.concatenate([sg.corners for sg in graphs] + [np.zeros((0, 4))])
    out: list[_ClassBoxes | None] = [None] * num_classes
    order = np.lexsort((owner, classes))  # by class, then graph
    classes, owner, corners = classes[order], owner[order], corners[order]
    for c in np.unique(classes):
        rows = np.flatnonzero(classes == c)
        owners, first, sizes = np.unique(owner[rows], return_index=True, return_counts=True)
        out[c] = _ClassBoxes(owners, first, sizes, corners[rows])
    return out


def _matched_counts(hit: np.ndarray, gen: _ClassBoxes, ref: _ClassBoxes) -> np.ndarray:
    """Maximum one-to-one matching size per (generated graph, reference graph) block of the boolean ``hit`` matrix."""
    counts = np.add.reduceat(np.add.reduceat(hit.astype(np.int64), gen.starts, axis=0), ref.starts, axis=1)
    matched = np.minimum(counts, 1)  # exact when either graph has a single box of the class
    multi = (counts >= 2) & (gen.sizes[:, None] >= 2) & (ref.sizes[None, :] >= 2)
    for a, b in zip(*np.nonzero(multi)):
        block = hit[gen.starts[a]:gen.starts[a] + gen.sizes[a], ref.starts[b]:ref.starts[b] + ref.sizes[b]]
        rows, cols = linear_sum_assignment(block, maximize=True)
        matched[a, b] = int(block[rows, cols].sum())
    return matched


def _chunks(boxes: _ClassBoxes, other_rows: int) -> list[_ClassBoxes]:
    """Split by graph so that each chunk's IoU block against ``other_rows`` boxes stays under ``_MAX_IOU_BLOCK``."""
    per_chunk = max(1, _MAX_IOU_BLOCK // max(other_rows, 1))
    out, k = [], 0
    while k < len(boxes.owners):
        end = k + 1
        while end < len(boxes.owners) and boxes.starts[end] + boxes.sizes[end] - boxes.starts[k] <= per_chunk:
            end += 1
        lo, hi = boxes.starts[k], boxes.starts[end - 1] + boxes.sizes[end - 1]
        out.append(_ClassBoxes(boxes.owners[k:end], boxes.starts[k:end] - lo, boxes.sizes[k:end], boxes.corners[lo:hi]))
        k = end
    return out


def box_f1_matrix(generated: Sequence[SceneGraphArrays], reference: Sequence[SceneGraphArrays],
                  thresholds: Sequence[float] = IOU_THRESHOLDS, num_classes: int = len(CATEGORIES)) -> np.ndarray:
    """Box F1 of every (generated, reference) pair, float64 [len(generated), len(reference)] (module docstring)."""
    total = np.zeros((len(generated), len(reference)))  # Σ over thresholds and shared classes of F1_c
    gen_by_class = _boxes_by_class(generated, num_classes)
    ref_by_class = _boxes_by_class(reference, num_classes)
    for gen_c, ref_c in zip(gen_by_class, ref_by_class):
        if gen_c is None or ref_c is None:
            continue
        for chunk in _chunks(gen_c, len(ref_c.corners)):
            iou = pairwise_iou(chunk.corners, ref_c.corners)
            denom = chunk.sizes[:, None] + ref_c.sizes[None, :]
            f1 = sum(2.0 * _matched_counts(iou >= t, chunk, ref_c) / denom for t in thresholds)
            total[np.ix_(chunk.owners, ref_c.owners)] += f1
    present_g = np.stack([np.bincount(sg.classes, minlength=num_classes) > 0 for sg in generated]).astype(np.int64)
    present_r = np.stack([np.bincount(sg.classes, minlength=num_classes) > 0 for sg in reference]).astype(np.int64)
    union = present_g.sum(1)[:, None] + present_r.sum(1)[None, :] - present_g @ present_r.T
    return np.divide(total / len(thresholds), union, out=np.zeros_like(total), where=union > 0)


# ------------------------------------------------------------------------------------------------------- layout


def layout_overlap(corners: np.ndarray) -> float:
    """Sum of the intersection areas of all unordered box pairs of one layout (corner boxes [n, 4]); ``nan`` for
    fewer than two boxes."""
    if len(corners) < 2:
        return float("nan")
    lo = np.maximum(corners[:, None, :2], corners[None, :, :2])
    hi = np.minimum(corners[:, None, 2:], corners[None, :, 2:])
    inter = np.clip(hi - lo, 0.0, None).prod(axis=-1)
    return float(np.triu(inter, k=1).sum())


def layout_alignment(corners: np.ndarray) -> float:
    """``Σ_i min_{j≠i} min(d_left, d_centre, d_right)`` of one layout (corner boxes [n, 4]; distances in the module
    docstring); ``nan`` for fewer than two boxes."""
    n = len(corners)
    if n < 2:
        return float("nan")
    centres = (corners[:, :2] + corners[:, 2:]) / 2

    def mean_abs(points: np.ndarray) -> np.ndarray:  # [n, 2] -> [n, n] mean over x and y of |p_i - p_j|
        return np.abs(points[:, None, :] - points[None, :, :]).mean(axis=-1)

    d = np.minimum(np.minimum(mean_abs(corners[:, :2]), mean_abs(centres)), mean_abs(corners[:, 2:]))
    np.fill_diagonal(d, np.inf)
    return float(d.min(axis=1).sum())


def _layout_means(graphs: Sequence[SceneGraphArrays]) -> tuple[float, float, int]:
    """(mean overlap, mean alignment, number of graphs with fewer than two objects, which are left out)."""
    layouts = [sg.corners for sg in graphs if sg.num_objects >= 2]
    if not layouts:
        return float("nan"), float("nan"), len(graphs)
    return (float(np.mean([layout_overlap(c) for c in layouts])),
            float(np.mean([layout_alignment(c) for c in layouts])), len(graphs) - len(layouts))


# ------------------------------------------------------------------------------------------ relation consistency


def relation_consistency_counts(graphs: Sequence[SceneGraphArrays]) -> tuple[int, int]:
    """(relations whose class equals sg2im's rule on the graph's own boxes with box centres, relations)."""
    agree = total = 0
    for sg in graphs:
        if len(sg.edges):
            rule = sg2im_relations(xywh_to_corners(sg.boxes))
            agree += int((rule[sg.edges[:, 0], sg.edges[:, 1]] == sg.predicates).sum())
            total += len(sg.edges)
    return agree, total


def relation_consistency(graphs: Sequence[Data], num_classes: int = len(CATEGORIES)) -> float:
    """``relation_consistency`` of ``graphs`` alone (it needs no reference set); ``nan`` without relations."""
    return fraction(*relation_consistency_counts(_as_arrays(graphs, "generated", num_classes)))


# ---------------------------------------------------------------------------------------------------- evaluator


def evaluate_scene_graphs(
    generated: Sequence[Data],
    reference: Sequence[Data],
    train: Sequence[Data] | None = None,
    *,
    num_classes: int = len(CATEGORIES),
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> dict[str, float]:
    """Score generated scene graphs against reference graphs (definitions in the module docstring).

    Args:
        generated: generated scene graphs (may be empty graphs or have no relations).
        reference: reference scene graphs, normally the test split.
        train: training graphs; when given, ``triplet_novelty`` is computed against their triplet types.
        num_classes: size of the object vocabulary (80 COCO classes).
        iou_thresholds: the box-F1 IoU thresholds (DiffuseSG's ``0.05 .. 0.5``, 10 values).

    Returns:
        Flat ``dict[str, float]``: ``degree_mmd``, ``node_type_mmd``, ``edge_type_mmd``, ``triplet_tv``,
        [``triplet_novelty``], ``box_f1``, ``box_max_f1``, ``overlap``, ``alignment``, ``relation_consistency``, the
        reference values ``overlap_reference``, ``alignment_reference``, ``relation_consistency_reference``, and the
        counts ``num_graphs``, ``num_reference``, ``mean_objects``, ``mean_relations``, ``num_empty``,
        ``num_without_relations``, ``layouts_skipped``. ``nan`` marks a metric that is undefined for the input
        (e.g. ``triplet_tv`` when no generated graph holds a relation).

    Raises:
        ValueError: an empty list, or a graph that breaks the scene-graph conventions (the message names the list,
            the graph index, the field and the bad value).
    """
    gen = _as_arrays(generated, "generated", num_classes)
    ref = _as_arrays(reference, "reference", num_classes)
    out: dict[str, float] = {}
    out["degree_mmd"] = histogram_mmd([degree_histogram(g) for g in gen], [degree_histogram(g) for g in ref])
    out["node_type_mmd"] = histogram_mmd([node_type_histogram(g, num_classes) for g in gen],
                                         [node_type_histogram(g, num_classes) for g in ref])
    out["edge_type_mmd"] = histogram_mmd([edge_type_histogram(g) for g in gen if len(g.edges)],
                                         [edge_type_histogram(g) for g in ref if len(g.edges)])
    gen_triplets = triplet_counts(gen)
    out["triplet_tv"] = total_variation(gen_triplets, triplet_counts(ref))
    if train is not None:
        out["triplet_novelty"] = novel_fraction(gen_triplets, triplet_counts(_as_arrays(train, "train", num_classes)))
    f1 = box_f1_matrix(gen, ref, iou_thresholds, num_classes)
    out["box_f1"] = float(f1.mean())
    out["box_max_f1"] = float(f1.max(axis=1).mean())
    out["overlap"], out["alignment"], skipped = _layout_means(gen)
    out["relation_consistency"] = fraction(*relation_consistency_counts(gen))
    out["overlap_reference"], out["alignment_reference"], _ = _layout_means(ref)
    out["relation_consistency_reference"] = fraction(*relation_consistency_counts(ref))
    out.update(size_counts(len(ref), [g.num_objects for g in gen], [len(g.edges) for g in gen], nodes="objects",
                           edges="relations"))
    out["layouts_skipped"] = float(skipped)
    return out


# ------------------------------------------------------------------------------------------------------ baseline


def complete_scene_graph(classes: torch.Tensor, box: torch.Tensor) -> Data:
    """A scene graph whose relations are sg2im's rule on ``box`` with box centres, for every ordered pair
    ``i != j`` (the complete directed graph, as in coco_sg), edges in row-major ``(subject, object)`` order."""
    n = len(classes)
    rel = torch.from_numpy(sg2im_relations(xywh_to_corners(box.numpy())))
    subject, obj = torch.nonzero(~torch.eye(n, dtype=torch.bool), as_tuple=True)
    return Data(x=classes.long(), box=box.float(), edge_index=torch.stack([subject, obj]).long(),
                edge_attr=rel[subject, obj].long(), num_nodes=n)


def marginal_baseline(train: Sequence[Data], num_graphs: int, *, generator: torch.Generator) -> list[Data]:
    """The independent-marginals baseline: per graph, the object count is drawn from the training histogram of
    object counts, each class i.i.d. from the training class frequencies, each box i.i.d. as the box of a uniformly
    drawn training object (independent of its class), and the relations are :func:`complete_scene_graph` on the
    drawn boxes.

    Args:
        train: training scene graphs (at least one object in total).
        num_graphs: number of graphs to draw.
        generator: the only source of randomness.
    """
    arrays = _as_arrays(train, "train", len(CATEGORIES))
    sizes = torch.tensor([sg.num_objects for sg in arrays])
    classes = torch.from_numpy(np.concatenate([sg.classes for sg in arrays]))
    boxes = torch.from_numpy(np.concatenate([sg.boxes for sg in arrays])).float()
    if len(classes) == 0:
        raise ValueError("marginal_baseline needs training graphs with at least one object")
    size_probs = torch.bincount(sizes).double()
    class_probs = torch.bincount(classes, minlength=len(CATEGORIES)).double()
    out: list[Data] = []
    if num_graphs <= 0:
        return out
    for n in torch.multinomial(size_probs, num_graphs, replacement=True, generator=generator).tolist():
        if n == 0:
            out.append(complete_scene_graph(torch.zeros(0, dtype=torch.long), torch.zeros(0, 4)))
            continue
        x = torch.multinomial(class_probs, n, replacement=True, generator=generator)
        box = boxes[torch.randint(len(boxes), (n,), generator=generator)]
        out.append(complete_scene_graph(x, box))
    return out
