"""Molecule datasets: QM9, ZINC250k, MOSES (generation) and ZINC-12k, ogbg-molhiv (encoder benchmarks).

Raw files are the CSVs of ``shared/data/molecules`` (see ``PROVENANCE.md``); the splits are the published ones:

* :class:`GDSSMoleculeSpec` (qm9, zinc250k): test = the rows listed in ``valid_idx_*.json``, read as GDSS does
  (``int(i)`` as a 0-based row index; MoFlow's ``int(i) - 1`` gives a test set shifted by one row), train = every
  other row in file order. Graphs follow :mod:`graphgen.data.molecules` (``x``, ``charge``, ``num_hs``,
  ``edge_index``, ``edge_attr``; kekulized, no hydrogens). QM9 also gets ``y`` float [1, 15] from qm9pack
  (``QM9_TARGETS``), NaN for the 3054 molecules qm9pack lacks (they are kept).
* :class:`SplitFilesMoleculeSpec` (moses): one raw file per split (train / test / test_scaffolds).
* :class:`Zinc12kSpec` (zinc12k): the ``split`` column (train / val / test, in ``subset_index`` order). Node label
  ``x`` long [N] indexes :data:`ZINC12K_ATOM_TYPES` (element + formal charge + bracket-H count, our own
  vocabulary, see the constant), ``edge_attr`` long [E] is the kekulized bond type (0 single, 1 double, 2 triple),
  ``y`` float [1] is ``target_normalized_recomputed`` (penalized logP recomputed with RDKit; not the official
  benchmarking-gnns values, which differ by <= 0.0006 on the three published examples).
* :class:`MolHIVSpec` (ogbg-molhiv): ``x`` long [N, 9] and ``edge_attr`` long [E, 3] are OGB's
  ``atom_to_feature_vector`` / ``bond_to_feature_vector`` (exactly what ``ogb.utils.smiles2graph`` produces, in
  its edge order), so OGB's ``AtomEncoder`` / ``BondEncoder`` apply; ``y`` long [1, 1] = ``HIV_active``. The split
  is the RECOMPUTED scaffold split (OGB-like, not the official files). Seven molecules (mol_id 137, 987, 12882,
  18293, 30784, 30785, 35728) have hypervalent Al/B/Ge atoms that RDKit 2026 refuses to sanitize; they are parsed
  without the valence check (``sanitize=False`` + ``UpdatePropertyCache(strict=False)`` + the other sanitization
  steps) and listed in the cache metadata ``notes`` instead of being dropped, so the split keeps OGB's sizes.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem, RDLogger

from graphgen.data.datasets.base import DatasetSpec, GraphArrays, MoleculeDataset, SplitSource, empty_arrays
from graphgen.data.molecules import MoleculeVocab, smiles_to_arrays
from graphgen.data.raw import fetch

QM9_TARGETS: tuple[str, ...] = ("A", "B", "C", "mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "U0", "U", "H",
                                "G", "Cv")

# ZINC-12k node vocabulary (ours; the 28-type benchmarking-gnns dictionary is not available here). One token per
# (element, formal charge, bracket-hydrogen count) as RDKit reads the SMILES (``GetSymbol``, ``GetFormalCharge``,
# ``GetNumExplicitHs``); the 22 tokens are exactly those occurring in the 12,000 ZINC-12k molecules, ordered by
# frequency there (C 194841 ... O[H1+] 1). Token text: symbol, then "[H<k>]" if k > 0 bracket hydrogens, then the
# charge sign(s).
ZINC12K_ATOM_TYPES: tuple[str, ...] = (
    "C", "N", "O", "C[H1]", "S", "F", "Cl", "N[H1]+", "O-", "N[H1]", "N[H2]+", "Br", "N+", "N[H3]+", "N-", "I",
    "S-", "P", "S+", "N[H1]-", "O+", "O[H1]+",
)
ZINC12K_BONDS: tuple[str, ...] = ("SINGLE", "DOUBLE", "TRIPLE")


def zinc12k_atom_token(atom: Chem.Atom) -> str:
    """Token of :data:`ZINC12K_ATOM_TYPES` for an RDKit atom parsed from SMILES."""
    h = atom.GetNumExplicitHs()
    q = atom.GetFormalCharge()
    return atom.GetSymbol() + (f"[H{h}]" if h else "") + ("+" * q if q > 0 else "-" * -q)


# ----------------------------------------------------------------------------------------------------------------------
# CSV helpers
# ----------------------------------------------------------------------------------------------------------------------
def read_columns(path: Path, columns: Sequence[str]) -> dict[str, list[str]]:
    """Columns of a (gzipped) CSV with a header, as lists of strings (raises naming the file and missing column)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        text = f.read().decode("utf-8")
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path}: column(s) {missing} not in header {header}")
    pos = [header.index(c) for c in columns]
    out: dict[str, list[str]] = {c: [] for c in columns}
    lists = [out[c] for c in columns]
    for line_no, rec in enumerate(reader, start=2):
        if len(rec) != len(header):
            raise ValueError(f"{path}: line {line_no} has {len(rec)} fields, the header has {len(header)}")
        for lst, p in zip(lists, pos):
            lst.append(rec[p])
    return out


