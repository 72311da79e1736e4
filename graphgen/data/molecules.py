"""RDKit molecules <-> PyG ``Data`` graphs, with one vocabulary per dataset.

Graph layout (see ``notes/CONTRACTS.md``), for a molecule with ``N`` atoms and ``M`` bonds:

- ``x``: long ``[N]``, atom type = index into ``vocab.atoms`` (element symbols). Hydrogens are nodes only when the
  molecule holds them as atoms (e.g. after ``Chem.AddHs``, or a SMILES ``[H]`` that RDKit keeps); the SMILES parser
  folds ordinary ``[H]`` atoms into their neighbour, so MOSES' ``H`` type is almost never used.
- ``charge``: long ``[N]``, the formal charge itself (``-1``, ``0``, ``+1``, ...), not an index. ``vocab.charges``
  lists the values a dataset uses.
- ``edge_index``: long ``[2, 2M]``, each bond in both directions, sorted by (row, col).
- ``edge_attr``: long ``[2M]``, bond type = index into ``vocab.bonds``: 0 single, 1 double, 2 triple
  (kekulized, the default), 3 aromatic (only with ``kekulize=False`` and a vocabulary from
  :meth:`MoleculeVocab.with_aromatic`).
- ``num_hs``: long ``[N]``, the extra attribute the round trip needs. ``-1`` (almost every atom) means "let RDKit's
  valence model infer the hydrogen count", which is what a generator produces. ``k >= 0`` pins the atom's total
  hydrogen count to ``k``; it is set only where the valence model would infer another count from the graph alone.
  Kekulized (default): one molecule of ZINC250k needs it (row 16175, ``O=[PH2]...``: RDKit's valence model gives
  that P no hydrogens), none of QM9 or MOSES train (``[nH]`` gets its H back from its two single bonds, charged atoms such as ``[NH3+]``/``[O-]``/``[C-]`` from RDKit's charge-aware valences, hypervalent
  S/P from RDKit's valence lists; RDKit's sanitization already writes nitro groups as ``[N+](=O)[O-]``); it is there
  for molecules from elsewhere (radicals, unusual hydrogen counts). Aromatic (``kekulize=False``): it is set on ``[nH]``-like atoms, whose aromatic bonds do
  not say whether they carry a hydrogen, and without it such molecules fail to kekulize. Generators may ignore
  ``num_hs`` (omit it or fill it with ``-1``): :func:`data_to_mol` treats a missing ``num_hs`` as all ``-1``, and
  ``benchmarks/mol_roundtrip.py`` reports per dataset how many molecules need it.

Round-trip guarantee, checked on every molecule of QM9, ZINC250k and MOSES train by ``benchmarks/mol_roundtrip.py``::

    canonical_smiles(data_to_mol(mol_to_data(mol, vocab), vocab)) == canonical_smiles(mol)

Decision: the comparison ignores stereochemistry (and isotopes): :func:`canonical_smiles` writes RDKit canonical
SMILES with ``isomericSmiles=False``. The graph stores no chirality or double-bond geometry, so QM9 ``SMILES1`` and
ZINC stereo centres cannot survive it; this matches how the GDSS / DiGress / MOSES protocols compare molecules.

Speed: :func:`smiles_to_arrays` returns plain numpy arrays (no torch objects) for bulk preprocessing and
:func:`arrays_to_mol` inverts it; bonds come from one RDKit call (``GetAdjacencyMatrix``), atoms from one short loop.
``benchmarks/mol_roundtrip.py`` prints CPU microseconds per molecule next to RDKit parsing alone and PyG's
``from_smiles`` (figures: ``benchmarks/results/data_notes.md``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import torch
from rdkit import Chem
from torch_geometric.data import Data

KEKULE_BONDS: tuple[str, ...] = ("SINGLE", "DOUBLE", "TRIPLE")

_PERIODIC_TABLE = Chem.GetPeriodicTable()
# bond order as RDKit reports it (GetBondTypeAsDouble) -> name in a vocabulary's ``bonds``
_ORDER_TO_NAME = {1.0: "SINGLE", 2.0: "DOUBLE", 3.0: "TRIPLE", 1.5: "AROMATIC"}
_NAME_TO_RDKIT = {
    "SINGLE": Chem.BondType.SINGLE,
    "DOUBLE": Chem.BondType.DOUBLE,
    "TRIPLE": Chem.BondType.TRIPLE,
    "AROMATIC": Chem.BondType.AROMATIC,
}
# any bond that is not single, double, triple or aromatic (dative, zero-order, ...)
_EXOTIC_BOND = Chem.MolFromSmarts("*!-;!=;!#;!:*")


@dataclass(frozen=True)
class MoleculeVocab:
    """Atom, bond and charge vocabulary of one molecule dataset.

    Args:
        name: dataset name (``"qm9"``, ``"zinc250k"``, ``"moses"``; ``"<name>_aromatic"`` for aromatic variants).
        atoms: element symbols; the position is the atom type stored in ``Data.x``.
        bonds: bond type names; the position is the bond type stored in ``Data.edge_attr``. Kekulized
            vocabularies use ``("SINGLE", "DOUBLE", "TRIPLE")``; :meth:`with_aromatic` appends ``"AROMATIC"``.
        charges: the formal charges that occur in the dataset (``Data.charge`` holds the value itself).
            A molecule with another charge raises ``ValueError`` in :func:`mol_to_data`.
    """

    name: str
    atoms: tuple[str, ...]
    bonds: tuple[str, ...] = KEKULE_BONDS
    charges: tuple[int, ...] = (-1, 0, 1)

    def __post_init__(self) -> None:
        for symbol in self.atoms:
            try:
                ok = _PERIODIC_TABLE.GetAtomicNumber(symbol) > 0
            except RuntimeError:  # RDKit raises on unknown symbols
                ok = False
            if not ok:
                raise ValueError(f"MoleculeVocab {self.name!r}: {symbol!r} is not an element symbol")
        unknown = [b for b in self.bonds if b not in _NAME_TO_RDKIT]
        if unknown:
            raise ValueError(f"MoleculeVocab {self.name!r}: unknown bond names {unknown}; use {sorted(_NAME_TO_RDKIT)}")
        if len(set(self.atoms)) != len(self.atoms):
            raise ValueError(f"MoleculeVocab {self.name!r}: duplicate atoms in {self.atoms}")

    @property
    def num_atom_types(self) -> int:
        return len(self.atoms)

    @property
    def num_bond_types(self) -> int:
        return len(self.bonds)

    @property
    def aromatic(self) -> bool:
        return "AROMATIC" in self.bonds

    @property
    def atomic_numbers(self) -> tuple[int, ...]:
        return tuple(_PERIODIC_TABLE.GetAtomicNumber(s) for s in self.atoms)

    def with_aromatic(self) -> MoleculeVocab:
        """The same vocabulary with an ``"AROMATIC"`` bond type (index 3), for ``kekulize=False``."""
        if self.aromatic:
            return self
        return replace(self, name=f"{self.name}_aromatic", bonds=self.bonds + ("AROMATIC",))

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (lists, not tuples) that :meth:`from_dict` and :func:`resolve_vocab` read back.

        Generator configs store this dict as ``vocab`` when the vocabulary was built from a user's data, so the
        model folder alone says what its atom and bond indices mean.
        """
        return {"name": self.name, "atoms": list(self.atoms), "bonds": list(self.bonds),
                "charges": [int(q) for q in self.charges]}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> MoleculeVocab:
        """Inverse of :meth:`to_dict`; ``bonds`` and ``charges`` default like the constructor's arguments.

        Raises:
            ValueError: a missing ``name`` / ``atoms``, an unknown key (the message lists the valid ones), or a
                value the constructor rejects (not an element symbol, an unknown bond name).
        """
        if not isinstance(d, dict):
            raise TypeError(f"MoleculeVocab.from_dict expects a dict, got {type(d).__name__}")
        valid = ("name", "atoms", "bonds", "charges")
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ValueError(f"unknown MoleculeVocab key(s) {unknown}; valid keys: {list(valid)}")
        missing = [k for k in ("name", "atoms") if k not in d]
        if missing:
            raise ValueError(f"MoleculeVocab dict lacks {missing}; expected keys {list(valid)} (see to_dict())")
        for key in ("atoms", "bonds", "charges"):
            if key in d and not isinstance(d[key], (list, tuple)):
                raise ValueError(f"MoleculeVocab dict: {key!r} must be a list, got {d[key]!r}")
        kwargs: dict[str, object] = {"name": str(d["name"]), "atoms": tuple(str(a) for a in d["atoms"])}
        if "bonds" in d:
            kwargs["bonds"] = tuple(str(b) for b in d["bonds"])
        if "charges" in d:
            kwargs["charges"] = tuple(int(q) for q in d["charges"])
        return cls(**kwargs)

    def __repr__(self) -> str:
        return (f"MoleculeVocab(name={self.name!r}, atoms={self.atoms}, bonds={self.bonds}, "
                f"charges={self.charges})")


