"""Graphlet-orbit counts: brute force over all 4-node subsets, and known counts on small named graphs."""
from __future__ import annotations

from math import comb

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphgen.evaluate.orbits import (
    _GRAPHLETS_4,
    NUM_ORBITS,
    classify_orbit_4,
    orbit_counts,
    orbit_counts_bruteforce,
    orbit_counts_from_edges,
)


def _row(**orbits: int) -> np.ndarray:
    row = np.zeros(NUM_ORBITS, dtype=np.int64)
    for key, value in orbits.items():
        row[int(key[1:])] = value
    return row


@st.composite
def small_graphs(draw) -> nx.Graph:
    n = draw(st.integers(min_value=0, max_value=9))
    pairs = [(u, v) for u in range(n) for v in range(u + 1, n)]
    bits = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(p for p, b in zip(pairs, bits) if b)
    return g


@settings(max_examples=150, deadline=None)
@given(small_graphs())
def test_matches_bruteforce_on_random_graphs(graph: nx.Graph) -> None:
    np.testing.assert_array_equal(orbit_counts(graph), orbit_counts_bruteforce(graph))


@pytest.mark.parametrize("seed", range(3))
def test_matches_bruteforce_on_denser_and_larger_graphs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    graph = nx.gnp_random_graph(16, rng.uniform(0.3, 0.7), seed=seed)
    np.testing.assert_array_equal(orbit_counts(graph), orbit_counts_bruteforce(graph))


def test_k4() -> None:
    counts = orbit_counts(nx.complete_graph(4))
    for row in counts:
        np.testing.assert_array_equal(row, _row(o0=3, o3=3, o14=1))


def test_k5_every_node() -> None:
    # K5: each node has degree 4, C(4,2)=6 triangles and C(4,3)=4 four-cliques; nothing induced is sparser
    for row in orbit_counts(nx.complete_graph(5)):
        np.testing.assert_array_equal(row, _row(o0=4, o3=6, o14=4))


def test_cycle_4() -> None:
    for row in orbit_counts(nx.cycle_graph(4)):
        np.testing.assert_array_equal(row, _row(o0=2, o1=2, o2=1, o8=1))


@pytest.mark.parametrize("n", [5, 6, 9])
def test_long_cycles(n: int) -> None:
    # every 4 consecutive nodes induce a path: each node is an end of 2 and a middle of 2
    for row in orbit_counts(nx.cycle_graph(n)):
        np.testing.assert_array_equal(row, _row(o0=2, o1=2, o2=1, o4=2, o5=2))


@pytest.mark.parametrize("k", [1, 3, 6])
def test_stars(k: int) -> None:
    counts = orbit_counts(nx.star_graph(k))  # node 0 is the centre
    np.testing.assert_array_equal(counts[0], _row(o0=k, o2=comb(k, 2), o7=comb(k, 3)))
    for leaf in counts[1:]:
        np.testing.assert_array_equal(leaf, _row(o0=1, o1=k - 1, o6=comb(k - 1, 2)))


def test_path() -> None:
    counts = orbit_counts(nx.path_graph(7))
    np.testing.assert_array_equal(counts[0], _row(o0=1, o1=1, o4=1))
    np.testing.assert_array_equal(counts[1], _row(o0=2, o1=1, o2=1, o4=1, o5=1))
    np.testing.assert_array_equal(counts[2], _row(o0=2, o1=2, o2=1, o4=1, o5=2))
    np.testing.assert_array_equal(counts[3], _row(o0=2, o1=2, o2=1, o4=2, o5=2))
    np.testing.assert_array_equal(counts[6], counts[0])


def test_paw_and_diamond_orbits() -> None:
    paw = nx.Graph([(0, 1), (1, 2), (0, 2), (2, 3)])  # triangle 0-1-2, tail 2-3
    c = orbit_counts(paw)
    assert c[3, 9] == 1 and c[0, 10] == 1 and c[1, 10] == 1 and c[2, 11] == 1
    diamond = nx.Graph([(0, 1), (1, 2), (2, 3), (0, 3), (0, 2)])  # chord 0-2
    c = orbit_counts(diamond)
    assert c[0, 13] == c[2, 13] == 1 and c[1, 12] == c[3, 12] == 1


def test_classifier_covers_every_orbit() -> None:
    seen = {classify_orbit_4(edges, node) for edges in _GRAPHLETS_4.values() for node in range(4)}
    assert seen == set(range(4, 15))


def test_isolated_nodes_self_loops_and_duplicate_edges() -> None:
    edges = np.array([[0, 1], [1, 0], [1, 2], [2, 2], [0, 2]])
    counts = orbit_counts_from_edges(5, edges)
    np.testing.assert_array_equal(counts[:3], orbit_counts(nx.complete_graph(3)))
    assert (counts[3:] == 0).all()


def test_bad_edges_name_the_problem() -> None:
    with pytest.raises(ValueError, match="edge endpoints"):
        orbit_counts_from_edges(2, np.array([[0, 5]]))


def test_permutation_equivariance() -> None:
    g = nx.gnp_random_graph(30, 0.25, seed=3)
    perm = np.random.default_rng(0).permutation(30)
    h = nx.relabel_nodes(g, {i: int(perm[i]) for i in range(30)})
    counts_g = orbit_counts(g)
    index_h = {node: i for i, node in enumerate(h.nodes)}
    counts_h = orbit_counts(h)
    for i in range(30):
        np.testing.assert_array_equal(counts_g[i], counts_h[index_h[int(perm[i])]])


@pytest.mark.parametrize("seed", range(5))
def test_matches_orca_port_when_installed(seed: int) -> None:
    orca = pytest.importorskip("orca", reason="optional peer: pip install orca-graphlets (Python port of ORCA)")
    if not hasattr(orca, "orca_nodes"):
        pytest.skip("an unrelated 'orca' module is installed")
    graph = nx.gnp_random_graph(40, 0.05 + 0.1 * seed, seed=seed)
    edges = np.array(list(graph.edges), dtype=np.int64).reshape(-1, 2)
    np.testing.assert_array_equal(orbit_counts(graph), np.asarray(orca.orca_nodes(edges, 40)))
