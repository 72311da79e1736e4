"""DiffGraph's heterogeneous datasets (``retail_rocket``, ``aminer``): ONE :class:`~torch_geometric.data.HeteroData`
each, with index splits stored on it (as PyG's Planetoid), from ``shared/data/hetero/`` (``hetero/FORMAT.md``).

Split: these sets have a single split, ``"all"`` (the whole graph; ``load_dataset(name)`` picks it). Any other split
is an :class:`~graphgen.errors.InputError` naming ``"all"``; the train / validation / test parts are attributes.

``retail_rocket`` (multi-behaviour recommendation, DiffGraph-Rec):

* ``data["user"].num_nodes`` 2174, ``data["item"].num_nodes`` 30113; ``data.behaviours = ["view", "cart", "buy"]``
  (DiffGraph's order; the last is the target relation).
* ``data["user", b, "item"].edge_index`` long [2, E] (row 0 users, row 1 items), sorted by (user, item), and
  ``.time`` int64 [E] Unix timestamps, for every behaviour ``b``.
* Validation, carved from the training purchases because DiffGraph selects epochs on its test file and we must not:
  for every user with >= 2 training purchases, the latest one (largest timestamp; ties -> largest item id) moves from
  ``("user", "buy", "item").edge_index`` (and ``.time``) to ``.val_pairs`` long [2, V]; users with one training
  purchase keep it. The views and carts of a validation pair move to ``.val_edge_index`` / ``.val_time`` of their
  behaviour, as the files already cut every behaviour of the test pairs (none of the 2174 is viewed or carted).
* ``("user", "buy", "item").test_pairs`` long [2, 2174]: ``test_mat.npz``, one held-out purchase per user.
* Ranking at validation excludes ``edge_index`` of ``buy``; at test, DiffGraph excludes all of its training purchases,
  i.e. ``edge_index`` and ``val_pairs`` together.

``aminer`` (heterogeneous node classification, DiffGraph_NC = the HeCo preprocessing):

* node types ``paper`` (6564, ``.y`` long classes 0..3), ``author`` (13329), ``reference`` (35890); no features
  (DiffGraph uses the identity for papers).
* ``("paper", "written_by", "author")`` from ``pa.txt`` and ``("paper", "cites", "reference")`` from ``pr.txt``,
  sorted by (paper, other).
* meta-path graphs ``("paper", "pap" | "prp" | "pos", "paper").edge_index`` exactly as stored (diagonal included),
  sorted by (row, column); ``pap`` and ``prp`` are checked symmetric. ``pos`` (HeCo's positive pairs, fed to
  DiffGraph as a third view) is not symmetric in the file (each paper picks its own positives) and is kept as is.
* ``data["paper"].train_idx_20`` / ``val_idx_20`` / ``test_idx_20`` (and ``_40``, ``_60``) long;
  ``data.label_rates = [20, 40, 60]``, ``data.num_classes = 4``.

Every file is checked by sha256 first (:func:`graphgen.data.raw.fetch`), read without unpickling
(``scipy.sparse.load_npz``, ``numpy.load(allow_pickle=False)``), then checked for what the loader relies on (shapes,
counts, id ranges, disjoint splits); a violation is an :class:`~graphgen.errors.InputError` naming the file and the
field. Loading takes about 0.2 s per dataset, so nothing is cached: each call reads the raw files.
"""
from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData

from graphgen.data.datasets.base import DatasetSpec
from graphgen.errors import InputError

# the one split of a single-graph dataset: the whole graph, its train/val/test parts stored as attributes
ALL_SPLIT = "all"