VOCABS: dict[str, MoleculeVocab] = {
    "qm9": MoleculeVocab("qm9", ("C", "N", "O", "F"), charges=(-1, 0, 1)),
    "zinc250k": MoleculeVocab("zinc250k", ("C", "N", "O", "F", "P", "S", "Cl", "Br", "I"), charges=(-1, 0, 1)),
    "moses": MoleculeVocab("moses", ("C", "N", "S", "O", "F", "Cl", "Br", "H"), charges=(0,)),
}


def resolve_vocab(value: str | dict | MoleculeVocab) -> MoleculeVocab:
    """The :class:`MoleculeVocab` a config's ``vocab`` value stands for.

    Args:
        value: a key of :data:`VOCABS` (``"qm9"``; ``"qm9_aromatic"`` gives ``VOCABS["qm9"].with_aromatic()``),
            a dict written by :meth:`MoleculeVocab.to_dict` (a vocabulary built from a user's file), or a
            :class:`MoleculeVocab` (returned as is).

    Raises:
        ValueError: an unknown name (the message lists the known ones) or a malformed dict.
        TypeError: any other type (including ``None``: a generic-graph model has no vocabulary).
    """
    if isinstance(value, MoleculeVocab):
        return value
    if isinstance(value, dict):
        return MoleculeVocab.from_dict(value)
    if isinstance(value, str):
        if value in VOCABS:
            return VOCABS[value]
        base = value[:-len("_aromatic")] if value.endswith("_aromatic") else None
        if base in VOCABS:
            return VOCABS[base].with_aromatic()
        raise ValueError(f"unknown molecule vocabulary {value!r}; known: {', '.join(VOCABS)} (or '<name>_aromatic'), "
                         f"or a dict with keys name/atoms/bonds/charges (MoleculeVocab.to_dict())")
    raise TypeError(f"vocab must be a VOCABS name, a dict or a MoleculeVocab, got {type(value).__name__} {value!r}")


