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

from graphgen.train import encoder as enc

TINY = ["encoder.channels=16", "encoder.num_layers=1", "encoder.heads=2", "encoder.pe_steps=4",
        "encoder.dim_pe=4", "warmup_epochs=1", "batch_size=8"]


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
    args = _args(tmp_path, "--epochs", "7", "--lr", "0.01", "--set", "encoder.dropout=0.2", "weight_decay=0")
    cfg = enc.resolve_config(args)
    assert (cfg.epochs, cfg.lr, cfg.weight_decay, cfg.encoder.dropout) == (7, 0.01, 0, 0.2)
    assert cfg.encoder.kind == "gps" and cfg.encoder.local_conv == "gine" and cfg.batch_size == 32   # from preset
    with pytest.raises(ValueError, match="unknown keys"):
        enc.resolve_config(_args(tmp_path, "--set", "encoder.chanels=3"))
    assert enc.resolve_config(_args(tmp_path, "--sparse-pairs", model="grit")).rrwp_full is False


def test_cosine_with_warmup_values():
    lr = lambda e: enc.cosine_with_warmup(e, warmup=4, total=14, base_lr=1.0)   # noqa: E731
    assert [lr(e) for e in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr(4) == 1.0 and math.isclose(lr(9), 0.5) and math.isclose(lr(14), 0.0, abs_tol=1e-12)


@pytest.mark.parametrize("model", ["gps", "grit", "mpnn_vn", "gt"])
def test_train_checkpoint_resume_and_csv(tmp_path, model):
    extra = [x for x in TINY if not (model == "grit" and x.startswith("encoder.dim_pe"))]
    if model == "gt":
        extra = [x.replace("encoder.pe_steps=4", "encoder.pe_steps=3") for x in extra]
    cfg = enc.resolve_config(_args(tmp_path, "--epochs", "2", "--set", *extra, model=model))
    first = enc.train(cfg, results_csv=str(tmp_path / "results.csv"), splits=SPLITS, show_progress=False)
    run = tmp_path / "run"
    assert first["epochs_run"] == 2 and (run / "best.safetensors").is_file() and (run / "last_state.pt").is_file()
    with pytest.raises(FileExistsError, match="--resume"):
        enc.train(cfg, splits=SPLITS, show_progress=False)
    cfg.epochs = 3
    second = enc.train(cfg, resume=True, results_csv=str(tmp_path / "results.csv"), splits=SPLITS,
                       show_progress=False)
    assert second["epochs_run"] == 3
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert len(list(csv.DictReader(open(tmp_path / "results.csv")))) == 2
    best = min(float(r["val_mae"]) for r in rows)
    assert math.isclose(second["best_val_mae"], best, rel_tol=1e-6)          # model selection on validation
    assert json.loads((run / "config.json").read_text())["encoder"]["kind"] == model


def test_training_reduces_the_loss(tmp_path):
    cfg = enc.resolve_config(_args(tmp_path, "--epochs", "12", "--lr", "0.003", "--set", *TINY))
    enc.train(cfg, splits=SPLITS, show_progress=False)
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert float(rows[-1]["train_loss"]) < 0.7 * float(rows[0]["train_loss"])


def test_budget_stops_mid_epoch(tmp_path):
    cfg = enc.resolve_config(_args(tmp_path, "--epochs", "5", "--budget-minutes", "0.000001", "--set", *TINY))
    out = enc.train(cfg, splits=SPLITS, show_progress=False)
    assert out["stopped_by_budget"] and out["epochs_run"] == 1
    row = next(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert row["partial_epoch"] == "True" and int(row["graphs_seen"]) == 8


def test_molhiv_metric_is_ogb_rocauc():
    pred, y = torch.tensor([0.1, 0.9, 0.4, 0.5]), torch.tensor([0, 1, 1, 0])
    assert math.isclose(enc.TASKS["ogbg-molhiv"].metric(pred, y), 0.75)     # 3 of 4 positive/negative pairs


@pytest.mark.slow
def test_real_zinc12k_short_run(tmp_path, shared_data):
    cfg = enc.resolve_config(_args(tmp_path, "--epochs", "1", "--max-train-graphs", "64", "--set", *TINY,
                                   "max_eval_graphs=64"))
    out = enc.train(cfg, data_dir=str(shared_data), show_progress=False)
    assert out["epochs_run"] == 1 and math.isfinite(out["test_mae_at_best_val"])
