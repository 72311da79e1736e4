"""What a heterogeneous graph holds: the schema of its node and edge attributes, and their continuous codes.

A :class:`GraphSchema` lists the node attributes (each a field of ``torch_geometric.data.Data``: categorical with
``classes`` values, or continuous with ``dim`` values in ``[low, high]``), one categorical edge attribute whose class
0 means "no edge", whether edges are directed, and the maximum node count. Example (scene graphs)::

    GraphSchema(nodes=[Attribute("x", "categorical", classes=80),
                       Attribute("box", "continuous", dim=4, low=0.0, high=1.0, box=True)],
                edge=Attribute("edge_attr", "categorical", classes=7), directed=True, max_nodes=32)

Graphs move between three forms:

- ``Data`` (what users and evaluators see): node fields named by the schema; edges as ``edge_index`` [2, E] and,
  when the edge attribute has a name, ``edge_attr`` [E] with classes >= 1 (a nameless edge attribute with 2 classes
  means "edge or not": every listed edge is class 1). Undirected graphs list both directions.
- :class:`DenseGraphs` (raw values, padded): node values per attribute [B, N] (long) or [B, N, D] (float), the edge
  class matrix [B, N, N] and a node mask [B, N]. Augmentations work here.
- codes (what is diffused): node codes [B, N, F] and edge codes [B, N, N, C], every channel in [-1, 1].
  Categorical values become one-hot vectors scaled to {-1, 1} (``encoding="onehot"``, K channels) or analog bits
  (``encoding="bits"``, ceil(log2 K) channels, Chen et al. 2023); continuous values are mapped linearly from
  ``[low, high]`` to ``[-1, 1]``. Decoding picks the class whose code is nearest (for one-hot this is the argmax;
  for bits it also maps a bit pattern beyond K-1 to the nearest valid class) and clamps continuous values to range.
  A polyline attribute (``shape=[P, D]``) with ``bezier=d`` is coded by the ``d + 1`` control points of a Bézier
  curve of degree ``d`` (``(d + 1) * D`` channels, scaled like the values): encoding fits the curve to the P points
  (least squares at ``t = i / (P - 1)``, with the first and last control points pinned to the polyline's ends);
  decoding evaluates the curve and resamples it to P points evenly spaced along its length (the datasets' polylines
  are evenly spaced). A smooth curve cannot wiggle, and its ends are two of its channels.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch_geometric.data import Data

KINDS = ("categorical", "continuous")
ENCODINGS = ("onehot", "bits")


@dataclass
class Attribute:
    """One attribute of the nodes (or the edge attribute) of a schema.

    ``name`` is the ``Data`` field; ``labels`` optionally names the classes (written into saved configs so that a
    model can describe its output); ``box`` marks a continuous ``(x_c, y_c, w, h)`` box (enables the GIoU loss);
    ``shape`` is the per-node shape of a continuous field when it is not ``[dim]`` (lane polylines: ``[20, 2]``
    with ``dim = 40``); ``bezier`` (> 0) codes such a ``[P, D]`` polyline by Bézier control points of that degree
    (see the module docstring).
    """

    name: str
    kind: str = "categorical"
    classes: int = 0
    dim: int = 0
    low: float = -1.0
    high: float = 1.0
    encoding: str = "onehot"
    box: bool = False
    labels: list[str] = field(default_factory=list)
    shape: list[int] = field(default_factory=list)
    bezier: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"attribute {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "categorical":
            if self.classes < 2:
                raise ValueError(f"categorical attribute {self.name!r} needs classes >= 2, got {self.classes}")
            if self.encoding not in ENCODINGS:
                raise ValueError(f"attribute {self.name!r}: encoding must be one of {ENCODINGS}, got {self.encoding!r}")
            if self.labels and len(self.labels) != self.classes:
                raise ValueError(f"attribute {self.name!r}: {len(self.labels)} labels for {self.classes} classes")
        else:
            if self.dim < 1:
                raise ValueError(f"continuous attribute {self.name!r} needs dim >= 1, got {self.dim}")
            if not self.high > self.low:
                raise ValueError(f"attribute {self.name!r}: high ({self.high}) must exceed low ({self.low})")
            if self.box and self.dim != 4:
                raise ValueError(f"attribute {self.name!r}: a box has dim 4 (x_c, y_c, w, h), got {self.dim}")
            if self.shape and math.prod(self.shape) != self.dim:
                raise ValueError(f"attribute {self.name!r}: shape {self.shape} does not hold dim={self.dim} values")
            if self.bezier and not (len(self.shape) == 2 and 1 <= self.bezier < self.shape[0]):
                raise ValueError(f"attribute {self.name!r}: bezier={self.bezier} needs a polyline shape [P, D] with "
                                 f"P > bezier, got shape {self.shape}")

    @property
    def node_shape(self) -> tuple[int, ...]:
        """Per-node shape of the ``Data`` field (categorical: scalar)."""
        if self.kind == "categorical":
            return ()
        return tuple(self.shape) if self.shape else (self.dim,)

    @property
    def width(self) -> int:
        """Channels of this attribute's code."""
        if self.kind == "continuous":
            return (self.bezier + 1) * self.shape[1] if self.bezier else self.dim
        return self.classes if self.encoding == "onehot" else max(1, math.ceil(math.log2(self.classes)))

    def code_table(self) -> Tensor:
        """Categorical: float [K, width], the code of every class (entries in {-1, 1})."""
        k = torch.arange(self.classes)
        if self.encoding == "onehot":
            return torch.nn.functional.one_hot(k, self.classes).float() * 2 - 1
        bits = (k[:, None] >> torch.arange(self.width)) & 1
        return bits.float() * 2 - 1

    def encode(self, values: Tensor) -> Tensor:
        """Raw values ([...] long classes or [..., D] floats) -> codes [..., width] in [-1, 1]."""
        if self.kind == "categorical":
            return self.code_table().to(values.device)[values.long()]
        if self.bezier:
            values = fit_bezier(values.float().reshape(*values.shape[:-1], *self.shape), self.bezier).flatten(-2)
        return (values.float() - self.low) / (self.high - self.low) * 2 - 1

    def decode(self, codes: Tensor) -> Tensor:
        """Codes [..., width] -> raw values (nearest class, or continuous values clamped to ``[low, high]``)."""
        if self.kind == "categorical":
            table = self.code_table().to(codes)
            # argmin_k |c - t_k|^2 = argmax_k (c . t_k - |t_k|^2 / 2)
            return (codes @ table.T - 0.5 * (table ** 2).sum(-1)).argmax(-1)
        if self.bezier:  # control points may lie outside the range; the curve's points are clamped
            control = self.unscale(codes).reshape(*codes.shape[:-1], self.bezier + 1, self.shape[1])
            points = evenly_spaced(bezier_points(control, self.shape[0]), self.shape[0])
            return points.flatten(-2).clamp(self.low, self.high)
        return self.unscale(codes.clamp(-1, 1))

    def unscale(self, codes: Tensor) -> Tensor:
        """Continuous codes -> values (no clamping; the GIoU loss differentiates through it)."""
        return (codes + 1) / 2 * (self.high - self.low) + self.low


