"""User data files: SMILES / CSV molecules, graph JSON / edge-list graphs, skip report, vocabulary, split.json."""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
import torch

from graphgen.data.datasets import user
from graphgen.data.datasets.user import UserDataset, draw_split, load_user_dataset
from graphgen.data.molecules import VOCABS, MoleculeVocab, resolve_vocab, smiles_to_data
from graphgen.data.registry import load_dataset

SMILES = ["CCO", "c1ccccc1", "CC(=O)[O-]", "C[NH3+]", "ClCCBr", "N#CC#N", "OCC(O)CO", "C1CC1", "CCN(C)C", "FC(F)F"]


def _assert_same_graph(a, b) -> None:
    assert a.num_nodes == b.num_nodes
    for key in ("x", "charge", "num_hs", "edge_index", "edge_attr"):
        if key in b:
            assert torch.equal(a[key], b[key]), key


def _smi(tmp_path: Path, lines: list[str], name: str = "mols.smi") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------------------------------------- molecules
def test_smiles_file_bad_rows_are_counted_with_line_numbers(tmp_path, capsys):
    path = _smi(tmp_path, ["SMILES Name", "CCO ethanol", "C1CC not-closed", "", "c1ccccc1 benzene", "*CC",
                           "CC(=O)[O-]"])
    ds = load_dataset(path, "all")
    assert isinstance(ds, UserDataset)
    assert ds.smiles == ["CCO", "c1ccccc1", "CC(=O)[O-]"]  # the name column is ignored, the header is not a record
    assert ds.rows.tolist() == [0, 3, 5]  # record indices: lines after the header
    rep = ds.report
    assert (rep.records, rep.used, rep.num_skipped) == (6, 3, 3)
    assert rep.skipped["unparsable"]["count"] == 1 and rep.skipped["unparsable"]["first"][0].startswith("line 3:")
    assert rep.skipped["empty"]["first"] == ["line 4: no SMILES"]
    unsupported = rep.skipped["unsupported"]["first"][0]
    assert unsupported.startswith("line 6:") and "'*'" in unsupported
    printed = capsys.readouterr().err
    assert "read 6 records, used 3, skipped 3" in printed and "line 3" in printed
    load_dataset(path, "train")  # other splits reuse the parsed file: the report is printed once
    assert "read 6 records" not in capsys.readouterr().err


def test_max_nodes_skips_large_molecules(tmp_path):
    path = _smi(tmp_path, ["CCO", "CCCCCCCCCC", "CC"])
    ds = load_user_dataset(path, "all", max_nodes=5, quiet=True)
    assert ds.smiles == ["CCO", "CC"]
    assert ds.report.skipped["too_large"] == {"count": 1, "first": ["line 2: 'CCCCCCCCCC' has 10 atoms > max_nodes=5"]}


def test_graphs_match_the_package_converter(tmp_path):
    path = _smi(tmp_path, SMILES)
    ds = load_user_dataset(path, "all", quiet=True)
    assert len(ds) == len(SMILES)
    for i, smi in enumerate(SMILES):
        _assert_same_graph(ds[i], smiles_to_data(smi, ds.vocab))


def test_vocabulary_is_built_from_the_data(tmp_path):
    path = _smi(tmp_path, ["ClCCBr", "CC(=O)[O-]", "C[NH3+]", "CS"])
    vocab = load_user_dataset(path, "all", quiet=True).vocab
    assert vocab.atoms == ("C", "N", "O", "S", "Cl", "Br")  # exactly the elements present, by atomic number
    assert vocab.charges == (-1, 0, 1)
    assert vocab.bonds == ("SINGLE", "DOUBLE", "TRIPLE")
    assert vocab.name == "mols.smi"
    only_carbon = load_user_dataset(_smi(tmp_path, ["CC", "C=C"], "c.smi"), "all", quiet=True).vocab
    assert only_carbon.atoms == ("C",) and only_carbon.charges == (0,)
    aromatic = load_user_dataset(_smi(tmp_path, ["c1ccccc1"], "ar.smi"), "all", kekulize=False, quiet=True)
    assert aromatic.vocab.bonds[-1] == "AROMATIC" and aromatic[0].edge_attr.tolist() == [3] * 12


def test_csv_smiles_column_any_case_and_gzip(tmp_path):
    path = tmp_path / "mols.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("id,Smiles,activity\n0,CCO,1.5\n1,not_a_smiles,2\n2\n3,C#N,0\n")
    ds = load_dataset(path, "all", quiet=True)
    assert ds.smiles == ["CCO", "C#N"]
    assert ds.report.skipped["unparsable"]["first"][0].startswith("line 3:")
    assert ds.report.skipped["malformed_row"]["first"][0].startswith("line 4:")


