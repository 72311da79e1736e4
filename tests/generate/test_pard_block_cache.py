"""Issue 23: ``graphgen train pard`` start-up. The block decomposition and the values measured from it are computed
once per dataset cache (:func:`cached_block_table`), equal the per-graph computation, are rebuilt when stale or
damaged, and give the same model config, noise marginals and training graphs as the per-graph code; a start-up that
uses the whole ``--minutes`` budget ends in one line."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graphgen.data.datasets.base import CorruptCacheError, verify_cache
from graphgen.data.molecules import VOCABS, smiles_to_data
from graphgen.generate.pard import blocks as pard_blocks
from graphgen.generate.pard import train as pard_train
from graphgen.generate.pard.blocks import block_decomposition, block_degrees, block_sizes
from graphgen.generate.pard.model import PARDConfig, PARDGenerator, prepare_graph
from graphgen.train.config import ConfigError
from tests.generate.test_pard_train import cycles_and_paths


# ---------------------------------------------------------------------------------------------------- tiny inputs
def rings_paths_and_star() -> list[Data]:
    """Rings and paths of 3..6 nodes, a 5-star and a lone node: blocks of several sizes and degrees."""
    graphs = cycles_and_paths()
    star = torch.tensor([[0, 0, 0, 0, 0], [1, 2, 3, 4, 5]])
    graphs.append(Data(edge_index=torch.cat([star, star.flip(0)], 1), num_nodes=6))
    graphs.append(Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=1))
    return graphs


MOLECULES = ["CCO", "CC(C)=O", "OC1CC1", "CC#N", "c1ccccc1O", "N#CC(=O)N"]


def molecules() -> list[Data]:
    return [smiles_to_data(s, VOCABS["qm9"]) for s in MOLECULES]


def assert_tables_equal(a: pard_train.BlockTable, b: pard_train.BlockTable) -> None:
    for field in ("node_ptr", "block", "max_block_size", "max_block_degree"):
        np.testing.assert_array_equal(np.asarray(getattr(a, field), np.int64), np.asarray(getattr(b, field), np.int64),
                                      err_msg=field)
    assert a.counts == b.counts


# ---------------------------------------------------------------------------------- the table against the reference
@pytest.mark.parametrize("max_hops", [1, 2])
def test_table_matches_the_per_graph_functions(max_hops):
    graphs = rings_paths_and_star()
    table = pard_train.decompose_graphs(graphs, max_hops, progress=False)
    assert len(table) == len(graphs)
    for g, data in enumerate(graphs):
        block = block_decomposition(data.edge_index, data.num_nodes, max_hops=max_hops)
        assert torch.equal(table.block_of(g), block)
        assert table.max_block_size[g] == int(block_sizes(block).max())
        assert table.max_block_degree[g] == int(block_degrees(data.edge_index, block).max())
    # by hand: the 5-star is its centre (a block of 1) then 5 leaves of degree 1; a 6-ring is one block of 6
    assert table.max_block_size.max() == 6 and table.max_block_degree.max() == 2
    n = [int(g.num_nodes) for g in graphs]
    assert table.counts == {"nodes": sum(n), "node_pairs": sum(k * (k - 1) // 2 for k in n),
                            "edges": sum(int(g.edge_index.size(1)) // 2 for g in graphs),
                            "node_labels": None, "edge_labels": None}


def test_resolved_config_matches_the_per_graph_measurement():
    graphs = [prepare_graph(g, 1) for g in rings_paths_and_star()]
    table = pard_train.decompose_graphs(graphs, 1, progress=False)
    cfg = pard_train.resolve_model_config(PARDConfig(), table, None)
    assert cfg.max_block_size == max(int(block_sizes(g.block).max()) for g in graphs) == 6
    assert cfg.max_degree == max(int(block_degrees(g.edge_index, g.block).max()) for g in graphs) == 2
    assert cfg.max_nodes == 6 and (cfg.num_node_types, cfg.num_edge_types, cfg.vocab) == (1, 2, None)
    with pytest.raises(ConfigError, match="model.max_nodes is measured"):
        pard_train.resolve_model_config(PARDConfig(max_nodes=3), table, None)


@pytest.mark.parametrize("kind", ["molecules", "graphs"])
@pytest.mark.parametrize("noise", ["marginal", "uniform"])
def test_marginals_from_counts_equal_set_marginals(kind, noise):
    graphs = molecules() if kind == "molecules" else rings_paths_and_star()
    vocab = VOCABS["qm9"] if kind == "molecules" else None
    table = pard_train.decompose_graphs(graphs, 1, progress=False)
    cfg = pard_train.resolve_model_config(PARDConfig(hidden=16, edge_hidden=8, num_layers=1, heads=2, noise=noise),
                                          table, vocab)
    reference, fast = PARDGenerator(cfg), PARDGenerator(cfg)
    node, edge = reference.set_marginals(graphs)
    pard_train.set_marginals_from_counts(fast, table.counts)
    torch.testing.assert_close(fast.node_diffusion.limit, node, rtol=1e-6, atol=0)
    torch.testing.assert_close(fast.edge_diffusion.limit, edge, rtol=1e-6, atol=0)
    if kind == "molecules" and noise == "marginal":   # by hand: CCO has 2 C and 1 O among its 3 atoms, ...
        atoms = torch.zeros(4)
        for data in graphs:
            atoms += torch.bincount(data.x.view(-1), minlength=4).float()
        torch.testing.assert_close(fast.node_diffusion.limit, atoms / atoms.sum())


def test_marginals_refuse_labels_the_model_cannot_hold():
    table = pard_train.decompose_graphs(molecules(), 1, progress=False)
    model = PARDGenerator(PARDConfig(num_node_types=2, num_edge_types=4, hidden=16, edge_hidden=8, num_layers=1,
                                     heads=2, max_block_size=6, max_degree=4, max_nodes=9))
    with pytest.raises(ValueError, match="node label"):
        pard_train.set_marginals_from_counts(model, table.counts)


def test_blocked_graphs_equal_prepared_graphs_and_leave_the_source_alone():
    graphs = molecules()
    blocked = pard_train.BlockedGraphs(graphs, pard_train.decompose_graphs(graphs, 1, progress=False))
    assert len(blocked) == len(graphs)
    for i, data in enumerate(graphs):
        expected, got = prepare_graph(data, 1), blocked[i]
        assert sorted(got.keys()) == sorted(expected.keys())
        for key in expected.keys():
            value = expected[key]
            assert torch.equal(got[key], value) if isinstance(value, torch.Tensor) else got[key] == value, key
        assert getattr(data, "block", None) is None   # a shallow copy got the block, not the caller's graph
    with pytest.raises(ValueError, match="block table"):
        pard_train.BlockedGraphs(graphs[:2], pard_train.decompose_graphs(graphs, 1, progress=False))


# --------------------------------------------------------------------------------------- the cache beside a dataset
@pytest.fixture
def community(shared_data):
    """community_small's train split, without decompositions left by an earlier test (the cache is per session)."""
    import shutil

    from graphgen.data.registry import load_dataset

    dataset = load_dataset("community_small", "train")
    for folder in dataset.cache_dir.glob(f"{pard_train.BLOCK_CACHE_PREFIX}*"):
        shutil.rmtree(folder)
    return dataset


