"""``graphgen data list | info | prepare`` through the real CLI entry point."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from graphgen.cli import main
from graphgen.data import registry
from graphgen.data.datasets.generic import GDSSGraphSpec
from graphgen.data.raw import RawFile


def test_list(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name, spec in registry.DATASETS.items():
        assert name in out and "/".join(spec.splits) in out


def test_prepare_then_info(shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRAPHGEN_CACHE", str(tmp_path / "cache"))
    assert main(["data", "info", "ego_small", "--data-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert "split train: 160 raw rows; not prepared" in out and "ok" in out
    assert main(["data", "prepare", "ego_small", "--data-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert "ego_small/train: 160 graphs" in out and "ego_small/test: 40 graphs" in out and "0 skipped rows" in out
    assert main(["data", "info", "ego_small", "--data-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    spec = registry.DATASETS["ego_small"]
    assert spec.raw["graphs"].sha256 in out and "generic/ego_small.json  ok" in out
    assert "split train: 160 graphs" in out and "split test: 40 graphs" in out
    assert "nodes per graph min/mean/max 4/" in out and "skipped rows: 0" in out
    assert str(tmp_path / "cache" / "ego_small") in out
    assert "vocabulary:" in out


def test_info_reports_skipped_rows_and_bad_raw_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRAPHGEN_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data"
    (root / "generic").mkdir(parents=True)
    path = root / "generic" / "bad.json"
    path.write_text('{"num_graphs": 5, "splits": null, "graphs": [{"num_nodes": 2, "edges": [[0, 1]]}, '
                    '{"num_nodes": 2, "edges": [[0, 1]]}, {"num_nodes": 2, "edges": [[0, 7]]}, '
                    '{"num_nodes": 2, "edges": [[0, 1]]}, {"num_nodes": 2, "edges": []}]}')
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    spec = GDSSGraphSpec(name="bad", raw={"graphs": RawFile("generic/bad.json", sha, "https://example.org/bad")},
                         splits=("train", "test"))
    monkeypatch.setitem(registry.DATASETS, "bad", spec)
    assert main(["data", "prepare", "bad", "--data-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "bad/train: 3 graphs" in out and "1 skipped rows" in out and "warning: bad/train: skipped 1" in out
    main(["data", "info", "bad", "--data-dir", str(root)])
    out = capsys.readouterr().out
    assert "skipped rows: 1" in out and "row 2: ValueError: edge endpoint out of range" in out
    # corrupt the raw file: info shows the mismatch, prepare fails naming the file
    path.write_text(path.read_text().replace("[0, 7]", "[0, 1]"))
    main(["data", "info", "bad", "--data-dir", str(root)])
    assert "MISMATCH" in capsys.readouterr().out
    assert main(["data", "prepare", "bad", "--data-dir", str(root)]) == 2      # a graphgen error: one line, exit 2
    assert re.search(r"^graphgen data: .*checksum mismatch for .*bad.json", capsys.readouterr().err)
    path.unlink()
    main(["data", "info", "bad", "--data-dir", str(root)])
    out = capsys.readouterr().out
    assert "generic/bad.json  missing" in out and "raw split sizes unavailable" in out


def test_list_shows_raw_files_and_whether_present(shared_data, tmp_path, capsys):
    assert main(["data", "list", "--data-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert f"data root: {shared_data.resolve()} (from --data-dir)" in out
    for spec in registry.DATASETS.values():
        for raw in spec.raw.values():
            assert f"    {raw.path}  present" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["data", "list", "--data-dir", str(empty)]) == 0
    out = capsys.readouterr().out
    assert "hetero/aminer/pa.txt  missing" in out and "molecules/qm9_smiles.csv.gz  missing" in out
    assert "present" not in out.replace("'missing' are not there", "")


def test_info_and_prepare_of_single_graph_datasets(shared_data, capsys):
    assert main(["data", "info", "retail_rocket", "--data-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    counts = {"users": 2174, "items": 30113, "view edges": 74657, "cart edges": 11654,
              "view edges of val purchases (held out)": 717, "cart edges of val purchases (held out)": 802,
              "buy edges (training purchases before carving)": 9551, "train purchases (after carving)": 8666,
              "val purchases (carved)": 885, "test purchases": 2174}
    for key, value in counts.items():
        assert re.search(rf"^    {re.escape(key)} +{value}$", out, re.M), key
    assert "train_mat_buy.npz  ok" in out and "not prepared" not in out
    assert main(["data", "prepare", "aminer", "--data-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert "aminer/all: raw files in" in out and re.search(r"^    papers +6564$", out, re.M)
    assert re.search(r"^    train papers \(40 per class\) +160$", out, re.M)
    assert main(["data", "prepare", "aminer", "--split", "train", "--data-dir", str(shared_data)]) == 2
    assert "split must be 'all'" in capsys.readouterr().err


def test_info_single_graph_without_files_says_why(tmp_path, capsys):
    assert main(["data", "info", "aminer", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "hetero/aminer/labels.npy  missing" in out and "counts unavailable: raw file" in out


def test_info_card_is_an_existing_absolute_path_or_absent(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a user's folder: no datasets/ cards there
    for name in ("retail_rocket", "qm9"):
        main(["data", "info", name, "--data-dir", str(tmp_path)])
        cards = [line[len("card: "):] for line in capsys.readouterr().out.splitlines() if line.startswith("card: ")]
        assert all(Path(card).is_absolute() and Path(card).is_file() for card in cards), cards
