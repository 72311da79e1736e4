"""Molecule protocols: validity rules on hand-built graphs, 100% validity on dataset molecules, uniqueness/novelty
on hand-computed lists, invariance to the order of the inputs, and the reference-statistics cache."""
from __future__ import annotations

import csv
import gzip
import json
import random
import warnings

import pytest
import torch
from torch_geometric.data import Data

from rdkit import Chem

from graphgen.data.molecules import VOCABS, mol_to_data, smiles_to_data
from graphgen.evaluate.molecules import (digress_outcome, evaluate_molecules, gdss_construct, gdss_outcome,
                                         moses_outcome, to_raw_mol)
from graphgen.evaluate.reference_cache import ReferenceSet

QM9 = VOCABS["qm9"]  # atoms C N O F; bonds single double triple


def star(center: int, leaves: list[int], bond: int = 0) -> Data:
    """Hand-built graph: atom type `center` bonded to each leaf type (bond type index `bond`), no charges."""
    x = torch.tensor([center, *leaves])
    src = [0] * len(leaves) + list(range(1, len(leaves) + 1))
    dst = list(range(1, len(leaves) + 1)) + [0] * len(leaves)
    ei = torch.tensor([src, dst])
    order = torch.argsort(ei[0] * 100 + ei[1])
    return Data(x=x, edge_index=ei[:, order], edge_attr=torch.full((ei.shape[1],), bond))


C, N, O, F = 0, 1, 2, 3


def read_rows(path, column):
    with gzip.open(path, "rt") as f:
        return [row[column] for row in csv.DictReader(f)]


# -- validity rules ------------------------------------------------------------------------------------------------
def test_formal_charge_rule_accepts_4_valent_n_and_3_valent_o():
    out = gdss_outcome(star(N, [C, C, C, C]), QM9)
    assert out.valid_wo_correction and out.smiles == "C[N+](C)(C)C"
    out = gdss_outcome(star(O, [C, C, C]), QM9)
    assert out.valid_wo_correction and out.smiles == "C[O+](C)C"
    mol = gdss_construct(to_raw_mol(star(N, [C, C, C, C]), QM9))
    assert [a.GetFormalCharge() for a in mol.GetAtoms()] == [1, 0, 0, 0, 0]


@pytest.mark.parametrize("graph,corrected", [
    (star(N, [C, C, C, C, C]), "C[N+](C)(C)C"),  # 5-valent N: +1 rule does not apply (valence 3 + 2)
    (star(C, [C, C, C, C, C]), "CC(C)(C)C"),  # pentavalent carbon: the rule never applies to C
    (star(O, [C, C, C, C]), "C[O+](C)C"),  # 4-valent O
    (star(F, [C, C]), "CF"),  # 2-valent F
])
def test_invalid_graphs_rejected_then_corrected(graph, corrected):
    out = gdss_outcome(graph, QM9)
    assert not out.valid_wo_correction
    assert out.valid and out.smiles == corrected  # correction removes bonds; largest fragment kept
    assert not digress_outcome(graph, QM9).valid
    assert not moses_outcome(graph, QM9).valid


def test_correction_lowers_highest_order_bond():
    # C(=C)(=C)=C: carbon with valence 6; lowering double bonds one at a time gives C=C(C)C
    out = gdss_outcome(star(C, [C, C, C], bond=1), QM9)
    assert not out.valid_wo_correction and out.smiles == "C=C(C)C"


