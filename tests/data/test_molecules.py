from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem
from torch_geometric.data import Data

from graphgen.data.molecules import (
    VOCABS,
    MoleculeVocab,
    arrays_to_mol,
    canonical_smiles,
    data_to_mol,
    data_to_smiles,
    mol_to_data,
    smiles_to_arrays,
    smiles_to_data,
)

QM9, ZINC, MOSES = VOCABS["qm9"], VOCABS["zinc250k"], VOCABS["moses"]


def roundtrip(smiles: str, vocab: MoleculeVocab, kekulize: bool = True) -> tuple[str, str]:
    mol = Chem.MolFromSmiles(smiles)
    data = mol_to_data(mol, vocab, kekulize=kekulize)
    return canonical_smiles(data_to_mol(data, vocab)), canonical_smiles(mol)


def test_vocabularies():
    assert QM9.atoms == ("C", "N", "O", "F")
    assert ZINC.atoms == ("C", "N", "O", "F", "P", "S", "Cl", "Br", "I")
    assert MOSES.atoms == ("C", "N", "S", "O", "F", "Cl", "Br", "H")
    assert QM9.bonds == ("SINGLE", "DOUBLE", "TRIPLE") and not QM9.aromatic
    aro = ZINC.with_aromatic()
    assert aro.bonds[3] == "AROMATIC" and aro.name == "zinc250k_aromatic" and aro.with_aromatic() is aro
    assert MOSES.atomic_numbers == (6, 7, 16, 8, 9, 17, 35, 1)
    assert repr(QM9) == ("MoleculeVocab(name='qm9', atoms=('C', 'N', 'O', 'F'), "
                         "bonds=('SINGLE', 'DOUBLE', 'TRIPLE'), charges=(-1, 0, 1))")
    with pytest.raises(ValueError, match="not an element"):
        MoleculeVocab("bad", ("C", "Xx"))


def test_layout_hand_computed():
    # acetonitrile oxide-free example: C(=O)C#N -> atoms C0 O1 C2 N3; bonds 0-1 double, 0-2 single, 2-3 triple
    data = smiles_to_data("C(=O)C#N", QM9)
    assert data.x.tolist() == [0, 2, 0, 1]
    assert data.charge.tolist() == [0, 0, 0, 0]
    assert data.num_hs.tolist() == [-1, -1, -1, -1]
    assert data.edge_index.tolist() == [[0, 0, 1, 2, 2, 3], [1, 2, 0, 0, 3, 2]]
    assert data.edge_attr.tolist() == [1, 0, 1, 0, 2, 2]
    assert data.num_nodes == 4
    for t in (data.x, data.charge, data.num_hs, data.edge_index, data.edge_attr):
        assert t.dtype == torch.long


def test_arrays_match_data():
    arrays = smiles_to_arrays("CC(=O)[O-]", QM9)
    data = smiles_to_data("CC(=O)[O-]", QM9)
    atom_types, charges, num_hs, edge_index, bond_types = arrays
    assert isinstance(atom_types, np.ndarray) and atom_types.dtype == np.int64
    np.testing.assert_array_equal(atom_types, data.x.numpy())
    np.testing.assert_array_equal(charges, [0, 0, 0, -1])
    np.testing.assert_array_equal(edge_index, data.edge_index.numpy())
    np.testing.assert_array_equal(bond_types, data.edge_attr.numpy())
    np.testing.assert_array_equal(num_hs, data.num_hs.numpy())
    assert canonical_smiles(arrays_to_mol(arrays, QM9)) == canonical_smiles(data_to_mol(data, QM9)) == "CC(=O)[O-]"


@pytest.mark.parametrize("kekulize", [True, False])
@pytest.mark.parametrize("smiles", [
    "[NH3+]CC(=O)[O-]",  # zwitterion (glycine)
    "c1cc[nH]c1",  # pyrrole
    "Cc1nc2ccccc2[nH]1",  # benzimidazole
    "C[N+](=O)[O-]",  # nitro, charge-separated
    "CN(=O)=O",  # nitro, pentavalent N (RDKit sanitization turns it into the charged form)
    "CS(=O)(=O)c1ccccc1",  # sulfone
    "CS(C)=O",  # sulfoxide
    "O=P(O)(O)c1ccccc1",  # phosphonic acid (pentavalent P)
    "c1cc[n+]([O-])cc1",  # pyridine N-oxide
    "Cc1cc[o+]cc1",  # pyrylium
    "[O-]c1ccccc1",  # phenolate
    "C[S-]",
    "CC[N-]C",
    "[C-]#[N+]C",  # isocyanide
])
def test_hand_built_roundtrip(smiles, kekulize):
    vocab = ZINC if kekulize else ZINC.with_aromatic()
    got, want = roundtrip(smiles, vocab, kekulize)
    assert got == want