def _count_decompositions(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = pard_train.decompose_graphs

    def counting(graphs, max_hops, *, progress=True):
        calls.append(max_hops)
        return original(graphs, max_hops, progress=progress)

    monkeypatch.setattr(pard_train, "decompose_graphs", counting)
    return calls


@pytest.mark.parametrize("max_hops", [1, 2])
def test_cached_table_equals_the_computed_one_and_is_reused(community, monkeypatch, max_hops):
    calls = _count_decompositions(monkeypatch)
    folder = pard_train.block_cache_dir(community.cache_dir, max_hops)
    first = pard_train.cached_block_table(community, max_hops, progress=False)
    assert calls == [max_hops] and folder.parent == community.cache_dir
    meta = verify_cache(folder)   # the dataset cache's own check passes: same layout, manifest written last
    assert (meta["max_hops"], meta["split"], meta["num_graphs"]) == (max_hops, "train", len(community))
    verify_cache(community.cache_dir)   # the dataset cache is untouched by the folder inside it
    second = pard_train.cached_block_table(community, max_hops, progress=False)
    assert calls == [max_hops]   # read back, not recomputed
    reference = pard_train.decompose_graphs([community[i] for i in range(len(community))], max_hops, progress=False)
    assert_tables_equal(first, reference)
    assert_tables_equal(second, reference)


def test_a_new_decomposition_version_rebuilds_and_removes_the_old(community, monkeypatch):
    calls = _count_decompositions(monkeypatch)
    old = pard_train.block_cache_dir(community.cache_dir, 1)
    pard_train.cached_block_table(community, 1, progress=False)
    monkeypatch.setattr(pard_blocks, "DECOMPOSITION_VERSION", pard_blocks.DECOMPOSITION_VERSION + 1)
    new = pard_train.block_cache_dir(community.cache_dir, 1)
    assert new != old
    table = pard_train.cached_block_table(community, 1, progress=False)
    assert len(calls) == 2 and new.is_dir() and not old.exists()
    assert verify_cache(new)["decomposition_version"] == pard_blocks.DECOMPOSITION_VERSION
    assert_tables_equal(table, pard_train.decompose_graphs(community, 1, progress=False))


def test_a_damaged_cache_is_rebuilt_with_a_note(community, monkeypatch, capsys):
    calls = _count_decompositions(monkeypatch)
    pard_train.cached_block_table(community, 1, progress=False)
    folder = pard_train.block_cache_dir(community.cache_dir, 1)
    path = folder / "node.block.npy"
    block = np.load(path)
    block[0] += 1   # a wrong block that still has the right size: only the hash can tell
    np.save(path, block)
    table = pard_train.cached_block_table(community, 1, progress=False)
    assert len(calls) == 2 and "recomputing the block decomposition" in capsys.readouterr().out
    assert_tables_equal(table, pard_train.decompose_graphs(community, 1, progress=False))
    verify_cache(folder)   # written again, whole


# ------------------------------------------------------------------------- the flat build against the per-graph list
def _decompose_graphs_as_before(graphs, max_hops: int) -> pard_train.BlockTable:
    """The decomposition as ``decompose_graphs`` computed it before the flat build: one int64 array per graph,
    concatenated at the end (the reference the cache content must not move from)."""
    sizes = np.zeros(len(graphs), dtype=np.int64)
    blocks, max_size, max_degree = [], np.zeros(len(graphs), np.int64), np.zeros(len(graphs), np.int64)
    node_labels = edge_labels = None
    has_x = has_edge_attr = True
    edges = node_pairs = 0
    for g, data in enumerate(graphs):
        n = int(data.num_nodes)
        block = block_decomposition(data.edge_index, n, max_hops=max_hops)
        sizes[g] = n
        blocks.append(block.numpy())
        max_size[g] = int(block_sizes(block).max()) if n else 0
        max_degree[g] = int(block_degrees(data.edge_index, block).max()) if n else 0
        upper = data.edge_index[0] < data.edge_index[1]
        edges += int(upper.sum())
        node_pairs += n * (n - 1) // 2
        has_x = has_x and getattr(data, "x", None) is not None
        has_edge_attr = has_edge_attr and getattr(data, "edge_attr", None) is not None
        if has_x:
            node_labels = pard_train._add_counts(node_labels, data.x)
        if has_edge_attr:
            edge_labels = pard_train._add_counts(edge_labels, data.edge_attr.reshape(-1)[upper])
    counts = {"nodes": int(sizes.sum()), "node_pairs": node_pairs, "edges": edges,
              "node_labels": node_labels.tolist() if has_x and node_labels is not None else None,
              "edge_labels": edge_labels.tolist() if has_edge_attr and edge_labels is not None else None}
    return pard_train.BlockTable(node_ptr=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                                 block=np.concatenate(blocks) if blocks else np.zeros(0, np.int64),
                                 max_block_size=max_size, max_block_degree=max_degree, counts=counts)


def _path(n: int) -> Data:
    e = torch.tensor([list(range(n - 1)), list(range(1, n))])
    return Data(edge_index=torch.cat([e, e.flip(0)], 1), num_nodes=n)


def _assert_same_cache(a: Path, b: Path) -> None:
    """Two cache folders hold the same bytes: every array file, the manifest's entries for them and meta.json but
    its creation time."""
    import json

    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        if name.endswith(".npy"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    meta_a, meta_b = (json.loads((f / "meta.json").read_text()) for f in (a, b))
    assert {**meta_a, "created": None} == {**meta_b, "created": None}
    files_a, files_b = (json.loads((f / "manifest.json").read_text())["files"] for f in (a, b))
    assert {k: v for k, v in files_a.items() if k != "meta.json"} == \
        {k: v for k, v in files_b.items() if k != "meta.json"}


@pytest.mark.parametrize("graphs, max_hops, stored", [
    (rings_paths_and_star, 1, "int8"), (rings_paths_and_star, 2, "int8"), (molecules, 1, "int8"),
    (lambda: [_path(200), _path(3)], 1, "int8"),      # flat array int16 (200 nodes), values fit int8: stored int8
    (lambda: [_path(300), _path(4)], 1, "int16"),     # 150 blocks: int16 both ways
    (lambda: [Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=0)] * 2, 1, "int64"),  # no node
    (lambda: [], 1, "int64"),
])
def test_flat_build_writes_the_bytes_of_the_per_graph_build(tmp_path, graphs, max_hops, stored):
    graphs = graphs()
    new = pard_train.decompose_graphs(graphs, max_hops, progress=False)
    old = _decompose_graphs_as_before(graphs, max_hops)
    assert_tables_equal(new, old)
    about = {"dataset": "toy", "split": "train", "max_hops": max_hops, "decomposition_version": 1}
    for which, table in (("new", new), ("old", old)):
        pard_train.write_block_table(table, tmp_path / which / "pard-blocks-k1-x", about)
    _assert_same_cache(tmp_path / "new" / "pard-blocks-k1-x", tmp_path / "old" / "pard-blocks-k1-x")
    assert np.load(tmp_path / "new" / "pard-blocks-k1-x" / "node.block.npy").dtype == np.dtype(stored)


def test_flat_build_of_a_dataset_cache_writes_the_bytes_of_the_per_graph_build(community, tmp_path):
    """A registered dataset: the node counts come from its cache's node_ptr, and the cache it leaves is the one
    the per-graph build left; read back, the block vector is memory-mapped in its stored dtype."""
    table = pard_train.cached_block_table(community, 1, progress=False)
    folder = pard_train.block_cache_dir(community.cache_dir, 1)
    old = _decompose_graphs_as_before([community[i] for i in range(len(community))], 1)
    assert_tables_equal(table, old)
    about = {k: v for k, v in verify_cache(folder).items()
             if k in ("dataset", "split", "max_hops", "decomposition_version", "build_seconds")}
    pard_train.write_block_table(old, tmp_path / folder.name, about)
    _assert_same_cache(folder, tmp_path / folder.name)
    read = pard_train.cached_block_table(community, 1, progress=False)
    assert isinstance(read.block, np.memmap) and read.block.dtype == np.int8 and not read.block.flags.writeable
    for g in range(len(read)):
        block = read.block_of(g)
        assert block.dtype == torch.long and torch.equal(block, torch.from_numpy(old.block[old.node_ptr[g]:
                                                                                            old.node_ptr[g + 1]]))


def test_a_graph_that_disagrees_with_its_dataset_counts_is_refused(community):
    from graphgen.errors import InputError

    counts = np.array(community.num_nodes_per_graph)
    counts[3] += 1

    class Miscounted:
        """The dataset with a node_ptr that counts one node too many for graph 3."""
        num_nodes_per_graph = counts

        def __len__(self):
            return len(community)

        def __iter__(self):
            return iter(community)

    with pytest.raises(InputError, match="graph 3 has"):
        pard_train.decompose_graphs(Miscounted(), 1, progress=False)


def test_a_cache_of_other_graphs_or_settings_is_refused(community):
    from graphgen.generate.pard.blocks import DECOMPOSITION_VERSION

    table = pard_train.cached_block_table(community, 1, progress=False)
    folder = pard_train.block_cache_dir(community.cache_dir, 1)
    about = {"dataset": community.cache_dir.name, "split": "train", "max_hops": 1,
             "decomposition_version": DECOMPOSITION_VERSION}
    sizes = np.diff(table.node_ptr)
    pard_train.read_block_table(folder, sizes, about)
    other = sizes.copy()
    other[3] += 1
    with pytest.raises(CorruptCacheError, match="made for other graphs"):
        pard_train.read_block_table(folder, other, about)
    with pytest.raises(CorruptCacheError, match="max_hops"):
        pard_train.read_block_table(folder, sizes, {**about, "max_hops": 2})


# --------------------------------------------------------------------------------------------- a budget start-up uses
def test_a_budget_spent_by_start_up_ends_in_one_line(tmp_path, shared_data):
    """``--minutes 0.01`` (0.6 s) is over before the imports are: exit 2, one line, no run folder (PARD uses the
    shared trainer's refusal, tested by hand in tests/train/test_budgets.py)."""
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "graphgen", "train", "pard", "--dataset", "community_small",
                           "--minutes", "0.01", "--threads", "1", "--no-progress", "--out", str(out)],
                          cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no training step fits" in lines[0] and "start-up" in lines[0], proc.stderr
    assert not (out / "log.jsonl").exists()