def test_csv_without_smiles_column_names_the_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,structure\n0,CCO\n")
    with pytest.raises(ValueError, match=r"bad.csv: no column named 'smiles'.*\['id', 'structure'\]"):
        load_dataset(path)


def test_csv_split_column_is_used(tmp_path):
    path = tmp_path / "split.csv"
    path.write_text("smiles,split\nCCO,train\nCC,train\nCCC,test\nxx,test\nCCN,val\n")
    test = load_dataset(path, "test", quiet=True)
    assert test.smiles == ["CCC"] and test.splits == {"train": [0, 1], "test": [2], "val": [4]}
    assert test.split_origin == "stored in the 'split' column" and test.seed is None
    assert any("'test'" in note for note in test.report.notes)  # the unparsable test row is reported


# ------------------------------------------------------------------------------------------------------- vocabulary
def test_vocab_round_trip_and_resolver():
    vocab = MoleculeVocab("mine", ("C", "N", "Cl"), charges=(-1, 0))
    d = vocab.to_dict()
    assert d == {"name": "mine", "atoms": ["C", "N", "Cl"], "bonds": ["SINGLE", "DOUBLE", "TRIPLE"], "charges": [-1, 0]}
    assert MoleculeVocab.from_dict(json.loads(json.dumps(d))) == vocab
    assert resolve_vocab(d) == vocab and resolve_vocab(vocab) is vocab
    assert resolve_vocab("qm9") is VOCABS["qm9"]
    assert resolve_vocab("zinc250k_aromatic") == VOCABS["zinc250k"].with_aromatic()
    assert resolve_vocab(VOCABS["moses"].to_dict()) == VOCABS["moses"]
    with pytest.raises(ValueError, match="unknown molecule vocabulary 'qm10'; known: qm9, zinc250k, moses"):
        resolve_vocab("qm10")
    with pytest.raises(ValueError, match=r"unknown MoleculeVocab key\(s\) \['colour'\]"):
        resolve_vocab({**d, "colour": "red"})
    with pytest.raises(ValueError, match="not an element symbol"):
        resolve_vocab({**d, "atoms": ["C", "Xx"]})
    with pytest.raises(TypeError):
        resolve_vocab(None)


def test_generator_config_keeps_a_data_built_vocab(tmp_path):
    from graphgen.generate.pard.model import PARDConfig
    from graphgen.generate.sde.model import ScoreSDEConfig, ScoreSDEGenerator

    vocab = load_user_dataset(_smi(tmp_path, ["ClCCBr", "CCO"]), "all", quiet=True).vocab
    model = ScoreSDEGenerator(ScoreSDEConfig(kind="molecule", vocab=vocab.to_dict(), max_nodes=4,
                                             num_node_features=vocab.num_atom_types))
    model.save_pretrained(tmp_path / "model")
    loaded = ScoreSDEGenerator.from_pretrained(tmp_path / "model")
    assert loaded.vocab == vocab
    assert ScoreSDEGenerator(ScoreSDEConfig(kind="molecule", vocab="qm9", max_nodes=9, num_node_features=4)).vocab \
        is VOCABS["qm9"]
    assert resolve_vocab(PARDConfig(vocab=vocab.to_dict()).vocab) == vocab


# ----------------------------------------------------------------------------------------------------------- graphs
GRAPHS = [{"num_nodes": 3, "edges": [[0, 1], [1, 2]]}, {"num_nodes": 4, "edges": [[0, 1], [1, 2], [2, 3], [0, 3]]},
          {"num_nodes": 2, "edges": []}]


def test_graph_json_and_edge_list_give_the_same_graphs(tmp_path):
    (tmp_path / "g.json").write_text(json.dumps({"graphs": GRAPHS}))
    (tmp_path / "bare.json").write_text(json.dumps(GRAPHS))
    (tmp_path / "g.edges").write_text("0 1\n1 2\n\n# a comment\n0 1\n1 2\n2 3\n0 3\n\n# nodes 2\n")
    sets = [load_dataset(tmp_path / name, "all", quiet=True) for name in ("g.json", "bare.json", "g.edges")]
    for ds in sets:
        assert ds.vocab is None and len(ds) == 3
        assert [g.num_nodes for g in ds] == [3, 4, 2]
        assert ds[0].edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]  # both directions, sorted
        assert set(ds[0].keys()) == {"edge_index", "num_nodes"}
    for a, b in zip(sets[0], sets[2]):
        assert torch.equal(a.edge_index, b.edge_index)

    # written back by the evaluator's writer, read again: the same graphs
    from graphgen.evaluate.graphs import write_graphs_json

    write_graphs_json(list(sets[0]), tmp_path / "back.json")
    for a, b in zip(sets[0], load_dataset(tmp_path / "back.json", "all", quiet=True)):
        assert a.num_nodes == b.num_nodes and torch.equal(a.edge_index, b.edge_index)


