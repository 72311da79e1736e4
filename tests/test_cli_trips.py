"""Issue 23: a new user's command-line trips, each through ``graphgen.cli.main``: exit code 2 and a one-line message
naming the file, item or flag (no traceback), outputs checked before any work, run folders never overwritten, one
budget flag name, help texts without markup."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from graphgen.cli import main


def one_line_error(capsys) -> str:
    """The stderr of the last command: exactly one line (the graphgen error), no traceback."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.fixture
def empty_data(tmp_path, monkeypatch) -> Path:
    """An empty GRAPHGEN_DATA and a fresh cache: what a user has right after installing."""
    root = tmp_path / "empty_data"
    root.mkdir()
    monkeypatch.setenv("GRAPHGEN_DATA", str(root))
    monkeypatch.setenv("GRAPHGEN_CACHE", str(tmp_path / "cache"))
    return root


# ------------------------------------------------------------------------------------------------ 1. file formats
def test_sample_unknown_extension_names_file_and_accepted_ones(tmp_path, capsys, empty_data):
    out = tmp_path / "mols.txt"
    assert main(["sample", "qm9", "-n", "1", "-o", str(out), "--no-progress"]) == 2
    line = one_line_error(capsys)
    assert line.startswith("graphgen sample: -o ") and str(out) in line
    assert ".smi" in line and ".sdf" in line and ".json" in line
    assert not out.exists()


def test_sample_format_disagreeing_with_extension_is_refused(tmp_path, capsys, empty_data):
    assert main(["sample", "qm9", "-n", "1", "-o", str(tmp_path / "m.smi"), "--format", "sdf"]) == 2
    assert "--format is sdf" in one_line_error(capsys)


def test_evaluate_molecules_unknown_extension(tmp_path, capsys):
    path = tmp_path / "mols.csvx"
    path.write_text("CCO\n")
    assert main(["evaluate", "molecules", str(path), "--dataset", "qm9"]) == 2
    line = one_line_error(capsys)
    assert str(path) in line and ".smi" in line and ".sdf" in line


def test_evaluate_molecules_missing_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "mols.smi"
    assert main(["evaluate", "molecules", str(path), "--dataset", "qm9"]) == 2
    assert f"{path}: does not exist" in one_line_error(capsys)


def test_sdf_is_read_as_records_not_lines(tmp_path):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from graphgen.evaluate.commands import read_molecules_file

    smiles = ["CCO", "c1ccccc1", "CC(=O)N"]
    path = tmp_path / "mols.sdf"
    writer = Chem.SDWriter(str(path))
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        AllChem.Compute2DCoords(mol)
        writer.write(mol)
    writer.close()
    assert len(path.read_text().splitlines()) > 3 * len(smiles)  # line by line it would be many "molecules"
    molecules, blank = read_molecules_file(path)
    assert blank == 0 and len(molecules) == 3
    assert [Chem.MolToSmiles(m) for m in molecules] == [Chem.CanonSmiles(s) for s in smiles]


def test_sdf_record_rdkit_cannot_read_is_kept_as_invalid(tmp_path):
    from graphgen.evaluate.commands import read_molecules_file

    path = tmp_path / "bad.sdf"
    path.write_text("not a molfile\n\n\n  nonsense\nM  END\n$$$$\n")
    molecules, _ = read_molecules_file(path)
    assert molecules == [None]


def test_readme_quick_tour_samples_and_evaluates_the_same_file():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    lines = [ln.split("#")[0].split() for ln in readme.splitlines()]
    sampled = {w[w.index("-o") + 1] for w in lines if w[:2] == ["graphgen", "sample"] and "-o" in w}
    evaluated = [w[-1] for w in lines if w[:3] == ["graphgen", "evaluate", "molecules"] and "--split-file" not in w]
    assert evaluated and all(f in sampled for f in evaluated)


# ------------------------------------------------------------------------------------- 2. outputs checked first
def test_sample_output_under_a_file_is_refused_before_sampling(tmp_path, capsys, empty_data):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    out = blocker / "sub" / "mols.smi"
    assert main(["sample", "qm9", "-n", "100000", "-o", str(out), "--no-progress"]) == 2  # 100k would take hours
    line = one_line_error(capsys)
    assert str(blocker) in line and "is a file" in line


def test_sample_output_that_is_a_folder_is_refused(tmp_path, capsys, empty_data):
    folder = tmp_path / "out.smi"
    folder.mkdir()
    assert main(["sample", "qm9", "-n", "100000", "-o", str(folder), "--no-progress"]) == 2
    assert "is a folder" in one_line_error(capsys)