# ------------------------------------------------------------------------------------------------ one progress switch
def _smiles_file(folder: Path, count: int = 5000) -> Path:
    """``count`` small molecules: enough for the conversion bar of a user file (shown from 5,000 records)."""
    path = folder / "chains.smi"
    path.write_text("".join(f"{'C' * (1 + i % 7)}{'O' * (i % 3)}\n" for i in range(count)))
    return path


@pytest.mark.parametrize("quiet", [False, True])
def test_no_progress_also_silences_the_dataset_conversion_bar(tmp_path, quiet):
    """The conversion of a user file (graphgen.data.datasets.base.convert_all) draws its bar unless the command
    has --no-progress; the control run shows the test can fail."""
    smi = _smiles_file(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    args = [sys.executable, "-m", "graphgen", "train", "pard", "--dataset", str(smi), "--max-steps", "1",
            "--threads", "1", "--out", str(tmp_path / "run"), "--set", "model.hidden=16", "model.edge_hidden=8",
            "model.num_layers=1", "model.heads=2"]
    proc = subprocess.run(args + (["--no-progress"] if quiet else []), cwd=tmp_path,
                          env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    conversion_bar = re.compile(re.escape(smi.name) + r":\s+\d+%\|")   # tqdm's "chains.smi:  40%|████"
    if quiet:
        assert not conversion_bar.search(proc.stderr) and "%|" not in proc.stderr, proc.stderr[-2000:]
    else:
        assert conversion_bar.search(proc.stderr) and "block decomposition" in proc.stderr, proc.stderr[-2000:]


def test_progress_switch_is_scoped_to_the_command(monkeypatch):
    from graphgen.cli import PROGRESS_ENV, progress_switch

    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    with progress_switch(["pard", "--no-progress"]):
        assert os.environ[PROGRESS_ENV] == "1"
    assert PROGRESS_ENV not in os.environ
    with progress_switch(["pard"]):
        assert PROGRESS_ENV not in os.environ
    monkeypatch.setenv(PROGRESS_ENV, "0")
    with progress_switch(["--no-progress"]):
        assert os.environ[PROGRESS_ENV] == "1"
    assert os.environ[PROGRESS_ENV] == "0"
