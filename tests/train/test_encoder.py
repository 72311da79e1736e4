"""``graphgen train encoder``: config resolution, schedule, a real training loop with checkpoint / resume on tiny
hand-built splits, and (slow) a short run on the real ZINC-12k files."""
from __future__ import annotations

import argparse
import csv
import json
import math

import pytest
import torch
from torch_geometric.data import Data

from graphgen.nn.models import GraphEncoder
from graphgen.train import encoder as enc
from graphgen.train.checkpoint import CheckpointError
from graphgen.train.config import ConfigError

TINY = ["model.channels=16", "model.num_layers=1", "model.heads=2", "model.pe_steps=4",
        "model.dim_pe=4", "trainer.warmup_epochs=1", "trainer.batch_size=8"]


def _args(tmp_path, *extra: str, model: str = "gps", dataset: str = "zinc12k") -> argparse.Namespace:
    p = argparse.ArgumentParser()
    enc.add_arguments(p)
    return p.parse_args(["--model", model, "--dataset", dataset, "--out", str(tmp_path / "run"),
                         "--results-csv", str(tmp_path / "results.csv"), "--no-progress", *extra])


def _graphs(n: int, seed: int) -> list[Data]:
    """Rings with a chord; target = number of atoms of type 0 (learnable from the sum-pooled atom embedding)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        k = int(torch.randint(4, 9, (1,), generator=g))
        und = torch.tensor([(i, (i + 1) % k) for i in range(k)] + [(0, k // 2)]).t()
        x = torch.randint(0, 3, (k,), generator=g)
        bonds = torch.randint(0, 3, (und.size(1),), generator=g)
        out.append(Data(x=x, edge_index=torch.cat([und, und.flip(0)], 1), edge_attr=torch.cat([bonds, bonds]),
                        y=(x == 0).sum().float().view(1), num_nodes=k))
    return out


SPLITS = {"train": _graphs(48, 0), "val": _graphs(16, 1), "test": _graphs(16, 2)}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Two OpenMP threads on this shared 2-core machine stall at every barrier; train single-threaded."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_resolve_config_precedence(tmp_path):
    args = _args(tmp_path, "--epochs", "7", "--lr", "0.01", "--set", "model.dropout=0.2", "trainer.weight_decay=0")
    cfg = enc.resolve_config(args)
    t = cfg.trainer
    assert (t.epochs, t.lr, t.weight_decay, cfg.model.dropout) == (7, 0.01, 0, 0.2)
    assert cfg.model.kind == "gps" and cfg.model.local_conv == "gine" and t.batch_size == 32   # from the preset
    assert t.schedule == "cosine" and t.warmup_epochs == 50 and t.select                      # from the preset
    with pytest.raises(ConfigError, match="valid keys: .*channels"):
        enc.resolve_config(_args(tmp_path, "--set", "model.chanels=3"))
    assert enc.resolve_config(_args(tmp_path, "--set", "rrwp_full=false", model="grit")).rrwp_full is False


def _log(run):
    return [json.loads(line) for line in open(run / "log.jsonl")]


@pytest.mark.parametrize("model", ["gps", "grit", "mpnn_vn", "gt"])
def test_train_checkpoint_resume_and_csv(tmp_path, model):
    extra = [x for x in TINY if not (model == "grit" and x.startswith("model.dim_pe"))]
    if model == "gt":
        extra = [x.replace("model.pe_steps=4", "model.pe_steps=3") for x in extra]
    cfg = enc.resolve_config(_args(tmp_path, "--epochs", "2", "--set", *extra, model=model))
    run = tmp_path / "run"
    first = enc.train(cfg, out=run, results_csv=str(tmp_path / "results.csv"), splits=SPLITS)
    assert first["epochs_run"] == 2 and (run / "best" / "model.safetensors").is_file()
    assert (run / "last" / "trainer_state.json").is_file() and not list(run.rglob("*.pt"))
    with pytest.raises(CheckpointError, match="--resume"):
        enc.train(cfg, out=run, splits=SPLITS)
    cfg.trainer.epochs = 3
    second = enc.train(cfg, out=run, resume=True, results_csv=str(tmp_path / "results.csv"), splits=SPLITS)
    assert second["epochs_run"] == 3
    evals = [r for r in _log(run) if "eval" in r]
    assert [r["epoch"] for r in evals] == [1, 2, 3]
    assert len(list(csv.DictReader(open(tmp_path / "results.csv")))) == 2
    best = min(r["eval"]["val_mae"] for r in evals)
    assert math.isclose(second["best_val_mae"], best, rel_tol=1e-6)          # model selection on validation
    saved = GraphEncoder.from_pretrained(run / "best")                       # best/ is a loadable encoder
    assert saved.config.kind == model
    if model != "grit":   # the encoder in best/ is the one whose validation score was best
        from torch_geometric.loader import DataLoader
        val = enc.prepare_split.__globals__["apply_many"](enc.make_transform(cfg.model), [d.clone() for d in SPLITS["val"]])
        score = enc.evaluate(saved, DataLoader(val, batch_size=128), enc.TASKS["zinc12k"], cfg.model)
        assert math.isclose(score, best, rel_tol=1e-5)


def test_training_reduces_the_loss(tmp_path):
    cfg = enc.resolve_config(_args(tmp_path, "--epochs", "12", "--lr", "0.003", "--log-every", "6", "--set", *TINY))
    enc.train(cfg, out=tmp_path / "run", splits=SPLITS)
    rows = [r for r in _log(tmp_path / "run") if "loss" in r]
    assert rows[-1]["loss"] < 0.7 * rows[0]["loss"]


def test_budget_stops_mid_epoch(tmp_path):
    cfg = enc.resolve_config(_args(tmp_path, "--epochs", "5", "--minutes", "0.000001", "--set", *TINY))
    out = enc.train(cfg, out=tmp_path / "run", splits=SPLITS)
    assert out["stopped_by_budget"] and out["epochs_run"] == 1
    evals = [r for r in _log(tmp_path / "run") if "eval" in r]
    assert len(evals) == 1 and evals[0]["step"] == 1 and evals[0]["epoch"] == 0   # one batch of the first epoch


def test_molhiv_metric_is_ogb_rocauc():
    pred, y = torch.tensor([0.1, 0.9, 0.4, 0.5]), torch.tensor([0, 1, 1, 0])
    assert math.isclose(enc.TASKS["ogbg-molhiv"].metric(pred, y), 0.75)     # 3 of 4 positive/negative pairs


@pytest.mark.slow
def test_real_zinc12k_short_run(tmp_path, shared_data):
    cfg = enc.resolve_config(_args(tmp_path, "--epochs", "1", "--set", *TINY, "max_train_graphs=64",
                                   "max_eval_graphs=64"))
    out = enc.train(cfg, out=tmp_path / "run", data_dir=str(shared_data))
    assert out["epochs_run"] == 1 and math.isfinite(out["test_mae_at_best_val"])
