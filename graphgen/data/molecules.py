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

Limits (inputs outside them raise :class:`~graphgen.errors.InputError` naming the item, atom and field):

- At most :data:`MAX_ATOMS` (5,000) atoms per molecule, checked before RDKit sanitizes or writes it. RDKit's SMILES
  writer walks the molecule depth-first with one C++ recursion level per atom on the path (about 400 bytes of stack
  each, measured): a 20,000-atom chain overflows the default 8 MiB stack and kills the process with SIGSEGV; 5,000
  atoms need about 2 MiB. RDKit's ring perception during sanitization also needs memory quadratic in a ring's size
  (a single ring of 5,000 atoms: 0.75 GB; of 30,000: more than 20 GB), so the limit is checked on the unsanitized
  parse. The largest molecules of QM9, ZINC250k and MOSES have 9, 38 and 27 heavy atoms.
- ``charge`` values must be formal charges the vocabulary lists (``vocab.charges``, which lie within
  ``+-``:data:`MAX_ABS_CHARGE`); ``num_hs`` values must be ``-1`` or ``0..``:data:`MAX_NUM_HS`. Values as large as
  ``2**31`` would otherwise overflow RDKit's ``int`` arguments.

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

from graphgen.errors import InputError

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
# an aromatic bond; after Kekulize only one outside a ring is left (SMILES 'C:C'), which RDKit cannot kekulize
_AROMATIC_BOND = Chem.MolFromSmarts("*:*")

# Largest molecule graphgen converts, builds or writes as SMILES (reasons in the module docstring: RDKit's SMILES
# writer recurses once per atom and overflows the stack near 20,000 atoms; ring perception is quadratic in memory).
MAX_ATOMS = 5_000
# Widest formal charge a vocabulary may list; the user-file importer reads charges up to this bound as well.
MAX_ABS_CHARGE = 8
# Most hydrogens ``num_hs`` may pin on one atom: no element has a valence above 8 (osmium in OsO4).
MAX_NUM_HS = 8
# Characters of a SMILES quoted in an error message (a 20,000-atom SMILES would make a 20,000-character line).
_QUOTE_CHARS = 80


