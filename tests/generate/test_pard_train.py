"""``graphgen train pard``: run folder, resume keeps the architecture, the cosine cool-down, selection,
kept checkpoints and heads-only training, through the shared trainer."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch_geometric.data import Data

from graphgen.cli import main
from graphgen.generate import load_generator
from graphgen.generate.pard import train as pard_train
from graphgen.train.trainer import TrainerConfig, learning_rate

TINY = ["--set", "model.hidden=16", "model.edge_hidden=8", "model.num_layers=1", "model.heads=2",
        "model.num_steps=3", "--batch-size", "4", "--log-every", "1", "--no-progress"]


def cycles_and_paths() -> list[Data]:
    graphs = []
    for n in (3, 4, 5, 6):
        ring = torch.tensor([list(range(n)), [(i + 1) % n for i in range(n)]])
        path = torch.tensor([list(range(n - 1)), list(range(1, n))])
        for e in (ring, path):
            graphs.append(Data(edge_index=torch.cat([e, e.flip(0)], 1), num_nodes=n))
    return graphs


@pytest.fixture(autouse=True)
def toy_data(monkeypatch):
    monkeypatch.setattr(pard_train, "load_split", lambda *a, **k: (cycles_and_paths(), None))


def _state(out):
    return json.loads((out / "last" / "trainer_state.json").read_text())


def _rows(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_train_checkpoint_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    common = ["train", "pard", "--dataset", "toy", "--out", str(out), *TINY]
    assert main(common + ["--max-steps", "3"]) == 0
    assert _state(out)["step"] == 3
    cfg = json.loads((out / "last" / "config.json").read_text())
    # measured on the toy graphs: 6 nodes at most; a 6-cycle is one block of 6 nodes of degree 2
    assert (cfg["generator"], cfg["max_nodes"], cfg["max_block_size"], cfg["max_degree"]) == ("pard", 6, 6, 2)
    assert (out / "config.yaml").exists()
    assert load_generator(out / "ema").config.vocab is None
    losses = [r for r in _rows(out) if "loss" in r]
    assert len(losses) == 3 and all(r["loss"] > 0 for r in losses)
    # resume: architecture from the checkpoint even if the command line says otherwise
    assert main(common + ["--set", "model.hidden=32", "--resume", "--max-steps", "5"]) == 0
    assert _state(out)["step"] == 5
    assert load_generator(out / "last").config.hidden == 16
    assert "resumed from" in capsys.readouterr().out


def test_decay_to_starts_where_it_is_asked_for_and_survives_resume(tmp_path):
    out = tmp_path / "run"
    common = ["train", "pard", "--dataset", "toy", "--out", str(out), *TINY]
    assert main(common + ["--max-steps", "2", "--lr", "5e-4"]) == 0          # constant phase
    assert main(common + ["--resume", "--max-steps", "4", "--lr", "1e-3", "--decay-to", "1e-5"]) == 0
    assert _state(out)["decay_start"] == 2
    assert main(common + ["--resume", "--max-steps", "6", "--lr", "1e-3", "--decay-to", "1e-5"]) == 0
    lrs = [r["lr"] for r in _rows(out) if "loss" in r]
    cfg = TrainerConfig(lr=1e-3, schedule="cosine", lr_min=1e-5)
    assert lrs[:2] == [5e-4, 5e-4] and lrs[2] == 1e-3        # the cool-down starts at step 2 at the full rate
    for step in (4, 5):                                      # its end moved to 6; its start stayed at 2
        assert math.isclose(lrs[step], learning_rate(cfg, step, steps_per_epoch=3, total_steps=6, decay_start=2))
    assert lrs[5] < lrs[4]


def test_decay_to_needs_an_end(tmp_path, capsys):
    assert main(["train", "pard", "--dataset", "toy", "--out", str(tmp_path / "r"), "--decay-to", "1e-5",
                 *TINY]) == 2
    assert "--max-steps" in capsys.readouterr().err


def test_select_keeps_the_lowest_mmd_checkpoint(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "pard", "--dataset", "toy", "--out", str(out), *TINY, "--max-steps", "3",
                 "--checkpoint-minutes", "0", "--select", "--set", "select_samples=4"]) == 0
    rows = [json.loads(line) for line in (out / "selection.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]              # checkpoint-minutes 0: a selection after every step
    for r in rows:
        assert math.isclose(r["score"], r["degree"] + r["clustering"] + r["orbit"]) and r["score"] >= 0
    best = json.loads((out / "best" / "selection.json").read_text())
    assert best["score"] == min(r["score"] for r in rows) and "training graphs" in best["reference"]
    assert load_generator(out / "best").config.hidden == 16
    running = float("inf")
    for r in rows:
        assert r["best"] == (r["score"] < running)
        running = min(running, r["score"])


def test_select_refuses_molecule_datasets(tmp_path, monkeypatch, capsys):
    from graphgen.data.molecules import VOCABS

    monkeypatch.setattr(pard_train, "load_training_graphs", lambda *a, **k: (cycles_and_paths(), VOCABS["qm9"]))
    assert main(["train", "pard", "--dataset", "qm9", "--out", str(tmp_path / "r"), "--select", *TINY]) == 2
    assert "not for molecule datasets" in capsys.readouterr().err


def test_keep_checkpoints_writes_one_loadable_ema_per_checkpoint(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "pard", "--dataset", "toy", "--out", str(out), *TINY, "--max-steps", "2",
                 "--checkpoint-minutes", "0", "--keep-checkpoints"]) == 0
    assert sorted(p.name for p in out.glob("ema_*")) == ["ema_1", "ema_2"]
    first, second, last = (load_generator(out / name).state_dict() for name in ("ema_1", "ema_2", "ema"))
    assert all(torch.equal(second[k], last[k]) for k in last)            # ema_2 is the final EMA
    assert any(not torch.equal(first[k], last[k]) for k in last)         # ema_1 is the EMA after step 1, kept apart


def test_heads_only_upgrades_old_model_and_trains_only_the_heads(tmp_path):
    from safetensors.torch import load_file

    from graphgen.generate.pard.model import PARDConfig, PARDGenerator

    base = tmp_path / "base"
    torch.manual_seed(0)
    old = PARDGenerator(PARDConfig(num_node_types=1, num_edge_types=2, vocab=None, hidden=16, edge_hidden=8,
                                   num_layers=1, heads=2, num_steps=3, max_block_size=6, max_degree=2, max_nodes=6,
                                   degree_given_size=False))
    old.save_pretrained(base / "ema")
    cfg = json.loads((base / "ema" / "config.json").read_text())
    del cfg["degree_given_size"]  # as written before the joint head existed
    (base / "ema" / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "heads"
    assert main(["train", "pard", "--dataset", "toy", "--out", str(out), "--init", str(base / "ema"), "--set",
                 "heads_only=true", "--max-steps", "3", "--lr", "1e-2", "--batch-size", "4", "--log-every", "1",
                 "--no-progress"]) == 0
    before = load_file(str(base / "ema" / "model.safetensors"))
    after = load_file(str(out / "last" / "model.safetensors"))
    assert json.loads((out / "last" / "config.json").read_text())["degree_given_size"] is True
    for name, value in after.items():
        if name.startswith(PARDGenerator.BLOCK_HEAD_PREFIXES):
            continue
        torch.testing.assert_close(value, before[name], msg=name)  # the denoiser is frozen
    assert not torch.equal(after["network.size_head.0.weight"], before["network.size_head.0.weight"])
    assert after["network.degree_size_embed.weight"].abs().sum() > 0
    row = [r for r in _rows(out) if "loss" in r][-1]
    assert set(row) >= {"size_ce", "degree_ce", "loss"} and "node_ce" not in row
    assert _state(out)["extra"]["heads_only"] is True
    # --resume remembers the mode without being told again
    assert main(["train", "pard", "--dataset", "toy", "--out", str(out), "--resume", "--max-steps", "4",
                 "--batch-size", "4", "--log-every", "1", "--no-progress"]) == 0
    assert "node_ce" not in [r for r in _rows(out) if "loss" in r][-1]


def test_heads_only_needs_a_model(tmp_path, capsys):
    assert main(["train", "pard", "--dataset", "toy", "--out", str(tmp_path / "r"), "--set", "heads_only=true",
                 *TINY]) == 2
    assert "--init" in capsys.readouterr().err


def test_derived_fields_cannot_be_set(tmp_path, capsys):
    assert main(["train", "pard", "--dataset", "toy", "--out", str(tmp_path / "r"), *TINY,
                 "--set", "model.max_nodes=3"]) == 2
    assert "model.max_nodes is measured on the training data" in capsys.readouterr().err


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    common = ["train", "pard", "--dataset", "toy", "--out", str(out), *TINY, "--max-steps", "1"]
    assert main(common) == 0
    assert main(common) == 2 and "--overwrite" in capsys.readouterr().err
    assert main(common + ["--overwrite"]) == 0 and _state(out)["step"] == 1
