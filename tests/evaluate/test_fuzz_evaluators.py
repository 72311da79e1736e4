"""Hypothesis fuzzing of the evaluators (issue 22): ``evaluate_molecules``, ``graph_mmd``, ``evaluate_graphs`` and
``mmd2``.

Property of every case: the call returns the right result, or raises a :class:`graphgen.errors.GraphgenError` whose
one-line message names the defect the case carries (and, for lists, the position of the first bad item). "Right" is
checked against oracles independent of the code under test:

- molecules: the GDSS protocol as its docstring states it, with the whole molecule checked after every edit (the
  quadratic original), and RDKit's sanitization for DiGress and MOSES validity; ``None`` and unparsable SMILES count
  as invalid, malformed graphs and items of other types raise;
- graphs: the simple graph built here from the drawn edge list (no self-loops, one edge per pair, no directions),
  its statistics, and the biased MMD² summed in Python loops over explicit kernel formulas; plus the invariants
  MMD(x, x) = 0, symmetry, and invariance under reordering the lists and relabelling the nodes;
- ``evaluate_graphs``: each MMD² equals ``graph_mmd`` on the non-empty generated graphs, ratios and counts agree.

Hypothesis draws the structure of a case (a seed, the protocol, the statistic); the content (molecules, graphs,
defects) comes from the seed, because a Hypothesis draw costs as much as scoring a small graph. Inputs are small
(up to 5 items, 7 nodes) so that a case takes a few milliseconds. CI runs ``CI_EXAMPLES`` cases per test
(derandomised); ``-m slow`` runs ``SLOW_EXAMPLES``.
"""
from __future__ import annotations

import math
import random
import warnings

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rdkit import Chem, rdBase
from torch_geometric.data import Data

from graphgen.data.molecules import VOCABS
from graphgen.errors import GraphgenError
from graphgen.evaluate.graphs import evaluate_graphs
from graphgen.evaluate.mmd import KERNELS, POSITIVE_DEFINITE_KERNELS, graph_mmd, mmd2, protocol_spec
from graphgen.evaluate.molecules import evaluate_molecules, largest_fragment_smiles, to_raw_mol

from ..data.test_fuzz_molecules import _WORDS, _as_data, _plant, _random_graph, smiles_like
from ..fuzz import expect_error

CI_EXAMPLES = 2000
SLOW_EXAMPLES = 20000
QM9 = VOCABS["qm9"]
_SEED = st.integers(0, 2 ** 31 - 1)
_PROPS = Chem.SanitizeFlags.SANITIZE_PROPERTIES


def _settings(examples: int):
    # no example database: a passing run writes nothing into the checkout
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _run(fn):
    """``(result, None)`` or ``(None, error)`` for a GraphgenError; any other exception propagates (a failure).
    Warnings (no references given, a negative MMD² of a non-positive-definite kernel) are collected, not shown."""
    with warnings.catch_warnings(record=True) as caught, rdBase.BlockLogs():
        warnings.simplefilter("always")
        try:
            return (fn(), [str(w.message) for w in caught]), None
        except GraphgenError as err:
            return None, err


# ------------------------------------------------------------------------------------------- molecules: oracle
def _valence_failures(mol: Chem.Mol) -> list[int]:
    problems = Chem.DetectChemistryProblems(mol, _PROPS)
    return sorted({p.GetAtomIdx() for p in problems if p.GetType() == "AtomValenceException"})