@dataclass(frozen=True)
class MoleculeVocab:
    """Atom, bond and charge vocabulary of one molecule dataset.

    Args:
        name: dataset name (``"qm9"``, ``"zinc250k"``, ``"moses"``; ``"<name>_aromatic"`` for aromatic variants).
        atoms: element symbols; the position is the atom type stored in ``Data.x``.
        bonds: bond type names; the position is the bond type stored in ``Data.edge_attr``. Kekulized
            vocabularies use ``("SINGLE", "DOUBLE", "TRIPLE")``; :meth:`with_aromatic` appends ``"AROMATIC"``.
        charges: the formal charges that occur in the dataset (``Data.charge`` holds the value itself), each
            within ``+-MAX_ABS_CHARGE``. A molecule with another charge raises ``InputError`` (a ``ValueError``)
            in :func:`mol_to_data` and in :func:`data_to_mol`.
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
                raise InputError(f"MoleculeVocab {self.name!r}: {symbol!r} is not an element symbol")
        unknown = [b for b in self.bonds if b not in _NAME_TO_RDKIT]
        if unknown:
            raise InputError(f"MoleculeVocab {self.name!r}: unknown bond names {unknown}; use {sorted(_NAME_TO_RDKIT)}")
        if len(set(self.atoms)) != len(self.atoms):
            raise InputError(f"MoleculeVocab {self.name!r}: duplicate atoms in {self.atoms}")
        implausible = [q for q in self.charges if not -MAX_ABS_CHARGE <= q <= MAX_ABS_CHARGE]
        if implausible:
            raise InputError(f"MoleculeVocab {self.name!r}: formal charges {implausible} outside "
                             f"-{MAX_ABS_CHARGE}..{MAX_ABS_CHARGE}; list only charges a molecule can carry")

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
            raise InputError(f"unknown MoleculeVocab key(s) {unknown}; valid keys: {list(valid)}")
        missing = [k for k in ("name", "atoms") if k not in d]
        if missing:
            raise InputError(f"MoleculeVocab dict lacks {missing}; expected keys {list(valid)} (see to_dict())")
        for key in ("atoms", "bonds", "charges"):
            if key in d and not isinstance(d[key], (list, tuple)):
                raise InputError(f"MoleculeVocab dict: {key!r} must be a list, got {d[key]!r}")
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
        raise InputError(f"unknown molecule vocabulary {value!r}; known: {', '.join(VOCABS)} (or '<name>_aromatic'), "
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


def _quote(smiles: str) -> str:
    """``repr`` of a SMILES for an error message, shortened to its first characters."""
    if len(smiles) <= _QUOTE_CHARS:
        return repr(smiles)
    return f"{smiles[:_QUOTE_CHARS]!r}... ({len(smiles)} characters)"


def _describe(mol: Chem.Mol) -> str:
    """A molecule for an error message: its (shortened) SMILES, or its size when RDKit cannot write one."""
    if mol.GetNumAtoms() > MAX_ATOMS:  # never hand RDKit's recursive writer a molecule above the limit
        return f"molecule with {mol.GetNumAtoms()} atoms"
    try:
        return _quote(Chem.MolToSmiles(mol))
    except (RuntimeError, ValueError):  # unsanitized input RDKit cannot write
        return f"molecule with {mol.GetNumAtoms()} atoms"


def check_atom_count(num_atoms: int, what: str) -> None:
    """Raise :class:`~graphgen.errors.InputError` naming ``what`` when ``num_atoms`` exceeds :data:`MAX_ATOMS`."""
    if num_atoms > MAX_ATOMS:
        raise InputError(f"{what} has {num_atoms} atoms, more than graphgen's limit MAX_ATOMS={MAX_ATOMS} (RDKit's "
                         f"SMILES writer overflows the stack on very large molecules); skip it or split it")


def parse_smiles(smiles: str, *, sanitize: bool = True) -> Chem.Mol | None:
    """``Chem.MolFromSmiles(smiles, sanitize=sanitize)`` (``None`` when RDKit cannot parse it), refusing molecules
    above :data:`MAX_ATOMS` before RDKit sanitizes them.

    Raises:
        InputError: ``smiles`` is not a string, or it has more than :data:`MAX_ATOMS` atoms.
    """
    if not isinstance(smiles, str):
        raise InputError(f"a SMILES must be a str, got {type(smiles).__name__} {smiles!r:.80}")
    # every atom takes at least one character, so only a long string can exceed the limit
    if len(smiles) > MAX_ATOMS:
        raw = Chem.MolFromSmiles(smiles, sanitize=False)  # linear time and memory, unlike sanitization
        if raw is None:
            return None
        check_atom_count(raw.GetNumAtoms(), f"SMILES {_quote(smiles)}")
        if not sanitize:
            return raw
    return Chem.MolFromSmiles(smiles, sanitize=sanitize)


def _parse(smiles: str) -> Chem.Mol:
    mol = parse_smiles(smiles)
    if mol is None:
        raise InputError(f"RDKit cannot parse SMILES {_quote(smiles)}; fix or drop that SMILES")
    return mol


def _unknown_element_error(mol: Chem.Mol, atomic_numbers: np.ndarray, atom_types: np.ndarray,
                           vocab: MoleculeVocab) -> InputError:
    bad = sorted({_PERIODIC_TABLE.GetElementSymbol(int(z)) for z in atomic_numbers[atom_types < 0]})
    return InputError(
        f"element(s) {', '.join(bad)} not in vocabulary {vocab.name!r} (atoms {vocab.atoms}) "
        f"for molecule {_describe(mol)}; skip the molecule or use a vocabulary that has them")


def mol_to_arrays(mol: Chem.Mol, vocab: MoleculeVocab, *, kekulize: bool = True) -> MoleculeArrays:
    """Graph arrays of an RDKit molecule (the input is not modified).

    Args:
        mol: a sanitized RDKit molecule with at most :data:`MAX_ATOMS` atoms.
        vocab: dataset vocabulary; every element and charge must be in it.
        kekulize: store single/double/triple bonds (default). ``False`` keeps aromatic bonds as type 3 and needs
            ``vocab.with_aromatic()``.

    Raises:
        InputError (a ``ValueError``): not a molecule, more than :data:`MAX_ATOMS` atoms, element or charge outside
            the vocabulary (the message names both), a bond type other than single/double/triple/aromatic, or a
            molecule RDKit cannot kekulize.
    """
    if not isinstance(mol, Chem.Mol):
        raise InputError(f"mol_to_arrays expects an RDKit Chem.Mol, got {type(mol).__name__}; "
                         f"Chem.MolFromSmiles returns None for a SMILES it cannot parse")
    return _mol_to_arrays(mol, vocab, kekulize=kekulize, owned=False)


def _mol_to_arrays(mol: Chem.Mol, vocab: MoleculeVocab, *, kekulize: bool, owned: bool) -> MoleculeArrays:
    """:func:`mol_to_arrays`; ``owned=True`` lets it kekulize ``mol`` in place (no copy) when ``kekulize=True``."""
    check_atom_count(mol.GetNumAtoms(), "molecule")  # before any RDKit call that could write it as SMILES
    if not kekulize and not vocab.aromatic:
        raise InputError(f"kekulize=False needs an aromatic bond type; "
                         f"pass vocab=VOCABS[{vocab.name!r}].with_aromatic()")
    kek = mol if (owned and kekulize) else Chem.Mol(mol)
    try:
        Chem.Kekulize(kek, clearAromaticFlags=True)
    except Chem.KekulizeException as err:
        raise InputError(f"cannot kekulize {_describe(mol)}: {err}") from err
    if kek.HasSubstructMatch(_AROMATIC_BOND):
        # kekulized, it would keep an aromatic bond; aromatic, data_to_mol could not rebuild it (aromatic atoms
        # outside a ring fail sanitization): either way the round trip would break
        raise InputError(f"molecule {_describe(mol)} has an aromatic bond outside a ring, which RDKit cannot "
                         f"kekulize; write that bond as single or double")
    if kekulize:
        _check_kekule_valences(kek, mol)
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
            raise InputError(f"formal charge(s) {bad} not in vocabulary {vocab.name!r} (charges {vocab.charges}) "
                             f"for molecule {_describe(mol)}")

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
        raise InputError(f"molecule {_describe(mol)} has bond types {kinds} (kekulize={kekulize}); "
                         f"vocabulary {vocab.name!r} supports {vocab.bonds}")
    edge_index = np.stack([row, col]).astype(np.int64)
    return MoleculeArrays(atom_types, charges, num_hs, edge_index, bond_types)


def _check_kekule_valences(kek: Chem.Mol, mol: Chem.Mol) -> None:
    """RDKit accepts a few aromatic molecules whose Kekule form it then rejects (SMILES ``c1ccn#cc1``: a triple bond
    inside an aromatic ring gives N a valence of 4 once kekulized); the graph of such a molecule could not be built
    back into one, so it is refused here rather than stored."""
    try:
        kek.UpdatePropertyCache(strict=True)
    except Chem.AtomValenceException as err:
        raise InputError(f"molecule {_describe(mol)} breaks RDKit's valence rules once kekulized ({err}); "
                         f"it cannot be stored as a kekulized graph") from err


def _has_unsupported_bond(mol: Chem.Mol) -> bool:
    """Dative (and other exotic) bonds report order 1 in the adjacency matrix; one SMARTS match catches them."""
    return mol.HasSubstructMatch(_EXOTIC_BOND)


def smiles_to_arrays(smiles: str, vocab: MoleculeVocab, *, kekulize: bool = True) -> MoleculeArrays:
    """Graph arrays of a SMILES string (fast path for bulk preprocessing; no torch objects).

    Returns ``(atom_types, charges, num_hs, edge_index, bond_types)`` as int64 numpy arrays (a :class:`MoleculeArrays`).
    Raises :class:`~graphgen.errors.InputError` (a ``ValueError``) for a non-string or unparsable SMILES, one with more
    than :data:`MAX_ATOMS` atoms, or an element/charge outside ``vocab``.
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


