"""NSPDK: the vectorised feature map against a brute-force re-implementation, a hand-computed kernel value, and the
kernel/MMD properties (K(G,G)=1, MMD(X,X)=0, symmetry, permutation invariance)."""
from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

import networkx as nx
import numpy as np
import pytest
from rdkit import Chem

from graphgen.evaluate.nspdk import (NSPDK, LabeledGraph, mean_embedding, mmd_from_means, mol_to_labeled_graph,
                                     nspdk_kernel, nspdk_mmd, nx_to_labeled_graph)

SMILES = ["C", "CC", "CO", "C=O", "CC(=O)O", "c1ccccc1", "C1CC1N", "CC#N", "OCC(F)(F)F", "c1ccc2[nH]ccc2c1",
          "CC(C)(C)C", "C1CCCCCCC1", "N#CC(=O)Nc1ccccc1"]


def graphs(smiles=SMILES):
    return [mol_to_labeled_graph(Chem.MolFromSmiles(s)) for s in smiles]


def brute_force_features(g: LabeledGraph, R: int, D: int) -> dict:
    """Same feature definition, written independently with networkx distances and exact tuples (no hashing)."""
    H = nx.Graph()
    deg = Counter()
    for i, j in g.edges:
        deg[i] += 1
        deg[j] += 1
    for i, lab in enumerate(g.labels):
        H.add_node(("n", i), inv=("node", lab, deg[i]))
    for k, ((i, j), lab) in enumerate(zip(g.edges, g.edge_labels)):
        H.add_node(("e", k), inv=("edge", lab, 2))
        H.add_edge(("e", k), ("n", i))
        H.add_edge(("e", k), ("n", j))
    dist = dict(nx.all_pairs_shortest_path_length(H))

    def neigh(v, r):
        if not any(dd == 2 * r and x[0] == "n" for x, dd in dist[v].items()):
            return None
        return tuple(tuple(sorted(H.nodes[x]["inv"] for x, dd in dist[v].items() if dd == level))
                     for level in range(2 * r + 1))

    blocks = defaultdict(Counter)
    atoms = [("n", i) for i in range(g.num_nodes)]
    for v in atoms:
        for u in atoms:
            if u not in dist[v] or dist[v][u] > 2 * D:
                continue
            d = dist[v][u] // 2
            for r in range(R + 1):
                nv, nu = neigh(v, r), neigh(u, r)
                if nv is None or nu is None:
                    continue
                blocks[(r, d)][("pair", tuple(sorted([nv, nu])), r, d)] += 1
                blocks[(r, d)][("half", nu, r, d)] += 1
    feats = {}
    for counts in blocks.values():
        norm = math.sqrt(sum(c * c for c in counts.values()))
        for f, c in counts.items():
            feats[f] = c / norm
    total = math.sqrt(sum(v * v for v in feats.values()))
    return {f: v / total for f, v in feats.items()}


def brute_kernel(a: dict, b: dict) -> float:
    return sum(v * b.get(f, 0.0) for f, v in a.items())


@pytest.mark.parametrize("radius,distance", [(0, 0), (1, 2), (2, 1), (4, 4)])
def test_matches_brute_force(radius, distance):
    gs = graphs()
    X = NSPDK(radius=radius, distance=distance, nbits=30).transform(gs)
    K = nspdk_kernel(X)
    feats = [brute_force_features(g, radius, distance) for g in gs]
    Kb = np.array([[brute_kernel(a, b) for b in feats] for a in feats])
    np.testing.assert_allclose(K, Kb, atol=1e-9)