def _reference_gdss(item) -> tuple[bool, str | None, bool, bool]:
    """(valid, smiles, valid without correction, connected) by the GDSS rules of ``graphgen.evaluate.molecules``,
    re-checking the whole molecule after every bond and every correction step."""
    mol = to_raw_mol(item, QM9)
    if mol is None or mol.GetNumAtoms() == 0:
        return False, None, False, False
    out = Chem.RWMol()
    for atom in mol.GetAtoms():
        new = Chem.Atom(atom.GetAtomicNum())
        new.SetFormalCharge(atom.GetFormalCharge())
        new.SetNumExplicitHs(atom.GetNumExplicitHs())
        new.SetNoImplicit(atom.GetNoImplicit())
        new.SetIsAromatic(atom.GetIsAromatic())
        out.AddAtom(new)
    bonds = sorted((max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()),
                    b.GetBeginAtomIdx(), b.GetEndAtomIdx(), b.GetBondType(), b.GetIsAromatic()) for b in mol.GetBonds())
    for _, _, i, j, kind, aromatic in bonds:
        out.AddBond(i, j, kind)
        if aromatic:
            out.GetBondBetweenAtoms(i, j).SetIsAromatic(True)
        failing = _valence_failures(out)
        if failing:
            atom = out.GetAtomWithIdx(failing[0])
            default = {7: 3, 8: 2, 16: 2}.get(atom.GetAtomicNum())
            valence = sum(b.GetBondTypeAsDouble() for b in atom.GetBonds()) + atom.GetNumExplicitHs()
            if default is not None and atom.GetFormalCharge() == 0 and valence == default + 1:
                atom.SetFormalCharge(1)
    valid_wo_correction = not _valence_failures(out)
    while _valence_failures(out):
        atom = out.GetAtomWithIdx(_valence_failures(out)[0])
        lowerable = [b for b in atom.GetBonds() if b.GetBondType() != Chem.BondType.AROMATIC]
        if not lowerable:
            return False, None, valid_wo_correction, False
        best = max(lowerable, key=lambda b: int(b.GetBondTypeAsDouble()))  # max keeps the first of equal orders
        order, i, j = int(best.GetBondTypeAsDouble()), best.GetBeginAtomIdx(), best.GetEndAtomIdx()
        out.RemoveBond(i, j)
        if order > 1:
            out.AddBond(i, j, {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}[order - 1])
    smiles = largest_fragment_smiles(out)
    return smiles is not None, smiles, valid_wo_correction, smiles is not None and len(Chem.GetMolFrags(out)) == 1


def _reference_sanitized(item, keep_largest: bool) -> tuple[bool, str | None, bool]:
    """(valid, smiles, connected) for DiGress (largest fragment kept) or MOSES (all fragments): RDKit sanitization."""
    mol = to_raw_mol(item, QM9)
    if mol is None or mol.GetNumAtoms() == 0:
        return False, None, False
    mol = mol.GetMol()
    if Chem.SanitizeMol(mol, catchErrors=True) != Chem.SanitizeFlags.SANITIZE_NONE:
        return False, None, False
    if keep_largest:
        smiles = largest_fragment_smiles(mol)
        return smiles is not None, smiles, smiles is not None and len(Chem.GetMolFrags(mol)) == 1
    parsed = Chem.MolFromSmiles(Chem.MolToSmiles(mol, isomericSmiles=False))
    smiles = None if parsed is None else Chem.MolToSmiles(parsed, isomericSmiles=False)
    return smiles is not None, smiles, smiles is not None and "." not in smiles


_POOL = ("CCO", "c1ccccc1O", "C[N+](C)(C)C", "CC(=O)[O-].[Na+]", "CCO.C", "N#CC(F)(F)F", "O=C1NC=CC1", "C1CC1",
         "OC1CC(F)C1C#N", "CC[N+](=O)[O-]", "C=CC=O", "FC(F)(F)C(=O)N")
_KINDS = ("pool", "pool", "smiles_like", "none", "graph", "graph", "graph", "mol", "malformed", "junk")
_JUNK = (42, b"CCO", 1.5, ["C"], {"x": 1})


def _molecule_items(seed: int) -> tuple[list, int | None, set[str]]:
    """(generated items, index of the first item that must raise or None, words its message must name)."""
    rng = np.random.default_rng(seed)
    items, first_bad, words = [], None, set()
    for index in range(int(rng.integers(1, 6))):
        kind = _KINDS[int(rng.integers(0, len(_KINDS)))]
        item, bad = None, set()
        if kind == "pool":
            item = _POOL[int(rng.integers(0, len(_POOL)))]
        elif kind == "smiles_like":
            item = smiles_like(int(rng.integers(0, 2 ** 31)))
        elif kind == "mol":
            item = Chem.MolFromSmiles(_POOL[int(rng.integers(0, len(_POOL)))])
        elif kind in ("graph", "malformed"):
            g = _random_graph(rng, QM9)
            defect = "none"
            if kind == "malformed":
                defect = _plant(str(rng.choice([d for d in _WORDS if d != "too_many_atoms"])), g, rng, QM9)
            item = _as_data(g, as_tensors=bool(rng.integers(0, 2)))
            bad = _WORDS.get(defect, set())
        elif kind == "junk":
            item = _JUNK[int(rng.integers(0, len(_JUNK)))]
            bad = {f"got {type(item).__name__}"}
        items.append(item)
        if bad and first_bad is None:
            first_bad, words = index, bad
    return items, first_bad, words