class MoleculeArrays(NamedTuple):
    """Numpy form of a molecule graph (see the module docstring for meanings). ``edge_index`` is ``[2, 2M]``."""

    atom_types: np.ndarray  # int64 [N]
    charges: np.ndarray  # int64 [N]
    num_hs: np.ndarray  # int64 [N], -1 = infer from valence
    edge_index: np.ndarray  # int64 [2, 2M], sorted by (row, col)
    bond_types: np.ndarray  # int64 [2M]


# --------------------------------------------------------------------------------------------------------------------
# lookup tables, one per vocabulary (cached on the frozen dataclass's identity)
_TABLES: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _tables(vocab: MoleculeVocab) -> tuple[np.ndarray, np.ndarray]:
    """(atomic number -> atom type or -1 [128], round(2 * bond order) -> bond type or -1 [8])."""
    key = (vocab.atoms, vocab.bonds)
    hit = _TABLES.get(key)
    if hit is None:
        atom_lut = np.full(128, -1, dtype=np.int64)
        for i, z in enumerate(vocab.atomic_numbers):
            atom_lut[z] = i
        bond_lut = np.full(8, -1, dtype=np.int64)
        for order, name in _ORDER_TO_NAME.items():
            if name in vocab.bonds:
                bond_lut[int(round(2 * order))] = vocab.bonds.index(name)
        hit = _TABLES[key] = (atom_lut, bond_lut)
    return hit


def _parse(smiles: str) -> Chem.Mol:
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    return mol


def _unknown_element_error(mol: Chem.Mol, atomic_numbers: np.ndarray, atom_types: np.ndarray,
                           vocab: MoleculeVocab) -> ValueError:
    bad = sorted({_PERIODIC_TABLE.GetElementSymbol(int(z)) for z in atomic_numbers[atom_types < 0]})
    return ValueError(
        f"element(s) {', '.join(bad)} not in vocabulary {vocab.name!r} (atoms {vocab.atoms}) "
        f"for molecule {Chem.MolToSmiles(mol)!r}; skip the molecule or use a vocabulary that has them")