def _as_numpy(value: object, name: str) -> np.ndarray | None:
    """``data.<name>`` as an int64 numpy array (``None`` stays ``None``); anything but integers raises InputError."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex():
            raise InputError(f"data.{name} must hold integer indices, got dtype {value.dtype}; "
                             f"take .argmax(-1) of one-hot/logit features first")
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as err:  # ragged lists, unconvertible objects
        raise InputError(f"data.{name} must be an integer tensor, got {type(value).__name__}: {err}") from err
    if arr.dtype.kind not in "iu":  # floats would be truncated, bools and objects are not indices
        raise InputError(f"data.{name} must hold integers, got dtype {arr.dtype}; "
                         f"take .argmax(-1) of one-hot/logit features first")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise InputError(f"data.{name} holds {arr.max()}, beyond int64; it cannot be an index, charge or count")
    return arr.astype(np.int64, copy=False)


def data_to_mol(data: Data, vocab: MoleculeVocab, *, sanitize: bool = True) -> Chem.Mol:
    """``Data`` (layout of the module docstring) -> RDKit molecule.

    ``charge`` and ``num_hs`` are optional (missing = all 0 / all -1). Each undirected bond must appear in both
    directions with the same type. Hydrogen counts of atoms with ``num_hs == -1`` come from RDKit's valence model.

    Args:
        data: graph with ``x`` long ``[N]`` (``N <= MAX_ATOMS``), ``edge_index`` long ``[2, 2M]``, ``edge_attr``
            long ``[2M]``; optional ``charge`` long ``[N]`` with values from ``vocab.charges`` and ``num_hs`` long
            ``[N]`` with values ``-1`` or ``0..MAX_NUM_HS``.
        vocab: the vocabulary the indices refer to (a :class:`MoleculeVocab` or a name :func:`resolve_vocab` knows).
        sanitize: run ``Chem.SanitizeMol`` (raises on a valence error). ``False`` returns the unsanitized molecule,
            e.g. for valency correction by the evaluator.

    Raises:
        InputError (a ``ValueError``): a field missing, of the wrong shape or dtype; more than :data:`MAX_ATOMS`
            atoms; an index out of range, a charge outside ``vocab.charges`` or a hydrogen count outside
            ``-1, 0..MAX_NUM_HS`` (the message names the field and the first atom or edge); an edge present in one
            direction only or with two types; a self loop. RDKit's sanitization errors propagate unchanged when
            ``sanitize=True``.
    """
    vocab = resolve_vocab(vocab)
    x = _as_numpy(getattr(data, "x", None), "x")
    if x is None or x.ndim != 1:
        raise InputError(f"data.x must be long [N] atom-type indices, got shape {None if x is None else x.shape}")
    charge = _as_numpy(getattr(data, "charge", None), "charge")
    num_hs = _as_numpy(getattr(data, "num_hs", None), "num_hs")
    edge_index = _as_numpy(getattr(data, "edge_index", None), "edge_index")
    edge_attr = _as_numpy(getattr(data, "edge_attr", None), "edge_attr")
    return _build_mol(x, charge, num_hs, edge_index, edge_attr, vocab, sanitize)


def arrays_to_mol(arrays: MoleculeArrays, vocab: MoleculeVocab, *, sanitize: bool = True) -> Chem.Mol:
    """:func:`data_to_mol` for :class:`MoleculeArrays` (the output of :func:`smiles_to_arrays`); same checks."""
    vocab = resolve_vocab(vocab)
    fields = ("x", "charge", "num_hs", "edge_index", "edge_attr")  # the Data names the messages use
    atom_types, charges, num_hs, edge_index, bond_types = (_as_numpy(a, name) for a, name in zip(arrays, fields))
    if atom_types.ndim != 1:
        raise InputError(f"data.x must be long [N] atom-type indices, got shape {atom_types.shape}")
    return _build_mol(atom_types, charges, num_hs, edge_index, bond_types, vocab, sanitize)


def _first_false(allowed: np.ndarray) -> int | None:
    """Position of the first False entry of a boolean mask, ``None`` if every entry is True."""
    bad = np.flatnonzero(~allowed)
    return int(bad[0]) if bad.size else None


def _check_shapes(n: int, charge: np.ndarray | None, num_hs: np.ndarray | None, edge_index: np.ndarray | None,
                  edge_attr: np.ndarray | None) -> np.ndarray:
    """Check every field's shape; returns ``edge_attr`` as ``[E]`` (a ``[E, 1]`` column is accepted)."""
    if edge_index is None or edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise InputError(f"data.edge_index must be long [2, E], got {None if edge_index is None else edge_index.shape}")
    if edge_attr is None:
        raise InputError("data.edge_attr (bond type indices into vocab.bonds) is required to build a molecule")
    if edge_attr.ndim == 2 and edge_attr.shape[1] == 1:
        edge_attr = edge_attr[:, 0]
    if edge_attr.shape != (edge_index.shape[1],):
        raise InputError(f"data.edge_attr must be long [E={edge_index.shape[1]}], got shape {edge_attr.shape}")
    for name, arr in (("charge", charge), ("num_hs", num_hs)):
        if arr is not None and arr.shape != (n,):
            raise InputError(f"data.{name} must be long [N={n}], got shape {arr.shape}")
    return edge_attr


