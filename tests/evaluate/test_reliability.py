"""Regression tests of issue 22 for the evaluators: failed samples and malformed items in ``evaluate_molecules``,
huge molecules, GDSS validity on molecules of thousands of atoms, and one definition of the graphs MMD accepts."""
from __future__ import annotations

import math
import subprocess
import sys
import warnings

import networkx as nx
import numpy as np
import pytest
import torch
from rdkit import Chem
from torch_geometric.data import Data

from graphgen.data.molecules import VOCABS, canonical_smiles, smiles_to_data
from graphgen.errors import InputError
from graphgen.evaluate.graphs import evaluate_graphs
from graphgen.evaluate.mmd import as_simple_graph, graph_mmd, mmd2
from graphgen.evaluate.molecules import (ItemTypeError, evaluate_molecules, gdss_construct, gdss_outcome,
                                         to_raw_mol)

QM9 = VOCABS["qm9"]  # atoms C N O F; bonds single double triple; charges -1 0 1


def _evaluate(generated, protocol="gdss", **kwargs):
    """evaluate_molecules without references or progress bars; warnings are returned, not printed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = evaluate_molecules(generated, train=None, test=None, protocol=protocol, vocab=QM9, progress=False,
                                 **kwargs)
    return out, [str(w.message) for w in caught]


# --------------------------------------------------------------------------------- failed samples, malformed items
@pytest.mark.parametrize("protocol,key", [("gdss", "validity"), ("digress", "validity"), ("moses", "valid")])
def test_none_and_unparsable_items_count_as_invalid(protocol, key):
    generated = ["CCO", None, smiles_to_data("CCN", QM9), None, "C1CC(", Chem.MolFromSmiles("CC=O")]
    out, messages = _evaluate(generated, protocol)
    assert out[key] == pytest.approx(3 / 6)  # the failed samples stay in the denominator
    assert (out["num_generated"], out["num_valid"], out["num_missing"], out["num_unparsable"]) == (6, 3, 2, 1)
    assert any("2 of 6 generated items are None" in m and "1 are SMILES RDKit cannot parse" in m for m in messages)


def test_all_items_none_gives_zero_validity():
    out, _ = _evaluate([None, None])
    assert out["validity"] == 0.0 and out["validity_wo_correction"] == 0.0 and out["num_missing"] == 2
    assert math.isnan(out["uniqueness"])


def _good() -> Data:
    return smiles_to_data("CCO", QM9)  # x [3], edge_index [2, 4]


def _with(**fields) -> Data:
    data = _good()
    for name, value in fields.items():
        setattr(data, name, value)
    return data


@pytest.mark.parametrize("bad,words", [
    (_with(x=torch.tensor([0.0, 0.0, 2.0])), "data.x must hold integer"),
    (_with(x=torch.tensor([[0], [0], [2]])), "data.x must be long [N]"),
    (_with(x=torch.tensor([0, 0, 9])), "data.x[2] = 9 is not an atom type"),
    (_with(charge=torch.tensor([0, -7, 0])), "data.charge[1] = -7 (atom 1)"),
    (_with(charge=torch.tensor([0, 2 ** 31, 0])), f"data.charge[1] = {2 ** 31} (atom 1)"),
    (_with(num_hs=torch.tensor([0, 2 ** 31, 0])), f"data.num_hs[1] = {2 ** 31} (atom 1)"),
    (_with(charge=torch.tensor([0, 0])), "data.charge must be long [N=3]"),
    (_with(edge_index=torch.tensor([[0, 1, 2]])), "data.edge_index must be long [2, E]"),
    (_with(edge_index=torch.tensor([[0, 1, 1, 5], [1, 0, 5, 1]])), "data.edge_index[:, 2] = [1, 5] refers to a node"),
    (_with(edge_attr=None), "data.edge_attr (bond type indices"),
    (_with(edge_attr=torch.tensor([0, 0, 0])), "data.edge_attr must be long [E=4]"),
    (_with(edge_attr=torch.tensor([0, 0, 7, 0])), "data.edge_attr[2] = 7 is not a bond type"),
    (_with(edge_index=torch.tensor([[0, 1, 1, 1], [1, 0, 2, 1]])), "self loops"),
    (_with(edge_attr=torch.tensor([0, 1, 0, 0])), "once in each direction"),
])
@pytest.mark.parametrize("protocol", ["gdss", "moses"])
def test_malformed_data_named_by_index_and_field(bad, words, protocol):
    generated = ["CCO", None, bad, "CC"]
    with pytest.raises(InputError) as info:
        _evaluate(generated, protocol)
    message = str(info.value)
    assert message.startswith("generated[2]: ") and words in message and "\n" not in message


@pytest.mark.parametrize("item", [42, b"CCO", 1.5, ["C", "C"]])
def test_item_of_another_type_named_by_index(item):
    with pytest.raises(ItemTypeError, match=r"^generated\[1\]: .*got (int|bytes|float|list)$") as info:
        _evaluate(["CCO", item])
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)  # both callers' catches work


def test_vocab_given_by_name():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no references: novelty and FCD are left out
        out = evaluate_molecules([_good()], train=None, test=None, vocab="qm9", progress=False)
    assert out["validity"] == 1.0


# ----------------------------------------------------------------------------------------------- huge molecules
_HUGE_PROBES = r"""
import warnings
warnings.simplefilter("ignore")
from rdkit import Chem
from graphgen.data.molecules import VOCABS, smiles_to_data
from graphgen.errors import InputError
from graphgen.evaluate.molecules import evaluate_molecules