# ----------------------------------------------------------------------------------------------------------------------
# Readers (no pickles)
# ----------------------------------------------------------------------------------------------------------------------
def read_sparse(path: Path) -> sp.csr_matrix:
    """A ``scipy.sparse.save_npz`` file as CSR with sorted column indices (``load_npz`` never unpickles)."""
    try:
        matrix = sp.load_npz(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # what load_npz raises on a damaged file
        raise InputError(f"{path}: not a scipy.sparse .npz matrix ({type(exc).__name__}: {exc}); replace the "
                         "file with the one PROVENANCE.md describes") from None
    csr = sp.csr_matrix(matrix)
    csr.sort_indices()
    return csr


def read_index_array(path: Path) -> np.ndarray:
    """A 1-D integer ``.npy`` array (``allow_pickle=False``: an object array is refused, never unpickled)."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a plain .npy array ({exc}); replace the file with the one PROVENANCE.md "
                         "describes") from None
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise InputError(f"{path}: expected a 1-D integer array, got dtype {array.dtype} shape {array.shape}")
    return array.astype(np.int64)


_PAIR_LINE = re.compile(r"^(\d+)\s+(\d+)$")


def read_pair_file(path: Path, num_left: int, num_right: int, right_name: str) -> np.ndarray:
    """int64 [M, 2] from a text file of ``left_id<TAB>right_id`` lines (ids below ``num_left`` / ``num_right``);
    a malformed line, an id out of range or a repeated pair is an InputError naming the file and the line."""
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the final newline ends the last line; it does not start an empty one
        lines.pop()
    pairs = np.empty((len(lines), 2), dtype=np.int64)
    for number, line in enumerate(lines, start=1):
        match = _PAIR_LINE.match(line.strip())
        if match is None:
            raise InputError(f"{path}, line {number}: expected 'paper_id<TAB>{right_name}_id' (two non-negative "
                             f"integers), got {line[:60]!r}")
        left, right = int(match.group(1)), int(match.group(2))
        if left >= num_left:
            raise InputError(f"{path}, line {number}: paper id {left} out of range (there are {num_left} papers)")
        if right >= num_right:
            raise InputError(f"{path}, line {number}: {right_name} id {right} out of range (there are {num_right} "
                             f"{right_name}s)")
        pairs[number - 1] = (left, right)
    _check_no_repeated_pairs(pairs, num_right, path)
    return pairs


def _check_no_repeated_pairs(pairs: np.ndarray, num_right: int, path: Path) -> None:
    keys = pairs[:, 0] * num_right + pairs[:, 1]
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    if (counts > 1).any():
        key = keys[first[np.argmax(counts > 1)]]
        repeats = np.flatnonzero(keys == key) + 1
        raise InputError(f"{path}, line {repeats[1]}: pair ({key // num_right}, {key % num_right}) repeats line "
                         f"{repeats[0]}; every pair must appear once")


# ----------------------------------------------------------------------------------------------------------------------
# Matrix -> edges
# ----------------------------------------------------------------------------------------------------------------------
def csr_edges(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """``(edge_index int64 [2, nnz], values [nnz])`` of a CSR matrix with sorted indices: sorted by (row, column)."""
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    return np.stack([rows, matrix.indices.astype(np.int64)]), matrix.data


def _check_shape(matrix: sp.spmatrix, shape: tuple[int, int], path: Path, what: str) -> None:
    if matrix.shape != shape:
        raise InputError(f"{path}: shape {matrix.shape}, expected {shape} ({what}); the matrices of one dataset must "
                         "share one shape")


def _check_no_duplicates(matrix: sp.csr_matrix, path: Path) -> None:
    # with sorted indices a repeated (row, column) is two equal neighbours in (row, column) order
    edge_index, _ = csr_edges(matrix)
    keys = edge_index[0] * matrix.shape[1] + edge_index[1]
    repeated = np.diff(keys) == 0
    if repeated.any():
        at = int(np.argmax(repeated))
        raise InputError(f"{path}: entry ({edge_index[0, at]}, {edge_index[1, at]}) is stored twice; every pair must "
                         "appear once")


# ----------------------------------------------------------------------------------------------------------------------
# Spec base
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HeteroGraphSpec(DatasetSpec):
    """A dataset that is one :class:`HeteroData` with index splits: ``load()`` reads and checks the raw files each
    time (no processed cache; loading takes well under a second). Subclasses implement :meth:`build` and
    :meth:`counts`."""

    def build(self, paths: dict[str, Path]) -> HeteroData:
        """The graph from the checked raw files ``paths`` (role -> local path)."""
        raise NotImplementedError

    def counts(self, data: HeteroData) -> dict[str, int]:
        """Named counts of ``data`` for ``graphgen data info`` (nodes, edges, split sizes)."""
        raise NotImplementedError

    def check_split(self, split: str | None) -> None:
        if split not in (None, ALL_SPLIT):
            raise InputError(f"dataset '{self.name}' is one graph with index splits: split must be '{ALL_SPLIT}' "
                             f"(or left out), got {split!r}; its train / val / test parts are attributes of the graph "
                             "load_dataset returns")

    def load(self, split: str | None = None, data_dir: str | os.PathLike | None = None, *, download: bool = False,
             num_workers: int | None = None) -> HeteroData:
        """The whole graph (``split`` must be ``None`` or ``"all"``; ``num_workers`` is unused: nothing to convert)."""
        self.check_split(split)
        return self.build(self.raw_paths(data_dir, download=download))

    def prepare(self, split: str = ALL_SPLIT, data_dir: str | os.PathLike | None = None, *, download: bool = False,
                num_workers: int | None = None, rebuild: bool = False, progress: bool = True) -> Path:
        """Nothing to cache: check (or download) the raw files and return the folder holding the first one."""
        self.check_split(split)
        paths = self.raw_paths(data_dir, download=download)
        return next(iter(paths.values())).parent

    def split_sizes(self, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
        """``{"all": 1}``: one graph (after checking that the raw files are there and intact)."""
        self.raw_paths(data_dir)
        return {ALL_SPLIT: 1}


# ----------------------------------------------------------------------------------------------------------------------
# Retail Rocket
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetailRocketSpec(HeteroGraphSpec):
    """DiffGraph-Rec's Retail Rocket: users x items with view / cart / buy timestamps and one test purchase per user.

    Raw roles: one per behaviour (``view``, ``cart``, ``buy``: int64 timestamp matrices) and ``test`` (1.0 per
    held-out pair). ``num_users`` / ``num_items``: the documented shape every matrix must have.
    """

    behaviours: tuple[str, ...] = ("view", "cart", "buy")
    num_users: int = 2174
    num_items: int = 30113

    def build(self, paths: dict[str, Path]) -> HeteroData:
        shape = (self.num_users, self.num_items)
        data = HeteroData()
        data["user"].num_nodes = self.num_users
        data["item"].num_nodes = self.num_items
        data.behaviours = list(self.behaviours)
        for behaviour in self.behaviours:
            edge_index, time = self._read_behaviour(paths[behaviour], shape, behaviour)
            data["user", behaviour, "item"].edge_index = torch.from_numpy(edge_index)
            data["user", behaviour, "item"].time = torch.from_numpy(time)
        target = data["user", self.behaviours[-1], "item"]
        test_pairs = self._read_test(paths["test"], shape, target.edge_index.numpy())
        fit, val = carve_validation(target.edge_index.numpy(), target.time.numpy())
        target.val_pairs = torch.from_numpy(target.edge_index.numpy()[:, val])
        target.time = target.time[torch.from_numpy(fit)]
        target.edge_index = target.edge_index[:, torch.from_numpy(fit)]
        target.test_pairs = torch.from_numpy(test_pairs)
        data.num_val_users = int(val.sum())
        self._hold_out_auxiliary(data, target.val_pairs.numpy())
        return data

    def _hold_out_auxiliary(self, data: HeteroData, val_pairs: np.ndarray) -> None:
        """Move the view / cart edges of the validation pairs to ``.val_edge_index`` / ``.val_time``: the files hold
        no view or cart of any test pair (the test period is cut from every behaviour), so a validation purchase
        keeps none either, else its views would give it away (81% of them are viewed, 91% carted)."""
        val_keys = val_pairs[0] * self.num_items + val_pairs[1]
        for behaviour in self.behaviours[:-1]:
            store = data["user", behaviour, "item"]
            edges = store.edge_index.numpy()
            held = np.isin(edges[0] * self.num_items + edges[1], val_keys)
            store.val_edge_index = torch.from_numpy(edges[:, held])
            store.val_time = store.time[torch.from_numpy(held)]
            store.edge_index = torch.from_numpy(edges[:, ~held])
            store.time = store.time[torch.from_numpy(~held)]

    def _read_behaviour(self, path: Path, shape: tuple[int, int], behaviour: str) -> tuple[np.ndarray, np.ndarray]:
        matrix = read_sparse(path)
        _check_shape(matrix, shape, path, "users x items")
        _check_no_duplicates(matrix, path)
        if matrix.dtype.kind not in "iu":
            raise InputError(f"{path}: {behaviour} values must be integer Unix timestamps, got dtype {matrix.dtype}")
        edge_index, time = csr_edges(matrix)
        if (time <= 0).any():  # 0 means "no interaction" in DiffGraph's files; a stored one would become an edge
            at = int(np.argmax(time <= 0))
            raise InputError(f"{path}: {behaviour} timestamp {time[at]} <= 0 stored for (user {edge_index[0, at]}, "
                             f"item {edge_index[1, at]}); stored entries must be positive Unix timestamps")
        return edge_index, time.astype(np.int64)

    def _read_test(self, path: Path, shape: tuple[int, int], train_buys: np.ndarray) -> np.ndarray:
        matrix = read_sparse(path)
        _check_shape(matrix, shape, path, "users x items")
        _check_no_duplicates(matrix, path)
        pairs, values = csr_edges(matrix)
        if (values == 0).any():
            at = int(np.argmax(values == 0))
            raise InputError(f"{path}: test value 0 stored for (user {pairs[0, at]}, item {pairs[1, at]}); stored "
                             "entries are held-out purchases and must be nonzero")
        per_user = np.bincount(pairs[0], minlength=self.num_users)
        if (per_user != 1).any():  # leave-one-out: FORMAT.md documents exactly one held-out purchase per user
            user = int(np.argmax(per_user != 1))
            raise InputError(f"{path}: user {user} has {per_user[user]} test purchases; the leave-one-out split has "
                             f"exactly one per user ({self.num_users} rows)")
        train_keys = train_buys[0] * self.num_items + train_buys[1]
        test_keys = pairs[0] * self.num_items + pairs[1]
        also_trained = np.isin(test_keys, train_keys)
        if also_trained.any():
            at = int(np.argmax(also_trained))
            raise InputError(f"{path}: test pair (user {pairs[0, at]}, item {pairs[1, at]}) is also a training "
                             "purchase; a held-out purchase must not be in the training matrix")
        return pairs

    def counts(self, data: HeteroData) -> dict[str, int]:
        target = data["user", self.behaviours[-1], "item"]
        out = {"users": data["user"].num_nodes, "items": data["item"].num_nodes}
        for behaviour in self.behaviours[:-1]:
            store = data["user", behaviour, "item"]
            out[f"{behaviour} edges"] = store.num_edges
            out[f"{behaviour} edges of val purchases (held out)"] = store.val_edge_index.shape[1]
        fit, val = target.edge_index.shape[1], target.val_pairs.shape[1]
        out[f"{self.behaviours[-1]} edges (training purchases before carving)"] = fit + val
        out["train purchases (after carving)"] = fit
        out["val purchases (carved)"] = val
        out["test purchases"] = target.test_pairs.shape[1]
        return out


def carve_validation(edge_index: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``(fit, val)`` over the columns of ``edge_index`` [2, E] (users in row 0): for every user with
    >= 2 edges, the latest one (largest ``time``; ties -> largest item id) is ``val``; every other edge is ``fit``."""
    users, items = edge_index
    by_user_then_time = np.lexsort((items, time, users))  # last of a user's run: latest, then largest item
    last_of_user = np.ones(len(users), dtype=bool)
    last_of_user[:-1] = users[by_user_then_time][1:] != users[by_user_then_time][:-1]
    per_user = np.bincount(users, minlength=int(users.max(initial=-1)) + 1)
    val = np.zeros(len(users), dtype=bool)
    latest = by_user_then_time[last_of_user]
    val[latest[per_user[users[latest]] >= 2]] = True
    return ~val, val


# ----------------------------------------------------------------------------------------------------------------------
# AMiner
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AMinerSpec(HeteroGraphSpec):
    """DiffGraph_NC's AMiner (HeCo preprocessing): papers (labelled), authors, references and meta-path graphs.

    Raw roles: ``labels``, ``pa``, ``pr``, ``pap``, ``prp``, ``pos`` and ``{train,val,test}_{rate}`` per label rate.
    """

    num_papers: int = 6564
    num_authors: int = 13329
    num_references: int = 35890
    num_classes: int = 4
    label_rates: tuple[int, ...] = (20, 40, 60)
    # meta-path graph -> whether the file must be symmetric (HeCo's positive pairs are chosen per paper: not)
    meta_paths: tuple[tuple[str, bool], ...] = (("pap", True), ("prp", True), ("pos", False))

    def build(self, paths: dict[str, Path]) -> HeteroData:
        data = HeteroData()
        data["paper"].num_nodes = self.num_papers
        data["author"].num_nodes = self.num_authors
        data["reference"].num_nodes = self.num_references
        y = self._read_labels(paths["labels"])
        data["paper"].y = torch.from_numpy(y)
        data["paper", "written_by", "author"].edge_index = self._read_links(paths["pa"], self.num_authors, "author")
        data["paper", "cites", "reference"].edge_index = self._read_links(paths["pr"], self.num_references,
                                                                          "reference")
        for name, symmetric in self.meta_paths:
            data["paper", name, "paper"].edge_index = self._read_meta_path(paths[name], symmetric)
        for rate in self.label_rates:
            parts = {part: self._read_split(paths[f"{part}_{rate}"]) for part in ("train", "val", "test")}
            _check_disjoint(parts, rate, {part: paths[f"{part}_{rate}"] for part in parts})
            _check_balanced(parts["train"], y, rate, self.num_classes, paths[f"train_{rate}"])
            for part, index in parts.items():
                data["paper"][f"{part}_idx_{rate}"] = torch.from_numpy(index)
        data.label_rates = list(self.label_rates)
        data.num_classes = self.num_classes
        return data

    def _read_labels(self, path: Path) -> np.ndarray:
        y = read_index_array(path)
        if len(y) != self.num_papers:
            raise InputError(f"{path}: {len(y)} labels, expected one per paper ({self.num_papers})")
        bad = (y < 0) | (y >= self.num_classes)
        if bad.any():
            at = int(np.argmax(bad))
            raise InputError(f"{path}: paper {at} has label {y[at]}, outside 0..{self.num_classes - 1}")
        return y

    def _read_links(self, path: Path, num_right: int, right_name: str) -> torch.Tensor:
        pairs = read_pair_file(path, self.num_papers, num_right, right_name)
        order = np.lexsort((pairs[:, 1], pairs[:, 0]))  # sorted by (paper, other): independent of the line order
        return torch.from_numpy(np.ascontiguousarray(pairs[order].T))

    def _read_meta_path(self, path: Path, symmetric: bool) -> torch.Tensor:
        matrix = read_sparse(path)
        _check_shape(matrix, (self.num_papers, self.num_papers), path, "papers x papers")
        _check_no_duplicates(matrix, path)
        edge_index, values = csr_edges(matrix)
        if (values == 0).any():  # a stored zero would become an edge DiffGraph does not have
            at = int(np.argmax(values == 0))
            raise InputError(f"{path}: value 0 stored at ({edge_index[0, at]}, {edge_index[1, at]}); stored entries "
                             "must be nonzero")
        if symmetric and (matrix != matrix.T).nnz:
            row, col = (matrix != matrix.T).nonzero()
            raise InputError(f"{path}: not symmetric: ({row[0]}, {col[0]}) and ({col[0]}, {row[0]}) differ; a "
                             "meta-path graph must be symmetric")
        return torch.from_numpy(edge_index)

    def _read_split(self, path: Path) -> np.ndarray:
        index = read_index_array(path)
        bad = (index < 0) | (index >= self.num_papers)
        if bad.any():
            raise InputError(f"{path}: paper id {index[np.argmax(bad)]} out of range 0..{self.num_papers - 1}")
        if len(np.unique(index)) != len(index):
            raise InputError(f"{path}: paper ids repeat; a split lists each paper once")
        return index

    def counts(self, data: HeteroData) -> dict[str, int]:
        out = {f"{node_type}s": data[node_type].num_nodes for node_type in ("paper", "author", "reference")}
        for edge_type in data.edge_types:
            out[f"{edge_type[1]} edges"] = data[edge_type].num_edges
        out["classes"] = self.num_classes
        for rate in self.label_rates:
            for part in ("train", "val", "test"):
                out[f"{part} papers ({rate} per class)"] = len(data["paper"][f"{part}_idx_{rate}"])
        return out


def _check_disjoint(parts: dict[str, np.ndarray], rate: int, paths: dict[str, Path]) -> None:
    names = list(parts)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = np.intersect1d(parts[a], parts[b])
            if len(shared):
                raise InputError(f"{paths[b]}: paper {shared[0]} is also in {paths[a].name}; the {a} / {b} splits of "
                                 f"rate {rate} must be disjoint")


def _check_balanced(train: np.ndarray, y: np.ndarray, rate: int, num_classes: int, path: Path) -> None:
    per_class = np.bincount(y[train], minlength=num_classes)
    if (per_class != rate).any():
        raise InputError(f"{path}: {per_class.tolist()} training papers per class, expected {rate} of each class")