def test_protocol_validity_on_hand_built_sets():
    good = [star(C, [C, O]), star(N, [C, C]), star(C, [O], bond=1)]
    bad = [star(C, [C, C, C, C, C]), star(C, [C, C, C, C, O]), star(N, [C, C, C, C, C])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = evaluate_molecules(bad, train=None, test=None, vocab=QM9, progress=False)
        assert r["validity_wo_correction"] == 0.0
        r = evaluate_molecules(bad, train=None, test=None, protocol="digress", vocab=QM9, progress=False)
        assert r["validity"] == 0.0
        r = evaluate_molecules(good + bad, train=None, test=None, vocab=QM9, progress=False)
        assert r["validity_wo_correction"] == 0.5 and r["validity"] == 1.0


def test_gdss_connected_fraction():
    # "CCO.C" is valid and keeps its largest fragment, but it was two fragments: 1 of 2 generated is connected
    r = evaluate_molecules(["CCO.C", "CCN"], train=None, test=None, vocab=QM9, progress=False)
    assert r["validity"] == 1.0 and r["connected"] == 0.5
    assert not gdss_outcome("CCO.C", QM9).connected and gdss_outcome("CCN", QM9).connected


def test_digress_disconnected_counts_valid_and_keeps_largest_fragment():
    out = digress_outcome("CCO.C", None)
    assert out.valid and out.smiles == "CCO" and not out.connected
    assert moses_outcome("CCO.C").smiles == "C.CCO"  # MOSES keeps every fragment
    assert not digress_outcome("C1CC").valid and not digress_outcome("not a smiles").valid


@pytest.mark.parametrize("smiles", ["CC(=O)Nc1ccccc1", "C[N+](C)(C)C", "OC1CC(F)C1C#N", "CCO.C"])
def test_atom_order_does_not_change_outcome(smiles):
    mol = Chem.MolFromSmiles(smiles)
    rng = random.Random(0)
    expected = {name: fn(mol_to_data(mol, VOCABS["zinc250k"]), VOCABS["zinc250k"])
                for name, fn in (("gdss", gdss_outcome), ("digress", digress_outcome), ("moses", moses_outcome))}
    for _ in range(3):
        perm = list(range(mol.GetNumAtoms()))
        rng.shuffle(perm)
        data = mol_to_data(Chem.RenumberAtoms(mol, perm), VOCABS["zinc250k"])
        for name, fn in (("gdss", gdss_outcome), ("digress", digress_outcome), ("moses", moses_outcome)):
            assert fn(data, VOCABS["zinc250k"]) == expected[name]


def test_data_requires_vocab():
    with pytest.raises(ValueError, match="vocab"):
        gdss_outcome(star(C, [C]))


# -- uniqueness / novelty ------------------------------------------------------------------------------------------
def test_uniqueness_novelty_hand_computed():
    gen = ["CCO", "OCC", "CCN", "C", "C1CC1"]  # canonical: CCO, CCO, CCN, C, C1CC1 -> 4 distinct of 5
    train = ["OCC", "C1CC1", "CCCC"]  # distinct generated in train: CCO, C1CC1 -> novelty 2/4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for protocol in ("gdss", "digress"):
            r = evaluate_molecules(gen, train=train, test=None, protocol=protocol, progress=False)
            assert r["uniqueness"] == pytest.approx(4 / 5)
            assert r["novelty"] == pytest.approx(2 / 4)
        r = evaluate_molecules(gen, train=train, test=None, protocol="moses", progress=False)
    assert r["unique@1000"] == pytest.approx(4 / 5) and r["Novelty"] == pytest.approx(2 / 4)


# -- dataset molecules are 100% valid -------------------------------------------------------------------------------
def test_dataset_molecules_are_valid(shared_data):
    qm9 = read_rows(shared_data / "molecules/qm9_smiles.csv.gz", "SMILES1")
    zinc = read_rows(shared_data / "molecules/zinc250k.csv.gz", "smiles")
    rng = random.Random(0)
    qm9_sample, zinc_sample = rng.sample(qm9, 200), rng.sample(zinc, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sample, vocab in ((qm9_sample, VOCABS["qm9"]), (zinc_sample, VOCABS["zinc250k"])):
            data = [smiles_to_data(s, vocab) for s in sample]
            for gen, kw in ((sample, {}), (data, {"vocab": vocab})):
                r = evaluate_molecules(gen, train=None, test=None, progress=False, **kw)
                assert r["validity_wo_correction"] == 1.0 and r["validity"] == 1.0
                r = evaluate_molecules(gen, train=None, test=None, protocol="digress", progress=False, **kw)
                assert r["validity"] == 1.0
            assert evaluate_molecules(sample, train=None, test=None, protocol="moses", progress=False)["valid"] == 1.0


# -- full GDSS protocol: permutation invariance and cache -----------------------------------------------------------
@pytest.fixture(scope="module")
def qm9_split(shared_data):
    rows = read_rows(shared_data / "molecules/qm9_smiles.csv.gz", "SMILES1")
    idx = [int(i) for i in json.loads((shared_data / "molecules/valid_idx_qm9.json").read_text())["valid_idxs"]]
    test = [rows[i] for i in idx[:80]]
    taken = set(idx)
    train = [s for i, s in enumerate(rows[:2000]) if i not in taken]
    return train, test


def test_gdss_scores_invariant_to_input_order(qm9_split):
    train, test = qm9_split
    gen = test[:30] + train[:30]
    r1 = evaluate_molecules(gen, train=train, test=test, progress=False)
    rng = random.Random(1)
    gen2, train2, test2 = gen[:], train[:], test[:]
    for lst in (gen2, train2, test2):
        rng.shuffle(lst)
    r2 = evaluate_molecules(gen2, train=train2, test=test2, progress=False)
    assert r1.keys() == r2.keys()
    for k in r1:
        assert r2[k] == pytest.approx(r1[k], rel=1e-6, abs=1e-9), k
    assert r1["novelty"] == pytest.approx(0.5, abs=0.02)  # half of gen comes from train
    assert 0 < r1["nspdk_mmd"] < 0.05 and r1["fcd"] > 0


def test_reference_cache_round_trip(qm9_split, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHGEN_CACHE", str(tmp_path))
    train, test = qm9_split
    gen = train[:30]
    r1 = evaluate_molecules(gen, train=train, test=test, progress=False)
    files = sorted(p.name.split("-")[0] for p in (tmp_path / "evaluate").glob("*.npz"))
    assert files == ["canonical", "canonical", "canonical_hash", "fcd_chemnet", "nspdk_mean"]
    r2 = evaluate_molecules(gen, train=train, test=test, progress=False)
    assert r1 == r2
    a, b = ReferenceSet(test), ReferenceSet(test[::-1])
    assert a.digest == b.digest and a.path("x", {}) == b.path("x", {})
    assert ReferenceSet(test[1:]).digest != a.digest


@pytest.mark.slow
def test_qm9_test_molecules_score_like_a_perfect_generator(shared_data):
    """Dataset names as references (graphgen.data.registry); the test set scored against itself."""
    from graphgen.data.registry import load_dataset

    test = load_dataset("qm9", "test", data_dir=shared_data).smiles  # row order: small molecules first
    sample = random.Random(0).sample(list(test), 2000)
    r = evaluate_molecules(sample, train="qm9", test="qm9", data_dir=shared_data, progress=False)
    assert r["validity_wo_correction"] == 1.0 and r["validity"] == 1.0 and r["uniqueness"] > 0.999
    assert r["novelty"] > 0.99  # test molecules are not in train (up to a few graph duplicates)
    assert r["nspdk_mmd"] < 1e-3 and r["fcd"] < 1.0