def test_kekulized_bonds_and_aromatic_option():
    kek = smiles_to_data("c1cc[nH]c1", QM9)
    assert sorted(kek.edge_attr.tolist()) == [0] * 6 + [1] * 4  # 3 single + 2 double bonds, both directions
    assert kek.num_hs.tolist() == [-1] * 5  # the N gets its H from the valence model
    aro_vocab = QM9.with_aromatic()
    aro = smiles_to_data("c1cc[nH]c1", aro_vocab, kekulize=False)
    assert aro.edge_attr.tolist() == [3] * 10
    assert aro.num_hs.tolist() == [-1, -1, -1, 1, -1]  # [nH] cannot be told from n by aromatic bonds alone
    assert data_to_smiles(aro, aro_vocab) == "c1cc[nH]c1"
    del aro.num_hs
    with pytest.raises(Chem.KekulizeException):
        data_to_mol(aro, aro_vocab)
    with pytest.raises(ValueError, match="with_aromatic"):
        smiles_to_data("c1ccccc1", QM9, kekulize=False)


def test_charges_kept():
    data = smiles_to_data("[NH3+]CC(=O)[O-]", ZINC)
    assert data.charge.tolist() == [1, 0, 0, 0, -1]
    mol = data_to_mol(data, ZINC)
    assert [a.GetFormalCharge() for a in mol.GetAtoms()] == [1, 0, 0, 0, -1]


def test_num_hs_pinned_only_where_needed():
    # a carbon radical: the valence model would give CH3, so the H count (2) must be pinned
    data = smiles_to_data("[CH2]C(=O)O", QM9)
    assert data.num_hs.tolist() == [2, -1, -1, -1]
    assert data_to_smiles(data, QM9) == canonical_smiles("[CH2]C(=O)O") == "[CH2]C(=O)O"
    del data.num_hs  # what a generator that ignores num_hs would produce
    assert data_to_smiles(data, QM9) == "CC(=O)O"
    # the one ZINC250k molecule that needs it (row 16175): a P(V) with two hydrogens, which RDKit would give none
    data = smiles_to_data("O=[PH2]C(C)c1ccccc1", ZINC)
    assert data.num_hs.tolist() == [-1, 2] + [-1] * 8
    assert data_to_smiles(data, ZINC) == canonical_smiles("O=[PH2]C(C)c1ccccc1") == "CC([PH2]=O)c1ccccc1"
    del data.num_hs
    assert data_to_smiles(data, ZINC) == "CC(P=O)c1ccccc1"
    # bracket atoms whose H count the valence model reproduces are not pinned
    assert smiles_to_data("C[C@H](N)O", QM9).num_hs.tolist() == [-1] * 4


def test_explicit_hydrogen_nodes():
    mol = Chem.AddHs(Chem.MolFromSmiles("CO"))
    data = mol_to_data(mol, MOSES)
    assert data.x.tolist() == [0, 3] + [7] * 4
    assert canonical_smiles(data_to_mol(data, MOSES)) == canonical_smiles(mol)
    with pytest.raises(ValueError, match=r"H not in vocabulary 'qm9'.*'C', 'N', 'O', 'F'"):
        mol_to_data(mol, QM9)


def test_unknown_element_and_charge_errors():
    with pytest.raises(ValueError, match=r"element\(s\) Cl, S not in vocabulary 'qm9'"):
        smiles_to_data("ClCCS", QM9)
    with pytest.raises(ValueError, match=r"charge\(s\) \[-1, 1\] not in vocabulary 'moses'"):
        smiles_to_data("C[N+](=O)[O-]", MOSES)
    with pytest.raises(ValueError, match="cannot parse"):
        smiles_to_data("C1CC", QM9)
    with pytest.raises(ValueError, match="DATIVE"):
        smiles_to_data("CN(C)(C)->[O]", QM9)


