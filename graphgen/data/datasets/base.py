"""Shared machinery of every dataset: the spec, the on-disk cache and the ``GraphDataset`` that reads it.

A dataset is described by a :class:`DatasetSpec` (its raw files with sha256 and source URL, its splits, how one raw
row becomes one graph). ``spec.load(split)`` returns a :class:`GraphDataset` backed by a processed cache under
:func:`graphgen.data.raw.cache_root`::

    <cache_root>/<dataset name>/<split>-<key>/
        meta.json            sizes, node/edge statistics, vocabulary, skipped rows, raw files, build time
        node_ptr.npy         int64 [G+1]  graph g owns nodes node_ptr[g]:node_ptr[g+1]
        edge_ptr.npy         int64 [G+1]  graph g owns edges edge_ptr[g]:edge_ptr[g+1]
        rows.npy             int64 [G]    row of the raw file each graph came from (0-based)
        node.<attr>.npy      [N_total, ...] per-node arrays (``x``, ``charge``, ...)
        edge.<attr>.npy      [E_total, ...] per-edge arrays; ``edge.edge_index.npy`` is [E_total, 2] with
                             graph-local node indices (both directions of every undirected edge)
        graph.<attr>.npy     [G, ...] per-graph arrays (``y``)
        smiles.txt           one SMILES per graph (molecule datasets)

``<key>`` hashes the cache format, the spec's processing ``version``, the split and the sha256 of every raw file,
so a new raw file or a change of the processing code (bump ``version``) gives a new folder and the cache is rebuilt;
stale folders of the same split are removed after a successful build. Arrays are opened with
``numpy.load(mmap_mode="r")``, so re-opening a cache costs little memory and time; ``__getitem__`` slices one graph
out and builds a :class:`torch_geometric.data.Data`. A build writes into a temporary folder and renames it into
place, so an interrupted build never leaves a half-written cache.

Raw rows that cannot be converted (bad SMILES, an element outside the vocabulary, a node id out of range) are
skipped, counted and reported: a ``warnings.warn`` naming the count and the first rows with their reasons, the full
list in ``meta.json`` (``graphgen data info NAME`` prints it). Nothing is dropped silently.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch_geometric.data import Data

from graphgen.data.raw import ChecksumMismatchError, MissingRawFileError, RawFile, cache_root, data_root, fetch, sha256_of

# Bump when the layout of the cache folder changes (independent of each spec's processing ``version``).
CACHE_FORMAT = 1
# Rows per work item sent to a worker process.
CHUNK_SIZE = 4096
# Below this many rows the build runs in the calling process (starting workers costs more than it saves).
MIN_ROWS_FOR_POOL = 20_000
# How many skipped rows are quoted in the warning.
WARN_FIRST = 5


# ----------------------------------------------------------------------------------------------------------------------
# Converted arrays
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class GraphArrays:
    """Graphs of one chunk (or of a whole split) as concatenated arrays.

    Attributes:
        num_nodes: int64 [G] nodes per graph.
        num_edges: int64 [G] directed edges per graph (entries of ``edge_index``).
        node: per-node arrays, first dimension ``num_nodes.sum()``.
        edge: per-edge arrays, first dimension ``num_edges.sum()``; ``edge["edge_index"]`` is [E, 2] graph-local.
        graph: per-graph arrays, first dimension G.
        rows: int64 [G] raw row of each kept graph.
        skipped: ``(row, reason)`` of every row that could not be converted.
        notes: ``(row, remark)`` of rows that were converted with a caveat (e.g. a relaxed RDKit parse).
    """

    num_nodes: np.ndarray
    num_edges: np.ndarray
    node: dict[str, np.ndarray]
    edge: dict[str, np.ndarray]
    graph: dict[str, np.ndarray]
    rows: np.ndarray
    skipped: list[tuple[int, str]] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)

    @staticmethod
    def concat(parts: Sequence[GraphArrays]) -> GraphArrays:
        """Concatenate chunks in order (every chunk must carry the same array names)."""
        if not parts:
            raise ValueError("GraphArrays.concat needs at least one part")

        def cat(key: str, kind: str) -> np.ndarray:
            return _compact(np.concatenate([getattr(p, kind)[key] for p in parts]))

        first = parts[0]
        return GraphArrays(
            num_nodes=np.concatenate([p.num_nodes for p in parts]).astype(np.int64),
            num_edges=np.concatenate([p.num_edges for p in parts]).astype(np.int64),
            node={k: cat(k, "node") for k in first.node},
            edge={k: cat(k, "edge") for k in first.edge},
            graph={k: np.concatenate([p.graph[k] for p in parts]) for k in first.graph},
            rows=np.concatenate([p.rows for p in parts]).astype(np.int64),
            skipped=[s for p in parts for s in p.skipped],
            notes=[s for p in parts for s in p.notes],
        )


def _compact(a: np.ndarray) -> np.ndarray:
    """Store integer arrays in the smallest signed dtype that holds their values (they are widened on read)."""
    if a.dtype.kind not in "iu" or a.size == 0:
        return a
    lo, hi = int(a.min()), int(a.max())
    for dt in (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return a.astype(dt, copy=False)
    return a


def empty_arrays(node_keys: dict[str, tuple[tuple[int, ...], Any]], edge_keys: dict[str, tuple[tuple[int, ...], Any]],
                 graph_keys: dict[str, tuple[tuple[int, ...], Any]] | None = None) -> GraphArrays:
    """A chunk with no graph, with the given array names, trailing shapes and dtypes."""
    mk = lambda spec: {k: np.zeros((0, *shape), dtype=dt) for k, (shape, dt) in spec.items()}  # noqa: E731
    return GraphArrays(np.zeros(0, np.int64), np.zeros(0, np.int64), mk(node_keys), mk(edge_keys),
                       mk(graph_keys or {}), np.zeros(0, np.int64))


@dataclass
class SplitSource:
    """What the builder converts for one split: the raw row ids and one payload per row.

    Attributes:
        rows: int64 [R] row index of each payload in its raw file (what errors and ``meta['skipped']`` quote).
        items: R payloads handed to the spec's converter (a SMILES string, a graph dict, ...).
        graph: per-row graph-level arrays known before conversion (e.g. targets), first dimension R.
        smiles: R SMILES strings to keep beside the graphs (molecule datasets), else ``None``.
    """

    rows: np.ndarray
    items: Sequence[Any]
    graph: dict[str, np.ndarray] = field(default_factory=dict)
    smiles: Sequence[str] | None = None


# ----------------------------------------------------------------------------------------------------------------------
# Spec
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetSpec:
    """Declaration of one dataset: raw files, splits and processing.

    Subclasses implement :meth:`split_sizes` (cheap: counts rows without converting anything),
    :meth:`read_split` (raw files -> :class:`SplitSource`) and :meth:`converter` (a picklable function
    ``(rows, items) -> GraphArrays`` that runs in worker processes).

    Args:
        name: registry name (also the cache folder name).
        raw: role -> :class:`~graphgen.data.raw.RawFile`.
        splits: split names, in order.
        version: processing-code version; bump it whenever conversion changes so caches are rebuilt.
        description: one line for ``graphgen data list``.
        card: dataset card, relative to the repository root (``datasets/<name>.md``).
    """

    # edge_index lists directed edges (scene-graph relations, lane successors) rather than both directions of
    # undirected ones; only the edge statistics of meta.json read it
    directed_edges: ClassVar[bool] = False

    name: str
    raw: dict[str, RawFile]
    splits: tuple[str, ...]
    version: int = 1
    description: str = ""
    card: str = ""

    # --- to implement -------------------------------------------------------------------------------------------
    def split_sizes(self, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
        """Number of raw rows in each split, read from the raw files without converting graphs."""
        raise NotImplementedError

    def read_split(self, split: str, paths: dict[str, Path]) -> SplitSource:
        """Rows of ``split`` read from the checked raw files ``paths`` (role -> local path)."""
        raise NotImplementedError

    def converter(self) -> Callable[[np.ndarray, Sequence[Any]], GraphArrays]:
        """Picklable ``(rows, items) -> GraphArrays`` converting one chunk."""
        raise NotImplementedError

    def vocabulary(self) -> dict[str, Any]:
        """JSON-able description of node/edge label meanings (stored in meta, printed by ``data info``)."""
        return {}

    def make_dataset(self, cache_dir: Path) -> GraphDataset:
        return GraphDataset(cache_dir)

    # --- shared -------------------------------------------------------------------------------------------------
    def check_split(self, split: str) -> None:
        if split not in self.splits:
            raise ValueError(f"dataset '{self.name}' has no split '{split}'; choose one of {list(self.splits)}")

    def raw_paths(self, data_dir: str | os.PathLike | None = None, *, download: bool = False) -> dict[str, Path]:
        """Local paths of all raw files after checking their sha256 (raises the errors of :func:`raw.fetch`)."""
        return {role: fetch(raw, data_dir, download=download) for role, raw in self.raw.items()}

    def cache_key(self, split: str) -> str:
        """Hash of what the cache depends on: format, split, raw sha256s and every processing field of the spec
        (``version``, vocabulary, column names, ...; not ``description`` / ``card``)."""
        settings = {f.name: repr(getattr(self, f.name)) for f in fields(self)
                    if f.name not in ("raw", "description", "card")}
        payload = json.dumps(
            {"format": CACHE_FORMAT, "split": split, "settings": settings,
             "raw": {role: raw.sha256 for role, raw in sorted(self.raw.items())}},
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def cache_dir(self, split: str) -> Path:
        return cache_root() / self.name / f"{split}-{self.cache_key(split)}"

    def prepare(self, split: str, data_dir: str | os.PathLike | None = None, *, download: bool = False,
                num_workers: int | None = None, rebuild: bool = False, progress: bool = True) -> Path:
        """Build the cache of ``split`` unless an up-to-date one exists; return its folder."""
        self.check_split(split)
        paths = self.raw_paths(data_dir, download=download)
        final = self.cache_dir(split)
        if (final / "meta.json").exists() and not rebuild:
            return final
        build_cache(self, split, paths, final, num_workers=num_workers, progress=progress)
        return final

    def load(self, split: str = "train", data_dir: str | os.PathLike | None = None, *, download: bool = False,
             num_workers: int | None = None) -> GraphDataset:
        """The :class:`GraphDataset` of ``split``, building its cache first if needed."""
        ds = self.make_dataset(self.prepare(split, data_dir, download=download, num_workers=num_workers))
        skipped = ds.meta["skipped"]
        if skipped["count"]:
            warnings.warn(_skipped_message(self.name, split, skipped), stacklevel=2)
        return ds

    def raw_status(self, data_dir: str | os.PathLike | None = None) -> list[dict[str, str]]:
        """Per raw file: role, path, expected sha256 and status (``ok`` / ``missing`` / ``MISMATCH <actual>``)."""
        root = data_root(data_dir)
        out = []
        for role, raw in self.raw.items():
            path = root / raw.path
            if not path.exists():
                status = "missing"
            else:
                actual = sha256_of(path)
                status = "ok" if actual == raw.sha256 else f"MISMATCH (actual {actual})"
            out.append({"role": role, "path": str(path), "sha256": raw.sha256, "status": status, "url": raw.url,
                        "downloadable": str(raw.downloadable)})
        return out


def _skipped_message(name: str, split: str, skipped: dict[str, Any]) -> str:
    first = "; ".join(f"row {r}: {why}" for r, why in skipped["rows"][:WARN_FIRST])
    return (f"{name}/{split}: skipped {skipped['count']} of {skipped['total']} raw rows that could not be converted "
            f"(first: {first}). The full list is in the cache metadata: run `graphgen data info {name}`.")


# ----------------------------------------------------------------------------------------------------------------------
# Build
# ----------------------------------------------------------------------------------------------------------------------
def _chunks(rows: np.ndarray, items: Sequence[Any], size: int) -> Iterator[tuple[np.ndarray, list[Any]]]:
    for start in range(0, len(items), size):
        yield rows[start:start + size], list(items[start:start + size])


def _run_chunk(args: tuple[Callable, np.ndarray, list[Any]]) -> GraphArrays:
    fn, rows, items = args
    part = fn(rows, items)
    # Shrink integer arrays in the worker: less to pickle back and less held by the parent until the final concat.
    part.node = {k: _compact(v) for k, v in part.node.items()}
    part.edge = {k: _compact(v) for k, v in part.edge.items()}
    return part


def _pool_context() -> multiprocessing.context.BaseContext:
    # Workers only run RDKit / numpy code, so fork (cheap, no re-import) is safe; elsewhere fall back to spawn.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def convert_all(fn: Callable[[np.ndarray, Sequence[Any]], GraphArrays], rows: np.ndarray, items: Sequence[Any], *,
                num_workers: int | None = None, progress: bool = True, desc: str = "") -> GraphArrays:
    """Run ``fn`` over chunks of ``items`` (in worker processes when there are many) and concatenate in order."""
    from tqdm.auto import tqdm

    workers = num_workers if num_workers is not None else (os.cpu_count() or 1)
    jobs = ((fn, r, it) for r, it in _chunks(rows, items, CHUNK_SIZE))
    n_chunks = max(1, -(-len(items) // CHUNK_SIZE))
    bar = tqdm(total=len(items), desc=desc, unit="graph", disable=not progress or len(items) < 5000, leave=False)
    parts = []
    if workers > 1 and len(items) >= MIN_ROWS_FOR_POOL:
        with _pool_context().Pool(min(workers, n_chunks)) as pool:
            for part in pool.imap(_run_chunk, jobs):
                parts.append(part)
                bar.update(len(part.rows) + len(part.skipped))
    else:
        for job in jobs:
            part = _run_chunk(job)
            parts.append(part)
            bar.update(len(part.rows) + len(part.skipped))
    bar.close()
    if not parts:
        parts = [fn(rows[:0], [])]
    return GraphArrays.concat(parts)


def _stats(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"min": 0, "mean": 0.0, "max": 0}
    return {"min": int(values.min()), "mean": round(float(values.mean()), 4), "max": int(values.max())}


def build_cache(spec: DatasetSpec, split: str, paths: dict[str, Path], final: Path, *,
                num_workers: int | None = None, progress: bool = True) -> None:
    """Convert ``split`` and write its cache folder atomically at ``final`` (see the module docstring)."""
    t0 = time.perf_counter()
    source = spec.read_split(split, paths)
    total = len(source.items)
    src_rows = np.asarray(source.rows, dtype=np.int64)
    if len(src_rows) != total:
        raise ValueError(f"{spec.name}/{split}: read_split returned {len(src_rows)} row ids for {total} items")
    # Converters see positions 0..R-1; they are mapped back to raw-file rows afterwards.
    arrays = convert_all(spec.converter(), np.arange(total, dtype=np.int64), source.items,
                         num_workers=num_workers, progress=progress, desc=f"{spec.name}/{split}")
    keep = arrays.rows
    arrays.rows = src_rows[keep]
    arrays.skipped = [(int(src_rows[p]), why) for p, why in arrays.skipped]
    arrays.notes = [(int(src_rows[p]), why) for p, why in arrays.notes]
    for key, arr in source.graph.items():
        arrays.graph[key] = np.asarray(arr)[keep]

    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        np.save(tmp / "node_ptr.npy", np.concatenate([[0], np.cumsum(arrays.num_nodes)]).astype(np.int64))
        np.save(tmp / "edge_ptr.npy", np.concatenate([[0], np.cumsum(arrays.num_edges)]).astype(np.int64))
        np.save(tmp / "rows.npy", arrays.rows)
        for kind in ("node", "edge", "graph"):
            for key, arr in getattr(arrays, kind).items():
                np.save(tmp / f"{kind}.{key}.npy", np.ascontiguousarray(arr))
        if source.smiles is not None:
            with open(tmp / "smiles.txt", "w") as f:
                for i in keep:
                    f.write(source.smiles[i])
                    f.write("\n")
        meta = {
            "name": spec.name,
            "split": split,
            "key": final.name.rsplit("-", 1)[-1],
            "cache_format": CACHE_FORMAT,
            "version": spec.version,
            "num_graphs": int(len(arrays.rows)),
            "num_nodes": int(arrays.num_nodes.sum()),
            "num_edges": int(arrays.num_edges.sum()),
            "nodes": _stats(arrays.num_nodes),
            # undirected datasets store every edge in both directions: count it once
            "edges": _stats(arrays.num_edges if spec.directed_edges else arrays.num_edges // 2),
            "directed": spec.directed_edges,
            "arrays": {f"{kind}.{k}": {"dtype": str(v.dtype), "shape": list(v.shape)}
                       for kind in ("node", "edge", "graph") for k, v in getattr(arrays, kind).items()},
            "has_smiles": source.smiles is not None,
            "vocabulary": spec.vocabulary(),
            "skipped": {"count": len(arrays.skipped), "total": total,
                        "rows": [[int(r), str(why)] for r, why in arrays.skipped]},
            "notes": [[int(r), str(why)] for r, why in arrays.notes],
            "raw": {role: {"path": str(p), "sha256": spec.raw[role].sha256} for role, p in paths.items()},
            "build_seconds": round(time.perf_counter() - t0, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with open(tmp / "meta.json", "w") as f:
            json.dump(meta, f, indent=1)
        _publish(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if arrays.skipped:
        warnings.warn(_skipped_message(spec.name, split, meta["skipped"]), stacklevel=3)
    # Remove caches of the same split built from other raw files or an older processing version.
    for old in final.parent.glob(f"{split}-*"):
        if old != final and old.is_dir() and not old.name.startswith(".tmp"):
            shutil.rmtree(old, ignore_errors=True)


def _publish(tmp: Path, final: Path) -> None:
    """Move the finished ``tmp`` folder to ``final`` (a rename: readers never see a partial cache)."""
    if final.exists():  # a forced rebuild, or a stale folder without meta.json: move it aside first
        trash = Path(tempfile.mkdtemp(prefix=f".tmp-old-{final.name}-", dir=final.parent))
        os.replace(final, trash / "old")
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.replace(tmp, final)
    except OSError:
        if not (final / "meta.json").exists():  # not a concurrent builder that won the race
            raise


# ----------------------------------------------------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------------------------------------------------
def _open(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r")
    except ValueError:  # zero-size arrays cannot be memory-mapped
        return np.load(path)


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    if a.dtype.kind in "iu":
        return torch.from_numpy(a.astype(np.int64))
    if a.dtype.kind == "f":
        return torch.from_numpy(a.astype(np.float32))
    if a.dtype.kind == "b":
        return torch.from_numpy(a.astype(np.bool_))
    raise TypeError(f"unsupported cached dtype {a.dtype}")


class GraphDataset(torch.utils.data.Dataset):
    """Graphs of one split, read from a cache folder (see the module docstring for the layout).

    ``dataset[i]`` is a :class:`torch_geometric.data.Data` with ``edge_index`` long [2, E] (both directions),
    ``num_nodes`` and the cached node/edge/graph attributes (integers as long, floats as float32; graph-level
    arrays get a leading dimension of 1 so they batch by concatenation). ``dataset[a:b]`` or
    ``dataset[index_list]`` gives a view of a subset. Works with ``torch_geometric.loader.DataLoader``.
    """

    def __init__(self, cache_dir: str | os.PathLike, indices: np.ndarray | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        meta_path = self.cache_dir / "meta.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{self.cache_dir} is not a finished dataset cache (no meta.json); "
                                    f"run `graphgen data prepare NAME` to build it")
        with open(meta_path) as f:
            self.meta: dict[str, Any] = json.load(f)
        self.name: str = self.meta["name"]
        self.split: str = self.meta["split"]
        self._node_ptr = _open(self.cache_dir / "node_ptr.npy")
        self._edge_ptr = _open(self.cache_dir / "edge_ptr.npy")
        self._arrays: dict[str, dict[str, np.ndarray]] = {"node": {}, "edge": {}, "graph": {}}
        for key in self.meta["arrays"]:
            kind, attr = key.split(".", 1)
            self._arrays[kind][attr] = _open(self.cache_dir / f"{key}.npy")
        self._indices = None if indices is None else np.asarray(indices, dtype=np.int64)

    # --- sizes ----------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.meta["num_graphs"] if self._indices is None else len(self._indices)

    @property
    def num_nodes_per_graph(self) -> np.ndarray:
        """int64 [len(self)] number of nodes of each graph."""
        counts = np.diff(self._node_ptr)
        return counts if self._indices is None else counts[self._indices]

    @property
    def num_edges_per_graph(self) -> np.ndarray:
        """int64 [len(self)] number of directed edges (``edge_index`` columns) of each graph."""
        counts = np.diff(self._edge_ptr)
        return counts if self._indices is None else counts[self._indices]

    @property
    def rows(self) -> np.ndarray:
        """int64 [len(self)] raw-file row each graph was converted from."""
        rows = _open(self.cache_dir / "rows.npy")
        return rows if self._indices is None else rows[self._indices]

    # --- access ---------------------------------------------------------------------------------------------------
    def _global(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {self.name}/{self.split} with {n} graphs")
        i = i % n
        return int(i if self._indices is None else self._indices[i])

    def get(self, g: int) -> Data:
        """Graph number ``g`` of the cache (ignores any subset view)."""
        n0, n1 = int(self._node_ptr[g]), int(self._node_ptr[g + 1])
        e0, e1 = int(self._edge_ptr[g]), int(self._edge_ptr[g + 1])
        data = Data(num_nodes=n1 - n0)
        for attr, arr in self._arrays["node"].items():
            data[attr] = _to_tensor(arr[n0:n1])
        for attr, arr in self._arrays["edge"].items():
            if attr == "edge_index":
                data.edge_index = torch.from_numpy(np.ascontiguousarray(arr[e0:e1].T, dtype=np.int64))
            else:
                data[attr] = _to_tensor(arr[e0:e1])
        for attr, arr in self._arrays["graph"].items():
            data[attr] = _to_tensor(arr[g:g + 1])
        return data

    def __getitem__(self, idx: int | slice | Sequence[int] | np.ndarray | torch.Tensor) -> Data | GraphDataset:
        if isinstance(idx, (int, np.integer)) or (isinstance(idx, torch.Tensor) and idx.dim() == 0):
            return self.get(self._global(int(idx)))
        base = np.arange(len(self)) if not isinstance(idx, slice) else None
        if isinstance(idx, slice):
            sel = np.arange(len(self))[idx]
        else:
            sel = base[np.asarray(idx.cpu() if isinstance(idx, torch.Tensor) else idx, dtype=np.int64)]
        glob = sel if self._indices is None else self._indices[sel]
        return self._view(glob)

    def _view(self, indices: np.ndarray) -> GraphDataset:
        view = object.__new__(type(self))
        view.__dict__.update({k: v for k, v in self.__dict__.items() if k not in ("smiles",)})
        view._indices = indices
        return view

    def __iter__(self) -> Iterator[Data]:
        for i in range(len(self)):
            yield self.get(self._global(i))

    def __getstate__(self) -> dict[str, Any]:
        # Pickle (e.g. for spawn-based DataLoader workers) the folder and view, not the memory-mapped arrays.
        return {k: v for k, v in self.__dict__.items() if k not in ("_node_ptr", "_edge_ptr", "_arrays", "smiles")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        indices = state.pop("_indices")
        extra = {k: v for k, v in state.items() if k not in ("cache_dir", "meta", "name", "split")}
        GraphDataset.__init__(self, state["cache_dir"], indices)
        self.__dict__.update(extra)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, split={self.split}, num_graphs={len(self)})"


class MoleculeDataset(GraphDataset):
    """A :class:`GraphDataset` of molecules: also ``.smiles`` (one per graph, in order) and ``.vocab``."""

    def __init__(self, cache_dir: str | os.PathLike, vocab: Any = None, indices: np.ndarray | None = None) -> None:
        super().__init__(cache_dir, indices)
        self.vocab = vocab

    @cached_property
    def smiles(self) -> list[str]:
        with open(self.cache_dir / "smiles.txt") as f:
            allsmiles = f.read().split("\n")[:-1]
        return allsmiles if self._indices is None else [allsmiles[i] for i in self._indices]


__all__ = [
    "CACHE_FORMAT", "ChecksumMismatchError", "DatasetSpec", "GraphArrays", "GraphDataset", "MissingRawFileError",
    "MoleculeDataset", "RawFile", "SplitSource", "build_cache", "convert_all", "empty_arrays",
]
