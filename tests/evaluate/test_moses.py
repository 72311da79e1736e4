"""MOSES metrics on tiny hand-checked sets: SNN and IntDiv against RDKit's own Tanimoto, Frag/Scaf cosine,
unique@k, filters, and the full protocol's keys."""
from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from graphgen.evaluate import moses
from graphgen.evaluate.molecules import evaluate_molecules

GEN = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccccc1", "CCO"]
REF = ["CCN", "c1ccccc1N", "CC(=O)Nc1ccc(O)cc1", "C1CCCCC1"]


def rdkit_tanimoto(a: str, b: str) -> float:
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    return DataStructs.TanimotoSimilarity(gen.GetFingerprint(Chem.MolFromSmiles(a)),
                                          gen.GetFingerprint(Chem.MolFromSmiles(b)))


def test_snn_matches_rdkit_tanimoto():
    expected = np.mean([max(rdkit_tanimoto(g, r) for r in REF) for g in GEN])
    got = moses.snn(moses.fingerprints(GEN), moses.fingerprints(REF))
    assert got == pytest.approx(expected, abs=1e-12)
    assert moses.snn(moses.fingerprints(REF), moses.fingerprints(REF)) == pytest.approx(1.0)


@pytest.mark.parametrize("p", [1, 2])
def test_internal_diversity_matches_rdkit(p):
    T = np.array([[rdkit_tanimoto(a, b) for b in GEN] for a in GEN])
    expected = 1 - np.mean(np.mean(T ** p, axis=1) ** (1 / p))
    assert moses.internal_diversity(moses.fingerprints(GEN), p) == pytest.approx(expected, abs=1e-12)
    same = moses.fingerprints(["CCO"] * 3)
    assert moses.internal_diversity(same, p) == pytest.approx(0.0, abs=1e-12)


def test_cosine_and_counts():
    assert moses.cosine_similarity(Counter(a=1, b=1), Counter(a=1)) == pytest.approx(1 / math.sqrt(2))
    assert moses.cosine_similarity(Counter(a=2, b=1), Counter(a=4, b=2)) == pytest.approx(1.0)
    assert math.isnan(moses.cosine_similarity(Counter(), Counter(a=1)))
    # benzene and cyclohexane have one ring each: below the 2-ring scaffold threshold
    assert moses.scaffold_counts(["c1ccccc1C", "C1CCCCC1"]) == Counter()
    assert moses.scaffold_counts(["Cc1ccc2ccccc2c1", "c1ccc2ccccc2c1"]) == Counter({"c1ccc2ccccc2c1": 2})
    # acetanilide: both N bonds (amide C-N, N-aryl) are BRICS bonds -> acyl, NH and phenyl pieces
    assert sorted(moses.brics_fragments("CC(=O)Nc1ccccc1")) == sorted(["[16*]c1ccccc1", "[1*]C(C)=O", "[5*]N[5*]"])
    c = moses.fragment_counts(["CC(=O)Nc1ccccc1", "CC(=O)Nc1ccccc1"])
    assert sorted(c.values()) == [2, 2, 2]
    arrays = moses.counter_to_arrays(c)
    assert moses.arrays_to_counter(arrays) == c


def test_unique_at_k():
    assert moses.fraction_unique(["A", "A", "B", "C"], 2) == 0.5
    assert moses.fraction_unique(["A", "A", "B", "C"]) == 0.75


@pytest.mark.parametrize("smiles,passes", [
    ("c1ccccc1", True),
    ("CC(=O)Nc1ccccc1", True),
    ("CC=O", False),  # aldehyde (MCF)
    ("Oc1ccccc1O", False),  # catechol (PAINS)
    ("C[N+](C)(C)C", False),  # charged atom
    ("CCP", False),  # P is not an allowed element
    ("C1CCCCCCC1", False),  # 8-membered ring
])
def test_filters(smiles, passes):
    assert moses.passes_filters(smiles) is passes


def test_moses_protocol_keys_and_values():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = evaluate_molecules(GEN + ["C1CC", "not smiles"], train=["CCO"], test=REF, test_scaffolds=REF[:3],
                               protocol="moses", progress=False)
    assert r["valid"] == pytest.approx(4 / 6)
    assert r["unique@1000"] == pytest.approx(3 / 4) and r["Novelty"] == pytest.approx(2 / 3)
    for key in ("FCD/Test", "SNN/Test", "Frag/Test", "Scaf/Test", "FCD/TestSF", "SNN/TestSF", "IntDiv", "IntDiv2",
                "Filters"):
        assert key in r
    assert r["Filters"] == pytest.approx(1.0)
    assert r["SNN/Test"] == pytest.approx(np.mean([max(rdkit_tanimoto(g, x) for x in REF) for g in GEN]))


def test_parallel_map_workers_inherit_items_instead_of_unpickling_them():
    # a generated graph's tensors would pickle to one shared-memory file descriptor each on the way to a worker
    # (scoring 10,000 generated molecules once failed with "Too many open files"); the pool sends indices only.
    # Proof: neither the function (a lambda) nor the items (holding a lock) can be pickled, and the pool still works.
    import threading

    from graphgen.data.molecules import VOCABS, smiles_to_data
    from graphgen.evaluate.molecules import gdss_outcome

    graphs = [smiles_to_data(s, VOCABS["qm9"]) for s in ("CCO", "C1CC1N", "O=CC#N", "CC(F)C")] * 50
    for g in graphs:
        g.lock = threading.Lock()
    fn = lambda g: gdss_outcome(g, VOCABS["qm9"])  # noqa: E731
    pooled = moses.parallel_map(fn, graphs, n_jobs=2, min_parallel=1, progress=False)
    serial = moses.parallel_map(fn, graphs, n_jobs=1, progress=False)
    assert [o.smiles for o in pooled] == [o.smiles for o in serial]
    assert pooled[0].smiles == "CCO" and pooled[1].smiles == "NC1CC1"
