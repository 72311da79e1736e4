"""``graphgen sample``: files written, summary printed, no dataset needed."""
from __future__ import annotations

import pytest
import torch

from graphgen.cli import main
from graphgen.generate.pard.model import PARDConfig, PARDGenerator


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A small untrained QM9-vocabulary PARD model saved to disk (its samples are random but well-formed)."""
    from graphgen.data.molecules import VOCABS, smiles_to_data

    torch.manual_seed(0)  # test-only: fixes the initial weights
    model = PARDGenerator(PARDConfig(hidden=16, edge_hidden=8, num_layers=1, heads=2, num_steps=3, max_block_size=4,
                                     max_degree=4, max_nodes=6))
    model.set_marginals([smiles_to_data(s, VOCABS["qm9"]) for s in ["CCO", "CC(C)=O", "OC1CC1", "CC#N"]])
    return model.save_pretrained(tmp_path_factory.mktemp("model") / "pard")


@pytest.mark.parametrize("fmt", ["smi", "sdf"])
def test_sample_writes_molecules_and_summary(saved_model, tmp_path, capsys, no_data, fmt):
    out = tmp_path / f"s.{fmt}"
    png = tmp_path / "grid.png"
    assert main(["sample", str(saved_model), "-n", "12", "-o", str(out), "--draw", str(png), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "validity w/o correction" in text and "uniqueness" in text and "network evaluations / graph" in text
    assert "skipped: qm9 data not found" in text
    written = int(next(line.split()[-1] for line in text.splitlines() if line.startswith("molecules written")))
    assert 1 <= written <= 12
    from rdkit import Chem

    if fmt == "smi":
        lines = out.read_text().splitlines()
        assert len(lines) == written and all(Chem.MolFromSmiles(s) is not None for s in lines)
    else:
        mols = list(Chem.SDMolSupplier(str(out)))
        assert len(mols) == written and all(m is not None for m in mols)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_file(saved_model, tmp_path, no_data):
    a, b = tmp_path / "a.smi", tmp_path / "b.smi"
    for path in (a, b):
        main(["sample", str(saved_model), "-n", "8", "-o", str(path), "--seed", "3", "--no-progress", "--no-metrics"])
    assert a.read_text() == b.read_text()


def test_unknown_model_names_the_fix(capsys, tmp_path):
    with pytest.raises(SystemExit, match="graphgen sample: 'no-such-model' is not a folder and not a bundled model; "
                                         "pass a folder written by save_pretrained.*: coco-sg, community_small-gdss, .*qm9"
                       ) as err:
        main(["sample", "no-such-model", "-n", "2"])
    assert "\n" not in str(err.value)  # one line
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="config.json not found"):
        main(["sample", str(tmp_path / "empty"), "-n", "2"])


def test_pard_steps_reach_the_sampler_and_bad_options_get_one_line(saved_model, tmp_path, capsys, no_data):
    import json

    T = json.loads((saved_model / "config.json").read_text())["num_steps"]
    assert main(["sample", str(saved_model), "-n", "2", "-o", str(tmp_path / "a.smi"), "--steps", "2",
                 "--no-progress", "--no-metrics"]) == 0
    with pytest.raises(SystemExit, match=rf"graphgen sample: PARDGenerator.sample: steps={T + 1}: expected an "
                                         rf"integer in 1..{T}"):
        main(["sample", str(saved_model), "-n", "2", "-o", str(tmp_path / "a.smi"), "--steps", str(T + 1)])
    with pytest.raises(SystemExit, match="unknown option snr; valid options: steps"):
        main(["sample", str(saved_model), "-n", "2", "-o", str(tmp_path / "a.smi"), "--set", "snr=0.1"])
    with pytest.raises(SystemExit, match="plain names"):
        main(["sample", str(saved_model), "-n", "2", "--set", "a.b=1"])


def test_evaluations_per_graph_printed(saved_model, tmp_path, capsys, no_data):
    """The summary's network evaluations / graph is SampleStats' count: (blocks * (T + 1) + 1) per graph."""
    import json

    from graphgen.generate import load_generator
    from graphgen.generate.base import SampleStats

    assert main(["sample", str(saved_model), "-n", "5", "-o", str(tmp_path / "a.smi"), "--seed", "4",
                 "--no-progress", "--no-metrics"]) == 0
    printed = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("network evaluations"))
    stats = SampleStats()
    graphs = load_generator(saved_model).sample(5, generator=torch.Generator().manual_seed(4), batch_size=500,
                                                callback=stats)
    T = json.loads((saved_model / "config.json").read_text())["num_steps"]
    assert stats.evaluations == sum((int(g.block.max()) + 1) * (T + 1) + 1 for g in graphs)
    assert printed.split()[-1] == f"{stats.evaluations_per_graph:.1f}"


def test_plain_graph_model_writes_json(tmp_path, capsys):
    import json

    torch.manual_seed(0)
    model = PARDGenerator(PARDConfig(num_node_types=1, num_edge_types=2, vocab=None, hidden=16, edge_hidden=8,
                                     num_layers=1, heads=2, num_steps=2, max_block_size=4, max_degree=3, max_nodes=6))
    path = model.save_pretrained(tmp_path / "plain")
    out = tmp_path / "g.json"
    assert main(["sample", str(path), "-n", "4", "-o", str(out), "--no-progress"]) == 0
    graphs = json.loads(out.read_text())["graphs"]
    assert len(graphs) == 4 and all(1 <= g["num_nodes"] <= 6 for g in graphs)
    capsys.readouterr()
    assert main(["sample", str(path), "-n", "1", "-o", str(tmp_path / "g.smi")]) == 2
    assert "plain graphs" in capsys.readouterr().err