def _mean(flags: list[bool]) -> float:
    return float(np.mean(flags))


def _unique(smiles: list[str]) -> float:
    return len(set(smiles)) / len(smiles) if smiles else float("nan")


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


def _check_molecules_case(seed: int, protocol: str) -> None:
    items, first_bad, words = _molecule_items(seed)
    case = f"evaluate_molecules(seed={seed}, protocol={protocol}): {[type(i).__name__ for i in items]}"
    out, err = _run(lambda: evaluate_molecules(items, train=None, test=None, protocol=protocol, vocab=QM9,
                                               progress=False))
    if first_bad is not None:
        expect_error(err, words, case, prefix=f"generated[{first_bad}]: ")
        if any(word.startswith("got ") for word in words):
            assert isinstance(err, TypeError), f"{case}: an item of another type must stay a TypeError"
        return
    assert err is None, f"error for a valid case {case}: {err}"
    result, messages = out
    missing = sum(item is None for item in items)
    with rdBase.BlockLogs():
        unparsable = sum(isinstance(i, str) and Chem.MolFromSmiles(i, sanitize=False) is None for i in items)
        if protocol == "gdss":
            reference = [_reference_gdss(item) for item in items]
            expected = {"validity": _mean([r[0] for r in reference]),
                        "validity_wo_correction": _mean([r[2] for r in reference]),
                        "connected": _mean([r[0] and r[3] for r in reference])}
        else:
            reference = [_reference_sanitized(item, keep_largest=protocol == "digress") for item in items]
            key = "validity" if protocol == "digress" else "valid"
            expected = {key: _mean([r[0] for r in reference])}
            if protocol == "digress":
                expected["connected"] = _mean([r[0] and r[2] for r in reference])
    if protocol != "moses":
        expected["uniqueness"] = _unique([r[1] for r in reference if r[1] is not None])
    expected.update(num_generated=len(items), num_missing=missing, num_unparsable=unparsable,
                    num_valid=sum(r[1] is not None for r in reference))
    wrong = {k: (result.get(k), v) for k, v in expected.items() if not _same(result.get(k, float("-inf")), v)}
    assert not wrong, f"silent wrong result for {case}: (got, expected) {wrong}"
    if missing or unparsable:
        assert any(f"{missing} of {len(items)} generated items are None" in m for m in messages), case


_PROTOCOL = st.sampled_from(("gdss", "gdss", "digress", "moses"))


@_settings(CI_EXAMPLES)
@given(_SEED, _PROTOCOL)
def test_evaluate_molecules(seed: int, protocol: str) -> None:
    _check_molecules_case(seed, protocol)


# ---------------------------------------------------------------------------------------------- graphs: drawing
_GRAPH_KINDS = (nx.Graph, nx.Graph, nx.MultiGraph, nx.DiGraph, nx.MultiDiGraph, Data, Data)
_DATA_DEFECTS = {"float": "integer node ids", "out_of_range": "refers to a node outside",
                 "negative": "refers to a node outside", "shape": "shape [2, E]"}