def test_self_loops_and_duplicate_edges_are_dropped_and_counted(tmp_path):
    (tmp_path / "g.edges").write_text("0 1\n1 0\n1 1\n1 2\n")
    ds = load_dataset(tmp_path / "g.edges", "all", quiet=True)
    assert ds[0].edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert ds.report.dropped_edges == {"duplicate": {"count": 1, "first": ["line 2 (graph 0): 1 0"]},
                                       "self_loop": {"count": 1, "first": ["line 3 (graph 0): 1 1"]}}


def test_out_of_range_edge_is_an_error_naming_graph_and_field(tmp_path):
    bad = [GRAPHS[0], {"num_nodes": 3, "edges": [[0, 1], [1, 5]]}]
    (tmp_path / "bad.json").write_text(json.dumps({"graphs": bad}))
    with pytest.raises(ValueError, match=r"bad.json: graph 1: edges\[1\] = \[1, 5\] refers to a node outside 0..2"):
        load_dataset(tmp_path / "bad.json", "all")
    (tmp_path / "bad.edges").write_text("0 1\n\n# nodes 3\n0 1\n2 3\n")
    with pytest.raises(ValueError, match=r"bad.edges: line 5 \(graph 1\): edge 2 3 refers to a node outside 0..2"):
        load_dataset(tmp_path / "bad.edges", "all")
    (tmp_path / "float.json").write_text(json.dumps([{"num_nodes": 3, "edges": [[0, 1.5]]}]))
    with pytest.raises(ValueError, match=r"float.json: graph 0: edges\[0\] = \[0, 1.5\] is not a pair"):
        load_dataset(tmp_path / "float.json", "all")
    (tmp_path / "nokey.json").write_text(json.dumps([{"n": 3, "edges": []}]))
    with pytest.raises(ValueError, match=r"nokey.json: graph 0: missing field\(s\) \['num_nodes'\]"):
        load_dataset(tmp_path / "nokey.json", "all")
    (tmp_path / "words.edges").write_text("0 1\n1 two\n")
    with pytest.raises(ValueError, match=r"words.edges: line 2: expected 'u v'"):
        load_dataset(tmp_path / "words.edges", "all")


def test_truncated_json_names_the_file(tmp_path):
    text = json.dumps({"graphs": GRAPHS})
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"cut.json: not valid JSON"):
        load_dataset(tmp_path / "cut.json")