def test_input_not_modified_and_adjacency_cache_ignored():
    mol = Chem.MolFromSmiles("c1ccccc1O")
    Chem.GetAdjacencyMatrix(mol, useBO=True)  # RDKit caches this (aromatic orders) on the molecule
    before = Chem.MolToSmiles(mol)
    data = mol_to_data(mol, QM9)
    assert Chem.MolToSmiles(mol) == before and mol.GetBondWithIdx(0).GetIsAromatic()
    assert sorted(data.edge_attr.tolist()) == [0] * 8 + [1] * 6


def test_data_to_mol_errors():
    good = smiles_to_data("CCO", QM9)
    one_way = Data(x=good.x, edge_index=good.edge_index[:, :3], edge_attr=good.edge_attr[:3])
    with pytest.raises(ValueError, match="once in each direction"):
        data_to_mol(one_way, QM9)
    two_types = good.clone()
    two_types.edge_attr = torch.tensor([0, 1, 0, 0])
    with pytest.raises(ValueError, match="once in each direction"):
        data_to_mol(two_types, QM9)
    loop = Data(x=torch.tensor([0]), edge_index=torch.tensor([[0], [0]]), edge_attr=torch.tensor([0]))
    with pytest.raises(ValueError, match="self loops"):
        data_to_mol(loop, QM9)
    bad_type = good.clone()
    bad_type.x = torch.tensor([0, 0, 4])
    with pytest.raises(ValueError, match=r"data.x\[2\] = 4 is not an atom type .*0..3"):
        data_to_mol(bad_type, QM9)
    with pytest.raises(ValueError, match="argmax"):
        data_to_mol(Data(x=torch.eye(4)[good.x], edge_index=good.edge_index, edge_attr=good.edge_attr), QM9)
    no_attr = Data(x=good.x, edge_index=good.edge_index)
    with pytest.raises(ValueError, match="edge_attr"):
        data_to_mol(no_attr, QM9)
    # unsanitized output for valency correction: pentavalent carbon is only rejected when sanitizing
    five = Data(x=torch.zeros(6, dtype=torch.long),
                edge_index=torch.tensor([[0] * 5 + [1, 2, 3, 4, 5], [1, 2, 3, 4, 5] + [0] * 5]),
                edge_attr=torch.zeros(10, dtype=torch.long))
    assert data_to_mol(five, QM9, sanitize=False).GetNumAtoms() == 6
    with pytest.raises(Chem.AtomValenceException):
        data_to_mol(five, QM9)


def test_edge_index_sorted_and_symmetric_and_permutation():
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")
    data = mol_to_data(mol, QM9)
    ei = data.edge_index.numpy()
    keys = ei[0] * 100 + ei[1]
    assert (np.diff(keys) > 0).all()
    pairs = {(a, b, t) for a, b, t in zip(ei[0], ei[1], data.edge_attr.numpy())}
    assert pairs == {(b, a, t) for a, b, t in pairs}
    # renumbering the atoms of the input permutes the graph and gives the same molecule back
    perm = list(range(mol.GetNumAtoms()))[::-1]
    renum = Chem.RenumberAtoms(mol, perm)
    pdata = mol_to_data(renum, QM9)
    assert pdata.x.tolist() == data.x[perm].tolist()
    assert data_to_smiles(pdata, QM9) == data_to_smiles(data, QM9) == canonical_smiles(mol)


# ---------------------------------------------------------------------------------------------- real data samples
SAMPLES = {  # file, SMILES column, number of rows
    "qm9": ("molecules/qm9_smiles.csv.gz", "SMILES1", 133885),
    "zinc250k": ("molecules/zinc250k.csv.gz", "smiles", 249455),
    "moses": ("molecules/moses_train.csv.gz", "SMILES", 1584663),
}


def every_kth(path: Path, column: str, total: int, count: int) -> list[str]:
    """``count`` SMILES at rows 0, k, 2k, ... (deterministic sample)."""
    step = total // count
    with gzip.open(path, "rt") as f:
        header = f.readline().rstrip("\n").split(",")
        col = header.index(column)
        rows = itertools.islice(f, 0, None, step)
        return [line.rstrip("\n").split(",")[col] for line in itertools.islice(rows, count)]


