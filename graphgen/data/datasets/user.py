"""Datasets read from a user's own file: molecules (SMILES lines or CSV) or graphs (graph JSON or edge-list text).

``graphgen.data.registry.load_dataset(path, split, seed=...)`` lands here for any existing file that is not a
registered dataset name; ``datasets/user_files.md`` is the user-facing description of everything below.

Formats (chosen by the file name; any of them may be gzipped, ``name.smi.gz``):

* ``.smi`` / ``.smiles`` / ``.txt``: one SMILES per line; a second whitespace-separated column (a name) is ignored.
  A first line whose first token is ``smiles`` (any case) is a header, not a record. ``.txt`` always means SMILES:
  edge lists use their own suffix.
* ``.csv``: a header row with exactly one column named ``smiles`` (any case); other columns are ignored, except an
  optional ``split`` column (any case) whose values are used as split names verbatim.
* ``.json``: the package's graph JSON (``shared/data/PROVENANCE.md``, "Conventions"): ``{"graphs": [{"num_nodes": n,
  "edges": [[u, v], ...]}, ...]}`` with optional ``splits`` (split name -> list of graph indices) and
  ``num_graphs``, or a bare list of graph objects. Other keys are ignored.
* ``.edges`` / ``.edgelist``: the edge-list text that ``graphgen evaluate graphs`` reads: graphs separated by blank
  lines, one ``u v`` pair of 0-based node ids per line, an optional ``# nodes N`` line per graph (else the graph has
  ``max id + 1`` nodes), other lines starting with ``#`` are comments.

Records and what happens to bad ones. A record is one SMILES line (after the header), one CSV data row, one JSON
graph or one edge-list block; record indices are 0-based in file order and are what ``split.json`` lists.

* Molecule records that cannot be used are skipped and counted by reason (``empty``, ``unparsable``,
  ``unsupported``: RDKit parses it but the graph layout cannot hold it, e.g. a ``*`` atom or a dative bond,
  ``too_large``: more heavy atoms than ``max_nodes``, ``malformed_row``: a CSV row without the smiles field), with
  the first line numbers of each reason. A user's SMILES file is noisy data; one bad line must not stop training.
* Graph files are written by programs, so a structural problem is an error naming the file, the graph index or line
  and the field (an edge to node 5 in a 3-node graph, a non-integer id, truncated JSON). Graphs with no node are
  skipped (``empty``), graphs above ``max_nodes`` skipped (``too_large``). Self loops and repeated undirected edges
  (``[u, v]`` listed twice, or as ``[v, u]`` too, as exports of directed edge lists do) are dropped and counted: the
  generators model simple undirected graphs.

Vocabulary: built from every usable molecule of the file (all splits), as a
:class:`~graphgen.data.molecules.MoleculeVocab`: atoms = the elements present, by atomic number; charges = the
formal charges present plus 0; bonds kekulized (single, double, triple) unless ``kekulize=False``. All rows rather
than the train split: a vocabulary is a label set, not a fitted statistic, and building it from train alone would
make a val/test molecule with a rare element unusable after the split was drawn. It is also independent of the seed.

Split: the file's own (JSON ``splits`` / CSV ``split`` column), else drawn by seed over the usable records with
``fractions`` (default train 0.8 / val 0.1 / test 0.1): records are ordered by a hash of (seed, record index) and
cut into val, test, train; val and test get ``round(fraction * n)`` records, at least 1 when their fraction is
positive and there are enough records, train the rest. Indices within a split are in file order. The hash makes the
split the same on every machine and numpy version for the same file and seed. ``dataset.write_split(folder)``
writes it with the file's path and sha256 to ``folder/split.json``; ``split_file=`` reads it back (and refuses a
file whose sha256 changed).
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rdkit import Chem, rdBase
from torch_geometric.data import Data

from graphgen.data.datasets.base import GraphArrays, convert_all
from graphgen.data.datasets.molecules import molecule_graph_arrays
from graphgen.data.datasets.generic import edge_list_to_arrays
from graphgen.data.molecules import KEKULE_BONDS, MoleculeVocab, mol_to_arrays
from graphgen.data.raw import sha256_of

MOLECULE_SUFFIXES: tuple[str, ...] = (".smi", ".smiles", ".txt", ".csv")
GRAPH_SUFFIXES: tuple[str, ...] = (".json", ".edges", ".edgelist")
DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}
# Examples quoted per skip reason in the report.
REPORT_FIRST = 5
# Formal charges the conversion accepts before the data-built vocabulary keeps only those present.
_MAX_CHARGE = 8
_PERIODIC_TABLE = Chem.GetPeriodicTable()


def accepted_suffixes() -> str:
    """Human-readable list of the file endings :func:`load_user_dataset` reads (for error messages)."""
    return ", ".join(MOLECULE_SUFFIXES + GRAPH_SUFFIXES) + " (each optionally .gz)"


def file_format(path: str | os.PathLike) -> str:
    """``"smiles"``, ``"csv"``, ``"graph-json"`` or ``"edge-list"`` from the file name (``.gz`` is looked through).

    Raises ``ValueError`` naming the file and the accepted endings for any other suffix.
    """
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    if suffix in (".smi", ".smiles", ".txt"):
        return "smiles"
    if suffix == ".csv":
        return "csv"
    if suffix == ".json":
        return "graph-json"
    if suffix in (".edges", ".edgelist"):
        return "edge-list"
    raise ValueError(f"{path}: cannot tell the format from the file name; accepted endings: {accepted_suffixes()}")


# ----------------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class ReadReport:
    """What reading a user file kept and dropped.

    Attributes:
        path: the file read.
        format: ``"smiles"``, ``"csv"``, ``"graph-json"`` or ``"edge-list"``.
        records: records read (SMILES lines after the header, CSV data rows, graphs).
        used: records that became graphs.
        skipped: reason -> ``{"count": n, "first": ["line 7: ...", ...]}`` (at most ``REPORT_FIRST`` examples).
        dropped_edges: graph files only: ``self_loop`` / ``duplicate`` -> same shape as ``skipped``.
        notes: other remarks (e.g. stored split entries that pointed at skipped records).
    """

    path: str
    format: str
    records: int = 0
    used: int = 0
    skipped: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped_edges: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def num_skipped(self) -> int:
        return sum(v["count"] for v in self.skipped.values())

    def skip(self, reason: str, where: str) -> None:
        _count(self.skipped, reason, where)

    def drop_edge(self, reason: str, where: str) -> None:
        _count(self.dropped_edges, reason, where)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "records": self.records, "used": self.used,
                "skipped": self.skipped, "dropped_edges": self.dropped_edges, "notes": list(self.notes)}

    def summary(self) -> str:
        """A few lines for the console: counts, then one line per skip / drop reason with its first examples."""
        lines = [f"{self.path}: read {self.records} records, used {self.used}, skipped {self.num_skipped}"]
        for title, table in (("skipped", self.skipped), ("dropped edges", self.dropped_edges)):
            for reason, entry in table.items():
                lines.append(f"  {title} {reason}: {entry['count']} (first: {'; '.join(entry['first'])})")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _count(table: dict[str, dict[str, Any]], reason: str, where: str) -> None:
    entry = table.setdefault(reason, {"count": 0, "first": []})
    entry["count"] += 1
    if len(entry["first"]) < REPORT_FIRST:
        entry["first"].append(where)


# ----------------------------------------------------------------------------------------------------------------------
# Reading text
# ----------------------------------------------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError; a truncated gzip raises EOFError
        raise ValueError(f"{path}: cannot read the file ({type(err).__name__}: {err})") from err
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise ValueError(f"{path}: line {line} is not UTF-8 text ({err.reason})") from err


@dataclass
class _SmilesRecords:
    smiles: list[str]
    lines: list[int]  # 1-based line of each record
    split: list[str] | None  # CSV split column, if any
    malformed: dict[int, str]  # record index -> why the CSV row has no SMILES


def _read_smiles_lines(path: Path) -> _SmilesRecords:
    smiles, lines = [], []
    for line_no, line in enumerate(_read_text(path).splitlines(), start=1):
        tokens = line.split()
        if line_no == 1 and tokens and tokens[0].lower() == "smiles":
            continue  # header
        smiles.append(tokens[0] if tokens else "")
        lines.append(line_no)
    return _SmilesRecords(smiles, lines, None, {})


def _find_column(path: Path, header: list[str], name: str, *, required: bool) -> int | None:
    hits = [i for i, h in enumerate(header) if h.strip().lower() == name]
    if len(hits) > 1:
        raise ValueError(f"{path}: {len(hits)} columns named {name!r} (any case): {[header[i] for i in hits]}; "
                         f"keep one")
    if not hits:
        if required:
            raise ValueError(f"{path}: no column named {name!r} (any case); the file's columns are {header}")
        return None
    return hits[0]


def _read_smiles_csv(path: Path) -> _SmilesRecords:
    reader = csv.reader(io.StringIO(_read_text(path)))
    try:
        header = next(reader)
    except StopIteration:
        raise ValueError(f"{path}: the file is empty (expected a header row with a 'smiles' column)") from None
    col = _find_column(path, header, "smiles", required=True)
    split_col = _find_column(path, header, "split", required=False)
    out = _SmilesRecords([], [], [] if split_col is not None else None, {})
    for rec in reader:
        line_no = reader.line_num
        if not rec:  # a blank line: csv yields [] for it
            out.smiles.append("")
        elif len(rec) <= col:
            out.malformed[len(out.smiles)] = f"{len(rec)} field(s), the smiles column is number {col + 1}"
            out.smiles.append("")
        else:
            out.smiles.append(rec[col].strip())
        out.lines.append(line_no)
        if out.split is not None:
            value = rec[split_col].strip() if len(rec) > split_col else ""
            if not value and rec:
                raise ValueError(f"{path}: line {line_no}: empty value in the split column {header[split_col]!r}")
            out.split.append(value)
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Molecules
# ----------------------------------------------------------------------------------------------------------------------
def _all_elements(kekulize: bool) -> MoleculeVocab:
    """Every element 1..118 (atom type = atomic number - 1) and charges -8..8: conversion before the vocabulary is
    known; :func:`_read_molecules` then keeps only what occurs."""
    vocab = MoleculeVocab("all_elements", tuple(_PERIODIC_TABLE.GetElementSymbol(z) for z in range(1, 119)),
                          charges=tuple(range(-_MAX_CHARGE, _MAX_CHARGE + 1)))
    return vocab if kekulize else vocab.with_aromatic()


def convert_user_smiles(rows: np.ndarray, items: Sequence[str], *, vocab: MoleculeVocab, kekulize: bool,
                        max_nodes: int | None) -> GraphArrays:
    """Converter for :func:`~graphgen.data.datasets.base.convert_all`: SMILES -> molecule arrays via
    :func:`~graphgen.data.molecules.mol_to_arrays`; skipped reasons are ``"<reason>\\t<detail>"``."""
    _block = rdBase.BlockLogs()  # noqa: F841  (RDKit's parse errors become skip reasons; logging resumes on return)
    kept, skipped = [], []
    for row, smi in zip(rows, items):
        if not smi:
            skipped.append((int(row), "empty\tno SMILES"))
            continue
        mol = Chem.MolFromSmiles(smi)
        if mol is None:
            skipped.append((int(row), f"unparsable\tRDKit cannot parse {smi!r}"))
            continue
        if mol.GetNumAtoms() == 0:
            skipped.append((int(row), f"empty\t{smi!r} has no atoms"))
            continue
        if max_nodes is not None and mol.GetNumAtoms() > max_nodes:
            skipped.append((int(row), f"too_large\t{smi!r} has {mol.GetNumAtoms()} atoms > max_nodes={max_nodes}"))
            continue
        atoms = mol.GetAtoms()
        if any(a.GetAtomicNum() == 0 for a in atoms):
            skipped.append((int(row), f"unsupported\t{smi!r} has a dummy atom '*' (no element)"))
            continue
        charges = sorted({a.GetFormalCharge() for a in atoms if abs(a.GetFormalCharge()) > _MAX_CHARGE})
        if charges:
            skipped.append((int(row), f"unsupported\t{smi!r} has formal charge(s) {charges} beyond +-{_MAX_CHARGE}"))
            continue
        try:
            a = mol_to_arrays(mol, vocab, kekulize=kekulize)
        except ValueError as exc:  # bonds other than single/double/triple(/aromatic), kekulization failures
            skipped.append((int(row), f"unsupported\t{smi!r}: {str(exc).split('; vocabulary')[0]}"))
            continue
        kept.append((int(row), a))
    return molecule_graph_arrays(kept, skipped)


def build_vocab(atomic_numbers: np.ndarray, charges: np.ndarray, *, name: str, kekulize: bool = True
                ) -> MoleculeVocab:
    """Vocabulary of the elements (by atomic number) and formal charges present, plus charge 0."""
    atoms = tuple(_PERIODIC_TABLE.GetElementSymbol(int(z)) for z in np.unique(atomic_numbers))
    qs = tuple(sorted({int(q) for q in np.unique(charges)} | {0}))
    vocab = MoleculeVocab(name, atoms, bonds=KEKULE_BONDS, charges=qs)
    return vocab if kekulize else vocab.with_aromatic()


def _read_molecules(path: Path, fmt: str, *, kekulize: bool, max_nodes: int | None, num_workers: int | None
                    ) -> tuple[GraphArrays, list[str], MoleculeVocab, ReadReport, dict[str, list[int]] | None]:
    recs = _read_smiles_csv(path) if fmt == "csv" else _read_smiles_lines(path)
    report = ReadReport(str(path), fmt, records=len(recs.smiles))
    if not recs.smiles:
        raise ValueError(f"{path}: no SMILES records (expected one SMILES per line, or CSV rows under a header)")
    todo = [i for i in range(len(recs.smiles)) if i not in recs.malformed]
    arrays = convert_all(partial(convert_user_smiles, vocab=_all_elements(kekulize), kekulize=kekulize,
                                 max_nodes=max_nodes),
                         np.asarray(todo, dtype=np.int64), [recs.smiles[i] for i in todo],
                         num_workers=num_workers, desc=path.name)
    reasons = {i: ("malformed_row", why) for i, why in recs.malformed.items()}
    reasons.update({row: tuple(why.split("\t", 1)) for row, why in arrays.skipped})
    for row in sorted(reasons):
        reason, detail = reasons[row]
        report.skip(reason, f"line {recs.lines[row]}: {detail}")
    report.used = len(arrays.rows)
    if report.used == 0:
        raise ValueError(f"{path}: none of the {report.records} records is a usable molecule\n{report.summary()}")

    # atom types so far are atomic number - 1 (see _all_elements); keep only the elements present
    present = np.unique(arrays.node["x"]).astype(np.int64)
    vocab = build_vocab(present + 1, arrays.node["charge"], name=path.name, kekulize=kekulize)
    lut = np.full(int(present.max()) + 1, -1, dtype=np.int64)
    lut[present] = np.arange(len(present))
    arrays.node["x"] = lut[arrays.node["x"].astype(np.int64)]
    smiles = [recs.smiles[i] for i in arrays.rows]

    stored = None
    if recs.split is not None:
        stored = {}
        for row in arrays.rows.tolist():
            stored.setdefault(recs.split[row], []).append(row)
        dropped = {}
        for row in reasons:
            if recs.split[row]:  # blank CSV lines have no split value
                dropped[recs.split[row]] = dropped.get(recs.split[row], 0) + 1
        for name, n in sorted(dropped.items()):
            report.notes.append(f"split column: {n} skipped record(s) of split {name!r} left out of it")
    return arrays, smiles, vocab, report, stored


# ----------------------------------------------------------------------------------------------------------------------
# Graphs
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class _RawGraph:
    num_nodes: int
    edges: np.ndarray  # int64 [M, 2] as listed in the file
    where: str  # "graph 3" or "graph 3 (line 12)"
    edge_where: list[str] | None = None  # per edge, for edge-list text: "line 14"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _json_graphs(path: Path) -> tuple[list[_RawGraph], dict[str, Any] | None]:
    text = _read_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); "
                         f"a truncated file ends like this") from err
    splits = None
    if isinstance(doc, dict):
        if "graphs" not in doc:
            raise ValueError(f"{path}: a graph JSON object needs a 'graphs' list; the object has keys {sorted(doc)}")
        items = doc["graphs"]
        splits = doc.get("splits")
        if "num_graphs" in doc and isinstance(items, list) and doc["num_graphs"] != len(items):
            raise ValueError(f"{path}: num_graphs says {doc['num_graphs']} but {len(items)} graphs are listed")
    else:
        items = doc
    if not isinstance(items, list):
        raise ValueError(f"{path}: 'graphs' must be a list of {{\"num_nodes\": n, \"edges\": [[u, v], ...]}} "
                         f"objects, got {type(items).__name__}")
    out = []
    for i, g in enumerate(items):
        where = f"{path}: graph {i}"
        if not isinstance(g, dict):
            raise ValueError(f"{where}: expected an object with 'num_nodes' and 'edges', got {type(g).__name__}")
        missing = [k for k in ("num_nodes", "edges") if k not in g]
        if missing:
            raise ValueError(f"{where}: missing field(s) {missing}; the object has keys {sorted(g)}")
        n = g["num_nodes"]
        if not _is_int(n) or n < 0:
            raise ValueError(f"{where}: 'num_nodes' must be a non-negative integer, got {n!r}")
        edges = g["edges"]
        if not isinstance(edges, list):
            raise ValueError(f"{where}: 'edges' must be a list of [u, v] pairs, got {type(edges).__name__}")
        for k, e in enumerate(edges):
            if not (isinstance(e, (list, tuple)) and len(e) == 2 and _is_int(e[0]) and _is_int(e[1])):
                raise ValueError(f"{where}: edges[{k}] = {e!r} is not a pair [u, v] of integer node ids")
            if not (0 <= e[0] < n and 0 <= e[1] < n):
                raise ValueError(f"{where}: edges[{k}] = {list(e)} refers to a node outside 0..{n - 1} "
                                 f"(num_nodes is {n})")
        arr = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        out.append(_RawGraph(n, arr, f"graph {i}"))
    return out, splits


def _edge_list_graphs(path: Path) -> list[_RawGraph]:
    out: list[_RawGraph] = []
    num_nodes: int | None = None
    edges: list[tuple[int, int]] = []
    lines: list[int] = []
    first_line = 0

    def flush() -> None:
        nonlocal num_nodes, edges, lines
        if num_nodes is not None or edges:
            i = len(out)
            n = num_nodes if num_nodes is not None else max(max(e) for e in edges) + 1
            if num_nodes is not None:
                for (u, v), line in zip(edges, lines):
                    if u >= n or v >= n:
                        raise ValueError(f"{path}: line {line} (graph {i}): edge {u} {v} refers to a node outside "
                                         f"0..{n - 1} ('# nodes {n}' at the top of the graph)")
            out.append(_RawGraph(n, np.asarray(edges, dtype=np.int64).reshape(-1, 2),
                                 f"graph {i} (line {first_line})", [f"line {line}" for line in lines]))
        num_nodes, edges, lines = None, [], []

    for line_no, raw in enumerate(_read_text(path).splitlines(), start=1):
        line = raw.strip()
        if not line:
            flush()
            continue
        if num_nodes is None and not edges:
            first_line = line_no
        if line.startswith("#"):
            parts = line[1:].split()
            if parts and parts[0] == "nodes":
                if len(parts) != 2 or not parts[1].isdigit():
                    raise ValueError(f"{path}: line {line_no}: expected '# nodes N' with N >= 0, got {raw!r}")
                if num_nodes is not None:
                    raise ValueError(f"{path}: line {line_no}: a second '# nodes' line in the same graph "
                                     f"(separate graphs by a blank line)")
                num_nodes = int(parts[1])
            continue
        parts = line.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{path}: line {line_no}: expected 'u v' (two non-negative integer node ids), got {raw!r}")
        edges.append((int(parts[0]), int(parts[1])))
        lines.append(line_no)
    flush()
    return out


def _read_graphs(path: Path, fmt: str, *, max_nodes: int | None
                 ) -> tuple[GraphArrays, ReadReport, dict[str, list[int]] | None]:
    if fmt == "graph-json":
        raw, splits = _json_graphs(path)
    else:
        raw, splits = _edge_list_graphs(path), None
    report = ReadReport(str(path), fmt, records=len(raw))
    if not raw:
        raise ValueError(f"{path}: no graphs found")
    nn, ne, kept, parts = [], [], [], []
    for i, g in enumerate(raw):
        if g.num_nodes == 0:
            report.skip("empty", f"{g.where}: num_nodes is 0")
            continue
        if max_nodes is not None and g.num_nodes > max_nodes:
            report.skip("too_large", f"{g.where}: {g.num_nodes} nodes > max_nodes={max_nodes}")
            continue
        e = g.edges
        keep = np.ones(len(e), dtype=bool)
        seen: set[tuple[int, int]] = set()
        for k, (u, v) in enumerate(e.tolist()):
            at = f"{g.where}, edge {u} {v}" if g.edge_where is None else f"{g.edge_where[k]} (graph {i}): {u} {v}"
            if u == v:
                keep[k] = False
                report.drop_edge("self_loop", at)
            elif (min(u, v), max(u, v)) in seen:
                keep[k] = False
                report.drop_edge("duplicate", at)
            else:
                seen.add((min(u, v), max(u, v)))
        both = edge_list_to_arrays(g.num_nodes, e[keep])
        nn.append(g.num_nodes)
        ne.append(len(both))
        kept.append(i)
        parts.append(both)
    report.used = len(kept)
    if not kept:
        raise ValueError(f"{path}: none of the {report.records} graphs is usable\n{report.summary()}")
    arrays = GraphArrays(np.asarray(nn, np.int64), np.asarray(ne, np.int64), {},
                         {"edge_index": np.concatenate(parts)}, {}, np.asarray(kept, np.int64))

    stored = None
    if splits:  # null or {} means "no stored split": it is drawn by seed
        if not isinstance(splits, dict):
            raise ValueError(f"{path}: 'splits' must map split names to lists of graph indices (or be null)")
        used = set(kept)
        stored, owner = {}, {}
        for name, idx in splits.items():
            if not isinstance(idx, list) or not all(_is_int(j) for j in idx):
                raise ValueError(f"{path}: splits[{name!r}] must be a list of graph indices")
            for j in idx:
                if not 0 <= j < len(raw):
                    raise ValueError(f"{path}: splits[{name!r}] lists graph {j}, outside 0..{len(raw) - 1}")
                if j in owner:
                    raise ValueError(f"{path}: graph {j} is listed twice in 'splits' ({owner[j]!r} and {name!r})")
                owner[j] = name
            stored[name] = sorted(j for j in idx if j in used)
            if len(stored[name]) < len(idx):
                report.notes.append(f"splits[{name!r}]: {len(idx) - len(stored[name])} skipped graph(s) left out")
    return arrays, report, stored


# ----------------------------------------------------------------------------------------------------------------------
# Split
# ----------------------------------------------------------------------------------------------------------------------
def draw_split(records: Sequence[int], seed: int, fractions: dict[str, float] | None = None) -> dict[str, list[int]]:
    """Split record indices by ``seed`` (rule in the module docstring); every split sorted in file order.

    Args:
        records: the usable record indices.
        seed: any integer; the same records and seed always give the same split.
        fractions: split name -> fraction, summing to 1 and including ``"train"`` (which takes the remainder).
    """
    fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
    if "train" not in fractions:
        raise ValueError(f"fractions must include 'train' (it takes the remainder), got {fractions}")
    if any(not 0 <= f <= 1 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise ValueError(f"fractions must be in [0, 1] and sum to 1, got {fractions}")
    records = [int(r) for r in records]
    n = len(records)
    key = {r: hashlib.blake2b(f"{int(seed)}:{r}".encode(), digest_size=8).digest() for r in records}
    order = sorted(records, key=lambda r: (key[r], r))
    others = [s for s in fractions if s != "train"]
    sizes = {}
    for s in others:
        k = int(np.floor(fractions[s] * n + 0.5))
        sizes[s] = max(k, 1) if fractions[s] > 0 and n > len(fractions) else k
    if n - sum(sizes.values()) < 1:
        raise ValueError(f"{n} usable record(s) cannot be split as {fractions}: the train split would be empty")
    out, start = {}, 0
    for s in others:
        out[s] = sorted(order[start:start + sizes[s]])
        start += sizes[s]
    out["train"] = sorted(order[start:])
    return {s: out[s] for s in fractions}


# ----------------------------------------------------------------------------------------------------------------------
# The parsed file (cached per process) and the dataset
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class UserFile:
    """Every usable graph of one file, with its vocabulary, report and the split stored in the file (if any)."""

    path: Path
    sha256: str
    format: str
    arrays: GraphArrays  # rows = record indices
    node_ptr: np.ndarray
    edge_ptr: np.ndarray
    smiles: list[str] | None
    vocab: MoleculeVocab | None
    report: ReadReport
    stored_splits: dict[str, list[int]] | None
    position: dict[int, int]  # record index -> graph position

    @property
    def kind(self) -> str:
        return "molecules" if self.vocab is not None else "graphs"


@lru_cache(maxsize=4)
def _read_file(path: str, sha256: str, kekulize: bool, max_nodes: int | None, num_workers: int | None,
               quiet: bool) -> UserFile:
    # keyed by the file's sha256, so an edited file is read again
    p = Path(path)
    fmt = file_format(p)
    smiles, vocab, stored = None, None, None
    if fmt in ("smiles", "csv"):
        arrays, smiles, vocab, report, stored = _read_molecules(p, fmt, kekulize=kekulize, max_nodes=max_nodes,
                                                                num_workers=num_workers)
    else:
        arrays, report, stored = _read_graphs(p, fmt, max_nodes=max_nodes)
    for table in (arrays.node, arrays.edge):
        for a in table.values():
            a.flags.writeable = False  # shared by every dataset view of this file
    out = UserFile(p, sha256, fmt, arrays,
                   np.concatenate([[0], np.cumsum(arrays.num_nodes)]).astype(np.int64),
                   np.concatenate([[0], np.cumsum(arrays.num_edges)]).astype(np.int64),
                   smiles, vocab, report, stored, {int(r): i for i, r in enumerate(arrays.rows)})
    if not quiet:
        text = report.summary()
        if vocab is not None:
            text += (f"\n  vocabulary from all {report.used} usable molecules: atoms {' '.join(vocab.atoms)}; "
                     f"charges {' '.join(str(q) for q in vocab.charges)}; bonds {' '.join(vocab.bonds)}")
        print(text, file=sys.stderr)
    return out


def _read_split_file(split_file: Path, source: UserFile) -> dict[str, list[int]]:
    try:
        doc = json.loads(Path(split_file).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"split file {split_file}: cannot read it ({err})") from err
    try:
        recorded, splits = doc["source"]["sha256"], doc["splits"]
    except (KeyError, TypeError):
        raise ValueError(f"split file {split_file}: expected 'source.sha256' and 'splits' "
                         f"(as written by dataset.write_split)") from None
    if recorded != source.sha256:
        raise ValueError(f"split file {split_file} was drawn from {doc['source'].get('path')} with sha256 {recorded}, "
                         f"but {source.path} has sha256 {source.sha256}: the data file changed since the split")
    for name, idx in splits.items():
        bad = [int(i) for i in idx if int(i) not in source.position]
        if bad:
            raise ValueError(f"split file {split_file}: split {name!r} lists records {bad[:5]} that are not usable "
                             f"graphs of {source.path} (read with other max_nodes / kekulize options?)")
    return {name: [int(i) for i in idx] for name, idx in splits.items()}


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.int64))  # a copy: the source arrays are shared and read-only


class UserDataset(torch.utils.data.Dataset):
    """One split of a user file, with the same surface as the registry's datasets.

    ``dataset[i]`` is a :class:`torch_geometric.data.Data`: molecules in the :mod:`graphgen.data.molecules` layout
    (``x`` atom type, ``charge``, ``num_hs``, ``edge_index`` both directions, ``edge_attr`` bond type), generic
    graphs with ``edge_index`` (both directions) and ``num_nodes``. ``dataset[a:b]`` / ``dataset[index_list]`` give
    a view. ``vocab`` is the data-built :class:`~graphgen.data.molecules.MoleculeVocab` (``None`` for graphs),
    ``smiles`` the SMILES as written in the file, ``report`` the :class:`ReadReport`, ``splits`` every split's record
    indices and ``rows`` the record index of each graph of this view.

    Args:
        source: the parsed file.
        split: ``"train"``, ``"val"``, ``"test"`` (or any stored split name), or ``"all"`` for every usable graph.
        splits: split name -> record indices.
        seed, fractions: how ``splits`` was drawn (``None`` when it was stored in the file or a split file).
        split_origin: one line saying where ``splits`` came from.
    """

    def __init__(self, source: UserFile, split: str, splits: dict[str, list[int]], *, seed: int | None,
                 fractions: dict[str, float] | None, split_origin: str) -> None:
        if split != "all" and split not in splits:
            raise ValueError(f"{source.path} has no split {split!r}; choose one of {list(splits) + ['all']} "
                             f"({split_origin})")
        self.source = source
        self.split = split
        self.splits = splits
        self.seed = seed
        self.fractions = fractions
        self.split_origin = split_origin
        records = source.arrays.rows if split == "all" else splits[split]
        self._pos = np.asarray([source.position[int(r)] for r in records], dtype=np.int64)

    # --- what the trainers read ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.source.path)

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def sha256(self) -> str:
        return self.source.sha256

    @property
    def vocab(self) -> MoleculeVocab | None:
        return self.source.vocab

    @property
    def report(self) -> ReadReport:
        return self.source.report

    @property
    def rows(self) -> np.ndarray:
        """int64 [len(self)] record index (in the file) of each graph."""
        return self.source.arrays.rows[self._pos]

    @property
    def smiles(self) -> list[str]:
        if self.source.smiles is None:
            raise AttributeError(f"{self.source.path} holds graphs, not molecules: it has no SMILES")
        return [self.source.smiles[p] for p in self._pos]

    @property
    def num_nodes_per_graph(self) -> np.ndarray:
        return self.source.arrays.num_nodes[self._pos]

    @property
    def num_edges_per_graph(self) -> np.ndarray:
        """Directed edges (``edge_index`` columns) per graph."""
        return self.source.arrays.num_edges[self._pos]

    def __len__(self) -> int:
        return len(self._pos)

    def get(self, p: int) -> Data:
        """Graph at position ``p`` of the whole file (ignores the split)."""
        s = self.source
        n0, n1 = int(s.node_ptr[p]), int(s.node_ptr[p + 1])
        e0, e1 = int(s.edge_ptr[p]), int(s.edge_ptr[p + 1])
        data = Data(num_nodes=n1 - n0)
        for attr, arr in s.arrays.node.items():
            data[attr] = _to_tensor(arr[n0:n1])
        data.edge_index = _to_tensor(s.arrays.edge["edge_index"][e0:e1].T)
        if "edge_attr" in s.arrays.edge:
            data.edge_attr = _to_tensor(s.arrays.edge["edge_attr"][e0:e1])
        return data

    def __getitem__(self, idx: int | slice | Sequence[int] | np.ndarray | torch.Tensor) -> Data | UserDataset:
        if isinstance(idx, (int, np.integer)) or (isinstance(idx, torch.Tensor) and idx.dim() == 0):
            i, n = int(idx), len(self)
            if not -n <= i < n:
                raise IndexError(f"index {i} out of range for {self!r}")
            return self.get(int(self._pos[i % n]))
        if isinstance(idx, slice):
            sel = self._pos[idx]
        else:
            sel = self._pos[np.asarray(idx.cpu() if isinstance(idx, torch.Tensor) else idx, dtype=np.int64)]
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view._pos = sel
        return view

    def __iter__(self) -> Iterator[Data]:
        for p in self._pos:
            yield self.get(int(p))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source.path.name}, split={self.split}, num_graphs={len(self)})"

    # --- provenance ---------------------------------------------------------------------------------------------
    def split_info(self) -> dict[str, Any]:
        """What :meth:`write_split` writes (see there)."""
        return {
            "source": {"path": str(self.source.path), "sha256": self.source.sha256, "format": self.source.format,
                       "kind": self.source.kind},
            "index": "0-based record index in the file: SMILES line after any header, CSV data row, or graph",
            "split_origin": self.split_origin,
            "seed": self.seed,
            "fractions": self.fractions,
            "sizes": {name: len(idx) for name, idx in self.splits.items()},
            "splits": {name: list(idx) for name, idx in self.splits.items()},
            "vocab": None if self.vocab is None else self.vocab.to_dict(),
            "report": self.report.to_dict(),
        }

    def write_split(self, folder: str | os.PathLike) -> Path:
        """Write ``folder/split.json`` (atomically) and return its path.

        It holds the source file's absolute path, sha256 and format, the seed and fractions (or where the split came
        from), every split's record indices, the vocabulary (molecules) and the read report. Pass it back as
        ``load_dataset(path, split, split_file=...)`` to get exactly these graphs again.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / "split.json"
        fd, tmp = tempfile.mkstemp(prefix=".split-", suffix=".json", dir=folder)
        try:
            info = self.split_info()
            lists = {name: json.dumps(idx) for name, idx in info["splits"].items()}
            info["splits"] = {name: f"@@{name}@@" for name in lists}
            text = json.dumps(info, indent=1)
            for name, compact in lists.items():  # one line per index list, not one line per index
                text = text.replace(json.dumps(f"@@{name}@@"), compact, 1)
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return final