def _graph_input(rng: random.Random, allow_defects: bool) -> tuple[object, nx.Graph | None, str | None]:
    """(graph as given to the evaluator, the simple graph it stands for (None if malformed), words of its defect)."""
    if allow_defects and rng.random() < 0.02:
        return "not a graph", None, "got str"
    n = 0 if rng.random() < 0.05 else rng.randrange(1, 8)
    pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randrange(13))] if n else []
    simple = nx.Graph()
    simple.add_nodes_from(range(n))
    simple.add_edges_from((u, v) for u, v in pairs if u != v)
    kind = rng.choice(_GRAPH_KINDS)
    if kind is not Data:
        g = kind()
        g.add_nodes_from(range(n))
        g.add_edges_from(pairs)
        return g, simple, None
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T
    defect = rng.choice(sorted(_DATA_DEFECTS)) if allow_defects and rng.random() < 0.1 else None
    if defect == "float":
        edge_index = edge_index.double()
        if not pairs:
            edge_index = torch.zeros(2, 1, dtype=torch.float64)
    elif defect in ("out_of_range", "negative"):
        edge_index = torch.cat([edge_index, torch.tensor([[0], [n + rng.randrange(3) if defect == "out_of_range"
                                                                else -1 - rng.randrange(3)]])], dim=1)
    elif defect == "shape":
        edge_index = edge_index.reshape(-1)
    return Data(edge_index=edge_index, num_nodes=n), (None if defect else simple), _DATA_DEFECTS.get(defect)


def _graph_list(rng: random.Random, allow_defects: bool) -> tuple[list, list[nx.Graph | None], list[str | None]]:
    inputs, simples, defects = [], [], []
    for _ in range(rng.randrange(1, 5)):
        g, simple, defect = _graph_input(rng, allow_defects)
        inputs.append(g)
        simples.append(simple)
        defects.append(defect)
    return inputs, simples, defects


def _first_problem(simples: list, defects: list, empty_allowed: bool) -> tuple[int, str] | None:
    """(index, words) of the first graph the evaluator must refuse, or None."""
    for index, (simple, defect) in enumerate(zip(simples, defects)):
        if defect is not None:
            return index, defect
        if not empty_allowed and simple.number_of_nodes() == 0:
            return index, "has 0 nodes"
    return None


# ------------------------------------------------------------------------------------------------- MMD: oracle
def _kernel(kernel: str, a: np.ndarray, b: np.ndarray, sigma: float, distance_scaling: float = 1.0) -> float:
    """One kernel value from its formula (module docstring of graphgen.evaluate.mmd)."""
    if kernel == "gaussian_emd":
        d = float(np.abs(np.cumsum(a) - np.cumsum(b)).sum()) / distance_scaling
    elif kernel == "gaussian_tv":
        d = float(np.abs(a - b).sum()) / 2.0
    else:
        d = math.sqrt(float(((a - b) ** 2).sum()))
    return math.exp(-d * d / (2.0 * sigma * sigma))


def _oracle_mmd(xs: list[np.ndarray], ys: list[np.ndarray], kernel: str, is_hist: bool, **kwargs: float) -> float:
    """Biased MMD² from Python loops over explicit kernel values."""
    length = max(len(v) for v in xs + ys)
    pad = [np.concatenate([v, np.zeros(length - len(v))]) for v in xs + ys]
    if is_hist:
        pad = [v / v.sum() for v in pad]
    px, py = pad[:len(xs)], pad[len(xs):]

    def mean_k(p, q):
        return sum(_kernel(kernel, a, b, **kwargs) for a in p for b in q) / (len(p) * len(q))

    return mean_k(px, px) + mean_k(py, py) - 2.0 * mean_k(px, py)


_STATS = (("degree", "gdss"), ("clustering", "gdss"), ("orbit", "gdss"), ("degree", "spectre"),
          ("clustering", "spectre"), ("orbit", "spectre"), ("spectral", "spectre"))


def _relabelled(graph, rng: random.Random):
    """The same graph with its nodes in another order (what the adjacency matrices follow) and, for a Data, other
    node ids."""
    if isinstance(graph, nx.Graph):
        nodes = list(graph.nodes)
        rng.shuffle(nodes)
        out = type(graph)()
        out.add_nodes_from(nodes)
        out.add_edges_from(graph.edges)
        return out
    ids = list(range(int(graph.num_nodes)))  # only well-formed graphs get here
    rng.shuffle(ids)
    return Data(edge_index=torch.tensor(ids, dtype=torch.long)[graph.edge_index], num_nodes=len(ids))


