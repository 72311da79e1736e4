"""``graphgen bench``: argument errors, the table writer, and a tiny real encoder benchmark run."""
from __future__ import annotations

import json

import csv

import pytest

from graphgen.cli import main
from graphgen.train.bench import format_rows


def test_format_rows_aligns_columns():
    text = format_rows(("a", "long header"), [("xyz", "1"), ("q", "22")])
    lines = text.splitlines()
    assert lines[0].startswith("a    long header")
    assert lines[2] == "xyz  1          "
    assert set(lines[1]) == {"-"}


def test_unknown_model_is_named(tmp_path):
    with pytest.raises(SystemExit, match="unknown model"):
        main(["bench", "encoders", "--models", "gps,nonsense", "--out", str(tmp_path)])


def test_generate_rejects_empty_sample():
    with pytest.raises(SystemExit, match="-n must be >= 1"):
        main(["bench", "generate", "--model", "qm9", "-n", "0"])


def test_encoder_bench_runs_and_appends_csv(shared_data, tmp_path, capsys):
    args = ["bench", "encoders", "--dataset", "zinc12k", "--models", "mpnn_vn", "--epochs", "1",
            "--max-train-graphs", "64", "--max-eval-graphs", "32", "--threads", "1", "--out", str(tmp_path),
            "--data-dir", str(shared_data), "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "mpnn_vn" in printed and "best val mae" in printed
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert len(rows) == 1 and rows[0]["model"] == "mpnn_vn" and int(rows[0]["epochs_run"]) == 1
    assert float(rows[0]["best_val_mae"]) > 0


def test_generate_saves_samples_and_rescores_them(tmp_path, monkeypatch):
    # the samples are written before scoring; --reuse-samples scores exactly those without sampling again
    import torch

    import graphgen.evaluate.molecules as molecules
    from graphgen.data.molecules import VOCABS, smiles_to_data
    from graphgen.generate.pard.model import PARDConfig, PARDGenerator

    torch.manual_seed(0)  # test-only: fixes the initial weights
    model = PARDGenerator(PARDConfig(hidden=16, edge_hidden=8, num_layers=1, heads=2, num_steps=3, max_block_size=4,
                                     max_degree=4, max_nodes=6))
    model.set_marginals([smiles_to_data(s, VOCABS["qm9"]) for s in ["CCO", "CC(C)=O", "OC1CC1", "CC#N"]])
    folder = model.save_pretrained(tmp_path / "pard")
    scored = []

    def fake_scores(graphs, **kwargs):  # the real scorer needs the full QM9 references: out of a unit test's budget
        scored.append([g.edge_index.tolist() for g in graphs])
        return {"validity": 1.0}

    monkeypatch.setattr(molecules, "evaluate_molecules", fake_scores)
    out = tmp_path / "scores.json"
    args = ["bench", "generate", "--dataset", "qm9", "--model", str(folder), "-n", "5", "--json", str(out),
            "--no-progress"]
    main(args)
    assert out.with_suffix(".samples.safetensors").exists()
    monkeypatch.setattr(PARDGenerator, "sample", lambda *a, **k: pytest.fail("sampled again"))
    written = json.loads(out.read_text())["scores"]
    assert 0.0 <= written["block_order_agreement"] <= 1.0  # PARD samples carry their generation order
    assert written["network_evaluations_per_graph"] >= 5  # >= 1 block: 3 denoising steps + 2 size predictions
    main(args + ["--reuse-samples"])
    rescored = json.loads(out.read_text())["scores"]
    assert rescored["network_evaluations_per_graph"] == written["network_evaluations_per_graph"]  # saved with them
    assert len(scored) == 2 and scored[0] == scored[1] and len(scored[0]) == 5
    with pytest.raises(SystemExit, match="holds samples of"):
        main(args[:-3] + ["--seed", "1", "--json", str(out), "--no-progress", "--reuse-samples"])