def bernstein_matrix(degree: int, num_points: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """[num_points, degree + 1]: the Bernstein polynomials of ``degree`` at ``t = i / (num_points - 1)``."""
    t = torch.linspace(0, 1, num_points, dtype=torch.float64)[:, None]
    k = torch.arange(degree + 1, dtype=torch.float64)
    binom = torch.tensor([math.comb(degree, int(i)) for i in k], dtype=torch.float64)
    return (binom * t ** k * (1 - t) ** (degree - k)).to(dtype)


def fit_bezier(points: Tensor, degree: int) -> Tensor:
    """Polylines [..., P, D] -> control points [..., degree + 1, D] of the least-squares Bézier curve through
    ``t = i / (P - 1)`` whose first and last control points are the polyline's first and last points."""
    basis = bernstein_matrix(degree, points.shape[-2], torch.float64)
    ends = torch.stack([points[..., 0, :], points[..., -1, :]], dim=-2).double()
    # the interior control points solve min || basis_mid @ c - (points - basis_ends @ ends) ||
    rest = points.double() - basis[:, [0, -1]] @ ends
    interior = torch.linalg.pinv(basis[:, 1:-1]) @ rest
    return torch.cat([ends[..., :1, :], interior, ends[..., 1:, :]], dim=-2).to(points.dtype)


def bezier_points(control: Tensor, num_points: int) -> Tensor:
    """Control points [..., d + 1, D] -> curve points [..., num_points, D] at evenly spaced ``t``."""
    return bernstein_matrix(control.shape[-2] - 1, num_points, control.dtype).to(control.device) @ control


def evenly_spaced(points: Tensor, num_points: int, density: int = 4) -> Tensor:
    """Polylines [..., P, D] -> [..., num_points, D] points evenly spaced along their length (linear interpolation
    on the polyline refined ``density`` times; a zero-length polyline stays a point)."""
    p = points.shape[-2]
    fine = torch.nn.functional.interpolate(
        points.reshape(-1, p, points.shape[-1]).transpose(1, 2), size=(p - 1) * density + 1, mode="linear",
        align_corners=True).transpose(1, 2)
    seg = (fine[:, 1:] - fine[:, :-1]).norm(dim=-1)
    s = torch.cat([torch.zeros_like(seg[:, :1]), seg.cumsum(-1)], dim=-1)            # arc length at each fine point
    target = torch.linspace(0, 1, num_points, dtype=s.dtype, device=s.device) * s[:, -1:]
    hi = torch.searchsorted(s.contiguous(), target.contiguous()).clamp(1, s.shape[-1] - 1)
    s0, s1 = s.gather(1, hi - 1), s.gather(1, hi)
    w = ((target - s0) / (s1 - s0).clamp(min=1e-12)).clamp(0, 1)[..., None]
    idx = hi[..., None].expand(-1, -1, fine.shape[-1])
    out = torch.lerp(fine.gather(1, idx - 1), fine.gather(1, idx), w)
    return out.reshape(*points.shape[:-2], num_points, points.shape[-1])


@dataclass
class GraphSchema:
    """Node attributes, the edge attribute (class 0 = no edge), directedness and the maximum node count."""

    nodes: list[Attribute] = field(default_factory=list)
    edge: Attribute = field(default_factory=lambda: Attribute("", "categorical", classes=2))
    directed: bool = False
    max_nodes: int = 32

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ValueError("a GraphSchema needs at least one node attribute")
        names = [a.name for a in self.nodes]
        if len(set(names)) != len(names) or any(not n for n in names):
            raise ValueError(f"node attribute names must be distinct and non-empty, got {names}")
        if self.edge.kind != "categorical":
            raise ValueError("the edge attribute is categorical (class 0 = no edge)")
        if not self.edge.name and self.edge.classes != 2:
            raise ValueError("a nameless edge attribute means 'edge or not' and has 2 classes")
        if self.max_nodes < 1:
            raise ValueError(f"max_nodes must be >= 1, got {self.max_nodes}")

    @property
    def node_width(self) -> int:
        return sum(a.width for a in self.nodes)

    @property
    def edge_width(self) -> int:
        return self.edge.width

    def node_slices(self) -> list[tuple[Attribute, slice]]:
        """Each node attribute with its channel range in the node code."""
        out, lo = [], 0
        for a in self.nodes:
            out.append((a, slice(lo, lo + a.width)))
            lo += a.width
        return out

    def box_attributes(self) -> list[tuple[Attribute, slice]]:
        return [(a, s) for a, s in self.node_slices() if a.box]


@dataclass
class DenseGraphs:
    """A padded batch of graphs with raw attribute values (see the module docstring).

    Attributes:
        nodes: attribute name -> long [B, N] (categorical) or float [B, N, D] (continuous); padded entries 0.
        edges: long [B, N, N] edge classes (0 = none; diagonal and padding 0).
        mask: bool [B, N], True for real nodes (real nodes come first).
    """

    nodes: dict[str, Tensor]
    edges: Tensor
    mask: Tensor

    def __len__(self) -> int:
        return self.mask.shape[0]

    def index(self, idx: Tensor | list[int]) -> DenseGraphs:
        idx = torch.as_tensor(idx, dtype=torch.long)
        return DenseGraphs({k: v[idx] for k, v in self.nodes.items()}, self.edges[idx], self.mask[idx])

    def trim(self) -> DenseGraphs:
        """The same graphs padded only to the largest node count in the batch."""
        n = max(int(self.mask.sum(-1).max()), 1) if len(self) else 1
        return DenseGraphs({k: v[:, :n] for k, v in self.nodes.items()}, self.edges[:, :n, :n], self.mask[:, :n])


def pair_mask(mask: Tensor) -> Tensor:
    """bool [B, N, N]: both nodes real and not the same node."""
    eye = torch.eye(mask.shape[-1], dtype=torch.bool, device=mask.device)
    return mask[:, :, None] & mask[:, None, :] & ~eye


def to_dense(schema: GraphSchema, graphs: list[Data], num_nodes: int | None = None) -> DenseGraphs:
    """``Data`` graphs -> :class:`DenseGraphs` padded to ``num_nodes`` (default ``schema.max_nodes``).

    Raises ``ValueError`` naming the graph and field for a missing attribute, a wrong shape, a class out of range,
    or a graph larger than ``max_nodes``.
    """
    n_pad = schema.max_nodes if num_nodes is None else num_nodes
    b = len(graphs)
    nodes = {a.name: (torch.zeros(b, n_pad, dtype=torch.long) if a.kind == "categorical"
                      else torch.zeros(b, n_pad, a.dim)) for a in schema.nodes}
    edges = torch.zeros(b, n_pad, n_pad, dtype=torch.long)
    mask = torch.zeros(b, n_pad, dtype=torch.bool)
    for i, g in enumerate(graphs):
        n = int(g.num_nodes)
        if n > n_pad:
            raise ValueError(f"graph {i} has {n} nodes; the schema allows at most {n_pad} (max_nodes)")
        mask[i, :n] = True
        for a in schema.nodes:
            value = getattr(g, a.name, None)
            if value is None:
                raise ValueError(f"graph {i} has no node attribute {a.name!r} (the schema's node attributes: "
                                 f"{[x.name for x in schema.nodes]})")
            value = torch.as_tensor(value)
            if a.kind == "categorical":
                value = value.reshape(-1)
                if value.numel() != n or (n and (int(value.min()) < 0 or int(value.max()) >= a.classes)):
                    raise ValueError(f"graph {i}: {a.name} must be {n} classes in 0..{a.classes - 1}")
                nodes[a.name][i, :n] = value.long()
            else:
                if tuple(value.shape) != (n, *a.node_shape):
                    raise ValueError(f"graph {i}: {a.name} has shape {tuple(value.shape)}, expected "
                                     f"{(n, *a.node_shape)}")
                if not bool(torch.isfinite(value).all()):
                    raise ValueError(f"graph {i}: {a.name} holds a non-finite value")
                nodes[a.name][i, :n] = value.float().reshape(n, a.dim)
        ei = g.edge_index
        if ei is not None and ei.numel():
            if schema.edge.name:
                cls = getattr(g, schema.edge.name, None)
                if cls is None:
                    raise ValueError(f"graph {i} has edges but no edge attribute {schema.edge.name!r}")
                cls = torch.as_tensor(cls).reshape(-1).long()
            else:
                cls = torch.ones(ei.shape[1], dtype=torch.long)
            if cls.numel() != ei.shape[1] or int(cls.min()) < 1 or int(cls.max()) >= schema.edge.classes:
                raise ValueError(f"graph {i}: edge classes must be 1..{schema.edge.classes - 1}, one per edge")
            if int(ei.min()) < 0 or int(ei.max()) >= n or bool((ei[0] == ei[1]).any()):
                raise ValueError(f"graph {i}: edge_index has a self loop or a node id outside 0..{n - 1}")
            edges[i, ei[0], ei[1]] = cls
            if not schema.directed:
                edges[i, ei[1], ei[0]] = cls
    return DenseGraphs(nodes, edges, mask)


def from_dense(schema: GraphSchema, dense: DenseGraphs) -> list[Data]:
    """:class:`DenseGraphs` -> ``Data`` graphs (padding dropped; undirected edges listed in both directions)."""
    out = []
    for i in range(len(dense)):
        n = int(dense.mask[i].sum())
        fields = {a.name: dense.nodes[a.name][i, :n].reshape(n, *a.node_shape).clone() for a in schema.nodes}
        rel = dense.edges[i, :n, :n].clone()
        rel.fill_diagonal_(0)
        if not schema.directed:
            rel = torch.maximum(rel.triu(1), rel.triu(1).T)
        src, dst = rel.nonzero(as_tuple=True)
        g = Data(edge_index=torch.stack([src, dst]), num_nodes=n, **fields)
        if schema.edge.name:
            setattr(g, schema.edge.name, rel[src, dst])
        out.append(g)
    return out


def encode(schema: GraphSchema, dense: DenseGraphs) -> tuple[Tensor, Tensor]:
    """Raw values -> codes: node codes [B, N, F] and edge codes [B, N, N, C]; padded nodes, padded pairs and the
    diagonal are 0."""
    x = torch.cat([a.encode(dense.nodes[a.name]) for a in schema.nodes], dim=-1)
    x = x * dense.mask[..., None]
    e = schema.edge.encode(dense.edges) * pair_mask(dense.mask)[..., None]
    return x, e


def decode(schema: GraphSchema, x: Tensor, e: Tensor, mask: Tensor) -> DenseGraphs:
    """Codes -> raw values (nearest class / clamped values); undirected edge codes are averaged over both
    directions first."""
    nodes = {a.name: a.decode(x[..., s]) for a, s in schema.node_slices()}
    if not schema.directed:
        e = (e + e.transpose(1, 2)) / 2
    edges = schema.edge.decode(e) * pair_mask(mask)
    for a in schema.nodes:
        value = nodes[a.name]
        nodes[a.name] = value * (mask[..., None] if value.dim() == 3 else mask)
    return DenseGraphs(nodes, edges, mask)


def scene_graph_schema(max_nodes: int = 32, encoding: str = "onehot") -> GraphSchema:
    """Scene graphs of :mod:`graphgen.data.scene_graphs`: object class, box, directed relation (0 = none)."""
    from graphgen.data.scene_graphs import CATEGORIES, PREDICATES

    return GraphSchema(
        nodes=[Attribute("x", "categorical", classes=len(CATEGORIES), encoding=encoding, labels=list(CATEGORIES)),
               Attribute("box", "continuous", dim=4, low=0.0, high=1.0, box=True)],
        edge=Attribute("edge_attr", "categorical", classes=len(PREDICATES) + 1, encoding=encoding,
                       labels=["none", *PREDICATES]),
        directed=True, max_nodes=max_nodes)


def lane_graph_schema(max_nodes: int = 50, bezier: int = 3) -> GraphSchema:
    """Lane graphs of :mod:`graphgen.data.lane_graphs`: a polyline per lane (metres in the ego frame, mapped from the
    crop ``[-CROP_HALF, CROP_HALF]`` to [-1, 1]) and directed successor edges. ``bezier``: the polyline's code is
    the control points of a Bézier curve of this degree (0: the 20 points themselves). A cubic fits the real lanes
    to 4 cm on average (lanes' test split; ``benchmarks/results/lane_graphs.md``)."""
    from graphgen.data.lane_graphs import CROP_HALF, POINTS_PER_LANE

    return GraphSchema(
        nodes=[Attribute("pos", "continuous", dim=2 * POINTS_PER_LANE, shape=[POINTS_PER_LANE, 2], low=-CROP_HALF,
                         high=CROP_HALF, bezier=bezier)],
        edge=Attribute("", "categorical", classes=2, labels=["none", "successor"]), directed=True, max_nodes=max_nodes)


def replace_encoding(schema: GraphSchema, encoding: str) -> GraphSchema:
    """The schema with every categorical attribute coded with ``encoding`` ("onehot" or "bits")."""
    def swap(a: Attribute) -> Attribute:
        return dataclasses.replace(a, encoding=encoding) if a.kind == "categorical" else a
    return dataclasses.replace(schema, nodes=[swap(a) for a in schema.nodes], edge=swap(schema.edge))
