"""The shared generator surface: save/load round trip, strict loading, sampling signature and events, EMA."""
from __future__ import annotations

import dataclasses
import inspect
import json
import math

import pytest
import torch
from torch import nn

from graphgen.generate.base import Generator, SampleOptionError, SampleStats, check_sample_options
from graphgen.train.ema import EMA


@dataclasses.dataclass
class ToyConfig:
    width: int = 3
    name: str = "toy"


class ToyGenerator(Generator):
    generator_key = "toy"
    config_class = ToyConfig

    def __init__(self, config: ToyConfig) -> None:
        super().__init__(config)
        self.lin = nn.Linear(config.width, 1)
        self.register_buffer("hist", torch.arange(config.width, dtype=torch.float))

    def loss(self, batch):
        return self.lin(batch).pow(2).mean()

    def sample(self, num_graphs, *, generator=None, batch_size=None, progress=False, callback=None, **options):
        check_sample_options("ToyGenerator.sample", options, ["scale"])
        scale = options.get("scale", 1.0)
        out = []
        for _ in range(num_graphs):
            if callback is not None:  # one "network pass" per graph
                callback({"kind": "evaluation", "num_graphs": 1})
            out.append(scale * torch.randn(self.config.width, generator=generator))
        if callback is not None:
            callback({"kind": "sampled", "num_graphs": num_graphs})
        return out


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = ToyGenerator(ToyConfig(width=4))
    model.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg == {"generator": "toy", "width": 4, "name": "toy"}
    loaded = ToyGenerator.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config
    for (n1, t1), (n2, t2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert n1 == n2 and torch.equal(t1, t2)
    assert not loaded.training


def test_load_errors(tmp_path):
    model = ToyGenerator(ToyConfig())
    model.save_pretrained(tmp_path / "m")
    cfg_file = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg_file.write_text(json.dumps({**cfg, "bogus": 1}))
    with pytest.raises(ValueError, match="bogus"):
        ToyGenerator.from_pretrained(tmp_path / "m")
    cfg_file.write_text(json.dumps({**cfg, "generator": "pard"}))
    with pytest.raises(ValueError, match="load_generator"):
        ToyGenerator.from_pretrained(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        ToyGenerator.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="not a bundled model.*qm9"):  # names the bundled models
        ToyGenerator.from_pretrained("no-such-model")
    # weights of a different width do not load silently
    ToyGenerator(ToyConfig(width=5)).save_pretrained(tmp_path / "w5")
    cfg_file.write_text(json.dumps(cfg))
    (tmp_path / "m" / "model.safetensors").write_bytes((tmp_path / "w5" / "model.safetensors").read_bytes())
    with pytest.raises(Exception):
        ToyGenerator.from_pretrained(tmp_path / "m")


def test_sample_stats_counts_graph_evaluations():
    stats = SampleStats()
    assert repr(stats) == "SampleStats(evaluations=0, graphs=0)" and math.isnan(stats.evaluations_per_graph)
    ToyGenerator(ToyConfig()).sample(3, callback=stats)
    assert (stats.evaluations, stats.graphs, stats.evaluations_per_graph) == (3, 3, 1.0)
    # a pass over k graphs counts k; kinds it does not know are ignored
    for event in ({"kind": "evaluation", "num_graphs": 4, "step": 0}, {"kind": "step", "x": None},
                  {"kind": "evaluation", "num_graphs": 4, "step": 1}, {"kind": "sampled", "num_graphs": 1}):
        stats(event)
    assert (stats.evaluations, stats.graphs, stats.evaluations_per_graph) == (11, 4, 2.75)


def test_unknown_sample_option_names_the_valid_ones():
    model = ToyGenerator(ToyConfig())
    assert torch.equal(model.sample(1, generator=torch.Generator().manual_seed(0), scale=2.0)[0],
                       2.0 * model.sample(1, generator=torch.Generator().manual_seed(0))[0])
    with pytest.raises(SampleOptionError, match="unknown options foo, steps; valid options: scale"):
        model.sample(1, steps=3, foo=1)
    with pytest.raises(SampleOptionError, match="takes no sampler options. why"):
        check_sample_options("X.sample", {"steps": 1}, [], "why")
    check_sample_options("X.sample", {}, [])


@pytest.mark.parametrize("cls_path", ["graphgen.generate.sde.model:ScoreSDEGenerator",
                                      "graphgen.generate.pard.model:PARDGenerator"])
def test_every_generator_has_the_shared_sample_signature(cls_path):
    import importlib

    module, name = cls_path.split(":")
    cls = getattr(importlib.import_module(module), name)
    params = inspect.signature(cls.sample).parameters
    shared = inspect.signature(Generator.sample).parameters
    assert list(params) == list(shared) == ["self", "num_graphs", "generator", "batch_size", "progress", "callback",
                                            "options"]
    for key in ("generator", "batch_size", "progress", "callback"):
        assert params[key].kind is inspect.Parameter.KEYWORD_ONLY and params[key].default == shared[key].default
    assert params["options"].kind is inspect.Parameter.VAR_KEYWORD


def test_ema_matches_hand_computed_average():
    lin = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    ema = EMA(lin, decay=0.5)
    for value in (3.0, 5.0):
        with torch.no_grad():
            lin.weight.fill_(value)
        ema.update(lin)
    # 1 -> 0.5*1 + 0.5*3 = 2 -> 0.5*2 + 0.5*5 = 3.5
    assert ema.shadow["weight"].item() == pytest.approx(3.5)
    with ema.swap(lin):
        assert lin.weight.item() == pytest.approx(3.5)
    assert lin.weight.item() == pytest.approx(5.0)
    other = EMA(lin, decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.shadow["weight"].item() == pytest.approx(3.5)
    with pytest.raises(ValueError, match="decay"):
        EMA(lin, decay=1.0)
