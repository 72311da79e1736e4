"""``graphgen bench``: argument errors, the table writer, and a tiny real encoder benchmark run."""
from __future__ import annotations

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
