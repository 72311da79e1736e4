"""evaluate_graphs end to end, graph files, the ``graphgen evaluate graphs`` command, and published train-vs-test rows."""
from __future__ import annotations

import json
import math

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graphgen.evaluate.commands import format_table
from graphgen.evaluate.graphs import evaluate_graphs, read_graph_splits, read_graphs, write_graphs_json


def _graphs(seed: int, count: int = 6) -> list[nx.Graph]:
    rng = np.random.default_rng(seed)
    return [nx.gnp_random_graph(int(rng.integers(8, 14)), 0.3, seed=int(rng.integers(1 << 30))) for _ in range(count)]


def _to_data(g: nx.Graph) -> Data:
    edges = torch.tensor(list(g.edges), dtype=torch.long).reshape(-1, 2).T
    return Data(edge_index=torch.cat([edges, edges.flip(0)], dim=1), num_nodes=g.number_of_nodes())


@pytest.mark.parametrize("protocol", ["gdss", "spectre"])
def test_zero_on_equal_sets_and_symmetric(protocol: str) -> None:
    x, y = _graphs(0), _graphs(1, count=4)
    same = evaluate_graphs(x, x, protocol, progress=False)
    forward = evaluate_graphs(x, y, protocol, progress=False)
    backward = evaluate_graphs(y, x, protocol, progress=False)
    stats = ["degree", "clustering", "orbit"] + (["spectral"] if protocol == "spectre" else [])
    for stat in stats:
        assert same[stat] == pytest.approx(0.0, abs=1e-12)
        assert forward[stat] == pytest.approx(backward[stat], abs=1e-12)
        assert forward[stat] > 0
    assert ("unique" in forward) == (protocol == "spectre")


def test_data_and_networkx_inputs_agree() -> None:
    x, y = _graphs(2), _graphs(3)
    train = _graphs(13, count=4)
    from_nx = evaluate_graphs(x, y, "spectre", train=train, validity="planar", progress=False)
    from_data = evaluate_graphs([_to_data(g) for g in x], [_to_data(g) for g in y], "spectre",
                                train=[_to_data(g) for g in train], validity="planar", progress=False)
    assert from_nx == pytest.approx(from_data)


def test_ratios_and_counts() -> None:
    train, test = _graphs(4, count=8), _graphs(5, count=5)
    scores = evaluate_graphs(train, test, "gdss", train=train, progress=False)
    for stat in ("degree", "clustering", "orbit"):
        assert scores[f"{stat}_ref"] == pytest.approx(scores[stat])
        assert scores[f"{stat}_ratio"] == pytest.approx(1.0)
    assert scores["ratio_mean"] == pytest.approx(1.0)
    assert (scores["num_generated"], scores["num_reference"]) == (8.0, 5.0)


def test_undefined_ratio_is_nan_and_left_out_of_the_mean() -> None:
    grids = [nx.grid_2d_graph(3, 4), nx.grid_2d_graph(4, 4)]  # clustering all zero -> clustering MMD 0
    scores = evaluate_graphs(grids[:1], grids[1:], "gdss", train=grids[:1], progress=False)
    assert scores["clustering"] == 0.0 and math.isnan(scores["clustering_ratio"])
    assert scores["ratio_mean"] == pytest.approx(1.0)


def test_empty_generated_graphs_are_counted_not_scored() -> None:
    x, y = _graphs(6), _graphs(7)
    with_empty = evaluate_graphs(x + [nx.Graph()], y, "spectre", validity="planar", progress=False)
    without = evaluate_graphs(x, y, "spectre", validity="planar", progress=False)
    assert with_empty["num_empty_generated"] == 1.0
    assert with_empty["degree"] == pytest.approx(without["degree"])
    assert with_empty["valid"] == pytest.approx(without["valid"] * len(x) / (len(x) + 1))
    with pytest.raises(ValueError, match="non-empty lists"):
        evaluate_graphs([], y, progress=False)


def test_process_pool_matches_serial() -> None:
    x, y = _graphs(8, count=70), _graphs(9, count=10)
    serial = evaluate_graphs(x, y, "spectre", num_workers=0, progress=False)
    pooled = evaluate_graphs(x, y, "spectre", num_workers=2, progress=False)
    assert serial == pytest.approx(pooled)


def test_graph_files_round_trip(tmp_path) -> None:
    graphs = _graphs(10, count=3) + [nx.empty_graph(3)]
    write_graphs_json(graphs, tmp_path / "g.json")
    back = read_graphs(tmp_path / "g.json")
    assert [(g.number_of_nodes(), sorted(g.edges)) for g in back] == [(g.number_of_nodes(), sorted(g.edges)) for g in graphs]
    text = "# nodes 4\n0 1\n1 2\n\n# a triangle\n0 1\n1 2\n0 2\n"
    (tmp_path / "g.txt").write_text(text)
    g1, g2 = read_graphs(tmp_path / "g.txt")
    assert (g1.number_of_nodes(), g1.number_of_edges()) == (4, 2)  # node 3 isolated, from the header
    assert nx.is_isomorphic(g2, nx.complete_graph(3))
    (tmp_path / "bad.txt").write_text("0 1 2\n")
    with pytest.raises(ValueError, match=r"bad.txt:1"):
        read_graphs(tmp_path / "bad.txt")


def test_cli_graphs(tmp_path, capsys) -> None:
    from graphgen.cli import main

    gen, ref, train = _graphs(11), _graphs(12), _graphs(14)
    write_graphs_json(gen, tmp_path / "gen.json")
    write_graphs_json(ref, tmp_path / "ref.json")
    write_graphs_json(train, tmp_path / "train.json")
    out = tmp_path / "scores.json"
    code = main(["evaluate", "graphs", "--dataset", "planar", str(tmp_path / "gen.json"), "--reference",
                 str(tmp_path / "ref.json"), "--train", str(tmp_path / "train.json"), "--workers", "0",
                 "--json", str(out)])
    assert code == 0
    scores = json.loads(out.read_text())
    expected = evaluate_graphs(gen, ref, "spectre", train=train, validity="planar", progress=False)
    assert scores == pytest.approx(expected)
    assert "degree_ratio" in capsys.readouterr().out


def test_format_table() -> None:
    table = format_table({"degree": 0.0123456789, "num_generated": 10.0, "ratio": float("nan")})
    assert table.splitlines()[2:] == ["degree         0.0123457", "num_generated  10", "ratio          nan"]


# --------------------------------------------------------------------------------------------- real data (shared)

# DiGress (Vignac et al. 2023) Tables, "Training set" rows = train-vs-test MMD² under the SPECTRE protocol.
PUBLISHED_TRAIN_ROWS = {
    "planar_spectre.json": {"degree": 0.0002, "clustering": 0.0310, "orbit": 0.0005, "spectral": 0.0038},
    "sbm_spectre.json.gz": {"degree": 0.0008, "clustering": 0.0332, "orbit": 0.0255, "spectral": 0.0027},
}


@pytest.mark.parametrize("file", sorted(PUBLISHED_TRAIN_ROWS))
def test_spectre_train_rows_match_published(shared_data, file: str) -> None:
    splits = read_graph_splits(shared_data / "generic" / file)
    scores = evaluate_graphs(splits["train"], splits["test"], "spectre", num_workers=0, progress=False)
    for stat, published in PUBLISHED_TRAIN_ROWS[file].items():
        assert round(scores[stat], 4) == pytest.approx(published, abs=1.01e-4), stat
