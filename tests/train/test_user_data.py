"""Training on a user's own file, end to end: a SMILES file (PARD, vocabulary built from the data) and a graph JSON
file (GDSS), then sampling from the run folder and evaluating against the file."""
from __future__ import annotations

import gzip
import json

import pytest

from graphgen.cli import main
from graphgen.generate import load_generator

SMILES = ["CCO", "CCN", "CC(=O)O", "c1ccccc1", "CCOC", "CC(C)O", "OCCO", "NCCN", "CC#N", "C1CCCC1",
          "CCCl", "CC(=O)N", "COC(=O)C", "CCCC", "C=CC", "NC(=O)N", "OC1CCCC1", "CCS", "CSC", "CC(F)F"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_train_pard_on_a_smiles_file_then_sample_and_evaluate(tmp_path, capsys):
    data = tmp_path / "mols.smi"
    data.write_text("".join(s + "\n" for s in SMILES * 3) + "not_a_smiles\n")
    run = tmp_path / "run"
    assert main(["train", "pard", "--dataset", str(data), "--out", str(run), "--max-steps", "6", "--no-progress",
                 "--set", "model.hidden=16", "model.edge_hidden=8", "model.num_layers=1", "model.heads=2",
                 "trainer.batch_size=8"]) == 0
    split = json.loads((run / "split.json").read_text())
    assert sum(len(v) for v in split["splits"].values()) == 60           # 60 usable rows, the bad one reported
    model = load_generator(run / "ema")
    vocab = model.config.vocab
    assert isinstance(vocab, dict) and sorted(vocab["atoms"]) == ["C", "Cl", "F", "N", "O", "S"]
    out = tmp_path / "samples.smi"
    assert main(["sample", str(run / "ema"), "-n", "8", "-o", str(out), "--no-progress"]) == 0
    assert "pass --reference FILE" in capsys.readouterr().out       # a file-trained model names its reference
    assert main(["sample", str(run / "ema"), "-n", "8", "-o", str(out), "--no-progress", "--reference",
                 str(data)]) == 0
    assert "novelty" in capsys.readouterr().out and out.is_file()
    assert main(["evaluate", "molecules", str(out), "--dataset", str(data),
                 "--split-file", str(run / "split.json")]) == 0
    assert "validity" in capsys.readouterr().out.lower()


def test_train_gdss_on_a_graph_file_then_sample(tmp_path):
    graphs = []
    for k in range(4, 10):                        # cycles and paths of 4..9 nodes
        graphs.append({"num_nodes": k, "edges": [[i, i + 1] for i in range(k - 1)] + [[0, k - 1]]})
        graphs.append({"num_nodes": k, "edges": [[i, i + 1] for i in range(k - 1)]})
    data = tmp_path / "graphs.json.gz"
    with gzip.open(data, "wt") as fh:
        json.dump({"graphs": graphs * 2}, fh)
    run = tmp_path / "run"
    assert main(["train", "sde", "--dataset", str(data), "--out", str(run), "--max-steps", "3", "--no-progress",
                 "--set", "model.net_x.depth=1", "model.net_x.hidden=8", "model.net_adj.num_layers=1",
                 "model.net_adj.hidden=8", "model.net_adj.attn=8"]) == 0
    model = load_generator(run / "ema")
    assert model.config.kind == "graph" and model.config.max_nodes == 9 and model.config.num_node_features == 3
    out = tmp_path / "gen.json"
    assert main(["sample", str(run / "ema"), "-n", "4", "-o", str(out), "--steps", "20", "--no-progress"]) == 0
    assert out.is_file()
