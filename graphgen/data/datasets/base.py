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
        manifest.json        written last: size and sha256 of every other file, and the counts they must agree on
                             (graphs, nodes, edges, SMILES lines)

``<key>`` hashes the cache format, the spec's processing ``version``, the split and the sha256 of every raw file,
so a new raw file or a change of the processing code (bump ``version``) gives a new folder and the cache is rebuilt;
stale folders of the same split are removed after a successful build. Arrays are opened with
``numpy.load(mmap_mode="r")``, so re-opening a cache costs little memory and time; ``__getitem__`` slices one graph
out and builds a :class:`torch_geometric.data.Data`. A build writes into a temporary folder and renames it into
place, so an interrupted build never leaves a half-written cache.

Every open checks the folder against ``manifest.json`` (:func:`verify_cache`): each file's size, its sha256, and the
counts (``node_ptr`` / ``edge_ptr`` ends, every array's length and dtype, SMILES lines) against each other. A cache
that does not match raises :class:`CorruptCacheError` naming the file; ``spec.load`` / ``spec.prepare`` instead warn
and rebuild it from the raw files. Hashing reads every byte once (about 20 ms for QM9's train split), so a file
whose size, mtime and ctime are unchanged since it was hashed in this process is not hashed again (only once the
file is two seconds older than that hash, so a rewrite within the filesystem's timestamp granularity is re-hashed);
its counts are still checked on every open.

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
from graphgen.errors import CorruptFileError

# Bump when the layout of the cache folder changes (independent of each spec's processing ``version``).
# 2: manifest.json (caches of format 1 have none, so they get a new key and are rebuilt).
CACHE_FORMAT = 2
# The file a build writes last; a folder without it is not a finished cache.
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
META_NAME = "meta.json"
SMILES_NAME = "smiles.txt"
# A file hashed less than this many seconds after its last change is hashed again on the next open (its timestamps
# may not have moved on a rewrite within the filesystem's granularity; 2 s covers the coarsest, FAT's).
RACY_SECONDS = 2.0
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
        if final.exists() and not rebuild:
            try:
                verify_cache(final)
                return final
            except CorruptCacheError as err:  # the raw files are at hand (checked above): rebuild rather than fail
                warnings.warn(f"{err.path}: {err.problem}; rebuilding the processed cache of {self.name}/{split} "
                              "from the raw files", stacklevel=2)
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
    # `disable` is passed only to switch the bar off: an explicit False would override TQDM_DISABLE, which
    # `graphgen ... --no-progress` sets for the whole command (graphgen/cli.py)
    bar_off = {"disable": True} if not progress or len(items) < 5000 else {}
    bar = tqdm(total=len(items), desc=desc, unit="graph", leave=False, **bar_off)
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
            with open(tmp / SMILES_NAME, "w") as f:
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
        with open(tmp / META_NAME, "w") as f:
            json.dump(meta, f, indent=1)
        write_manifest(tmp, cache_counts(meta["num_graphs"], meta["num_nodes"], meta["num_edges"],
                                         len(keep) if source.smiles is not None else None))
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
    if final.exists():  # a forced rebuild, a damaged cache or a folder without manifest.json: move it aside first
        trash = Path(tempfile.mkdtemp(prefix=f".tmp-old-{final.name}-", dir=final.parent))
        os.replace(final, trash / "old")
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.replace(tmp, final)
    except OSError:
        if not is_finished(final):  # not a concurrent builder that won the race
            raise


# ----------------------------------------------------------------------------------------------------------------------
# Manifest: what a finished cache holds, checked on every open
# ----------------------------------------------------------------------------------------------------------------------
class CorruptCacheError(CorruptFileError):
    """A processed-cache file that does not match the cache's ``manifest.json`` (missing, truncated, appended to,
    changed, unreadable, or with counts that disagree). ``path`` is the file, ``problem`` what is wrong with it."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = Path(path), problem
        dataset = self.path.parent.parent.name  # <cache root>/<dataset>/<split>-<key>/<file>
        super().__init__(f"{path}: {problem}; the processed cache is damaged: `graphgen data prepare {dataset} "
                         f"--rebuild` rebuilds it from the raw files (load_dataset does so by itself)")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across worker processes despite the two-argument __init__
        return type(self), (self.path, self.problem)


def cache_counts(num_graphs: int, num_nodes: int, num_edges: int, smiles_lines: int | None) -> dict[str, int | None]:
    """The counts every file of a cache must agree on (``smiles_lines`` is ``None`` without ``smiles.txt``)."""
    return {"graphs": int(num_graphs), "nodes": int(num_nodes), "edges": int(num_edges),
            "smiles_lines": None if smiles_lines is None else int(smiles_lines)}


def is_finished(folder: Path) -> bool:
    """Whether ``folder`` is a published cache (its manifest, the last file a build writes, exists)."""
    return (folder / MANIFEST_NAME).is_file()


def write_manifest(folder: Path, counts: dict[str, int | None]) -> None:
    """Write ``folder/manifest.json`` over every other file of ``folder`` (size, sha256) and ``counts``.

    Written to a temporary name and renamed, so the manifest is either absent or complete.
    """
    files = {p.name: {"size": p.stat().st_size, "sha256": sha256_of(p)}
             for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST_NAME and p.suffix != ".tmp"}
    doc = {"format": MANIFEST_FORMAT, "counts": counts, "files": files}
    tmp = folder / f"{MANIFEST_NAME}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MANIFEST_NAME)


def _read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from a cache file; anything else is a :class:`CorruptCacheError` naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CorruptCacheError(path, "missing") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CorruptCacheError(path, f"unreadable ({err})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise CorruptCacheError(path, f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    if not isinstance(doc, dict):
        raise CorruptCacheError(path, f"expected a JSON object, found {type(doc).__name__}")
    return doc


# (st_dev, st_ino) -> (size, mtime_ns, ctime_ns, sha256) of files whose hash matched their manifest in this process
_HASHED: dict[tuple[int, int], tuple[int, int, int, str]] = {}


def _check_file(path: Path, entry: Any) -> None:
    """``path`` has the size and sha256 its manifest ``entry`` records (see the module docstring for when the
    hash is taken from the per-process record instead of the bytes)."""
    if not (isinstance(entry, dict) and isinstance(entry.get("size"), int) and isinstance(entry.get("sha256"), str)):
        raise CorruptCacheError(path.parent / MANIFEST_NAME, f"the entry of {path.name} is not {{size, sha256}}")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CorruptCacheError(path, "missing (listed in manifest.json)") from None
    if st.st_size != entry["size"]:
        change = "truncated" if st.st_size < entry["size"] else "appended to"
        raise CorruptCacheError(path, f"{st.st_size} bytes where the manifest records {entry['size']} ({change})")
    signature = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, entry["sha256"])
    if _HASHED.get((st.st_dev, st.st_ino)) == signature:
        return
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        raise CorruptCacheError(path, f"sha256 {actual[:16]}... differs from the manifest's "
                                      f"{entry['sha256'][:16]}... (the bytes changed)")
    last_change = max(st.st_mtime_ns, st.st_ctime_ns) / 1e9
    if time.time() - last_change > RACY_SECONDS:  # only files old enough that a rewrite moves their timestamps
        _HASHED[(st.st_dev, st.st_ino)] = signature


def _open_checked(path: Path) -> np.ndarray:
    """:func:`_open` with a damaged ``.npy`` reported as a :class:`CorruptCacheError`."""
    try:
        return _open(path)
    except FileNotFoundError:
        raise CorruptCacheError(path, "missing") from None
    except (ValueError, OSError, EOFError) as err:
        raise CorruptCacheError(path, f"not a readable .npy array ({err})") from None


def _check_offsets(path: Path, ptr: np.ndarray, num_graphs: int, total: int, what: str) -> None:
    """``ptr`` is int [G+1], starts at 0, never decreases and ends at ``total``."""
    if ptr.dtype.kind not in "iu" or ptr.shape != (num_graphs + 1,):
        raise CorruptCacheError(path, f"expected int [{num_graphs + 1}] offsets for {num_graphs} graphs, found "
                                      f"{ptr.dtype} {list(ptr.shape)}")
    if int(ptr[0]) != 0 or int(ptr[-1]) != total or bool(np.any(np.diff(ptr) < 0)):
        raise CorruptCacheError(path, f"offsets must rise from 0 to the {total} {what} of the cache, found "
                                      f"{int(ptr[0])}..{int(ptr[-1])}")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_counts(folder: Path, meta: dict[str, Any], counts: dict[str, Any]) -> None:
    """Every array's length and dtype, the offsets' ends and the SMILES lines agree with the manifest's counts."""
    graphs, nodes, edges, smiles_lines = (counts.get(k) for k in ("graphs", "nodes", "edges", "smiles_lines"))
    if not all(_is_count(v) for v in (graphs, nodes, edges)) or not (smiles_lines is None or _is_count(smiles_lines)):
        raise CorruptCacheError(folder / MANIFEST_NAME, f"counts {counts} are not graphs / nodes / edges / "
                                                        "smiles_lines integers")
    arrays = meta.get("arrays")
    if not isinstance(arrays, dict):
        raise CorruptCacheError(folder / META_NAME, "has no 'arrays' object")
    for key, expected in (("num_graphs", graphs), ("num_nodes", nodes), ("num_edges", edges)):
        if meta.get(key) != expected:
            raise CorruptCacheError(folder / META_NAME, f"{key} is {meta.get(key)!r}, the manifest counts {expected}")
    _check_offsets(folder / "node_ptr.npy", _open_checked(folder / "node_ptr.npy"), graphs, nodes, "nodes")
    _check_offsets(folder / "edge_ptr.npy", _open_checked(folder / "edge_ptr.npy"), graphs, edges, "edges")
    rows = _open_checked(folder / "rows.npy")
    if rows.shape != (graphs,):
        raise CorruptCacheError(folder / "rows.npy", f"{list(rows.shape)} rows for {graphs} graphs")
    first_dim = {"node": nodes, "edge": edges, "graph": graphs}
    for key, spec in arrays.items():
        path = folder / f"{key}.npy"
        arr = _open_checked(path)
        kind = key.split(".", 1)[0]
        if kind not in first_dim or not isinstance(spec, dict):
            raise CorruptCacheError(folder / META_NAME, f"array entry {key!r} is not node./edge./graph. with a spec")
        if str(arr.dtype) != spec.get("dtype") or list(arr.shape) != spec.get("shape") or \
                arr.shape[:1] != (first_dim[kind],):
            raise CorruptCacheError(path, f"{arr.dtype} {list(arr.shape)}, expected {spec.get('dtype')} "
                                          f"{spec.get('shape')} with {first_dim[kind]} {kind} rows")
    if smiles_lines is not None or meta.get("has_smiles"):
        path = folder / SMILES_NAME
        try:
            found = path.read_bytes().count(b"\n")
        except FileNotFoundError:
            raise CorruptCacheError(path, "missing") from None
        if found != graphs or smiles_lines != graphs:
            raise CorruptCacheError(path, f"{found} SMILES lines for {graphs} graphs (the manifest counts "
                                          f"{smiles_lines} lines)")


def verify_cache(folder: str | os.PathLike) -> dict[str, Any]:
    """Check a cache folder against its ``manifest.json`` and return its ``meta.json``.

    Raises:
        CorruptCacheError: naming the first file that is missing, has another size or sha256 than the manifest
            records, is unreadable, or whose counts disagree with the others.
    """
    folder = Path(folder)
    manifest = _read_json_object(folder / MANIFEST_NAME)
    files, counts = manifest.get("files"), manifest.get("counts")
    if manifest.get("format") != MANIFEST_FORMAT or not isinstance(files, dict) or not isinstance(counts, dict):
        raise CorruptCacheError(folder / MANIFEST_NAME, f"expected format {MANIFEST_FORMAT} with 'files' and "
                                                        "'counts' objects")
    if META_NAME not in files:
        raise CorruptCacheError(folder / MANIFEST_NAME, f"does not list {META_NAME}")
    for name, entry in sorted(files.items()):
        if Path(name).name != name:  # a manifest only ever lists plain names inside its own folder
            raise CorruptCacheError(folder / MANIFEST_NAME, f"lists {name!r}, which is not a file of this folder")
        _check_file(folder / name, entry)
    meta = _read_json_object(folder / META_NAME)
    arrays = meta.get("arrays") if isinstance(meta.get("arrays"), dict) else {}
    needed = {"node_ptr.npy", "edge_ptr.npy", "rows.npy", *(f"{k}.npy" for k in arrays)}
    if meta.get("has_smiles"):
        needed.add(SMILES_NAME)
    unlisted = sorted(needed - set(files))
    if unlisted:
        raise CorruptCacheError(folder / MANIFEST_NAME, f"does not list {', '.join(unlisted)}")
    _check_counts(folder, meta, counts)
    return meta


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
        if not self.cache_dir.is_dir():
            raise FileNotFoundError(f"{self.cache_dir} is not a dataset cache folder; run `graphgen data prepare "
                                    f"NAME` to build it")
        # every open checks sizes, hashes and counts against manifest.json (CorruptCacheError names the file)
        self.meta: dict[str, Any] = verify_cache(self.cache_dir)
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
        path = self.cache_dir / SMILES_NAME
        with open(path) as f:
            allsmiles = f.read().split("\n")[:-1]
        if len(allsmiles) != self.meta["num_graphs"]:  # changed after the open's check: never pair graphs wrongly
            raise CorruptCacheError(path, f"{len(allsmiles)} SMILES lines for {self.meta['num_graphs']} graphs")
        return allsmiles if self._indices is None else [allsmiles[i] for i in self._indices]


__all__ = [
    "CACHE_FORMAT", "ChecksumMismatchError", "CorruptCacheError", "DatasetSpec", "GraphArrays", "GraphDataset",
    "MissingRawFileError", "MoleculeDataset", "RawFile", "SplitSource", "build_cache", "convert_all", "empty_arrays",
    "verify_cache", "write_manifest",
]
