"""``graphgen train diffgraph`` / ``graphgen bench diffgraph`` on the real data with tiny budgets: the run folder,
the selected weights reproduce the logged validation figures, negatives avoid purchases, the bench table."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from graphgen.generate.diffgraph.bench import summarise
from graphgen.generate.diffgraph.model import DiffGraph
from graphgen.generate.diffgraph.train import DiffGraphRunConfig, RecommendationTask, load_task
from graphgen.train.config import ConfigError

TINY = ["--set", "model.dim=8", "--set", "model.diffusion.steps=4", "--set", "model.diffusion.hidden=[8]",
        "--epochs", "2", "--threads", "1", "--no-progress"]


def graphgen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphgen", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("dataset", ["aminer", "retail_rocket"])
def test_train_writes_a_run_whose_best_weights_reproduce_the_log(tmp_path, dataset):
    out = tmp_path / "run"
    proc = graphgen("train", "diffgraph", "--dataset", dataset, "--out", str(out), *TINY)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "result.json").read_text())
    assert summary["epochs_run"] == 2 and summary["best_epoch"] in (1, 2)
    model = DiffGraph.from_pretrained(out / "best")
    model.eval()
    cfg = DiffGraphRunConfig(dataset=dataset, model=model.config)
    task = load_task(cfg)
    with torch.no_grad():
        again = task.evaluate(model, cfg.top_k, cfg.eval_batch_size)
    for key, value in summary["selected"].items():
        assert again[key] == pytest.approx(value, abs=1e-6), key
    if dataset == "aminer":   # --init: a warm start keeps the saved architecture, whatever the preset says
        proc = graphgen("train", "diffgraph", "--dataset", dataset, "--out", str(tmp_path / "warm"), "--init",
                        str(out / "best"), "--epochs", "1", "--threads", "1", "--no-progress")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert DiffGraph.from_pretrained(tmp_path / "warm" / "best").config == model.config
    # test figures are logged only at epochs where validation improved
    rows = [json.loads(li) for li in (out / "log.jsonl").read_text().splitlines() if '"eval"' in li]
    assert all(("test_" + key[4:] in r["eval"]) == bool(r.get("best")) for r in rows for key in r["eval"]
               if key.startswith("val_"))


def test_rerun_into_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "something").write_text("x")
    proc = graphgen("train", "diffgraph", "--dataset", "aminer", "--out", str(out), *TINY)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr


def test_negatives_never_hit_a_fitted_purchase():
    cfg = DiffGraphRunConfig(dataset="retail_rocket")
    task = load_task(cfg)
    assert isinstance(task, RecommendationTask)
    users = task.fit[0].repeat(3)
    neg = task.negatives(users, torch.Generator().manual_seed(0))
    bought = set(zip(task.fit[0].tolist(), task.fit[1].tolist()))
    assert not any((u, i) in bought for u, i in zip(users.tolist(), neg.tolist()))
    assert neg.unique().numel() > 1000   # spread over the catalogue, not a few items


def test_bench_table_means_and_spreads_by_hand():
    def row(model, seed, recall, ndcg):
        return {"model": model, "seed": seed, "best_epoch": 3, "train_seconds_per_epoch": 1.0,
                "eval_seconds_per_epoch": 2.0, "threads": 2,
                "selected": {"test_recall@20": recall, "test_ndcg@20": ndcg}}

    table = summarise([row("diffgraph", 0, 0.05, 0.03), row("diffgraph", 1, 0.07, 0.05)], "retail_rocket")
    line = next(li for li in table.splitlines() if li.startswith("diffgraph"))
    # mean 0.06, sample standard deviation sqrt(((0.01)^2 * 2) / 1) = 0.0141
    assert "val" in line and "0.0600 ± 0.0141" in line and "0.0400 ± 0.0141" in line
    assert "0.0620" in table and "published" in table


def test_released_protocol_fits_every_training_purchase_and_selects_on_test():
    ours = load_task(DiffGraphRunConfig(dataset="retail_rocket"))
    released = load_task(DiffGraphRunConfig(dataset="retail_rocket", protocol="released"))
    assert released.fit.size(1) == ours.fit.size(1) + ours.val.size(1) == 9551
    assert torch.equal(released.val, released.test)
    assert released.graphs["buy"].graph.num_edges == 2 * 9551 and ours.graphs["buy"].graph.num_edges == 2 * 8666
    assert ours.test_graphs["buy"].graph.num_edges == 2 * 9551   # validation purchases are known at test time
    # so are their views: every view is in the test pass and the released protocol, not in training's graphs
    assert ours.test_graphs["view"].graph.num_edges == released.graphs["view"].graph.num_edges == 2 * 75374
    assert ours.graphs["view"].graph.num_edges == 2 * (75374 - 717)
    from graphgen.train import config as config_lib

    preset = config_lib.preset_path("diffgraph", "aminer")
    nc = load_task(config_lib.resolve(DiffGraphRunConfig, preset=preset, overrides=["protocol=released"]))
    assert torch.equal(nc.val, nc.test)
    with pytest.raises(ConfigError, match="protocol"):
        load_task(config_lib.resolve(DiffGraphRunConfig, preset=preset, overrides=["protocol=mine"]))
