"""Generic (unlabelled) graph datasets stored in the graph-JSON format of ``shared/data/generic``.

Each file is one JSON object whose ``graphs[i] = {"num_nodes": n, "edges": [[u, v], ...]}`` lists every undirected
edge once with ``u < v`` (see ``PROVENANCE.md``). A graph becomes a ``Data`` with ``edge_index`` long [2, 2M]
(both directions, sorted by (row, col)) and ``num_nodes``; no node features (GDSS builds degree features itself).

Two split conventions:

* :class:`GDSSGraphSpec` (community_small, ego_small, grid, enzymes): GDSS ``utils/data_loader.py`` with
  ``test_split: 0.2``: ``test = graphs[:int(0.2 * N)]``, ``train = graphs[int(0.2 * N):]``, file order, no shuffle.
* :class:`StoredSplitGraphSpec` (comm20, planar, sbm, tree): the index lists stored in the file's ``splits`` key
  (SPECTRE ``random_split`` with seed 1234, or the authors' own lists), in their stored order.
"""
from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graphgen.data.datasets.base import DatasetSpec, GraphArrays, SplitSource, empty_arrays
from graphgen.data.raw import fetch


def read_graph_json(path: Path) -> dict[str, Any]:
    """Load a graph-JSON file (plain or gzip)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        return json.load(f)


def edge_list_to_arrays(num_nodes: int, edges: Sequence[Sequence[int]]) -> np.ndarray:
    """Undirected edge list (each edge once) -> [2M, 2] directed edges, both directions, sorted by (row, col).

    Raises ``ValueError`` naming the problem for ids out of range, self loops or repeated edges.
    """
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if e.size and (e.min() < 0 or e.max() >= num_nodes):
        raise ValueError(f"edge endpoint out of range 0..{num_nodes - 1} (found {int(e.min())}..{int(e.max())})")
    if np.any(e[:, 0] == e[:, 1]):
        raise ValueError(f"self loop at node {int(e[e[:, 0] == e[:, 1]][0, 0])}")
    both = np.concatenate([e, e[:, ::-1]])
    order = np.lexsort((both[:, 1], both[:, 0]))
    both = both[order]
    if len(both) > 1 and np.any(np.all(both[1:] == both[:-1], axis=1)):
        raise ValueError("repeated edge (each undirected edge must be listed once)")
    return both


def convert_edge_lists(rows: np.ndarray, items: Sequence[dict[str, Any]]) -> GraphArrays:
    """Converter for graph-JSON entries: ``{"num_nodes", "edges"}`` -> edge_index only."""
    out = empty_arrays({}, {"edge_index": ((2,), np.int64)})
    nn, ne, kept, parts, skipped = [], [], [], [], []
    for row, g in zip(rows, items):
        try:
            n = int(g["num_nodes"])
            if n < 1:
                raise ValueError(f"num_nodes is {n}")
            ei = edge_list_to_arrays(n, g["edges"])
        except (KeyError, TypeError, ValueError) as exc:
            skipped.append((int(row), f"{type(exc).__name__}: {exc}"))
            continue
        nn.append(n)
        ne.append(len(ei))
        kept.append(int(row))
        parts.append(ei)
    if parts:
        out.num_nodes = np.asarray(nn, np.int64)
        out.num_edges = np.asarray(ne, np.int64)
        out.edge["edge_index"] = np.concatenate(parts)
        out.rows = np.asarray(kept, np.int64)
    out.skipped = skipped
    return out


@dataclass(frozen=True)
class GraphJSONSpec(DatasetSpec):
    """A graph-JSON file with raw role ``graphs``; subclasses choose the split."""

    def split_indices(self, doc: dict[str, Any]) -> dict[str, list[int]]:
        raise NotImplementedError

    def _doc(self, path: Path) -> dict[str, Any]:
        doc = read_graph_json(path)
        if len(doc["graphs"]) != doc.get("num_graphs", len(doc["graphs"])):
            raise ValueError(f"{path}: num_graphs says {doc['num_graphs']} but {len(doc['graphs'])} graphs are listed")
        return doc

    def split_sizes(self, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
        doc = self._doc(fetch(self.raw["graphs"], data_dir))
        return {name: len(idx) for name, idx in self.split_indices(doc).items()}

    def read_split(self, split: str, paths: dict[str, Path]) -> SplitSource:
        doc = self._doc(paths["graphs"])
        idx = self.split_indices(doc)[split]
        return SplitSource(rows=np.asarray(idx, dtype=np.int64), items=[doc["graphs"][i] for i in idx])

    def converter(self) -> Callable[[np.ndarray, Sequence[Any]], GraphArrays]:
        return convert_edge_lists

    def vocabulary(self) -> dict[str, Any]:
        return {"nodes": "unlabelled", "edges": "unlabelled, undirected (stored in both directions)"}


@dataclass(frozen=True)
class GDSSGraphSpec(GraphJSONSpec):
    """GDSS generic sets: ``test`` = the first ``int(test_fraction * N)`` graphs in file order, ``train`` the rest."""

    test_fraction: float = 0.2

    def split_indices(self, doc: dict[str, Any]) -> dict[str, list[int]]:
        n = len(doc["graphs"])
        test_size = int(self.test_fraction * n)
        return {"train": list(range(test_size, n)), "test": list(range(test_size))}


@dataclass(frozen=True)
class StoredSplitGraphSpec(GraphJSONSpec):
    """Sets whose split is stored in the file's ``splits`` object (index lists, kept in stored order)."""

    def split_indices(self, doc: dict[str, Any]) -> dict[str, list[int]]:
        splits = doc.get("splits")
        if not splits:
            raise ValueError(f"dataset '{self.name}': raw file {self.raw['graphs'].path} stores no 'splits'")
        missing = set(self.splits) - set(splits)
        if missing:
            raise ValueError(f"dataset '{self.name}': raw file {self.raw['graphs'].path} has no split(s) {missing}")
        return {name: [int(i) for i in splits[name]] for name in self.splits}