def load_user_dataset(path: str | os.PathLike, split: str = "train", *, seed: int = 0,
                      fractions: dict[str, float] | None = None, split_file: str | os.PathLike | None = None,
                      max_nodes: int | None = None, kekulize: bool = True, num_workers: int | None = None,
                      quiet: bool = False) -> UserDataset:
    """Read ``split`` of a user file (formats, skip rules, vocabulary and split rule in the module docstring).

    The file is parsed once per process (for the same content and options) and its :class:`ReadReport` printed to
    stderr then; later calls for other splits reuse it.

    Args:
        path: the data file.
        split: ``"train"`` / ``"val"`` / ``"test"`` (or a split name stored in the file), or ``"all"``.
        seed: seed of the drawn split (ignored when the file stores a split or ``split_file`` is given).
        fractions: split name -> fraction for the drawn split (default train 0.8, val 0.1, test 0.1); a file's own
            split wins over it.
        split_file: a ``split.json`` written by :meth:`UserDataset.write_split`; its index lists are used after
            checking that the file's sha256 is the recorded one.
        max_nodes: skip molecules with more heavy atoms / graphs with more nodes (reason ``too_large``).
        kekulize: molecules: single/double/triple bonds (default); ``False`` keeps aromatic bonds as type 3.
        num_workers: processes for SMILES conversion of large files (default: all cores).
        quiet: do not print the report.
    """
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    file_format(p)  # unknown suffix: error before hashing a large file
    source = _read_file(str(p), sha256_of(p), bool(kekulize), max_nodes, num_workers, bool(quiet))
    if split_file is not None:
        return UserDataset(source, split, _read_split_file(Path(split_file), source), seed=None, fractions=None,
                           split_origin=f"read from {Path(split_file).resolve()}")
    if source.stored_splits is not None:
        where = "the 'split' column" if source.format == "csv" else "the file's 'splits' key"
        return UserDataset(source, split, source.stored_splits, seed=None, fractions=None,
                           split_origin=f"stored in {where}")
    fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
    splits = draw_split(source.arrays.rows.tolist(), seed, fractions)
    return UserDataset(source, split, splits, seed=int(seed), fractions=fractions,
                       split_origin=f"drawn by seed {int(seed)} with fractions {fractions}")