def _check_graph_mmd_case(seed: int, stat: str, protocol: str) -> None:
    rng = random.Random(seed)
    gx, sx, dx = _graph_list(rng, allow_defects=True)
    gy, sy, dy = _graph_list(rng, allow_defects=True)
    case = f"graph_mmd(seed={seed}, {stat}, {protocol})"
    out, err = _run(lambda: graph_mmd(gx, gy, stat, protocol))
    problem_x, problem_y = _first_problem(sx, dx, False), _first_problem(sy, dy, False)
    if problem_x or problem_y:
        name, (index, words) = ("graphs_x", problem_x) if problem_x else ("graphs_y", problem_y)
        expect_error(err, {words}, case, prefix=f"{name}[{index}]")
        return
    assert err is None, f"error for a valid case {case}: {err}"
    value, messages = out
    spec = protocol_spec(protocol)[stat]
    expected = _oracle_mmd([spec.statistic(g) for g in sx], [spec.statistic(g) for g in sy], spec.kernel,
                           spec.is_hist, **spec.kernel_kwargs)
    assert math.isfinite(value) and abs(value - expected) <= 1e-9, f"silent wrong result for {case}: {value}, " \
        f"expected {expected}"
    if spec.kernel in POSITIVE_DEFINITE_KERNELS:
        assert value >= 0.0, f"{case}: negative MMD² {value} with a positive-definite kernel"
    elif value < 0.0:
        assert any("not positive definite" in m for m in messages), f"{case}: negative MMD² {value} without a warning"
    # invariants: MMD(x, x) = 0, symmetry, order of the lists and numbering of the nodes
    assert graph_mmd(gx, gx, stat, protocol) == 0.0, f"{case}: MMD(x, x) != 0"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        swapped = graph_mmd(gy, gx, stat, protocol)
        shuffled_x = [_relabelled(g, rng) for g in gx]
        rng.shuffle(shuffled_x)
        reordered = graph_mmd(shuffled_x, gy[::-1], stat, protocol)
    assert abs(swapped - value) <= 1e-12, f"{case}: not symmetric: {value} vs {swapped}"
    assert abs(reordered - value) <= 1e-12, f"{case}: depends on the order of graphs or nodes: {value} vs {reordered}"


@_settings(CI_EXAMPLES)
@given(_SEED, st.sampled_from(_STATS))
def test_graph_mmd(seed: int, stat_protocol: tuple[str, str]) -> None:
    _check_graph_mmd_case(seed, *stat_protocol)


def _check_evaluate_graphs_case(seed: int, protocol: str) -> None:
    rng = random.Random(seed)
    gen, sgen, dgen = _graph_list(rng, allow_defects=True)
    ref, sref, dref = _graph_list(rng, allow_defects=True)
    train, strain, dtrain = _graph_list(rng, allow_defects=False) if rng.random() < 0.3 else (None, [], [])
    validity = rng.choice((None, None, "tree", "planar"))
    case = f"evaluate_graphs(seed={seed}, {protocol}, train={train is not None}, validity={validity})"
    out, err = _run(lambda: evaluate_graphs(gen, ref, protocol, train=train, validity=validity, num_workers=0,
                                            progress=False))
    # what must be refused, in the order the lists are read: generated, reference, "all empty", train
    problems = [("generated", _first_problem(sgen, dgen, True)), ("reference", _first_problem(sref, dref, False))]
    problems = [(name, found) for name, found in problems if found]
    if problems:
        name, (index, words) = problems[0]
        expect_error(err, {words}, case, prefix=f"{name}[{index}]")
        return
    nonempty = [g for g, s in zip(gen, sgen) if s.number_of_nodes() > 0]
    if not nonempty:
        expect_error(err, {"nothing to score"}, case, prefix="every generated graph has 0 nodes")
        return
    train_problem = _first_problem(strain, dtrain, False)
    if train_problem:
        expect_error(err, {train_problem[1]}, case, prefix=f"train[{train_problem[0]}]")
        return
    assert err is None, f"error for a valid case {case}: {err}"
    scores, _ = out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for stat in protocol_spec(protocol):
            expected = graph_mmd(nonempty, ref, stat, protocol)
            assert scores[stat] == expected, f"silent wrong result for {case}: {stat} {scores[stat]} vs {expected}"
            if train is not None:
                base = graph_mmd(train, ref, stat, protocol)
                assert scores[f"{stat}_ref"] == base, f"{case}: {stat}_ref"
                if base > 0:
                    assert scores[f"{stat}_ratio"] == pytest.approx(expected / base), f"{case}: {stat}_ratio"
    counts = (scores["num_generated"], scores["num_reference"], scores["num_empty_generated"])
    assert counts == (len(gen), len(ref), len(gen) - len(nonempty)), f"{case}: counts {counts}"
    if validity == "tree":
        assert scores["valid"] == pytest.approx(np.mean([s.number_of_nodes() > 0 and nx.is_tree(s) for s in sgen]))
    if "unique" in scores:
        assert 1 / len(gen) <= scores["unique"] <= 1.0, f"{case}: unique {scores['unique']}"