def test_stored_splits_of_a_graph_json_are_used(tmp_path):
    doc = {"graphs": GRAPHS + [{"num_nodes": 0, "edges": []}], "splits": {"train": [0, 3], "test": [2], "val": [1]}}
    (tmp_path / "s.json").write_text(json.dumps(doc))
    train = load_dataset(tmp_path / "s.json", "train", quiet=True)
    assert train.rows.tolist() == [0] and train.report.skipped["empty"]["count"] == 1
    assert load_dataset(tmp_path / "s.json", "val", quiet=True).rows.tolist() == [1]
    doc["splits"]["test"] = [0]
    (tmp_path / "twice.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"twice.json: graph 0 is listed twice in 'splits'"):
        load_dataset(tmp_path / "twice.json")


# ------------------------------------------------------------------------------------------------------------ split
def test_split_is_deterministic_by_seed(tmp_path):
    records = list(range(50))
    a, b = draw_split(records, 0), draw_split(records, 0)
    assert a == b
    assert {k: len(v) for k, v in a.items()} == {"train": 40, "val": 5, "test": 5}
    assert sorted(a["train"] + a["val"] + a["test"]) == records
    assert draw_split(records, 1) != a
    # pinned: the rule hashes (seed, record) with blake2b, so the split must never change across versions
    assert draw_split(range(10), 0) == {"train": [0, 1, 2, 4, 5, 6, 8, 9], "val": [3], "test": [7]}
    with pytest.raises(ValueError, match="sum to 1"):
        draw_split(records, 0, {"train": 0.9, "test": 0.2})
    assert draw_split(range(4), 0, {"train": 0.9, "test": 0.1})["test"] != []  # at least one test record

    # the same file read twice from scratch (cache cleared) gives the same split; another seed another one
    path = _smi(tmp_path, SMILES * 3)
    first = load_user_dataset(path, "test", seed=3, quiet=True).splits
    user._read_file.cache_clear()
    assert load_user_dataset(path, "test", seed=3, quiet=True).splits == first
    assert load_user_dataset(path, "test", seed=4, quiet=True).splits != first


def test_split_json_content_and_reuse(tmp_path):
    path = _smi(tmp_path, SMILES + ["C1CC"])
    train = load_user_dataset(path, "train", seed=7, quiet=True)
    written = train.write_split(tmp_path / "run")
    assert written == tmp_path / "run" / "split.json"
    info = json.loads(written.read_text())
    assert info["source"] == {"path": str(path.resolve()), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                              "format": "smiles", "kind": "molecules"}
    assert info["seed"] == 7 and info["fractions"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert info["splits"]["train"] == train.rows.tolist()
    assert sorted(sum(info["splits"].values(), [])) == list(range(len(SMILES)))  # the bad line 11 is in none
    assert info["sizes"] == {"train": 8, "val": 1, "test": 1}
    assert info["vocab"] == train.vocab.to_dict()
    assert info["report"]["skipped"]["unparsable"]["first"][0].startswith("line 11:")

    again = load_dataset(path, "test", split_file=written, seed=123)  # the split file wins over the seed
    assert again.rows.tolist() == info["splits"]["test"]
    path.write_text(path.read_text() + "CC\n")
    with pytest.raises(ValueError, match="the data file changed since the split"):
        load_dataset(path, "test", split_file=written, quiet=True)


def test_unknown_split_and_unknown_name(tmp_path):
    path = _smi(tmp_path, SMILES)
    with pytest.raises(ValueError, match=r"has no split 'valid'; choose one of \['train', 'val', 'test', 'all'\]"):
        load_dataset(path, "valid", quiet=True)
    with pytest.raises(KeyError, match=r"unknown dataset 'nope'.*qm9.*\.smi.*\.csv.*\.json.*\.edges"):
        load_dataset("nope")
    with pytest.raises(KeyError, match=r"missing.smi': a data file \(by its ending\), but there is no such file"):
        load_dataset(str(tmp_path / "missing.smi"))
    (tmp_path / "mols.sdf").write_text("x")
    with pytest.raises(ValueError, match=r"mols.sdf: cannot tell the format.*\.smi"):
        load_dataset(tmp_path / "mols.sdf")


def test_dataset_views_and_loader(tmp_path):
    from torch_geometric.loader import DataLoader

    ds = load_dataset(_smi(tmp_path, SMILES), "train", quiet=True)
    view = ds[2:5]
    assert len(view) == 3 and view.smiles == ds.smiles[2:5]
    _assert_same_graph(view[0], ds[2])
    _assert_same_graph(ds[[4]][0], ds[4])
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch.num_graphs == 4 and batch.x.dtype == torch.long and batch.edge_attr.dim() == 1


# ------------------------------------------------------------------------------------------------- evaluate command
def test_evaluate_graphs_against_a_user_file(tmp_path, capsys):
    from graphgen.cli import main

    rings = [{"num_nodes": n, "edges": [[i, (i + 1) % n] for i in range(n)]} for n in range(4, 24)]
    (tmp_path / "rings.json").write_text(json.dumps({"graphs": rings}))
    (tmp_path / "gen.json").write_text(json.dumps({"graphs": rings[:5]}))
    out = tmp_path / "scores.json"
    code = main(["evaluate", "graphs", str(tmp_path / "gen.json"), "--dataset", str(tmp_path / "rings.json"),
                 "--split-seed", "1", "--workers", "0", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "16 train / 2 test graphs, split drawn by seed 1" in printed
    assert "degree" in json.loads(out.read_text())


def test_evaluate_molecules_against_a_user_file(tmp_path, capsys, shared_data):
    import csv

    from graphgen.cli import main
    from graphgen.data.molecules import canonical_smiles

    with gzip.open(shared_data / "molecules/qm9_smiles.csv.gz", "rt") as f:
        rows = [r[2] for _, r in zip(range(61), csv.reader(f))][1:]  # the first 60 QM9 molecules
    path = _smi(tmp_path, rows)
    train = load_dataset(path, "train", seed=5, quiet=True)
    split_file = train.write_split(tmp_path / "run")
    generated = rows[:20] + ["CCCCCCO", "CCCCCCN"]
    (tmp_path / "gen.smi").write_text("\n".join(generated) + "\n")
    out = tmp_path / "scores.json"
    code = main(["evaluate", "molecules", str(tmp_path / "gen.smi"), "--dataset", str(path), "--split-file",
                 str(split_file), "--json", str(out)])
    assert code == 0
    assert f"48 train / 6 test graphs, split read from {split_file}" in capsys.readouterr().out
    seen = {canonical_smiles(s) for s in train.smiles}
    expected = sum(canonical_smiles(s) not in seen for s in generated) / len(generated)
    scores = json.loads(out.read_text())
    assert scores["novelty"] == pytest.approx(expected) and 0 < expected < 1
    assert "fcd" in scores and "nspdk_mmd" in scores


def test_file_options_with_a_registered_name():
    with pytest.raises(TypeError, match=r"\['max_nodes'\] apply to user files, not to the registered dataset 'qm9'"):
        load_dataset("qm9", "test", max_nodes=5)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['colour'\]"):
        load_dataset("qm9", "test", colour="red")