@pytest.mark.parametrize("name", list(SAMPLES))
def test_dataset_sample_roundtrip(shared_data, name):
    path, column, total = SAMPLES[name]
    smiles = every_kth(shared_data / path, column, total, 2000)
    assert len(smiles) == 2000
    vocab, aromatic = VOCABS[name], VOCABS[name].with_aromatic()
    failures = []
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        want = canonical_smiles(mol)
        data = mol_to_data(mol, vocab)
        if canonical_smiles(data_to_mol(data, vocab)) != want:
            failures.append(("kekulized", s))
        if i % 4 == 0:  # aromatic option on a quarter of the sample
            data = mol_to_data(mol, aromatic, kekulize=False)
            if canonical_smiles(data_to_mol(data, aromatic)) != want:
                failures.append(("aromatic", s))
    assert failures == []


# ------------------------------------------------------------------------------------ limits and bad input (issue 22)
# One child process runs every probe that could take the process down: before the fix, a 20,000-atom chain crashed
# inside RDKit's SMILES writer (SIGSEGV, stack overflow) on smiles_to_arrays's error path and in canonical_smiles,
# and a 30,000-atom ring made RDKit's ring perception allocate more than 20 GB. The child's address space is capped
# so that a regression ends in a MemoryError there, not in the machine's out-of-memory killer.
_HUGE_PROBES = r"""
from rdkit import Chem
from graphgen.data.molecules import VOCABS, MAX_ATOMS, canonical_smiles, data_to_mol, smiles_to_arrays, smiles_to_data
from graphgen.errors import InputError
import torch
from torch_geometric.data import Data

chain = "C" * 20000
n = 20000
probes = {
    "chain": lambda: smiles_to_arrays(chain, VOCABS["qm9"]),
    "error_path": lambda: smiles_to_arrays(chain[:-1] + "S", VOCABS["qm9"]),  # S not in qm9: the message writes SMILES
    "ring": lambda: smiles_to_data("C1" + "C" * 29998 + "C1", VOCABS["qm9"]),
    "canonical_mol": lambda: canonical_smiles(Chem.MolFromSmiles(chain, sanitize=False)),
    "canonical_str": lambda: canonical_smiles(chain),
    "data": lambda: data_to_mol(Data(x=torch.zeros(n, dtype=torch.long),
                                     edge_index=torch.stack([torch.arange(n - 1), torch.arange(1, n)]).repeat(1, 2),
                                     edge_attr=torch.zeros(2 * n - 2, dtype=torch.long)), VOCABS["qm9"]),
}
for name, probe in probes.items():
    try:
        probe()
        print(name, "accepted")
    except InputError as err:
        message = str(err)
        names_size = "20000 atoms" in message or "30000 atoms" in message
        print(name, "InputError", f"MAX_ATOMS={MAX_ATOMS}" in message and names_size)
"""


def _limit_address_space() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))


def test_huge_molecules_refused_in_a_child_process_that_exits_cleanly():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _HUGE_PROBES], capture_output=True, text=True, timeout=600,
                          preexec_fn=_limit_address_space)
    assert done.returncode == 0, f"child ended with {done.returncode} (negative = killed by a signal): {done.stderr}"
    lines = done.stdout.split("\n")
    assert [line for line in lines if line] == [f"{name} InputError True" for name in
                                                ("chain", "error_path", "ring", "canonical_mol", "canonical_str",
                                                 "data")], done.stdout