def count_rows(path: Path) -> int:
    """Data rows (lines after the header) of a (gzipped) CSV, without parsing them."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    return lines - 1


def _check_row_ids(path: Path, ids: list[str]) -> None:
    """The ``idx``/``mol_id`` column must be 0..R-1 in order (PROVENANCE: row index = id)."""
    arr = np.asarray(ids, dtype=np.int64)
    if not np.array_equal(arr, np.arange(len(arr))):
        bad = int(np.flatnonzero(arr != np.arange(len(arr)))[0])
        raise ValueError(f"{path}: row {bad} has id {arr[bad]}; expected ids 0..{len(arr) - 1} in file order")


# ----------------------------------------------------------------------------------------------------------------------
# Converters (run in worker processes; module level so they pickle)
# ----------------------------------------------------------------------------------------------------------------------
def molecule_graph_arrays(kept: list[tuple[int, Any]], skipped: list[tuple[int, str]]) -> GraphArrays:
    """Stack converted molecules (``(row, MolArrays)`` pairs) into one :class:`GraphArrays` in the molecule layout
    (``x``, ``charge``, ``num_hs``; ``edge_index``, ``edge_attr``), with the skipped rows attached."""
    if not kept:
        out = empty_arrays({"x": ((), np.int64), "charge": ((), np.int64), "num_hs": ((), np.int64)},
                           {"edge_index": ((2,), np.int64), "edge_attr": ((), np.int64)})
    else:
        arrays = [a for _, a in kept]
        out = GraphArrays(np.asarray([len(a.atom_types) for a in arrays], np.int64),
                          np.asarray([a.edge_index.shape[1] for a in arrays], np.int64),
                          {"x": np.concatenate([a.atom_types for a in arrays]),
                           "charge": np.concatenate([a.charges for a in arrays]),
                           "num_hs": np.concatenate([a.num_hs for a in arrays])},
                          {"edge_index": np.concatenate([a.edge_index.T for a in arrays]),
                           "edge_attr": np.concatenate([a.bond_types for a in arrays])},
                          {}, np.asarray([row for row, _ in kept], np.int64))
    out.skipped = skipped
    return out


_PARSE_ERRORS = (ValueError, RuntimeError, Chem.rdchem.MolSanitizeException, Chem.rdchem.KekulizeException)


def convert_smiles(rows: np.ndarray, items: Sequence[str], *, vocab: MoleculeVocab, kekulize: bool = True
                   ) -> GraphArrays:
    """SMILES -> :mod:`graphgen.data.molecules` layout (``x``, ``charge``, ``num_hs``, ``edge_attr``)."""
    RDLogger.DisableLog("rdApp.*")  # failures are collected as skipped rows, not printed
    kept, skipped = [], []
    for row, smi in zip(rows, items):
        try:
            a = smiles_to_arrays(smi, vocab, kekulize=kekulize)
        except _PARSE_ERRORS as exc:
            skipped.append((int(row), f"{exc}"))
            continue
        kept.append((int(row), a))
    return molecule_graph_arrays(kept, skipped)


def convert_zinc12k(rows: np.ndarray, items: Sequence[str]) -> GraphArrays:
    """SMILES -> ``x`` (index into :data:`ZINC12K_ATOM_TYPES`), kekulized ``edge_attr`` (0/1/2)."""
    RDLogger.DisableLog("rdApp.*")
    index = {tok: i for i, tok in enumerate(ZINC12K_ATOM_TYPES)}
    bond_index = {Chem.BondType.SINGLE: 0, Chem.BondType.DOUBLE: 1, Chem.BondType.TRIPLE: 2}
    out = empty_arrays({"x": ((), np.int64)}, {"edge_index": ((2,), np.int64), "edge_attr": ((), np.int64)})
    nn, ne, kept, xs, eis, eas, skipped = [], [], [], [], [], [], []
    for row, smi in zip(rows, items):
        mol = Chem.MolFromSmiles(smi)
        if mol is None:
            skipped.append((int(row), f"RDKit cannot parse SMILES {smi!r}"))
            continue
        tokens = [zinc12k_atom_token(a) for a in mol.GetAtoms()]
        unknown = sorted({t for t in tokens if t not in index})
        if unknown:
            skipped.append((int(row), f"atom type(s) {unknown} not in ZINC12K_ATOM_TYPES"))
            continue
        try:
            Chem.Kekulize(mol, clearAromaticFlags=True)
        except Chem.rdchem.KekulizeException as exc:
            skipped.append((int(row), f"cannot kekulize {smi!r}: {exc}"))
            continue
        edges, types = [], []
        for b in mol.GetBonds():
            t = bond_index.get(b.GetBondType())
            if t is None:
                break
            i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
            edges += [(i, j), (j, i)]
            types += [t, t]
        else:
            ei = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
            order = np.lexsort((ei[:, 1], ei[:, 0]))
            nn.append(len(tokens))
            ne.append(len(ei))
            kept.append(int(row))
            xs.append(np.asarray([index[t] for t in tokens], dtype=np.int64))
            eis.append(ei[order])
            eas.append(np.asarray(types, dtype=np.int64)[order])
            continue
        skipped.append((int(row), f"bond type {b.GetBondType()} is not single/double/triple"))
    if kept:
        out = GraphArrays(np.asarray(nn, np.int64), np.asarray(ne, np.int64), {"x": np.concatenate(xs)},
                          {"edge_index": np.concatenate(eis), "edge_attr": np.concatenate(eas)},
                          {}, np.asarray(kept, np.int64))
    out.skipped = skipped
    return out


def _relaxed_mol(smiles: str) -> Chem.Mol | None:
    """Parse without the valence check (for OGB molecules with hypervalent metals RDKit now rejects)."""
    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None:
        return None
    mol.UpdatePropertyCache(strict=False)
    flags = Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES
    if Chem.SanitizeMol(mol, flags, catchErrors=True) != Chem.SanitizeFlags.SANITIZE_NONE:
        return None
    return mol


def ogb_graph(mol: Chem.Mol) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x [N, 9], edge_index [2, E], edge_attr [E, 3]) with OGB's feature functions, in ``smiles2graph`` order."""
    from ogb.utils.features import atom_to_feature_vector, bond_to_feature_vector

    x = np.asarray([atom_to_feature_vector(a) for a in mol.GetAtoms()], dtype=np.int64).reshape(-1, 9)
    edges, feats = [], []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        f = bond_to_feature_vector(b)
        edges += [(i, j), (j, i)]
        feats += [f, f]
    edge_index = np.asarray(edges, dtype=np.int64).reshape(-1, 2).T
    edge_attr = np.asarray(feats, dtype=np.int64).reshape(-1, 3)
    return x, edge_index, edge_attr


