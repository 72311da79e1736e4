"""MMD kernels and statistics: hand-computed values, an independent EMD, MMD(X, X) = 0 and symmetry."""
from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import wasserstein_distance

from graphgen.evaluate.mmd import (
    PROTOCOLS,
    clustering_histogram,
    degree_histogram,
    emd_1d,
    gaussian_emd_kernel,
    gaussian_kernel,
    gaussian_tv_kernel,
    graph_mmd,
    local_clustering,
    mmd2,
    normalized_laplacian_eigenvalues,
    orbit_statistic,
    spectral_histogram,
)


def test_emd_hand_computed() -> None:
    assert emd_1d(np.array([1.0, 0, 0]), np.array([0, 0, 1.0])) == pytest.approx(2.0)  # move mass 1 by 2 bins
    assert emd_1d(np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), distance_scaling=2.0) == pytest.approx(1.0)
    assert emd_1d(np.array([0.5, 0.5]), np.array([0.0, 1.0])) == pytest.approx(0.5)
    assert emd_1d(np.array([0.5, 0.5]), np.array([0.0, 1.0, 0.0])) == pytest.approx(0.5)  # padding is free
    with pytest.raises(ValueError, match="equal masses"):
        emd_1d(np.array([1.0]), np.array([2.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 10), min_size=1, max_size=12), st.lists(st.floats(0, 10), min_size=1, max_size=12))
def test_closed_form_emd_equals_scipy_wasserstein(a: list[float], b: list[float]) -> None:
    x, y = np.array(a), np.array(b)
    if x.sum() <= 1e-6 or y.sum() <= 1e-6:
        return
    x, y = x / x.sum(), y / y.sum()
    expected = wasserstein_distance(np.arange(len(x)), np.arange(len(y)), x, y)
    assert emd_1d(x, y) == pytest.approx(expected, abs=1e-9)


def test_kernels_hand_computed() -> None:
    x, y = np.array([[1.0, 0, 0]]), np.array([[0, 0, 1.0]])
    assert gaussian_emd_kernel(x, y, sigma=1.0)[0, 0] == pytest.approx(math.exp(-2.0))  # EMD 2
    assert gaussian_emd_kernel(x, y, sigma=1.0, distance_scaling=2.0)[0, 0] == pytest.approx(math.exp(-0.5))
    assert gaussian_tv_kernel(x, y, sigma=0.5)[0, 0] == pytest.approx(math.exp(-1.0 / 0.5))  # TV 1
    assert gaussian_kernel(np.array([[0.0, 3.0]]), np.array([[4.0, 0.0]]), sigma=5.0)[0, 0] == pytest.approx(
        math.exp(-25.0 / 50.0))


def test_mmd_hand_computed_and_biased() -> None:
    # one sample each: MMD² = k(x,x) + k(y,y) - 2k(x,y) = 2 - 2 exp(-EMD²/2)
    assert mmd2([np.array([1.0, 0.0])], [np.array([0.0, 3.0])], "gaussian_emd", sigma=1.0) == pytest.approx(
        2 - 2 * math.exp(-0.5))
    # biased V-statistic: X = {a, b}, Y = {a}: (1 + 2k + 1)/4 + 1 - 2(1 + k)/2 = (1 - k)/2
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    k = math.exp(-0.5)
    assert mmd2([a, b], [a], "gaussian_emd", sigma=1.0) == pytest.approx((1 - k) / 2)


@pytest.mark.parametrize("kernel", ["gaussian_emd", "gaussian_tv", "gaussian"])
def test_mmd_zero_on_equal_samples_and_symmetric(kernel: str) -> None:
    rng = np.random.default_rng(0)
    xs = [rng.random(rng.integers(2, 9)) for _ in range(7)]
    ys = [rng.random(rng.integers(2, 9)) for _ in range(5)]
    assert mmd2(xs, xs, kernel, sigma=0.7) == pytest.approx(0.0, abs=1e-12)
    assert mmd2(xs, ys, kernel, sigma=0.7) == pytest.approx(mmd2(ys, xs, kernel, sigma=0.7), abs=1e-12)
    assert mmd2(xs, ys, kernel, sigma=0.7) > 0


def test_histograms_are_normalised_when_is_hist() -> None:
    # scaling a histogram does not change an is_hist MMD
    x, y = [np.array([1.0, 2.0, 1.0])], [np.array([0.0, 1.0, 1.0])]
    assert mmd2(x, y) == pytest.approx(mmd2([10 * x[0]], [3 * y[0]]))
    with pytest.raises(ValueError, match="sums to 0"):
        mmd2([np.zeros(3)], y)


