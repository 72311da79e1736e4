"""The shared generator surface: save/load round trip, strict loading, EMA arithmetic."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch import nn

from graphgen.generate.base import EMA, Generator


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

    def sample(self, num_graphs, *, generator=None, **kwargs):
        return [torch.randn(self.config.width, generator=generator) for _ in range(num_graphs)]


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
    # weights of a different width do not load silently
    ToyGenerator(ToyConfig(width=5)).save_pretrained(tmp_path / "w5")
    cfg_file.write_text(json.dumps(cfg))
    (tmp_path / "m" / "model.safetensors").write_bytes((tmp_path / "w5" / "model.safetensors").read_bytes())
    with pytest.raises(Exception):
        ToyGenerator.from_pretrained(tmp_path / "m")


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