def convert_ogb(rows: np.ndarray, items: Sequence[str]) -> GraphArrays:
    """SMILES -> OGB features; unsanitizable molecules fall back to :func:`_relaxed_mol` and are noted."""
    RDLogger.DisableLog("rdApp.*")
    out = empty_arrays({"x": ((9,), np.int64)}, {"edge_index": ((2,), np.int64), "edge_attr": ((3,), np.int64)})
    nn, ne, kept, xs, eis, eas, skipped, notes = [], [], [], [], [], [], [], []
    for row, smi in zip(rows, items):
        mol = Chem.MolFromSmiles(smi)
        if mol is None:
            mol = _relaxed_mol(smi)
            if mol is None:
                skipped.append((int(row), f"RDKit cannot parse SMILES {smi!r}, even without the valence check"))
                continue
            notes.append((int(row), "parsed without RDKit's valence check (hypervalent atom)"))
        x, ei, ea = ogb_graph(mol)
        nn.append(len(x))
        ne.append(ei.shape[1])
        kept.append(int(row))
        xs.append(x)
        eis.append(ei.T)
        eas.append(ea)
    if kept:
        out = GraphArrays(np.asarray(nn, np.int64), np.asarray(ne, np.int64), {"x": np.concatenate(xs)},
                          {"edge_index": np.concatenate(eis), "edge_attr": np.concatenate(eas)},
                          {}, np.asarray(kept, np.int64))
    out.skipped = skipped
    out.notes = notes
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Specs
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MoleculeSpec(DatasetSpec):
    """Base of SMILES datasets converted with a :class:`~graphgen.data.molecules.MoleculeVocab`."""

    vocab: MoleculeVocab | None = None
    smiles_column: str = "smiles"
    kekulize: bool = True

    def converter(self) -> Callable[[np.ndarray, Sequence[Any]], GraphArrays]:
        if self.vocab is None:
            raise ValueError(f"dataset '{self.name}' needs a vocab to convert SMILES")
        return partial(convert_smiles, vocab=self.vocab, kekulize=self.kekulize)

    def vocabulary(self) -> dict[str, Any]:
        v = self.vocab
        return {"x": list(v.atoms), "edge_attr": list(v.bonds), "charge": list(v.charges),
                "num_hs": "-1 = inferred from valence, k >= 0 = pinned hydrogen count"}

    def make_dataset(self, cache_dir: Path) -> MoleculeDataset:
        return MoleculeDataset(cache_dir, vocab=self.vocab)