def test_evaluate_json_output_checked_before_scoring(tmp_path, capsys):
    gen = tmp_path / "gen.json"
    gen.write_text(json.dumps({"graphs": [{"num_nodes": 2, "edges": [[0, 1]]}]}))
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert main(["evaluate", "graphs", str(gen), "--dataset", "community_small", "--json",
                 str(blocker / "s.json")]) == 2
    assert one_line_error(capsys).startswith("graphgen evaluate: --json ")


# ------------------------------------------------------------------------------------ 3. run folders protected
@pytest.mark.parametrize("extra", [["--init", "qm9"], []], ids=["init", "fresh"])
def test_train_into_non_empty_folder_refuses(tmp_path, capsys, empty_data, extra):
    out = tmp_path / "runs" / "pard_qm9"
    (out / "ema").mkdir(parents=True)
    (out / "ema" / "config.json").write_text("{}")  # another run's saved model
    assert main(["train", "pard", "--dataset", "qm9", "--out", str(out), *extra]) == 2
    line = one_line_error(capsys)
    assert str(out) in line and "--resume" in line and "--overwrite" in line
    assert (out / "ema" / "config.json").read_text() == "{}"


def test_train_out_that_is_a_file_refuses(tmp_path, capsys, empty_data):
    out = tmp_path / "run"
    out.write_text("x")
    assert main(["train", "sde", "--dataset", "community_small", "--out", str(out)]) == 2
    assert f"--out {out}: is a file" in one_line_error(capsys)


def test_overwrite_clears_and_resume_conflicts(tmp_path):
    from graphgen.train.checkpoint import CheckpointError
    from graphgen.train.runs import prepare_run_folder

    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("x")
    with pytest.raises(CheckpointError, match="--resume and --overwrite"):
        prepare_run_folder(out, resume=True, overwrite=True)
    prepare_run_folder(out, resume=False, overwrite=True)
    assert list(out.iterdir()) == []
    prepare_run_folder(tmp_path / "new" / "run", resume=False, overwrite=False)  # a fresh folder is created
    assert (tmp_path / "new" / "run").is_dir()


# -------------------------------------------------------------------------------------------- 4. one budget flag
def _train_parser():
    import argparse

    from graphgen.train.commands import add_arguments

    parser = argparse.ArgumentParser(prog="graphgen train")
    add_arguments(parser)
    return parser


@pytest.mark.parametrize("trainer", ["sde", "pard", "encoder", "hetero"])
@pytest.mark.parametrize("old", ["--time-budget", "--budget-minutes"])
def test_old_budget_names_are_hidden_aliases_of_minutes(trainer, old, capsys):
    parser = _train_parser()
    dataset = ["--dataset", "zinc12k"] if trainer != "encoder" else []
    args = parser.parse_args([trainer, *dataset, old, "0.25"])
    assert args.trainer__minutes == 0.25
    assert f"{old} is deprecated; use --minutes" in capsys.readouterr().err
    assert parser.parse_args([trainer, *dataset, "--minutes", "0.5"]).trainer__minutes == 0.5
    assert capsys.readouterr().err == ""
    with pytest.raises(SystemExit):
        parser.parse_args([trainer, "--help"])
    text = capsys.readouterr().out
    assert "--minutes" in text and old not in text.split("formerly")[0]


def test_bench_encoders_budget_alias(capsys):
    import argparse

    from graphgen.train.bench import add_arguments

    parser = argparse.ArgumentParser(prog="graphgen bench")
    add_arguments(parser)
    assert parser.parse_args(["encoders", "--budget-minutes", "3"]).minutes == 3.0
    assert "--budget-minutes is deprecated; use --minutes" in capsys.readouterr().err
    assert parser.parse_args(["encoders"]).minutes == 20.0


# --------------------------------------------------------------------------------------------------- 5. bad files
@pytest.mark.parametrize("content, expected", [
    ('{"graphs": [{"num_nodes": 3, "edges": [[0, 1]', "not valid JSON"),
    ('{"foo": 1}', "no 'graphs' key"),
    ('{"graphs": [{"num_nodes": 3, "edges": [[0, 5]]}]}', "graph 0, edge 0 [0, 5]: node index out of range 0..2"),
    ('{"graphs": [{"num_nodes": 3}]}', "graph 0: needs keys 'num_nodes' and 'edges'"),
    ('{"graphs": [{"num_nodes": -1, "edges": []}]}', "'num_nodes' must be an integer >= 0"),
    ('{"graphs": [{"num_nodes": 3, "edges": [[0, "a"]]}]}', "edge 0: expected [u, v]"),
], ids=["truncated", "no-graphs", "edge-out-of-range", "missing-key", "negative-n", "bad-edge"])
def test_bad_graph_json_is_one_line_naming_file(tmp_path, capsys, content, expected):
    path = tmp_path / "gen.json"
    path.write_text(content)
    assert main(["evaluate", "graphs", str(path), "--dataset", "community_small"]) == 2
    line = one_line_error(capsys)
    assert str(path) in line and expected in line


