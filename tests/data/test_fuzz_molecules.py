"""Hypothesis fuzzing of molecule conversion (issue 22): ``smiles_to_arrays``, ``smiles_to_data``, ``data_to_mol``
and ``canonical_smiles``.

Property of every case: the call returns the right result, or raises a :class:`graphgen.errors.GraphgenError` whose
one-line message names the defect the case carries. "Right" is checked against an oracle that reads the input with
RDKit directly (which elements, charges and bonds it holds, whether it parses and sanitizes) and against invariants
(the graph layout of :mod:`graphgen.data.molecules`, the SMILES -> graph -> molecule round trip, invariance of
canonical SMILES under renumbering the atoms). Any other exception, a missing error or a wrong value fails the case.

Hypothesis draws the structure of a case (a seed, the vocabulary, the options, which defect) and the bulk content
comes from the seed: a Hypothesis draw costs about as much as the conversion under test, so a SMILES is not drawn
token by token. SMILES are random walks over weighted tokens, mostly well-formed (branches and ring bonds opened and
closed; of the 2,000 CI cases 23 % convert, the others fail to parse or hold an element, charge or bond the
vocabulary lacks), one in five corrupted by a stray token. Graphs carry one drawn defect (wrong dtype, shape, index,
charge, hydrogen count, a one-way, duplicate or looping edge, too many atoms) or none. CI runs ``CI_EXAMPLES`` cases
per test (derandomised: every run draws the same cases); ``-m slow`` runs ``SLOW_EXAMPLES``.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rdkit import Chem, rdBase
from torch_geometric.data import Data

from graphgen.data.molecules import (MAX_ATOMS, MAX_NUM_HS, VOCABS, MoleculeVocab, arrays_to_mol, canonical_smiles,
                                     data_to_mol, smiles_to_arrays, smiles_to_data)
from ..fuzz import expect_error, expect_result, run_case

CI_EXAMPLES = 2000
SLOW_EXAMPLES = 20000
# elements and charges the conversion accepts in these tests; SMILES also draw others (Na, Xe, B, Si, *, charge 2)
FUZZ = MoleculeVocab("fuzz", ("C", "N", "O", "F", "S", "P", "Cl", "Br", "I", "H"), charges=(-1, 0, 1))
VOCABULARIES = (VOCABS["qm9"], FUZZ, FUZZ.with_aromatic(), VOCABS["zinc250k"].with_aromatic())
BOND_NAMES = {"SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"}


def _settings(examples: int):
    # no example database: a passing run writes nothing into the checkout
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------------------------- drawing a SMILES
# Atoms and bonds, weighted towards what parses: nine draws in ten come from the common tuples (plain organic atoms
# and whole aromatic rings, whose ring numbers 5-9 the walk does not use for its own ring bonds 1-4), one in ten
# from the rare ones (charged, isotopic, radical, chiral, exotic, dummy, aromatic outside a ring).
_COMMON_ATOMS = ("C",) * 8 + ("N", "N", "O", "O", "F", "S", "Cl", "c5ccccc5", "c7ccncc7", "c8ccoc8")
_RARE_ATOMS = ("P", "Br", "I", "c6cc[nH]c6", "c9ccsc9", "[NH3+]", "[N+]", "[O-]", "[C-]", "[S+]", "[2H]", "[H]",
               "[CH2]", "[C@@H]", "[Na+]", "[Xe]", "[B]", "[Si]", "*", "[N-2]", "[OH3+]", "c", "n", "[nH]")
_COMMON_BONDS = ("",) * 8 + ("=",)
_RARE_BONDS = ("#", "-", ":", "/", "\\", "$", "->")
_HALOGENS = ("F", "Cl", "Br", "I")
_STRAY = ("(", ")", "1", "2", "%10", ".", "[", "]", "=", "#", "@", "+", "x", " ", "c1", "\x00", "é")
_SEED = st.integers(0, 2 ** 31 - 1)


def _weighted(rng: random.Random, common: tuple[str, ...], rare: tuple[str, ...]) -> str:
    """One of ``common`` nine times in ten, else one of ``rare``."""
    return rng.choice(rare) if rng.random() < 0.1 else rng.choice(common)


def smiles_like(seed: int) -> str:
    """A SMILES-like string from ``seed``: a random walk over atoms, bonds, branches, ring bonds and dots that keeps
    to SMILES syntax (ring bonds right after an atom, no bond after a dot), one in five corrupted by a stray token.
    (Drawn from a seed: Hypothesis draws cost milliseconds per string, far more than the conversion under test.)"""
    rng = random.Random(seed)
    parts = [_weighted(rng, _COMMON_ATOMS, _RARE_ATOMS)]
    last = "atom"  # what the string ends with: atom, open (a branch), close (a branch) or dot
    atoms = 1  # atom tokens so far; the last one carries the ring bonds written now
    open_branches, open_rings, next_ring, ring_pairs = 0, {}, 1, set()
    for _ in range(rng.randrange(14)):
        move = rng.randrange(8)
        if move == 0 and last in ("atom", "close"):
            parts.append("(")
            open_branches, last = open_branches + 1, "open"
        elif move == 1 and open_branches and last in ("atom", "close"):
            parts.append(")")
            open_branches, last = open_branches - 1, "close"
        elif move == 2 and last == "atom" and next_ring < 5:
            parts.append(_weighted(rng, _COMMON_BONDS, _RARE_BONDS) + str(next_ring))
            open_rings[next_ring] = atoms
            next_ring += 1
        elif move == 3 and last == "atom" and open_rings:
            ring = rng.choice(sorted(open_rings))
            # not onto the same or the previous atom (a loop, or a second bond to a neighbour), nor twice
            if atoms - open_rings[ring] >= 2 and (open_rings[ring], atoms) not in ring_pairs:
                ring_pairs.add((open_rings.pop(ring), atoms))
                parts.append(_weighted(rng, _COMMON_BONDS, _RARE_BONDS) + str(ring))
        elif move == 4 and not open_branches and not open_rings and last in ("atom", "close"):
            parts.append(".")
            last = "dot"
        else:
            bond = "" if last == "dot" else _weighted(rng, _COMMON_BONDS, _RARE_BONDS)
            atom = _weighted(rng, _COMMON_ATOMS, _RARE_ATOMS)
            # a halogen ends a chain: mostly as a side branch, so that the walk can go on
            side = atom in _HALOGENS and last in ("atom", "close") and rng.random() < 0.8
            parts.append(f"({bond}{atom})" if side else bond + atom)
            last = "close" if side else "atom"
            atoms += 1
    if last == "open":
        parts.append("C")
    parts.append(")" * open_branches)
    if open_rings:  # each open ring bond ends on its own new atom, two or more atoms after the one it started on
        parts.append("C" + "".join(f"C{ring}" for ring in open_rings))
    text = "".join(parts)
    if rng.random() < 0.2:
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(_STRAY) + text[at:]
    return text


def _quiet_parse(smiles: str) -> Chem.Mol | None:
    with rdBase.BlockLogs():
        return Chem.MolFromSmiles(smiles)


def _defects(mol: Chem.Mol | None, vocab: MoleculeVocab, kekulize: bool) -> set[str]:
    """Words of every reason the conversion must refuse ``mol`` (RDKit's parse of the SMILES); empty if none."""
    if mol is None:
        return {"cannot parse"}
    words = set()
    if {a.GetSymbol() for a in mol.GetAtoms()} - set(vocab.atoms):
        words.add("not in vocabulary")
    if {a.GetFormalCharge() for a in mol.GetAtoms()} - set(vocab.charges):
        words.add("charge(s)")
    if {str(b.GetBondType()) for b in mol.GetBonds()} - BOND_NAMES:
        words.add("bond types")
    kek = Chem.Mol(mol)
    try:
        Chem.Kekulize(kek, clearAromaticFlags=True)
    except Chem.KekulizeException:
        words.add("kekulize")
    if any(b.GetBondType() == Chem.BondType.AROMATIC for b in kek.GetBonds()):  # 'C:C': no Kekule form
        words.add("aromatic bond outside a ring")
    elif kekulize and Chem.SanitizeMol(kek, Chem.SanitizeFlags.SANITIZE_PROPERTIES, catchErrors=True) != \
            Chem.SanitizeFlags.SANITIZE_NONE:  # 'c1ccn#cc1': RDKit rejects its own Kekule form
        words.add("once kekulized")
    return words


def _check_layout(atom_types, charges, num_hs, edge_index, bond_types, mol: Chem.Mol, vocab: MoleculeVocab,
                  case: str) -> None:
    """The arrays follow the module's layout and describe ``mol``: its atoms, charges and bonds."""
    n = mol.GetNumAtoms()
    for arr in (atom_types, charges, num_hs, edge_index, bond_types):
        assert arr.dtype == np.int64, f"{case}: dtype {arr.dtype}"
    assert atom_types.shape == charges.shape == num_hs.shape == (n,), f"{case}: node arrays {atom_types.shape}"
    assert [vocab.atoms[t] for t in atom_types] == [a.GetSymbol() for a in mol.GetAtoms()], case
    assert charges.tolist() == [a.GetFormalCharge() for a in mol.GetAtoms()], case
    assert ((num_hs == -1) | ((num_hs >= 0) & (num_hs <= MAX_NUM_HS))).all(), case
    row, col = edge_index
    assert edge_index.shape == (2, 2 * mol.GetNumBonds()) and bond_types.shape == (2 * mol.GetNumBonds(),), case
    assert (np.diff(row * max(n, 1) + col) > 0).all(), f"{case}: edges not sorted by (row, col)"
    pairs = {(i, j): t for i, j, t in zip(row.tolist(), col.tolist(), bond_types.tolist())}
    assert all(pairs.get((j, i)) == t for (i, j), t in pairs.items()), f"{case}: edges not symmetric"
    expected_pairs = {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds()}
    assert {(i, j) for i, j in pairs if i < j} == expected_pairs, f"{case}: wrong bonds"


def _check_smiles_case(smiles: str, vocab: MoleculeVocab, kekulize: bool, convert) -> None:
    case = f"{convert.__name__}({smiles!r}, {vocab.name}, kekulize={kekulize})"
    mol = _quiet_parse(smiles)
    words = _defects(mol, vocab, kekulize)
    if not kekulize and not vocab.aromatic:
        words.add("aromatic bond type")
    with rdBase.BlockLogs():
        out, err = run_case(lambda: convert(smiles, vocab, kekulize=kekulize))
    if words:
        expect_error(err, words, case)
        return
    expect_result(err, case)
    arrays = out if convert is smiles_to_arrays else tuple(
        getattr(out, k).numpy() for k in ("x", "charge", "num_hs", "edge_index", "edge_attr"))
    _check_layout(*arrays, mol, vocab, case)
    if kekulize:
        assert set(arrays[4].tolist()) <= {0, 1, 2}, f"{case}: aromatic bond type in a kekulized graph"
    # the round-trip guarantee of the module docstring (stereochemistry and isotopes aside)
    with rdBase.BlockLogs():
        back = arrays_to_mol(arrays, vocab) if convert is smiles_to_arrays else data_to_mol(out, vocab)
    assert canonical_smiles(back) == canonical_smiles(mol), f"silent wrong result for {case}"


_KEKULIZE = st.sampled_from((True, True, True, False))  # kekulized graphs are the default
_VOCAB = st.sampled_from(VOCABULARIES)


@_settings(CI_EXAMPLES)
@given(_SEED, _VOCAB, _KEKULIZE)
def test_smiles_to_arrays(seed: int, vocab: MoleculeVocab, kekulize: bool) -> None:
    _check_smiles_case(smiles_like(seed), vocab, kekulize, smiles_to_arrays)


@_settings(CI_EXAMPLES)
@given(_SEED, _VOCAB, _KEKULIZE)
def test_smiles_to_data(seed: int, vocab: MoleculeVocab, kekulize: bool) -> None:
    _check_smiles_case(smiles_like(seed), vocab, kekulize, smiles_to_data)


# ----------------------------------------------------------------------------------------------- canonical SMILES
_JUNK = (None, 42, b"CCO", 1.5, ["C"])


@_settings(CI_EXAMPLES)
@given(_SEED, st.integers(0, 19))
def test_canonical_smiles(seed: int, kind: int) -> None:
    smiles = smiles_like(seed)
    mol = _quiet_parse(smiles)
    if kind < len(_JUNK):  # not a SMILES nor a molecule
        junk = _JUNK[kind]
        out, err = run_case(lambda: canonical_smiles(junk))
        expect_error(err, {"SMILES str or an RDKit Chem.Mol"}, f"canonical_smiles({junk!r})")
        return
    with rdBase.BlockLogs():
        out, err = run_case(lambda: canonical_smiles(smiles))
    case = f"canonical_smiles({smiles!r})"
    if mol is None:
        expect_error(err, {"cannot parse"}, case)
        return
    expect_result(err, case)
    assert out == Chem.MolToSmiles(mol, isomericSmiles=False), f"silent wrong result for {case}"
    # a molecule gives the same string as its SMILES, whatever the order of its atoms
    perm = np.random.default_rng(seed).permutation(mol.GetNumAtoms()).tolist()
    assert canonical_smiles(Chem.RenumberAtoms(mol, perm)) == out, f"{case}: depends on the atom order {perm}"


# --------------------------------------------------------------------------------------------- graphs to molecules
_DEFECTS = ("none",) * 12 + (
    "x_float", "x_2d", "x_bool", "x_out_of_range", "x_negative", "x_missing", "x_huge_list",
    "charge_implausible", "charge_overflow", "charge_shape", "charge_float",
    "num_hs_implausible", "num_hs_overflow", "num_hs_shape",
    "edge_index_shape", "edge_index_out_of_range", "edge_index_negative", "edge_index_float",
    "one_way", "two_types", "self_loop", "duplicate",
    "edge_attr_missing", "edge_attr_shape", "edge_attr_out_of_range", "edge_attr_float",
    "too_many_atoms",
)
# words the message must contain, per defect
_WORDS = {
    "x_float": {"data.x must hold integer"}, "x_2d": {"data.x must be long [N]"},
    "x_bool": {"data.x must hold integer"},
    "x_out_of_range": {"data.x["}, "x_negative": {"data.x["}, "x_missing": {"data.x must be long [N]"},
    "x_huge_list": {"data.x must hold integers"},
    "charge_implausible": {"data.charge["}, "charge_overflow": {"data.charge["}, "charge_shape": {"data.charge must"},
    "charge_float": {"data.charge must hold integer"},
    "num_hs_implausible": {"data.num_hs["}, "num_hs_overflow": {"data.num_hs["}, "num_hs_shape": {"data.num_hs must"},
    "edge_index_shape": {"data.edge_index must be long [2, E]", "data.edge_attr must be long [E="},
    "edge_index_out_of_range": {"data.edge_index[:,"}, "edge_index_negative": {"data.edge_index[:,"},
    "edge_index_float": {"data.edge_index must hold integer"},
    "one_way": {"once in each direction"}, "two_types": {"once in each direction"}, "self_loop": {"self loops"},
    "duplicate": {"once in each direction"},
    "edge_attr_missing": {"data.edge_attr (bond type"}, "edge_attr_shape": {"data.edge_attr must be long [E="},
    "edge_attr_out_of_range": {"data.edge_attr["}, "edge_attr_float": {"data.edge_attr must hold integer"},
    "too_many_atoms": {f"MAX_ATOMS={MAX_ATOMS}"},
}


def _random_graph(rng: np.random.Generator, vocab: MoleculeVocab) -> dict[str, np.ndarray]:
    """A well-formed graph (chemistry not checked): atoms, charges from the vocabulary, H counts, bonds both ways."""
    n = int(rng.integers(0, 9))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.35]
    types = rng.integers(0, len(vocab.bonds), len(pairs))
    both = sorted([(i, j, t) for (i, j), t in zip(pairs, types)] + [(j, i, t) for (i, j), t in zip(pairs, types)])
    return {
        "x": rng.integers(0, len(vocab.atoms), n),
        "charge": rng.choice(np.asarray(vocab.charges), n) if rng.random() < 0.7 else None,
        "num_hs": np.where(rng.random(n) < 0.8, -1, rng.integers(0, MAX_NUM_HS + 1, n)) if rng.random() < 0.5 else None,
        "edge_index": np.array([[i for i, _, _ in both], [j for _, j, _ in both]], dtype=np.int64).reshape(2, -1),
        "edge_attr": np.array([t for _, _, t in both], dtype=np.int64),
    }