def test_hand_computed_value():
    # C-C vs C-O (single bonds). Radius-1 neighbourhoods differ (they contain the other atom), radius >= 2 does not
    # exist, so only radius-0 features can match. Each graph has 4 non-empty blocks (r, d) in {0, 1}^2, each of unit
    # norm after inner normalisation, so the global factor is 1/2.
    #   C-C: every block holds {pair, half} with counts {2, 2} -> 1/sqrt2 each -> 1/(2 sqrt2) after the global factor.
    #   C-O, block (0,0): pair(C,C), half(C), pair(O,O), half(O) all count 1 -> 1/2 -> 1/4.
    #   C-O, block (0,1): pair(C,O) count 2, half(O) 1, half(C) 1 -> 1/sqrt6 for half(C) -> 1/(2 sqrt6).
    # Shared: pair(C,C) and half(C) in (0,0), half(C) in (0,1):
    #   K = 2 * 1/(2 sqrt2) * 1/4 + 1/(2 sqrt2) * 1/(2 sqrt6) = 1/(4 sqrt2) + 1/(8 sqrt3) = 0.24894...
    X = NSPDK().transform(graphs(["CC", "CO"]))
    assert nspdk_kernel(X)[0, 1] == pytest.approx(1 / (4 * math.sqrt(2)) + 1 / (8 * math.sqrt(3)), abs=1e-12)
    X = NSPDK().transform(graphs(["C", "N", "C"]))
    np.testing.assert_allclose(nspdk_kernel(X), [[1, 0, 1], [0, 1, 0], [1, 0, 1]], atol=1e-12)


def test_normalised_symmetric_and_mmd_zero():
    X = NSPDK().transform(graphs())
    K = nspdk_kernel(X)
    np.testing.assert_allclose(np.diag(K), 1.0, atol=1e-12)
    np.testing.assert_allclose(K, K.T, atol=1e-15)
    assert (K <= 1 + 1e-12).all() and (K >= 0).all()
    a, b = graphs(SMILES[:6]), graphs(SMILES[6:])
    assert nspdk_mmd(a, a) == pytest.approx(0.0, abs=1e-15)
    assert nspdk_mmd(a, b) == pytest.approx(nspdk_mmd(b, a), abs=1e-15)
    assert nspdk_mmd(a, b) > 0.05


def test_mmd_equals_kernel_means():
    n = NSPDK()
    Xa, Xb = n.transform(graphs(SMILES[:5])), n.transform(graphs(SMILES[5:]))
    direct = nspdk_kernel(Xa).mean() + nspdk_kernel(Xb).mean() - 2 * nspdk_kernel(Xa, Xb).mean()
    assert mmd_from_means(mean_embedding(Xa), mean_embedding(Xb)) == pytest.approx(direct, abs=1e-12)


def test_permutation_invariance():
    rng = random.Random(0)
    n = NSPDK()
    for s in SMILES:
        mol = Chem.MolFromSmiles(s)
        perm = list(range(mol.GetNumAtoms()))
        rng.shuffle(perm)
        X = n.transform([mol_to_labeled_graph(mol), mol_to_labeled_graph(Chem.RenumberAtoms(mol, perm))])
        assert nspdk_kernel(X)[0, 1] == pytest.approx(1.0, abs=1e-12)
    a, b = graphs(SMILES[:7]), graphs(SMILES[7:])
    shuffled = a[::-1]
    assert nspdk_mmd(shuffled, b) == pytest.approx(nspdk_mmd(a, b), abs=1e-15)


def test_chunking_and_networkx_input():
    gs = graphs()
    X1 = NSPDK(chunk_size=3).transform(gs)
    X2 = NSPDK(chunk_size=100).transform(gs)
    assert abs(X1 - X2).max() < 1e-15
    g = nx.Graph()
    g.add_node(0, label="C")
    g.add_node(1, label="O")
    g.add_edge(0, 1, label=1)
    X = NSPDK().transform([nx_to_labeled_graph(g), mol_to_labeled_graph(Chem.MolFromSmiles("CO"))])
    assert nspdk_kernel(X)[0, 1] == pytest.approx(1.0)


def test_empty_graph_row_is_zero_and_dropped_from_mean():
    X = NSPDK().transform([LabeledGraph((), (), ()), *graphs(["CC"])])
    assert X[0].nnz == 0
    np.testing.assert_allclose(mean_embedding(X), X[1].toarray().ravel())
    with pytest.raises(ValueError, match="radius and distance"):
        NSPDK(radius=-1)