def test_degree_clustering_orbit_mmd_hand_computed() -> None:
    p3, k3 = nx.path_graph(3), nx.complete_graph(3)
    # degree pmfs [0, 2/3, 1/3] vs [0, 0, 1]: EMD = 2/3
    assert graph_mmd([p3], [k3], "degree", "gdss") == pytest.approx(2 - 2 * math.exp(-(2 / 3) ** 2 / 2))
    # TV = 2/3 as well
    assert graph_mmd([p3], [k3], "degree", "spectre") == pytest.approx(2 - 2 * math.exp(-(2 / 3) ** 2 / 2))
    # clustering: all in bin 0 vs all in bin 99; EMD = 99/100, sigma 0.1
    assert graph_mmd([p3], [k3], "clustering", "gdss") == pytest.approx(2 - 2 * math.exp(-0.99**2 / 0.02))
    # orbit: P3 per-node average [4/3, 2/3, 1/3, 0, ...], K3 [2, 0, 0, 1, ...]: squared distance 2
    np.testing.assert_allclose(orbit_statistic(p3)[:4], [4 / 3, 2 / 3, 1 / 3, 0])
    assert graph_mmd([p3], [k3], "orbit", "gdss") == pytest.approx(2 - 2 * math.exp(-2 / 1800))
    # SPECTRE orbit uses TV on the unnormalised vectors: TV = (2/3 + 2/3 + 1/3 + 1) / 2 = 4/3
    assert graph_mmd([p3], [k3], "orbit", "spectre") == pytest.approx(2 - 2 * math.exp(-(4 / 3) ** 2 / 1800))


def test_degree_and_clustering_histograms() -> None:
    g = nx.Graph([(0, 1), (1, 2), (0, 2), (2, 3)])  # paw: degrees 2, 2, 3, 1; clustering 1, 1, 1/3, 0
    np.testing.assert_array_equal(degree_histogram(g), [0, 1, 2, 1])
    hist = clustering_histogram(g)
    assert hist.shape == (100,) and hist[0] == 1 and hist[33] == 1 and hist[99] == 2 and hist.sum() == 4


@pytest.mark.parametrize("seed", range(3))
def test_local_clustering_matches_networkx(seed: int) -> None:
    g = nx.gnp_random_graph(40, 0.2, seed=seed)
    g.add_node(40)  # isolated
    expected = nx.clustering(g)
    np.testing.assert_allclose(local_clustering(g), [expected[v] for v in g.nodes], atol=1e-12)
    np.testing.assert_array_equal(clustering_histogram(g), np.histogram(list(expected.values()), 100, (0, 1))[0])


def test_spectral_statistic_hand_computed() -> None:
    # P3: normalised-Laplacian eigenvalues 0, 1, 2 -> bins 0, 100, 199 of 200 over [-1e-5, 2]
    np.testing.assert_allclose(normalized_laplacian_eigenvalues(nx.path_graph(3)), [0, 1, 2], atol=1e-12)
    hist = spectral_histogram(nx.path_graph(3))
    assert hist.shape == (200,)
    np.testing.assert_allclose(hist[[0, 100, 199]], [1 / 3] * 3)
    assert hist.sum() == pytest.approx(1.0)
    # K3: 0, 3/2, 3/2 -> bins 0 and 150; TV(P3, K3) = (1/3 + 1/3 + 2/3) / 2 = 2/3
    hist_k3 = spectral_histogram(nx.complete_graph(3))
    np.testing.assert_allclose(hist_k3[[0, 150]], [1 / 3, 2 / 3])
    value = graph_mmd([nx.path_graph(3)], [nx.complete_graph(3)], "spectral", "spectre")
    assert value == pytest.approx(2 - 2 * math.exp(-(2 / 3) ** 2 / 2))


def test_laplacian_matches_networkx_with_isolated_nodes() -> None:
    g = nx.gnp_random_graph(25, 0.15, seed=1)
    g.add_nodes_from([25, 26])
    expected = np.sort(nx.normalized_laplacian_spectrum(g))
    np.testing.assert_allclose(normalized_laplacian_eigenvalues(g), expected, atol=1e-9)


def test_protocol_tables() -> None:
    gdss, spectre = PROTOCOLS["gdss"], PROTOCOLS["spectre"]
    assert (gdss["degree"].kernel, gdss["degree"].kernel_kwargs) == ("gaussian_emd", {"sigma": 1.0, "distance_scaling": 1.0})
    assert gdss["clustering"].kernel_kwargs == {"sigma": 0.1, "distance_scaling": 100.0}
    assert (gdss["orbit"].kernel, gdss["orbit"].kernel_kwargs, gdss["orbit"].is_hist) == ("gaussian", {"sigma": 30.0}, False)
    assert set(spectre) == {"degree", "clustering", "orbit", "spectral"}
    assert all(spec.kernel == "gaussian_tv" for spec in spectre.values())
    with pytest.raises(ValueError, match="protocol must be one of"):
        graph_mmd([nx.path_graph(3)], [nx.path_graph(3)], "degree", "graphrnn")