def _check_values(x: np.ndarray, charge: np.ndarray | None, num_hs: np.ndarray | None, edge_index: np.ndarray,
                  edge_attr: np.ndarray, vocab: MoleculeVocab) -> None:
    """Check every value's range; the message names the field, the first atom (or edge) and the value."""
    n = len(x)
    i = _first_false((x >= 0) & (x < len(vocab.atoms)))
    if i is not None:
        raise InputError(f"data.x[{i}] = {x[i]} is not an atom type of vocabulary {vocab.name!r} "
                         f"(0..{len(vocab.atoms) - 1} for {vocab.atoms})")
    if charge is not None:
        i = _first_false(np.isin(charge, np.asarray(vocab.charges, dtype=np.int64)))
        if i is not None:
            raise InputError(f"data.charge[{i}] = {charge[i]} (atom {i}) is not a formal charge of vocabulary "
                             f"{vocab.name!r} (charges {vocab.charges})")
    if num_hs is not None:
        i = _first_false((num_hs >= -1) & (num_hs <= MAX_NUM_HS))
        if i is not None:
            raise InputError(f"data.num_hs[{i}] = {num_hs[i]} (atom {i}) is not a hydrogen count: use -1 (let RDKit "
                             f"infer it) or 0..{MAX_NUM_HS}")
    e = _first_false((edge_attr >= 0) & (edge_attr < len(vocab.bonds)))
    if e is not None:
        raise InputError(f"data.edge_attr[{e}] = {edge_attr[e]} is not a bond type of vocabulary {vocab.name!r} "
                         f"(0..{len(vocab.bonds) - 1} for {vocab.bonds})")
    if edge_index.size:
        e = _first_false(((edge_index >= 0) & (edge_index < n)).all(axis=0))
        if e is not None:
            raise InputError(f"data.edge_index[:, {e}] = {edge_index[:, e].tolist()} refers to a node outside "
                             f"0..{n - 1}")