def test_atom_limit_boundary():
    from graphgen.data.molecules import MAX_ATOMS
    from graphgen.errors import InputError

    assert smiles_to_arrays("C" * MAX_ATOMS, QM9).atom_types.shape == (MAX_ATOMS,)  # at the limit: converted
    assert canonical_smiles("C" * MAX_ATOMS) == "C" * MAX_ATOMS
    with pytest.raises(InputError, match=rf"{MAX_ATOMS + 1} atoms, more than .*MAX_ATOMS={MAX_ATOMS}"):
        smiles_to_arrays("C" * (MAX_ATOMS + 1), QM9)
    # explicit [H] atoms count: RDKit sees them before it folds them into their neighbour
    with pytest.raises(InputError, match="atoms, more than"):
        smiles_to_arrays("[H]C" * (MAX_ATOMS // 2 + 1), QM9)


@pytest.mark.parametrize("field,value,words", [
    ("charge", -7, r"data.charge\[1\] = -7 \(atom 1\) is not a formal charge of vocabulary 'qm9'"),
    ("charge", 2, r"data.charge\[1\] = 2 \(atom 1\)"),
    ("charge", 2 ** 31, rf"data.charge\[1\] = {2 ** 31} \(atom 1\)"),  # was an OverflowError from RDKit
    ("charge", -2 ** 40, rf"data.charge\[1\] = {-2 ** 40}"),
    ("num_hs", 2 ** 31, rf"data.num_hs\[1\] = {2 ** 31} \(atom 1\) is not a hydrogen count"),  # was OverflowError
    ("num_hs", 9, r"data.num_hs\[1\] = 9 .*-1 .*0..8"),
    ("num_hs", -2, r"data.num_hs\[1\] = -2"),
])
def test_implausible_charges_and_hydrogen_counts_rejected(field, value, words):
    from graphgen.errors import InputError

    data = smiles_to_data("CCO", QM9)
    column = getattr(data, field).clone()
    column[1] = value
    setattr(data, field, column)
    with pytest.raises(InputError, match=words):
        data_to_mol(data, QM9)
    with pytest.raises(InputError, match=words):
        data_to_mol(data, QM9, sanitize=False)


def test_plausible_charges_and_hydrogen_counts_accepted():
    data = smiles_to_data("CCO", QM9)
    data.charge = torch.tensor([0, -1, 0])
    data.num_hs = torch.tensor([-1, 2, 8])
    mol = data_to_mol(data, QM9, sanitize=False)
    assert [a.GetFormalCharge() for a in mol.GetAtoms()] == [0, -1, 0]
    assert [a.GetNumExplicitHs() for a in mol.GetAtoms()] == [0, 2, 8]


def test_vocabulary_charges_bounded():
    from graphgen.errors import InputError

    assert MoleculeVocab("wide", ("C",), charges=(-8, 0, 8)).charges == (-8, 0, 8)
    with pytest.raises(InputError, match=r"formal charges \[9\] outside -8..8"):
        MoleculeVocab("bad", ("C",), charges=(0, 9))


@pytest.mark.parametrize("field,value,words", [
    ("x", np.array([0.0, 0.9, 2.0]), "data.x must hold integers, got dtype float64"),  # numpy floats were truncated
    ("x", torch.tensor([True, False, True]), "data.x must hold integers, got dtype bool"),
    ("x", [0, 0, 2 ** 70], "data.x must hold integers, got dtype object"),
    ("x", np.array([0, 0, 2 ** 63], dtype=np.uint64), "beyond int64"),
    ("edge_index", torch.tensor([[0, 1, 1, 2], [1, 0, 2, 3]]), r"data.edge_index\[:, 3\] = \[2, 3\] refers to a node"),
    ("edge_index", torch.tensor([[0, 1, -1, 2], [1, 0, 2, 1]]), r"data.edge_index\[:, 2\] = \[-1, 2\]"),
    ("edge_attr", torch.tensor([0, 0, 5, 0]), r"data.edge_attr\[2\] = 5 is not a bond type"),
    ("x", torch.tensor([0, 0, -1]), r"data.x\[2\] = -1 is not an atom type"),
])
def test_malformed_fields_named(field, value, words):
    from graphgen.errors import InputError

    data = smiles_to_data("CCO", QM9)
    setattr(data, field, value)
    with pytest.raises(InputError, match=words):
        data_to_mol(data, QM9)


def test_non_string_smiles_and_non_molecules_rejected():
    from graphgen.data.molecules import mol_to_arrays
    from graphgen.errors import InputError

    with pytest.raises(InputError, match="SMILES must be a str, got int"):
        smiles_to_arrays(42, QM9)
    with pytest.raises(InputError, match="Chem.Mol, got NoneType"):
        mol_to_arrays(Chem.MolFromSmiles("C1CC"), QM9)
    with pytest.raises(InputError, match="SMILES str or an RDKit Chem.Mol, got NoneType"):
        canonical_smiles(None)
    long_bad = "C" * 300 + ")"
    with pytest.raises(InputError, match=r"cannot parse SMILES 'C{80}'\.\.\. \(301 characters\)"):
        smiles_to_arrays(long_bad, QM9)  # the message quotes the first 80 characters, not all of them