def mol_to_arrays(mol: Chem.Mol, vocab: MoleculeVocab, *, kekulize: bool = True) -> MoleculeArrays:
    """Graph arrays of an RDKit molecule (the input is not modified).

    Args:
        mol: a sanitized RDKit molecule.
        vocab: dataset vocabulary; every element and charge must be in it.
        kekulize: store single/double/triple bonds (default). ``False`` keeps aromatic bonds as type 3 and needs
            ``vocab.with_aromatic()``.

    Raises:
        ValueError: element or charge outside the vocabulary (the message names both), a bond type other than
            single/double/triple/aromatic, or a molecule RDKit cannot kekulize.
    """
    return _mol_to_arrays(mol, vocab, kekulize=kekulize, owned=False)


def _mol_to_arrays(mol: Chem.Mol, vocab: MoleculeVocab, *, kekulize: bool, owned: bool) -> MoleculeArrays:
    """:func:`mol_to_arrays`; ``owned=True`` lets it kekulize ``mol`` in place (no copy) when ``kekulize=True``."""
    if not kekulize and not vocab.aromatic:
        raise ValueError(f"kekulize=False needs an aromatic bond type; pass vocab=VOCABS[{vocab.name!r}].with_aromatic()")
    kek = mol if (owned and kekulize) else Chem.Mol(mol)
    try:
        Chem.Kekulize(kek, clearAromaticFlags=True)
    except Chem.KekulizeException as err:
        raise ValueError(f"cannot kekulize {Chem.MolToSmiles(mol)!r}: {err}") from err
    src = kek if kekulize else mol

    n = src.GetNumAtoms()
    atom_lut, bond_lut = _tables(vocab)
    # one loop over atoms: (atomic number, formal charge, hydrogens pinned in the input?)
    props = [src.GetAtomWithIdx(i) for i in range(n)]
    atomic_numbers = np.fromiter((a.GetAtomicNum() for a in props), dtype=np.int64, count=n)
    charges = np.fromiter((a.GetFormalCharge() for a in props), dtype=np.int64, count=n)
    pinned = [i for i, a in enumerate(props)
              if a.GetNoImplicit() or a.GetNumExplicitHs() or a.GetNumRadicalElectrons()]

    atom_types = atom_lut[np.minimum(atomic_numbers, 127)]
    if (atom_types < 0).any():
        raise _unknown_element_error(mol, atomic_numbers, atom_types, vocab)
    if charges.any():
        bad = sorted(set(charges.tolist()) - set(vocab.charges))
        if bad:
            raise ValueError(f"formal charge(s) {bad} not in vocabulary {vocab.name!r} (charges {vocab.charges}) "
                             f"for molecule {Chem.MolToSmiles(mol)!r}")

    if not kekulize:
        # aromatic bonds alone do not say where the hydrogens of [nH], [cH-], ... are: test those atoms too
        pinned = sorted(set(pinned).union(
            i for i, a in enumerate(props) if a.GetIsAromatic() and (a.GetAtomicNum() != 6 or a.GetFormalCharge())))
    num_hs = np.full(n, -1, dtype=np.int64)
    if pinned:
        # Which atoms would RDKit's valence model give another H count than they have, from the graph alone?
        probe = Chem.RWMol(src)
        for i in pinned:
            atom = probe.GetAtomWithIdx(i)
            atom.SetNoImplicit(False)
            atom.SetNumExplicitHs(0)
            atom.SetNumRadicalElectrons(0)  # the graph has no radicals: data_to_mol sees none
        probe.UpdatePropertyCache(strict=False)
        for i in pinned:
            actual = props[i].GetTotalNumHs()
            if probe.GetAtomWithIdx(i).GetTotalNumHs() != actual:
                num_hs[i] = actual

    # float [N, N] bond orders (1.5 aromatic); force=True: RDKit caches this matrix on the molecule and Chem.Mol()
    # copies the cache, so a matrix computed on the aromatic input would otherwise leak into the kekulized copy
    adjacency = Chem.GetAdjacencyMatrix(src, useBO=True, force=True)
    row, col = np.nonzero(adjacency)  # row-major order = sorted by (row, col)
    codes = np.rint(2 * adjacency[row, col]).astype(np.int64)
    bond_types = bond_lut[np.minimum(codes, 7)]
    if (bond_types < 0).any() or len(row) != 2 * src.GetNumBonds() or _has_unsupported_bond(src):
        kinds = sorted({str(b.GetBondType()) for b in src.GetBonds()})
        raise ValueError(f"molecule {Chem.MolToSmiles(mol)!r} has bond types {kinds} (kekulize={kekulize}); "
                         f"vocabulary {vocab.name!r} supports {vocab.bonds}")
    edge_index = np.stack([row, col]).astype(np.int64)
    return MoleculeArrays(atom_types, charges, num_hs, edge_index, bond_types)