def _plant(defect: str, g: dict, rng: np.random.Generator, vocab: MoleculeVocab) -> str:
    """Put ``defect`` into the fields ``g`` (in place); returns the defect actually planted ("none" if the graph is
    too small to carry it)."""
    n, e = len(g["x"]), g["edge_index"].shape[1]
    if defect == "too_many_atoms":
        g.update(x=np.zeros(MAX_ATOMS + 1, dtype=np.int64), charge=None, num_hs=None)
    elif defect.startswith("x_"):
        if defect == "x_missing":
            g["x"] = None
        elif defect == "x_huge_list":
            g["x"] = [2 ** 70] * max(n, 1)
        elif n == 0 and defect in ("x_float", "x_bool", "x_out_of_range", "x_negative"):
            return "none"
        else:
            g["x"] = {"x_float": lambda x: x.astype(np.float32), "x_2d": lambda x: x[:, None],
                      "x_bool": lambda x: x > 0, "x_out_of_range": lambda x: _set(x, rng, len(vocab.atoms)),
                      "x_negative": lambda x: _set(x, rng, -1)}[defect](g["x"])
    elif defect.startswith("charge_") or defect.startswith("num_hs_"):
        field = "charge" if defect.startswith("charge_") else "num_hs"
        if n == 0:
            return "none"
        base = np.zeros(n, dtype=np.int64) if g[field] is None else g[field]
        if defect.endswith("shape"):
            g[field] = np.concatenate([base, [0]])
        elif defect.endswith("float"):
            g[field] = base.astype(np.float64)
        elif defect.endswith("overflow"):
            g[field] = _set(base, rng, int(rng.choice([2 ** 31, 2 ** 32 + 1, -2 ** 31 - 1, 2 ** 62])))
        else:
            bad = [-7, -2, 2, 5, 9] if field == "charge" else [-2, -5, MAX_NUM_HS + 1, 100]
            g[field] = _set(base, rng, int(rng.choice([q for q in bad if q not in vocab.charges])))
    elif defect.startswith("edge_index_"):
        if defect == "edge_index_shape":
            g["edge_index"] = g["edge_index"].T if e != 2 else g["edge_index"][:1]
        elif e == 0:
            return "none"
        elif defect == "edge_index_float":
            g["edge_index"] = g["edge_index"].astype(np.float64)
        else:
            g["edge_index"] = g["edge_index"].copy()
            g["edge_index"][int(rng.integers(0, 2)), int(rng.integers(0, e))] = n if defect.endswith("range") else -1
    elif defect in ("one_way", "two_types"):
        if e == 0 or (defect == "two_types" and len(vocab.bonds) < 2):
            return "none"
        k = int(rng.integers(0, e))
        if defect == "one_way":
            g["edge_index"], g["edge_attr"] = np.delete(g["edge_index"], k, axis=1), np.delete(g["edge_attr"], k)
        else:
            g["edge_attr"] = _set_at(g["edge_attr"], k, (g["edge_attr"][k] + 1) % len(vocab.bonds))
    elif defect in ("self_loop", "duplicate"):
        if n == 0 or (defect == "duplicate" and e == 0):
            return "none"
        k = int(rng.integers(0, max(e, 1)))
        extra = np.array([[int(rng.integers(0, n))]] * 2) if defect == "self_loop" else g["edge_index"][:, k:k + 1]
        g["edge_index"] = np.concatenate([g["edge_index"], extra], axis=1)
        g["edge_attr"] = np.concatenate([g["edge_attr"], [0 if defect == "self_loop" else g["edge_attr"][k]]])
    elif defect.startswith("edge_attr_"):
        if defect == "edge_attr_missing":
            g["edge_attr"] = None
        elif defect == "edge_attr_shape":
            g["edge_attr"] = np.concatenate([g["edge_attr"], [0]])
        elif e == 0:
            return "none"
        elif defect == "edge_attr_float":
            g["edge_attr"] = g["edge_attr"].astype(np.float32)
        else:
            g["edge_attr"] = _set(g["edge_attr"], rng, len(vocab.bonds) + int(rng.integers(0, 3)))
    return defect