@dataclass(frozen=True)
class GDSSMoleculeSpec(MoleculeSpec):
    """Raw roles: ``smiles`` (CSV with ``idx`` = row), ``test_idx`` (JSON), optional ``properties`` (QM9 only).

    Args:
        test_index_key: key of the index list inside the JSON object (``"valid_idxs"`` for QM9), or ``None`` when
            the JSON is a bare list (ZINC250k).
    """

    test_index_key: str | None = None

    def _test_rows(self, path: Path, num_rows: int) -> np.ndarray:
        with open(path) as f:
            doc = json.load(f)
        idx = doc[self.test_index_key] if self.test_index_key else doc
        test = np.asarray([int(i) for i in idx], dtype=np.int64)  # GDSS: int(i), 0-based row index
        if len(np.unique(test)) != len(test) or test.min() < 0 or test.max() >= num_rows:
            raise ValueError(f"{path}: test indices must be distinct rows 0..{num_rows - 1}")
        return np.sort(test)

    def split_sizes(self, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
        n = count_rows(fetch(self.raw["smiles"], data_dir))
        test = self._test_rows(fetch(self.raw["test_idx"], data_dir), n)
        return {"train": n - len(test), "test": len(test)}

    def read_split(self, split: str, paths: dict[str, Path]) -> SplitSource:
        cols = read_columns(paths["smiles"], ["idx", self.smiles_column])
        _check_row_ids(paths["smiles"], cols["idx"])
        smiles = cols[self.smiles_column]
        test = self._test_rows(paths["test_idx"], len(smiles))
        mask = np.zeros(len(smiles), dtype=bool)
        mask[test] = True
        rows = np.flatnonzero(mask if split == "test" else ~mask)
        items = [smiles[i] for i in rows]
        graph = {}
        if "properties" in paths:
            graph["y"] = self._properties(paths["properties"], len(smiles))[rows]
        return SplitSource(rows=rows, items=items, graph=graph, smiles=items)

    @staticmethod
    def _properties(path: Path, num_rows: int) -> np.ndarray:
        """float32 [num_rows, 15] QM9 targets by row (row = gdb_id - 1), NaN where qm9pack has no entry."""
        cols = read_columns(path, ["gdb_id", *QM9_TARGETS])
        y = np.full((num_rows, len(QM9_TARGETS)), np.nan, dtype=np.float32)
        rows = np.asarray(cols["gdb_id"], dtype=np.int64) - 1
        if rows.min() < 0 or rows.max() >= num_rows:
            raise ValueError(f"{path}: gdb_id outside 1..{num_rows}")
        for k, name in enumerate(QM9_TARGETS):
            y[rows, k] = np.asarray(cols[name], dtype=np.float64)
        return y

    def vocabulary(self) -> dict[str, Any]:
        out = super().vocabulary()
        if "properties" in self.raw:
            out["y"] = list(QM9_TARGETS)
        return out

    def make_dataset(self, cache_dir: Path) -> MoleculeDataset:
        ds = super().make_dataset(cache_dir)
        if "properties" in self.raw:
            ds.target_names = QM9_TARGETS
        return ds


@dataclass(frozen=True)
class SplitFilesMoleculeSpec(MoleculeSpec):
    """One raw CSV per split; the raw role names are the split names (MOSES)."""

    def split_sizes(self, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
        return {s: count_rows(fetch(self.raw[s], data_dir)) for s in self.splits}

    def read_split(self, split: str, paths: dict[str, Path]) -> SplitSource:
        smiles = read_columns(paths[split], [self.smiles_column])[self.smiles_column]
        return SplitSource(rows=np.arange(len(smiles)), items=smiles, smiles=smiles)


@dataclass(frozen=True)
class Zinc12kSpec(DatasetSpec):
    """ZINC-12k: raw role ``csv`` with ``split``, ``subset_index``, ``smiles``, ``target_normalized_recomputed``."""

    target_column: str = "target_normalized_recomputed"

    def _table(self, path: Path) -> dict[str, list[str]]:
        return read_columns(path, ["split", "subset_index", "smiles", self.target_column])

    def split_sizes(self, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
        col = self._table(fetch(self.raw["csv"], data_dir))["split"]
        return {s: col.count(s) for s in self.splits}

    def read_split(self, split: str, paths: dict[str, Path]) -> SplitSource:
        t = self._table(paths["csv"])
        rows = [i for i, s in enumerate(t["split"]) if s == split]
        order = np.asarray([int(t["subset_index"][i]) for i in rows])
        if not np.array_equal(order, np.arange(len(rows))):
            raise ValueError(f"{paths['csv']}: split {split} rows are not in subset_index order 0..{len(rows) - 1}")
        items = [t["smiles"][i] for i in rows]
        y = np.asarray([float(t[self.target_column][i]) for i in rows], dtype=np.float32)
        return SplitSource(rows=np.asarray(rows, np.int64), items=items, graph={"y": y}, smiles=items)

    def converter(self) -> Callable[[np.ndarray, Sequence[Any]], GraphArrays]:
        return convert_zinc12k

    def vocabulary(self) -> dict[str, Any]:
        return {"x": list(ZINC12K_ATOM_TYPES), "edge_attr": list(ZINC12K_BONDS),
                "y": f"{self.target_column} (penalized logP, z-scored, recomputed with RDKit)"}

    def make_dataset(self, cache_dir: Path) -> MoleculeDataset:
        return MoleculeDataset(cache_dir, vocab={"atom_types": ZINC12K_ATOM_TYPES, "bonds": ZINC12K_BONDS})


@dataclass(frozen=True)
class MolHIVSpec(DatasetSpec):
    """ogbg-molhiv: raw roles ``csv`` (mol_id, smiles, HIV_active) and ``split`` (mol_id, split column)."""

    split_column: str = "scaffold_split_recomputed"
    # raw split value -> our split name
    split_names: tuple[tuple[str, str], ...] = (("train", "train"), ("valid", "val"), ("test", "test"))

    def _split_col(self, path: Path) -> list[str]:
        cols = read_columns(path, ["mol_id", self.split_column])
        _check_row_ids(path, cols["mol_id"])
        rename = dict(self.split_names)
        unknown = sorted(set(cols[self.split_column]) - set(rename))
        if unknown:
            raise ValueError(f"{path}: unknown split value(s) {unknown}; expected {sorted(rename)}")
        return [rename[s] for s in cols[self.split_column]]

    def split_sizes(self, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
        col = self._split_col(fetch(self.raw["split"], data_dir))
        return {s: col.count(s) for s in self.splits}

    def read_split(self, split: str, paths: dict[str, Path]) -> SplitSource:
        t = read_columns(paths["csv"], ["mol_id", "smiles", "HIV_active"])
        _check_row_ids(paths["csv"], t["mol_id"])
        col = self._split_col(paths["split"])
        if len(col) != len(t["smiles"]):
            raise ValueError(f"{paths['split']} has {len(col)} rows but {paths['csv']} has {len(t['smiles'])}")
        rows = np.asarray([i for i, s in enumerate(col) if s == split], dtype=np.int64)
        items = [t["smiles"][i] for i in rows]
        y = np.asarray([int(t["HIV_active"][i]) for i in rows], dtype=np.int64).reshape(-1, 1)
        return SplitSource(rows=rows, items=items, graph={"y": y}, smiles=items)

    def converter(self) -> Callable[[np.ndarray, Sequence[Any]], GraphArrays]:
        return convert_ogb

    def vocabulary(self) -> dict[str, Any]:
        return {"x": "OGB atom features [N, 9] (ogb.utils.features.atom_to_feature_vector)",
                "edge_attr": "OGB bond features [E, 3] (ogb.utils.features.bond_to_feature_vector)",
                "y": "HIV_active [1, 1] long"}

    def make_dataset(self, cache_dir: Path) -> MoleculeDataset:
        return MoleculeDataset(cache_dir, vocab="ogb")