def _has_unsupported_bond(mol: Chem.Mol) -> bool:
    """Dative (and other exotic) bonds report order 1 in the adjacency matrix; one SMARTS match catches them."""
    return mol.HasSubstructMatch(_EXOTIC_BOND)


def smiles_to_arrays(smiles: str, vocab: MoleculeVocab, *, kekulize: bool = True) -> MoleculeArrays:
    """Graph arrays of a SMILES string (fast path for bulk preprocessing; no torch objects).

    Returns ``(atom_types, charges, num_hs, edge_index, bond_types)`` as int64 numpy arrays (a :class:`MoleculeArrays`).
    Raises ``ValueError`` for an unparsable SMILES or an element/charge outside ``vocab``.
    """
    return _mol_to_arrays(_parse(smiles), vocab, kekulize=kekulize, owned=True)


def arrays_to_data(arrays: MoleculeArrays) -> Data:
    """Wrap :class:`MoleculeArrays` as a ``Data`` with ``x``, ``charge``, ``num_hs``, ``edge_index``, ``edge_attr``."""
    return Data(
        x=torch.from_numpy(arrays.atom_types),
        charge=torch.from_numpy(arrays.charges),
        num_hs=torch.from_numpy(arrays.num_hs),
        edge_index=torch.from_numpy(arrays.edge_index),
        edge_attr=torch.from_numpy(arrays.bond_types),
        num_nodes=len(arrays.atom_types),
    )


def mol_to_data(mol: Chem.Mol, vocab: MoleculeVocab, *, kekulize: bool = True) -> Data:
    """RDKit molecule -> ``Data`` in the layout of the module docstring. See :func:`mol_to_arrays` for errors."""
    return arrays_to_data(mol_to_arrays(mol, vocab, kekulize=kekulize))


def smiles_to_data(smiles: str, vocab: MoleculeVocab, *, kekulize: bool = True) -> Data:
    """SMILES -> ``Data`` (RDKit parses with its defaults: sanitized, ordinary ``[H]`` atoms folded into neighbours)."""
    return arrays_to_data(smiles_to_arrays(smiles, vocab, kekulize=kekulize))


def _as_numpy(value: torch.Tensor | np.ndarray | None, name: str) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            raise ValueError(f"data.{name} must hold integer indices, got dtype {value.dtype}; "
                             f"take .argmax(-1) of one-hot/logit features first")
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.int64)


def data_to_mol(data: Data, vocab: MoleculeVocab, *, sanitize: bool = True) -> Chem.Mol:
    """``Data`` (layout of the module docstring) -> RDKit molecule.

    ``charge`` and ``num_hs`` are optional (missing = all 0 / all -1). Each undirected bond must appear in both
    directions with the same type. Hydrogen counts of atoms with ``num_hs == -1`` come from RDKit's valence model.

    Args:
        data: graph with ``x`` long ``[N]``, ``edge_index`` long ``[2, 2M]``, ``edge_attr`` long ``[2M]``.
        vocab: the vocabulary the indices refer to.
        sanitize: run ``Chem.SanitizeMol`` (raises on a valence error). ``False`` returns the unsanitized molecule,
            e.g. for valency correction by the evaluator.

    Raises:
        ValueError: indices out of range, wrong shapes, an edge present in one direction only or with two types,
            a self loop; RDKit's sanitization errors propagate unchanged when ``sanitize=True``.
    """
    x = _as_numpy(data.x, "x")
    if x is None or x.ndim != 1:
        raise ValueError(f"data.x must be long [N] atom-type indices, got shape {None if x is None else x.shape}")
    charge = _as_numpy(getattr(data, "charge", None), "charge")
    num_hs = _as_numpy(getattr(data, "num_hs", None), "num_hs")
    edge_index = _as_numpy(data.edge_index, "edge_index")
    edge_attr = _as_numpy(getattr(data, "edge_attr", None), "edge_attr")
    return _build_mol(x, charge, num_hs, edge_index, edge_attr, vocab, sanitize)