def test_edge_list_edge_beyond_header_is_refused(tmp_path):
    from graphgen.errors import InputError
    from graphgen.evaluate.graphs import read_graphs

    path = tmp_path / "gen.edges"
    path.write_text("# nodes 3\n0 1\n1 5\n")
    with pytest.raises(InputError, match="out of range 0..2"):
        read_graphs(path)


def test_edge_to_a_missing_node_is_never_a_larger_graph(tmp_path):
    from graphgen.errors import InputError
    from graphgen.evaluate.graphs import read_graph_splits, read_graphs

    path = tmp_path / "g.json"
    path.write_text(json.dumps({"graphs": [{"num_nodes": 3, "edges": [[0, 1], [1, 2]]}], "splits": {"test": [0]}}))
    assert [g.number_of_nodes() for g in read_graphs(path)] == [3]
    assert [g.number_of_edges() for g in read_graph_splits(path)["test"]] == [2]
    path.write_text(json.dumps({"graphs": [{"num_nodes": 3, "edges": [[2, 3]]}]}))
    for read in (read_graphs, read_graph_splits):
        with pytest.raises(InputError, match="node index out of range"):
            read(path)


@pytest.mark.parametrize("dataset, expected", [
    ("no_such_dataset", "--dataset no_such_dataset: not a registered dataset and no such file"),
    ("community_small", "--dataset community_small: holds graphs without SMILES"),
    ("aminer", "--dataset aminer: a heterogeneous graph for DiffGraph"),
])
def test_evaluate_molecules_bad_dataset(tmp_path, capsys, dataset, expected):
    path = tmp_path / "mols.smi"
    path.write_text("CCO\n")
    assert main(["evaluate", "molecules", str(path), "--dataset", dataset]) == 2
    line = one_line_error(capsys)
    assert expected in line and "qm9" in line


def test_evaluate_graphs_unknown_dataset(tmp_path, capsys):
    path = tmp_path / "gen.json"
    path.write_text(json.dumps({"graphs": [{"num_nodes": 2, "edges": [[0, 1]]}]}))
    assert main(["evaluate", "graphs", str(path), "--dataset", "plnar"]) == 2
    assert "--dataset plnar: not a graph dataset" in one_line_error(capsys)


def test_graph_json_reader_errors_are_input_errors(tmp_path):
    from graphgen.data.graph_json import read_json
    from graphgen.errors import InputError

    path = tmp_path / "sg.json"
    path.write_text('{"format": "x", "graphs": [')
    with pytest.raises(InputError, match="sg.json: not a readable JSON"):
        read_json(path)


def test_truncated_safetensors_graph_file_is_corrupt_file_error(tmp_path):
    import torch
    from torch_geometric.data import Data

    from graphgen.data.graph_file import load_graphs, save_graphs
    from graphgen.errors import CorruptFileError

    path = save_graphs(tmp_path / "g.safetensors", [Data(x=torch.zeros(2, 1), num_nodes=2)])
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(CorruptFileError, match="g.safetensors"):
        load_graphs(path)