def _build_mol(x: np.ndarray, charge: np.ndarray | None, num_hs: np.ndarray | None, edge_index: np.ndarray | None,
               edge_attr: np.ndarray | None, vocab: MoleculeVocab, sanitize: bool) -> Chem.Mol:
    n = len(x)
    check_atom_count(n, "data.x")
    edge_attr = _check_shapes(n, charge, num_hs, edge_index, edge_attr)
    _check_values(x, charge, num_hs, edge_index, edge_attr, vocab)

    row, col = edge_index
    if (row == col).any():
        raise InputError(f"data.edge_index has self loops at nodes {sorted(set(row[row == col].tolist()))[:5]}")
    upper = row < col
    forward = dict(zip(zip(row[upper].tolist(), col[upper].tolist()), edge_attr[upper].tolist()))
    backward = dict(zip(zip(col[~upper].tolist(), row[~upper].tolist()), edge_attr[~upper].tolist()))
    if forward != backward or len(forward) != int(upper.sum()) or len(backward) != int((~upper).sum()):
        diff = sorted(set(forward.items()) ^ set(backward.items()))[:5]
        raise InputError(f"data.edge_index/edge_attr must list every bond once in each direction with the same type "
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
    """RDKit canonical SMILES, without stereochemistry/isotopes by default (see the module docstring).

    Raises:
        InputError (a ``ValueError``): an unparsable SMILES, something that is neither a SMILES nor a molecule, or a
            molecule with more than :data:`MAX_ATOMS` atoms (RDKit's writer would crash on it).
    """
    if isinstance(mol_or_smiles, str):
        mol = _parse(mol_or_smiles)
    elif isinstance(mol_or_smiles, Chem.Mol):
        mol = mol_or_smiles
        check_atom_count(mol.GetNumAtoms(), "molecule")
    else:
        raise InputError(f"canonical_smiles expects a SMILES str or an RDKit Chem.Mol, got "
                         f"{type(mol_or_smiles).__name__}")
    return Chem.MolToSmiles(mol, isomericSmiles=isomeric)


def data_to_smiles(data: Data, vocab: MoleculeVocab) -> str:
    """Canonical SMILES (no stereo) of ``data_to_mol(data, vocab)``; raises like :func:`data_to_mol`."""
    return canonical_smiles(data_to_mol(data, vocab))