def arrays_to_mol(arrays: MoleculeArrays, vocab: MoleculeVocab, *, sanitize: bool = True) -> Chem.Mol:
    """:func:`data_to_mol` for :class:`MoleculeArrays` (the output of :func:`smiles_to_arrays`); same checks."""
    atom_types, charges, num_hs, edge_index, bond_types = (np.asarray(a, dtype=np.int64) for a in arrays)
    return _build_mol(atom_types, charges, num_hs, edge_index, bond_types, vocab, sanitize)


def _build_mol(x: np.ndarray, charge: np.ndarray | None, num_hs: np.ndarray | None, edge_index: np.ndarray | None,
               edge_attr: np.ndarray | None, vocab: MoleculeVocab, sanitize: bool) -> Chem.Mol:
    n = len(x)
    if edge_index is None or edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"data.edge_index must be long [2, E], got {None if edge_index is None else edge_index.shape}")
    if edge_attr is None:
        raise ValueError("data.edge_attr (bond type indices into vocab.bonds) is required to build a molecule")
    if edge_attr.ndim == 2 and edge_attr.shape[1] == 1:
        edge_attr = edge_attr[:, 0]
    if edge_attr.shape != (edge_index.shape[1],):
        raise ValueError(f"data.edge_attr must be long [E={edge_index.shape[1]}], got shape {edge_attr.shape}")
    for name, arr in (("charge", charge), ("num_hs", num_hs)):
        if arr is not None and arr.shape != (n,):
            raise ValueError(f"data.{name} must be long [N={n}], got shape {arr.shape}")
    if n and (x.min() < 0 or x.max() >= len(vocab.atoms)):
        raise ValueError(f"data.x has atom types outside 0..{len(vocab.atoms) - 1} of vocabulary {vocab.name!r}")
    if edge_attr.size and (edge_attr.min() < 0 or edge_attr.max() >= len(vocab.bonds)):
        raise ValueError(f"data.edge_attr has bond types outside 0..{len(vocab.bonds) - 1} of vocabulary "
                         f"{vocab.name!r} (bonds {vocab.bonds})")
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= n):
        raise ValueError(f"data.edge_index refers to nodes outside 0..{n - 1}")

    row, col = edge_index
    if (row == col).any():
        raise ValueError(f"data.edge_index has self loops at nodes {sorted(set(row[row == col].tolist()))}")
    upper = row < col
    forward = dict(zip(zip(row[upper].tolist(), col[upper].tolist()), edge_attr[upper].tolist()))
    backward = dict(zip(zip(col[~upper].tolist(), row[~upper].tolist()), edge_attr[~upper].tolist()))
    if forward != backward or len(forward) != int(upper.sum()) or len(backward) != int((~upper).sum()):
        diff = sorted(set(forward.items()) ^ set(backward.items()))[:5]
        raise ValueError(f"data.edge_index/edge_attr must list every bond once in each direction with the same type "
                         f"and no duplicates; mismatched (i, j) -> type, first ones: {diff}")

    mol = Chem.RWMol()
    charges = charge.tolist() if charge is not None else [0] * n
    hydrogens = num_hs.tolist() if num_hs is not None else [-1] * n
    for t, q, h in zip(x.tolist(), charges, hydrogens):
        atom = Chem.Atom(vocab.atoms[t])
        if q:
            atom.SetFormalCharge(q)
        if h >= 0:
            atom.SetNumExplicitHs(h)
            atom.SetNoImplicit(True)
        mol.AddAtom(atom)
    for (i, j), t in sorted(forward.items()):
        name = vocab.bonds[t]
        mol.AddBond(i, j, _NAME_TO_RDKIT[name])
        if name == "AROMATIC":
            mol.GetBondBetweenAtoms(i, j).SetIsAromatic(True)
            mol.GetAtomWithIdx(i).SetIsAromatic(True)
            mol.GetAtomWithIdx(j).SetIsAromatic(True)
    out = mol.GetMol()
    if sanitize:
        Chem.SanitizeMol(out)
    return out


def canonical_smiles(mol_or_smiles: Chem.Mol | str, *, isomeric: bool = False) -> str:
    """RDKit canonical SMILES, without stereochemistry/isotopes by default (see the module docstring)."""
    mol = _parse(mol_or_smiles) if isinstance(mol_or_smiles, str) else mol_or_smiles
    return Chem.MolToSmiles(mol, isomericSmiles=isomeric)


def data_to_smiles(data: Data, vocab: MoleculeVocab) -> str:
    """Canonical SMILES (no stereo) of ``data_to_mol(data, vocab)``; raises like :func:`data_to_mol`."""
    return canonical_smiles(data_to_mol(data, vocab))