@_settings(CI_EXAMPLES)
@given(_SEED, st.sampled_from(("gdss", "spectre")))
def test_evaluate_graphs(seed: int, protocol: str) -> None:
    _check_evaluate_graphs_case(seed, protocol)


# -------------------------------------------------------------------------------------------------------- mmd2
_MMD2_DEFECTS = ("none",) * 8 + ("nan", "inf", "empty", "zero_row", "unknown_kernel")
_MMD2_WORDS = {"nan": "NaN or infinite", "inf": "NaN or infinite", "empty": "non-empty samples",
               "zero_row": "sums to 0", "unknown_kernel": "kernel must be one of"}


@_settings(CI_EXAMPLES)
@given(_SEED, st.sampled_from(sorted(KERNELS)), st.booleans(), st.sampled_from(_MMD2_DEFECTS))
def test_mmd2(seed: int, kernel: str, is_hist: bool, defect: str) -> None:
    rng = np.random.default_rng(seed)
    xs = [rng.integers(0, 4, int(rng.integers(1, 6))).astype(float) + 0.25 for _ in range(int(rng.integers(1, 5)))]
    ys = [rng.integers(0, 4, int(rng.integers(1, 6))).astype(float) + 0.25 for _ in range(int(rng.integers(1, 5)))]
    sigma = float(rng.choice([0.1, 0.5, 1.0, 30.0]))
    if defect in ("nan", "inf"):
        ys[-1][0] = np.nan if defect == "nan" else np.inf
    elif defect == "empty":
        xs = []
    elif defect == "zero_row":
        ys[0] = np.zeros(3)
        is_hist = True
    name = "nonsense" if defect == "unknown_kernel" else kernel
    case = f"mmd2(seed={seed}, {name}, is_hist={is_hist}, defect={defect})"
    out, err = _run(lambda: mmd2(xs, ys, name, is_hist=is_hist, sigma=sigma))
    if defect != "none":
        expect_error(err, {_MMD2_WORDS[defect]}, case, )
        return
    assert err is None, f"error for a valid case {case}: {err}"
    value, messages = out
    expected = _oracle_mmd(xs, ys, kernel, is_hist, sigma=sigma)
    assert abs(value - expected) <= 1e-12, f"silent wrong result for {case}: {value}, expected {expected}"
    if kernel in POSITIVE_DEFINITE_KERNELS:
        assert value >= 0.0, f"{case}: negative MMD² {value} with a positive-definite kernel"
    assert mmd2(xs, xs, kernel, is_hist=is_hist, sigma=sigma) == 0.0, f"{case}: MMD(x, x) != 0"
    order = rng.permutation(len(ys))
    assert abs(mmd2(xs, [ys[i] for i in order], kernel, is_hist=is_hist, sigma=sigma) - value) <= 1e-12, case


# ------------------------------------------------------------------------------------------- slow, larger variants
@pytest.mark.slow
@_settings(SLOW_EXAMPLES)
@given(_SEED, _PROTOCOL)
def test_evaluate_molecules_slow(seed: int, protocol: str) -> None:
    _check_molecules_case(seed, protocol)


@pytest.mark.slow
@_settings(SLOW_EXAMPLES)
@given(_SEED, st.sampled_from(_STATS))
def test_graph_mmd_slow(seed: int, stat_protocol: tuple[str, str]) -> None:
    _check_graph_mmd_case(seed, *stat_protocol)


@pytest.mark.slow
@_settings(SLOW_EXAMPLES)
@given(_SEED, st.sampled_from(("gdss", "spectre")))
def test_evaluate_graphs_slow(seed: int, protocol: str) -> None:
    _check_evaluate_graphs_case(seed, protocol)