# --------------------------------------------------------------------------------------------------- 6. help texts
def test_top_level_help_has_no_markup_and_bench_mentions_generate(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "`" not in out
    bench_help = out[out.index("    bench"):]
    assert "encoders" in bench_help and "generator" in bench_help


def test_sample_help_lists_bundled_models_without_torch():
    code = ("import sys\nfrom graphgen.cli import main\ntry:\n    main(['sample', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    from graphgen.hub import MODELS

    flat = " ".join(proc.stdout.split())
    assert all(name in flat for name in MODELS)
    assert proc.stdout.strip().splitlines()[-1] == "NO-TORCH"


def test_data_info_card_only_when_it_exists(tmp_path, capsys, empty_data, monkeypatch):
    from graphgen.data import commands

    assert commands.card_path("datasets/no_such_card.md") is None
    assert main(["data", "info", "qm9"]) == 0
    out = capsys.readouterr().out
    card = commands.card_path("datasets/qm9.md")
    assert (f"card: {card}" in out) == (card is not None)
    monkeypatch.setattr(commands, "card_path", lambda card: None)  # a pip install: no datasets/ folder
    assert main(["data", "info", "qm9"]) == 0
    out = capsys.readouterr().out
    assert "card:" not in out
    assert f"data root {empty_data}, from $GRAPHGEN_DATA" in out  # where it looked, and why there


# ------------------------------------------------------------------------------- 7. refusals, summaries, progress
def test_a_command_refusal_is_one_line_with_exit_code_2(capsys, empty_data):
    """``graphgen sample`` refuses a model that does not exist before loading anything: one line, exit status 2
    (bad input), naming the model and the bundled ones; a subprocess sees the same status."""
    with pytest.raises(SystemExit) as refusal:
        main(["sample", "runs/no_such_run/ema", "-n", "1", "-o", "x.smi"])
    assert refusal.value.code == 2
    line = one_line_error(capsys)
    assert "'runs/no_such_run/ema' is not a folder and not a bundled model" in line and "qm9" in line


def _fake_molecule_scores(monkeypatch) -> list[dict]:
    """Replace the molecule evaluator (its reference statistics take minutes) by one that records its call."""
    import graphgen.evaluate.molecules as molecules

    calls: list[dict] = []

    def fake(generated, **kwargs):
        calls.append({"n": len(generated), **kwargs})
        return {"num_generated": float(len(generated))}
    monkeypatch.setattr(molecules, "evaluate_molecules", fake)
    return calls


@pytest.mark.parametrize("suffix", [".smi", ".sdf"])
def test_blank_lines_are_counted_for_smiles_files_only(tmp_path, capsys, monkeypatch, suffix):
    from rdkit import Chem

    calls = _fake_molecule_scores(monkeypatch)
    path = tmp_path / f"mols{suffix}"
    if suffix == ".smi":
        path.write_text("CCO\n\nc1ccccc1\n")
    else:
        writer = Chem.SDWriter(str(path))
        for s in ("CCO", "c1ccccc1"):
            writer.write(Chem.MolFromSmiles(s))
        writer.close()
    assert main(["evaluate", "molecules", str(path), "--dataset", "qm9", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert calls[0]["n"] == 2 and calls[0]["progress"] is False
    assert ("blank_lines_skipped" in out) == (suffix == ".smi")


class _Terminal:
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_follows_the_terminal_unless_turned_off(monkeypatch):
    import inspect

    from graphgen.generate import GENERATORS, generator_class
    from graphgen.generate.base import progress_options

    # `disable` is never passed as False or None: either would override TQDM_DISABLE (--no-progress)
    assert (progress_options(True), progress_options(False)) == ({}, {"disable": True})
    assert progress_options(None) == {"disable": True}        # pytest's captured stderr is not a terminal
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert progress_options(None) == {}
    for kind in GENERATORS:  # every generator's sample shows a bar on a terminal by default
        assert inspect.signature(generator_class(kind).sample).parameters["progress"].default is None, kind


ENCODE_WITH_A_BAR = """
import torch
from graphgen.generate.sde.train import dense_dataset

class Encoder:
    def encode(self, items):
        return torch.zeros(len(items), 1), torch.zeros(len(items), 1, 1), torch.ones(len(items), dtype=torch.bool)

x, adj, mask = dense_dataset(Encoder(), list(range(12)), chunk=2)   # 6 chunks: enough for the bar (5 or more)
assert x.shape == (12, 1)
"""


@pytest.mark.parametrize("quiet", [False, True])
def test_tqdm_disable_silences_the_sde_encode_bar(tmp_path, quiet):
    """``--no-progress`` sets TQDM_DISABLE for the command (graphgen.cli.progress_switch); the GDSS trainer's
    "encode" bar used to pass ``disable=False`` and so drew anyway. The control run shows the bar is there to hide."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    if quiet:
        env["TQDM_DISABLE"] = "1"
    proc = subprocess.run([sys.executable, "-c", ENCODE_WITH_A_BAR], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ("encode: 100%" in proc.stderr) != quiet, proc.stderr[-2000:]


@pytest.mark.parametrize("kind", ["molecules", "graphs"])
def test_evaluate_has_no_progress(kind):
    import argparse

    from graphgen.evaluate.commands import add_arguments

    parser = argparse.ArgumentParser(prog="graphgen evaluate")
    add_arguments(parser)
    assert parser.parse_args([kind, "f", "--dataset", "qm9", "--no-progress"]).no_progress is True
    assert parser.parse_args([kind, "f", "--dataset", "qm9"]).no_progress is False


def test_refusal_exit_status_in_a_subprocess(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "graphgen", "sample", "no_such_model", "-n", "1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("graphgen sample: 'no_such_model' is not a folder")
