"""``graphgen train pard``: checkpoints, EMA folder, block cache, resume continues the step count."""
from __future__ import annotations

import json

import torch
from torch_geometric.data import Data

from graphgen.cli import main
from graphgen.generate import load_generator
from graphgen.generate.pard import train as pard_train


def cycles_and_paths() -> list[Data]:
    graphs = []
    for n in (3, 4, 5, 6):
        ring = torch.tensor([list(range(n)), [(i + 1) % n for i in range(n)]])
        path = torch.tensor([list(range(n - 1)), list(range(1, n))])
        for e in (ring, path):
            graphs.append(Data(edge_index=torch.cat([e, e.flip(0)], 1), num_nodes=n))
    return graphs


def test_train_checkpoint_and_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pard_train, "load_split", lambda name, split, data_dir: (cycles_and_paths(), None))
    out = tmp_path / "run"
    common = ["train", "pard", "--dataset", "toy", "--out", str(out), "--batch-size", "4", "--hidden", "16",
              "--edge-hidden", "8", "--num-layers", "1", "--heads", "2", "--num-steps", "3", "--log-every", "1"]
    assert main(common + ["--max-steps", "3"]) == 0
    state = json.loads((out / "last" / "state.json").read_text())
    assert state["step"] == 3
    cfg = json.loads((out / "last" / "config.json").read_text())
    # measured on the toy graphs: 6 nodes at most; a 6-cycle is one block of 6 nodes of degree 2
    assert (cfg["generator"], cfg["max_nodes"], cfg["max_block_size"], cfg["max_degree"]) == ("pard", 6, 6, 2)
    assert (out / "blocks_k1.safetensors").exists()
    ema_model = load_generator(out / "ema")
    assert ema_model.config.vocab is None
    lines = (out / "log.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["loss"] > 0 for line in lines)

    # resume: architecture from the checkpoint even if the command line says otherwise
    assert main(common[:-8] + ["--hidden", "32", "--resume", "--max-steps", "5"]) == 0
    state = json.loads((out / "last" / "state.json").read_text())
    assert state["step"] == 5
    assert load_generator(out / "last").config.hidden == 16
    assert "resuming from" in capsys.readouterr().out


def test_cosine_lr_endpoints_and_midpoint():
    assert pard_train.cosine_lr(10, 10, 20, 1e-3, 1e-5) == 1e-3
    assert abs(pard_train.cosine_lr(15, 10, 20, 1e-3, 1e-5) - (1e-5 + 0.5 * (1e-3 - 1e-5))) < 1e-15
    assert pard_train.cosine_lr(20, 10, 20, 1e-3, 1e-5) == 1e-5
    assert pard_train.cosine_lr(99, 10, 20, 1e-3, 1e-5) == 1e-5  # clamped past the end


def test_decay_to_logs_the_cosine_and_survives_resume(tmp_path, monkeypatch):
    monkeypatch.setattr(pard_train, "load_split", lambda name, split, data_dir: (cycles_and_paths(), None))
    out = tmp_path / "run"
    common = ["train", "pard", "--dataset", "toy", "--out", str(out), "--batch-size", "4", "--hidden", "16",
              "--edge-hidden", "8", "--num-layers", "1", "--heads", "2", "--num-steps", "3", "--log-every", "1"]
    assert main(common + ["--max-steps", "2"]) == 0  # constant lr phase
    assert main(common + ["--resume", "--max-steps", "4", "--lr", "1e-3", "--decay-to", "1e-5"]) == 0
    state = json.loads((out / "last" / "state.json").read_text())
    assert state["decay_start"] == 2
    # the cool-down started at step 2 and continues on resume (start stays 2, end moves to 6)
    assert main(common + ["--resume", "--max-steps", "6", "--lr", "1e-3", "--decay-to", "1e-5"]) == 0
    lrs = [json.loads(line)["lr"] for line in (out / "log.jsonl").read_text().splitlines()]
    # row k logs the lr used for the step that ended at k+1
    assert lrs[:2] == [5e-4, 5e-4]
    assert lrs[2] == 1e-3  # step 2 -> 3 of the 2..4 curve: its start
    assert abs(lrs[4] - pard_train.cosine_lr(4, 2, 6, 1e-3, 1e-5)) < 1e-15
    assert lrs[5] == pard_train.cosine_lr(5, 2, 6, 1e-3, 1e-5) < lrs[4]


def test_decay_to_needs_max_steps(tmp_path, monkeypatch):
    import pytest

    monkeypatch.setattr(pard_train, "load_split", lambda name, split, data_dir: (cycles_and_paths(), None))
    with pytest.raises(SystemExit, match="--max-steps"):
        main(["train", "pard", "--dataset", "toy", "--out", str(tmp_path / "r"), "--decay-to", "1e-5"])


def test_select_keeps_the_lowest_mmd_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(pard_train, "load_split", lambda name, split, data_dir: (cycles_and_paths(), None))
    out = tmp_path / "run"
    assert main(["train", "pard", "--dataset", "toy", "--out", str(out), "--batch-size", "4", "--hidden", "16",
                 "--edge-hidden", "8", "--num-layers", "1", "--heads", "2", "--num-steps", "3", "--log-every", "1",
                 "--max-steps", "3", "--checkpoint-minutes", "0", "--select", "--select-samples", "4"]) == 0
    rows = [json.loads(line) for line in (out / "selection.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]              # checkpoint-minutes 0: a selection after every step
    for r in rows:
        assert r["score"] == r["degree"] + r["clustering"] + r["orbit"] >= 0
    best = json.loads((out / "best" / "selection.json").read_text())
    assert best["score"] == min(r["score"] for r in rows) and best["reference"] == "training graphs"
    # best/ is a loadable model, and the running-best flags agree with the scores
    assert load_generator(out / "best").config.hidden == 16
    running = float("inf")
    for r in rows:
        assert r["best"] == (r["score"] < running)
        running = min(running, r["score"])


def test_select_refuses_molecule_datasets(tmp_path, monkeypatch):
    import pytest

    monkeypatch.setattr(pard_train, "load_split", lambda name, split, data_dir: (cycles_and_paths(), "qm9"))
    with pytest.raises(SystemExit, match="not for molecule datasets"):
        main(["train", "pard", "--dataset", "qm9", "--out", str(tmp_path / "r"), "--select"])


def test_keep_checkpoints_writes_one_loadable_ema_per_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(pard_train, "load_split", lambda name, split, data_dir: (cycles_and_paths(), None))
    out = tmp_path / "run"
    assert main(["train", "pard", "--dataset", "toy", "--out", str(out), "--batch-size", "4", "--hidden", "16",
                 "--edge-hidden", "8", "--num-layers", "1", "--heads", "2", "--num-steps", "3", "--log-every", "1",
                 "--max-steps", "2", "--checkpoint-minutes", "0", "--keep-checkpoints"]) == 0
    assert sorted(p.name for p in out.glob("ema_*")) == ["ema_1", "ema_2"]
    first, second, last = (load_generator(out / name).state_dict() for name in ("ema_1", "ema_2", "ema"))
    assert all(torch.equal(second[k], last[k]) for k in last)            # ema_2 is the final EMA
    assert any(not torch.equal(first[k], last[k]) for k in last)         # ema_1 is the EMA after step 1, kept apart


def test_heads_only_upgrades_old_model_and_trains_only_the_heads(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    monkeypatch.setattr(pard_train, "load_split", lambda name, split, data_dir: (cycles_and_paths(), None))
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
    common = ["train", "pard", "--dataset", "toy", "--batch-size", "4", "--log-every", "1"]
    out = tmp_path / "heads"
    assert main(common + ["--out", str(out), "--init", str(base / "ema"), "--heads-only", "--max-steps", "3",
                          "--lr", "1e-2"]) == 0
    before = load_file(str(base / "ema" / "model.safetensors"))
    after = load_file(str(out / "last" / "model.safetensors"))
    assert json.loads((out / "last" / "config.json").read_text())["degree_given_size"] is True
    head = ("network.start", "network.size_head.", "network.degree_head.", "network.degree_size_embed.")
    for name, value in after.items():
        if name.startswith(head):
            continue
        torch.testing.assert_close(value, before[name], msg=name)  # the denoiser is frozen
    assert not torch.equal(after["network.size_head.0.weight"], before["network.size_head.0.weight"])
    assert after["network.degree_size_embed.weight"].abs().sum() > 0
    row = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert set(row) >= {"size_ce", "degree_ce", "loss"} and "node_ce" not in row
    assert json.loads((out / "last" / "state.json").read_text())["heads_only"] is True


def test_heads_only_needs_a_model(tmp_path, monkeypatch):
    import pytest

    monkeypatch.setattr(pard_train, "load_split", lambda name, split, data_dir: (cycles_and_paths(), None))
    with pytest.raises(SystemExit, match="--init"):
        main(["train", "pard", "--dataset", "toy", "--out", str(tmp_path / "r"), "--heads-only"])