def _set(arr: np.ndarray, rng: np.random.Generator, value: int) -> np.ndarray:
    """A copy of ``arr`` with one random entry set to ``value``."""
    return _set_at(arr, int(rng.integers(0, len(arr))), value)


def _set_at(arr: np.ndarray, at: int, value: int) -> np.ndarray:
    out = arr.copy()
    out[at] = value
    return out


def _as_data(g: dict, as_tensors: bool) -> Data:
    """The fields as a ``Data`` (tensors, or numpy arrays and lists where ``as_tensors`` is False)."""
    def field(value):
        if value is None or not as_tensors or isinstance(value, list):
            return value
        return torch.from_numpy(np.ascontiguousarray(value))

    data = Data()
    for key, value in g.items():
        if value is not None:
            setattr(data, key, field(value))
    return data


def _check_molecule(mol: Chem.Mol, g: dict, vocab: MoleculeVocab, case: str) -> None:
    """``mol`` (unsanitized) holds exactly the graph's atoms, charges, hydrogen counts and bonds."""
    n = len(g["x"])
    assert mol.GetNumAtoms() == n, f"silent wrong result for {case}: {mol.GetNumAtoms()} atoms"
    assert [a.GetSymbol() for a in mol.GetAtoms()] == [vocab.atoms[t] for t in g["x"]], case
    charges = [0] * n if g["charge"] is None else g["charge"].tolist()
    assert [a.GetFormalCharge() for a in mol.GetAtoms()] == charges, f"silent wrong result for {case}: charges"
    hs = [-1] * n if g["num_hs"] is None else g["num_hs"].tolist()
    assert [a.GetNumExplicitHs() if a.GetNoImplicit() else -1 for a in mol.GetAtoms()] == [
        h if h >= 0 else -1 for h in hs], f"silent wrong result for {case}: hydrogens"
    row, col = g["edge_index"]
    expected = {(i, j, vocab.bonds[t]) for i, j, t in zip(row.tolist(), col.tolist(), g["edge_attr"].tolist()) if i < j}
    got = set()
    for atom in mol.GetAtoms():
        for bond in atom.GetBonds():
            i, j = sorted((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
            got.add((i, j, str(bond.GetBondType())))
    assert got == expected, f"silent wrong result for {case}: bonds {sorted(got)} for {sorted(expected)}"


@_settings(CI_EXAMPLES)
@given(_SEED, st.sampled_from(_DEFECTS), _VOCAB, st.booleans(), st.booleans())
def test_data_to_mol(seed: int, defect: str, vocab: MoleculeVocab, as_tensors: bool, sanitize: bool) -> None:
    rng = np.random.default_rng(seed)
    g = _random_graph(rng, vocab)
    defect = _plant(defect, g, rng, vocab)
    data = _as_data(g, as_tensors)
    case = f"data_to_mol(seed={seed}, defect={defect}, vocab={vocab.name}, sanitize={sanitize})"
    with rdBase.BlockLogs():
        try:
            out, err = run_case(lambda: data_to_mol(data, vocab, sanitize=sanitize))
        except Chem.MolSanitizeException as chem_err:  # documented: RDKit's verdict on the chemistry propagates
            assert sanitize and defect == "none", f"{case}: RDKit error {chem_err!r} before the input was checked"
            raw = data_to_mol(data, vocab, sanitize=False)
            assert Chem.SanitizeMol(raw, catchErrors=True) != Chem.SanitizeFlags.SANITIZE_NONE, case
            return
    if defect != "none":
        expect_error(err, _WORDS[defect], case)
        return
    expect_result(err, case)
    if sanitize:  # sanitization may perceive aromaticity: compare with the unsanitized build, sanitized
        raw = data_to_mol(data, vocab, sanitize=False)
        Chem.SanitizeMol(raw)
        assert Chem.MolToSmiles(out) == Chem.MolToSmiles(raw), f"silent wrong result for {case}"
    else:
        _check_molecule(out, g, vocab, case)


# ------------------------------------------------------------------------------------------- slow, larger variants
@pytest.mark.slow
@_settings(SLOW_EXAMPLES)
@given(_SEED, _VOCAB, _KEKULIZE)
def test_smiles_to_arrays_slow(seed: int, vocab: MoleculeVocab, kekulize: bool) -> None:
    _check_smiles_case(smiles_like(seed), vocab, kekulize, smiles_to_arrays)


@pytest.mark.slow
@_settings(SLOW_EXAMPLES)
@given(_SEED, st.sampled_from(_DEFECTS), _VOCAB, st.booleans(), st.booleans())
def test_data_to_mol_slow(seed: int, defect: str, vocab: MoleculeVocab, as_tensors: bool, sanitize: bool) -> None:
    test_data_to_mol.hypothesis.inner_test(seed, defect, vocab, as_tensors, sanitize)
