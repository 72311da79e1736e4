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
    with pytest.raises(ValueError, match="atom types outside 0..3"):
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
