"""Validity (planar, tree, SBM Wald test), uniqueness, novelty and V.U.N. on hand-built lists."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy.stats import chi2

from graphgen.evaluate.vun import (
    IsomorphismIndex,
    fit_sbm,
    is_planar_valid,
    is_sbm_valid,
    is_tree_valid,
    novel_flags,
    sbm_wald_pvalue,
    unique_flags,
    vun_metrics,
)


def test_planar_validity() -> None:
    assert not is_planar_valid(nx.complete_graph(5))
    assert not is_planar_valid(nx.complete_bipartite_graph(3, 3))
    assert is_planar_valid(nx.complete_graph(4))
    assert is_planar_valid(nx.grid_2d_graph(4, 5))
    assert not is_planar_valid(nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3)))  # planar, not connected
    assert not is_planar_valid(nx.Graph())


def test_tree_validity() -> None:
    assert is_tree_valid(nx.path_graph(6)) and is_tree_valid(nx.star_graph(5))
    assert not is_tree_valid(nx.cycle_graph(6))
    assert not is_tree_valid(nx.disjoint_union(nx.path_graph(3), nx.path_graph(3)))  # forest
    assert not is_tree_valid(nx.Graph())


def _sbm(sizes: list[int], seed: int, p_in: float = 0.3, p_out: float = 0.005) -> nx.Graph:
    probs = [[p_in if i == j else p_out for j in range(len(sizes))] for i in range(len(sizes))]
    return nx.stochastic_block_model(sizes, probs, seed=seed)


def _exact_block_graph() -> tuple[nx.Graph, np.ndarray]:
    """Two blocks of 20 whose densities equal 0.3 / 0.005 exactly: 57 of 190 pairs inside each, 2 of 400 across."""
    g = nx.Graph()
    g.add_nodes_from(range(40))
    for offset in (0, 20):
        pairs = [(offset + u, offset + v) for u in range(20) for v in range(u + 1, 20)]
        g.add_edges_from(pairs[::3][:57])
    g.add_edges_from([(0, 20), (5, 33)])
    return g, np.array([0] * 20 + [1] * 20)


def test_wald_pvalue_hand_computed() -> None:
    g, labels = _exact_block_graph()
    assert sum(1 for u, v in g.edges if labels[u] == labels[v] == 0) == 57
    assert sbm_wald_pvalue(g, labels) == pytest.approx(1.0, abs=1e-4)  # every estimate equals its target
    # change the targets: intra 0.5 instead of 0.3 -> W = 0.04 / (0.21 + 1e-6) on the two diagonal entries
    w = (0.3 - 0.5) ** 2 / (0.3 * 0.7 + 1e-6)
    expected = (2 * (1 - chi2.cdf(w, 1)) + 2 * 1.0) / 4
    assert sbm_wald_pvalue(g, labels, p_intra=0.5) == pytest.approx(expected, abs=1e-4)


def test_fit_recovers_planted_blocks() -> None:
    for seed, sizes in enumerate([[25, 30, 35], [20, 40], [22, 28, 33, 37]]):
        g = _sbm(sizes, seed)
        labels = fit_sbm(g)
        truth = np.repeat(np.arange(len(sizes)), sizes)
        # same partition up to relabelling: the contingency table is a permutation matrix scaled by block sizes
        table = np.zeros((labels.max() + 1, len(sizes)), dtype=int)
        np.add.at(table, (labels, truth), 1)
        assert table.shape == (len(sizes), len(sizes))
        assert ((table > 0).sum(axis=0) == 1).all() and ((table > 0).sum(axis=1) == 1).all()


def test_sbm_validity_separates_sbm_from_erdos_renyi() -> None:
    rng = np.random.default_rng(0)
    sbm_graphs = [_sbm(list(rng.integers(20, 41, size=rng.integers(2, 6))), seed) for seed in range(12)]
    er_graphs = [nx.gnm_random_graph(g.number_of_nodes(), g.number_of_edges(), seed=i) for i, g in enumerate(sbm_graphs)]
    sbm_valid = np.mean([is_sbm_valid(g) for g in sbm_graphs])
    er_valid = np.mean([is_sbm_valid(g) for g in er_graphs])
    # the Wald test rejects some true SBM samples by design (SPECTRE's own training set is ~90 % valid)
    assert sbm_valid >= 0.7
    assert er_valid == 0.0
    assert not is_sbm_valid(_sbm([10, 10], 0))  # blocks smaller than 20 nodes
    assert not is_sbm_valid(_sbm([30, 30], 0, p_in=0.6))  # much denser blocks fail the test


def _relabel(g: nx.Graph, seed: int) -> nx.Graph:
    perm = np.random.default_rng(seed).permutation(g.number_of_nodes())
    return nx.relabel_nodes(g, {node: int(perm[i]) for i, node in enumerate(g.nodes)})


def test_uniqueness_and_novelty_hand_built() -> None:
    c5, p5, star = nx.cycle_graph(5), nx.path_graph(5), nx.star_graph(4)
    generated = [c5, _relabel(c5, 1), p5, star]
    np.testing.assert_array_equal(unique_flags(generated), [True, False, True, True])
    np.testing.assert_array_equal(novel_flags(generated, [_relabel(p5, 2)]), [True, True, False, True])
    scores = vun_metrics(generated, train=[p5], validity="tree")
    assert scores == pytest.approx({"unique": 0.75, "novel": 0.75, "unique_novel": 0.5, "valid": 0.5, "vun": 0.25})


def test_wl_collisions_do_not_merge_non_isomorphic_graphs() -> None:
    # C6 and two triangles are both 2-regular on 6 nodes: same WL hash, not isomorphic
    c6, two_triangles = nx.cycle_graph(6), nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3))
    np.testing.assert_array_equal(unique_flags([c6, two_triangles]), [True, True])
    index = IsomorphismIndex([c6])
    assert not index.contains(two_triangles) and index.contains(_relabel(c6, 0))
    assert repr(index) == "IsomorphismIndex(graphs=1, buckets=1)"


def test_vun_options() -> None:
    graphs = [nx.path_graph(4), nx.cycle_graph(4)]
    assert vun_metrics(graphs) == {"unique": 1.0}
    assert vun_metrics(graphs, validity=lambda g: g.number_of_edges() == 4) == {"unique": 1.0, "valid": 0.5}
    with pytest.raises(ValueError, match="validity must be one of"):
        vun_metrics(graphs, validity="lobster")
