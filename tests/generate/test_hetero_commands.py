"""``graphgen sample`` and ``graphgen train hetero`` for scene-graph models."""
from __future__ import annotations

import json

import pytest
import torch

from graphgen.cli import main
from graphgen.generate.hetero.model import DenoiserConfig, HeteroDiffusionConfig, HeteroDiffusionGenerator
from graphgen.generate.hetero.schema import scene_graph_schema


@pytest.fixture(scope="module")
def scene_graph_model(tmp_path_factory):
    """A small untrained scene-graph model (samples are random but well-formed scene graphs)."""
    torch.manual_seed(0)  # test-only: fixes the initial weights
    model = HeteroDiffusionGenerator(HeteroDiffusionConfig(
        dataset="coco_sg", kind="scene_graph", schema=scene_graph_schema(max_nodes=5),
        denoiser=DenoiserConfig(hidden=16, edge_hidden=8, layers=1, heads=2, cond_dim=16)))
    model.set_node_distribution(torch.tensor([2, 3, 5]))
    return model.save_pretrained(tmp_path_factory.mktemp("model") / "sg")


def test_sample_writes_scene_graphs_and_layouts(scene_graph_model, tmp_path, capsys, no_data):
    from graphgen.data.scene_graphs import read_scene_graphs

    out, png = tmp_path / "sg.json", tmp_path / "layouts.png"
    assert main(["sample", str(scene_graph_model), "-n", "6", "--steps", "3", "-o", str(out), "--draw", str(png),
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    graphs = read_scene_graphs(out)
    assert len(graphs) == 6 and all(2 <= g.num_nodes <= 5 for g in graphs)
    assert png.stat().st_size > 1000
    assert "relation consistency" in text and "skipped: coco_sg data not found" in text
    assert "network evaluations / graph  5.0" in text    # Heun, 3 steps: 2 * 3 - 1


def test_sample_completes_a_partial_scene_graph(scene_graph_model, tmp_path, capsys, no_data):
    from graphgen.data.scene_graphs import read_scene_graphs

    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"objects": [{"category": "person", "box": [0.3, 0.5, 0.2, 0.6]},
                                               {"category": "dog", "box": None}],
                                   "relations": [[0, 1, "left of"]]}))
    out = tmp_path / "done.json"
    assert main(["sample", str(scene_graph_model), "-n", "4", "--steps", "3", "-o", str(out), "--complete",
                 str(partial), "--no-progress", "--no-metrics"]) == 0
    for g in read_scene_graphs(out):
        assert g.num_nodes >= 2 and g.x[:2].tolist() == [0, 16]        # person, dog
        assert g.box[0].tolist() == pytest.approx([0.3, 0.5, 0.2, 0.6])
        pairs = dict(zip(map(tuple, g.edge_index.T.tolist()), g.edge_attr.tolist()))
        assert pairs[(0, 1)] == 1                                       # left of
    partial.write_text(json.dumps({"objects": [{"category": "unicorn", "box": None}], "relations": []}))
    with pytest.raises(SystemExit, match="unknown category 'unicorn'"):
        main(["sample", str(scene_graph_model), "-n", "1", "--complete", str(partial), "-o", str(out)])


def test_sample_refuses_other_formats(scene_graph_model, tmp_path, capsys, no_data):
    assert main(["sample", str(scene_graph_model), "-n", "1", "-o", str(tmp_path / "s.smi")]) == 2
    assert "scene-graph and lane-graph models write --format json" in capsys.readouterr().err


def test_sample_writes_lane_graphs_and_drawings(tmp_path, capsys, no_data):
    from graphgen.data.lane_graphs import read_lane_graphs
    from graphgen.generate.hetero.schema import lane_graph_schema

    torch.manual_seed(0)  # test-only: fixes the initial weights
    model = HeteroDiffusionGenerator(HeteroDiffusionConfig(
        dataset="lanes", kind="lane_graph", schema=lane_graph_schema(max_nodes=4),
        denoiser=DenoiserConfig(hidden=16, edge_hidden=8, layers=1, heads=2, cond_dim=16)))
    model.set_node_distribution(torch.tensor([1, 4]))
    path = model.save_pretrained(tmp_path / "lanes")
    out, png = tmp_path / "lanes.json", tmp_path / "lanes.png"
    assert main(["sample", str(path), "-n", "3", "--steps", "2", "-o", str(out), "--draw", str(png),
                 "--no-progress"]) == 0
    graphs = read_lane_graphs(out)
    assert len(graphs) == 3 and all(g.pos.shape[1:] == (20, 2) for g in graphs)
    assert png.stat().st_size > 1000
    assert "successor agreement" in capsys.readouterr().out


def test_train_hetero_on_coco_sg_and_resume(shared_data, tmp_path, capsys):
    common = ["train", "hetero", "--dataset", "coco_sg", "--data-dir", str(shared_data), "--out", str(tmp_path / "r"),
              "--set", "model.denoiser.hidden=16", "model.denoiser.edge_hidden=8", "model.denoiser.layers=1",
              "model.denoiser.cond_dim=16", "model.giou_weight=0.2", "trainer.batch_size=4", "trainer.log_every=1",
              "--no-progress", "--checkpoint-minutes", "0"]
    assert main([*common, "--max-steps", "2"]) == 0
    assert main([*common, "--max-steps", "3", "--resume"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3]
    assert all("loss_giou" in r for r in rows if "loss" in r)        # the IoU regulariser, set on the command line
    from graphgen.generate import load_generator

    model = load_generator(tmp_path / "r" / "ema")
    assert model.config.kind == "scene_graph" and model.schema.max_nodes == 32
    assert model.node_count_probs.sum().item() == pytest.approx(1.0)
    assert main(["train", "hetero", "--dataset", "coco_sg", "--out", str(tmp_path / "bad"), "--set",
                 "augment=[rotate]", "--max-steps", "1", "--data-dir", str(shared_data)]) == 2
    assert "augment: unknown ['rotate']" in capsys.readouterr().err


def test_the_readme_partial_scene_graph_example_reads():
    from pathlib import Path

    from graphgen.data.scene_graphs import read_partial_scene_graph

    g = read_partial_scene_graph(Path(__file__).parents[2] / "examples" / "partial_scene_graph.json")
    assert g.x.tolist() == [0, 16, -1]                           # person, dog, a category to generate
    assert bool(g.box[1].isnan().all()) and not bool(g.box[[0, 2]].isnan().any())
    assert g.edge_index.tolist() == [[0], [1]] and g.edge_attr.tolist() == [1]