chain = "C" * 20000
probes = {
    "smiles": lambda: evaluate_molecules(["CCO", chain], train=None, test=None, progress=False),
    "mol": lambda: evaluate_molecules(["CCO", Chem.MolFromSmiles(chain)], train=None, test=None, progress=False),
    "ring": lambda: evaluate_molecules(["CCO", "C1" + "C" * 29998 + "C1"], train=None, test=None, progress=False),
    "digress": lambda: evaluate_molecules(["CCO", chain], train=None, test=None, protocol="digress", progress=False),
    "reference": lambda: evaluate_molecules(["CCO"], train=["CCO", chain], test=None, cache=False, progress=False),
}
for name, probe in probes.items():
    try:
        probe()
        print(name, "accepted")
    except InputError as err:
        print(name, "InputError", "MAX_ATOMS=5000" in str(err), str(err).startswith("generated[1]: "))
"""


def _limit_address_space() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))  # a regression fails here, not in the OOM killer


def test_huge_molecules_refused_in_a_child_process_that_exits_cleanly():
    done = subprocess.run([sys.executable, "-c", _HUGE_PROBES], capture_output=True, text=True, timeout=600,
                          preexec_fn=_limit_address_space)
    assert done.returncode == 0, f"child ended with {done.returncode} (negative = killed by a signal): {done.stderr}"
    assert [line for line in done.stdout.split("\n") if line] == [
        "smiles InputError True True", "mol InputError True True", "ring InputError True True",
        "digress InputError True True", "reference InputError True False"], done.stdout


# ------------------------------------------------------------------------------------- GDSS on thousands of atoms
def _raw_graph(smiles: str) -> Data:
    """Data of a SMILES read without sanitization (so invalid valences survive), with no formal charges."""
    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    x = [QM9.atoms.index(atom.GetSymbol()) for atom in mol.GetAtoms()]
    pairs = {}
    for atom in mol.GetAtoms():  # an atom's bonds: listing bonds by index is quadratic in RDKit
        for bond in atom.GetBonds():
            i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            pairs[(i, j)] = pairs[(j, i)] = int(bond.GetBondTypeAsDouble()) - 1
    keys = sorted(pairs)
    return Data(x=torch.tensor(x), edge_index=torch.tensor(keys).T.contiguous(),
                edge_attr=torch.tensor([pairs[k] for k in keys]))


def test_gdss_charge_rule_on_3001_atoms():
    # every N has four carbons: neutral in the graph, N+ after GDSS's formal-charge rule, valid without correction
    units = 750
    graph = _raw_graph("C" + "N(C)(C)C" * units)
    assert graph.num_nodes == 3001
    mol = gdss_construct(to_raw_mol(graph, QM9))
    assert sum(a.GetFormalCharge() for a in mol.GetAtoms()) == units
    out = gdss_outcome(graph, QM9)
    assert out.valid and out.valid_wo_correction and out.connected
    assert out.smiles == canonical_smiles("C" + "[N+](C)(C)C" * units)


def test_gdss_valency_correction_on_3006_atoms():
    # every inner carbon has C-C, C-C, C=O and C-F (valence 5): correction lowers its one double bond to single
    units = 1000
    graph = _raw_graph("O=C(F)" + "C(=O)(F)" * units + "C(=O)F")
    assert graph.num_nodes == 3006
    out = gdss_outcome(graph, QM9)
    assert out.valid and not out.valid_wo_correction and out.connected
    assert out.smiles == canonical_smiles("O=C(F)" + "C(O)(F)" * units + "C(=O)F")
    result, _ = _evaluate([graph, _raw_graph("C" + "N(C)(C)C" * 750)])
    assert (result["validity"], result["validity_wo_correction"], result["connected"]) == (1.0, 0.5, 1.0)


def test_gdss_correction_runs_until_done():
    # 1,200 corrections: the former cap of 1,000 steps called this molecule invalid
    units = 1200
    graph = _raw_graph("O=C(F)" + "C(=O)(F)" * units + "C(=O)F")
    out = gdss_outcome(graph, QM9)
    assert out.valid and out.smiles == canonical_smiles("O=C(F)" + "C(O)(F)" * units + "C(=O)F")


# ------------------------------------------------------------------------------------------------------------ MMD
def _messy_pair() -> tuple[list, list]:
    """Generated and reference graphs with self-loops, duplicate edges, both directions and a directed graph."""
    multi = nx.MultiGraph([(0, 1), (0, 1), (1, 2), (2, 2), (2, 3)])
    loops = nx.Graph([(0, 0), (0, 1), (1, 1), (1, 2), (2, 0)])
    directed = nx.DiGraph([(0, 1), (1, 0), (1, 2), (3, 3)])
    data = Data(edge_index=torch.tensor([[0, 1, 1, 2, 2, 3, 3], [1, 0, 0, 3, 2, 3, 0]]), num_nodes=5)
    star = nx.star_graph(4)
    path = nx.path_graph(5)
    path.add_edge(4, 4)
    return [multi, loops, directed, data], [star, path, nx.cycle_graph(4)]


@pytest.mark.parametrize("protocol", ["gdss", "spectre"])
def test_graph_mmd_and_evaluate_graphs_agree_on_loops_and_duplicates(protocol):
    gen, ref = _messy_pair()
    scores = evaluate_graphs(gen, ref, protocol, num_workers=0, progress=False)
    clean_gen = [nx.Graph(as_simple_graph(g)) for g in gen]
    clean_ref = [nx.Graph(as_simple_graph(g)) for g in ref]
    assert all(nx.number_of_selfloops(g) == 0 for g in clean_gen + clean_ref)
    for stat in ("degree", "clustering", "orbit") + (("spectral",) if protocol == "spectre" else ()):
        value = graph_mmd(gen, ref, stat, protocol)
        assert value == scores[stat]
        assert value == pytest.approx(graph_mmd(clean_gen, clean_ref, stat, protocol), abs=1e-15)


def test_simple_graph_definition():
    multi = nx.MultiDiGraph([(0, 1), (1, 0), (0, 1), (2, 2)])
    g = as_simple_graph(multi)
    assert type(g) is nx.Graph and sorted(g.nodes) == [0, 1, 2] and sorted(g.edges) == [(0, 1)]
    g = as_simple_graph(Data(edge_index=torch.tensor([[0, 0, 1, 2], [1, 1, 0, 2]]), num_nodes=4))
    assert sorted(g.nodes) == [0, 1, 2, 3] and sorted(g.edges) == [(0, 1)]  # isolated node 3 kept, loop dropped


@pytest.mark.parametrize("graph,words", [
    (Data(edge_index=torch.tensor([[0, 1], [1, 5]]), num_nodes=3), "edge_index[:, 1] = [1, 5] refers to a node"),
    (Data(edge_index=torch.tensor([[0, -1], [1, 0]]), num_nodes=3), "edge_index[:, 1] = [-1, 0]"),
    (Data(edge_index=torch.tensor([[0.0, 1.0], [1.0, 0.0]]), num_nodes=2), "integer node ids"),
    (Data(edge_index=torch.tensor([0, 1]), num_nodes=2), "shape [2, E]"),
    (nx.Graph(), "has 0 nodes"),
    ("not a graph", "got str"),
])
def test_malformed_graphs_named_by_list_and_index(graph, words):
    good = [nx.path_graph(3), nx.cycle_graph(4)]
    with pytest.raises(InputError, match=r"^graphs_y\[1\]") as info:
        graph_mmd(good, [good[0], graph], "degree")
    assert words in str(info.value)
    with pytest.raises(InputError, match=r"^reference\[1\]") as info:
        evaluate_graphs(good, [good[0], graph], num_workers=0, progress=False)
    assert words in str(info.value)
    assert isinstance(info.value, TypeError) == (words == "got str")  # not a graph at all: still a TypeError


def test_empty_generated_graphs_are_left_out_by_evaluate_graphs_only():
    gen, ref = [nx.path_graph(3), nx.Graph()], [nx.cycle_graph(4)]
    scores = evaluate_graphs(gen, ref, num_workers=0, progress=False)
    assert scores["num_empty_generated"] == 1.0 and scores["degree"] == graph_mmd(gen[:1], ref, "degree")
    with pytest.raises(InputError, match=r"graphs_x\[1\] has 0 nodes"):
        graph_mmd(gen, ref, "degree")


# Four 4-bin histograms: within each sample TV (and 1-D EMD) = 1, across the samples 1/2. A Gaussian of an L1
# distance is not a positive-definite kernel, and here the biased MMD² = 1 + exp(-1/2) - 2 exp(-1/8) < 0.
_X = [np.array([1.0, 0, 1, 0]), np.array([0.0, 1, 0, 1])]
_Y = [np.array([1.0, 0, 0, 1]), np.array([0.0, 1, 1, 0])]


@pytest.mark.parametrize("kernel", ["gaussian_tv", "gaussian_emd"])
def test_non_positive_definite_kernels_can_be_genuinely_negative(kernel):
    expected = 1 + math.exp(-0.5) - 2 * math.exp(-0.125)
    assert expected < -0.15
    with pytest.warns(RuntimeWarning, match=f"the {kernel} kernel is not positive definite"):
        assert mmd2(_X, _Y, kernel, sigma=1.0) == pytest.approx(expected, abs=1e-12)


def test_gaussian_kernel_on_the_same_histograms_is_positive():
    # Euclidean distances: 1 within each sample, 1/sqrt(2) across: 1 + exp(-1/2) - 2 exp(-1/4) > 0
    assert mmd2(_X, _Y, "gaussian", sigma=1.0) == pytest.approx(1 + math.exp(-0.5) - 2 * math.exp(-0.25), abs=1e-12)


@pytest.mark.parametrize("kernel", ["gaussian", "gaussian_tv", "gaussian_emd"])
def test_rounding_never_makes_mmd_negative(kernel):
    # the same sample in another order: exactly 0 in exact arithmetic; before the clamp about half of these
    # came out as -1e-16 or so
    rng = np.random.default_rng(0)
    values = []
    for _ in range(60):
        m = int(rng.integers(2, 30))
        x = rng.random((m, int(rng.integers(1, 8)))) + 1e-3
        values.append(mmd2(x, x[rng.permutation(m)], kernel, sigma=float(rng.choice([0.1, 1.0]))))
    assert min(values) >= 0.0 and max(values) < 1e-14


def test_nan_statistics_rejected():
    with pytest.raises(InputError, match=r"y\[1\] holds a NaN"):
        mmd2([np.ones(3)], [np.ones(3), np.array([1.0, np.nan])], "gaussian", is_hist=False)


def test_spectral_statistic_does_not_depend_on_the_node_order():
    # a tree is bipartite: its normalised Laplacian has the eigenvalue 2, which rounding puts just above 2 for some
    # node orders; np.histogram over [-1e-5, 2] dropped it there, so the histogram changed with the node order
    from graphgen.evaluate.mmd import normalized_laplacian_eigenvalues, spectral_histogram

    tree = nx.balanced_tree(2, 3)  # 15 nodes
    rng = np.random.default_rng(0)
    reordered = []
    for _ in range(20):
        g = nx.Graph()
        g.add_nodes_from(rng.permutation(15).tolist())  # the adjacency matrix follows the insertion order
        g.add_edges_from(tree.edges)
        reordered.append(g)
    assert any(normalized_laplacian_eigenvalues(g).max() > 2.0 for g in reordered)  # the case occurs here
    reference = spectral_histogram(tree)
    assert reference.sum() == pytest.approx(1.0) and reference[-1] == pytest.approx(1 / 15)
    for g in reordered:
        np.testing.assert_array_equal(spectral_histogram(g), reference)
