"""The one config mechanism: defaults < preset / --config file < flags < --set; unknown keys list the valid ones."""
from __future__ import annotations

import argparse
import dataclasses

import pytest

from graphgen.generate.hetero.train import HeteroRunConfig
from graphgen.generate.pard.train import PARDRunConfig
from graphgen.generate.sde.train import SDERunConfig
from graphgen.train import config as config_lib
from graphgen.train.config import ConfigError
from graphgen.train.runs import add_run_arguments, config_source, trainer_flags


def _resolve(cls, family: str, *argv: str):
    p = argparse.ArgumentParser()
    add_run_arguments(p)
    args = p.parse_args(list(argv))
    return config_lib.resolve(cls, base={"dataset": args.dataset}, flags=trainer_flags(args), overrides=args.set,
                              **config_source(args, family))


def test_preset_then_flags_then_set():
    cfg = _resolve(PARDRunConfig, "pard", "--dataset", "qm9")
    assert (cfg.model.hidden, cfg.model.num_layers, cfg.trainer.lr, cfg.trainer.minutes) == (64, 4, 7e-4, 130)  # preset
    assert cfg.model.noise == "marginal" and cfg.model.vlb_weight == 1.0                  # dataclass defaults
    cfg = _resolve(PARDRunConfig, "pard", "--dataset", "qm9", "--lr", "1e-3", "--set", "trainer.lr=2e-3",
                   "model.hidden=32", "--minutes", "5", "--decay-to", "1e-5")
    assert cfg.trainer.lr == 2e-3 and isinstance(cfg.trainer.lr, float)                  # --set beats the flag
    assert (cfg.model.hidden, cfg.trainer.minutes, cfg.trainer.schedule, cfg.trainer.lr_min) == (32, 5.0, "cosine", 1e-5)


def test_dataset_without_preset_uses_the_family_default(tmp_path):
    cfg = _resolve(PARDRunConfig, "pard", "--dataset", str(tmp_path / "mine.smi"))
    assert cfg.model.hidden == 64 and cfg.trainer.batch_size == 32                        # pard.yaml
    cfg = _resolve(SDERunConfig, "sde", "--dataset", "community_small", "--set", "model.net_adj.hidden=16")
    assert cfg.model.net_adj.hidden == 16 and cfg.model.net_adj.heads == 4 and cfg.trainer.optimizer == "adam"


def test_config_file_replaces_the_preset(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("model:\n  hidden: 24\ntrainer:\n  batch_size: 4\n  max_steps: 9\n")
    cfg = _resolve(PARDRunConfig, "pard", "--dataset", "qm9", "--config", str(f), "--set", "trainer.batch_size=6")
    # a --config file replaces the preset: keys it does not set take the built-in defaults, not the preset's
    from graphgen.generate.pard.model import PARDConfig

    assert (cfg.model.hidden, cfg.model.ce_weight, cfg.trainer.lr, cfg.trainer.batch_size, cfg.trainer.max_steps) == (
        24, PARDConfig().ce_weight, 1e-3, 6, 9)                   # the qm9 preset has ce_weight 1.0 and lr 7e-4
    assert PARDConfig().ce_weight != 1.0


@pytest.mark.parametrize("item, words", [
    ("model.hiden=3", ["unknown key 'hiden' under model", "valid keys:", "hidden", "edge_hidden"]),
    ("trainer.lr_max=1", ["unknown key 'lr_max' under trainer", "lr_min"]),
    ("nonsense=1", ["unknown key 'nonsense'", "dataset", "trainer"]),
    ("model.hidden.x=1", ["model.hidden is a value, not a section"]),
    ("model.hidden", ["expected KEY=VALUE"]),
    ("trainer.lr=fast", ["trainer.lr: expected float", "'fast'"]),
])
def test_bad_overrides_name_the_key(item, words):
    with pytest.raises(ConfigError) as err:
        _resolve(PARDRunConfig, "pard", "--dataset", "qm9", "--set", item)
    for w in words:
        assert w in str(err.value)


def test_unknown_key_in_a_yaml_file_names_the_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("trainer:\n  batch: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*trainer\.batch.*valid keys: .*batch_size"):
        _resolve(PARDRunConfig, "pard", "--dataset", "qm9", "--config", str(f))
    f.write_text("trainer: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        _resolve(PARDRunConfig, "pard", "--dataset", "qm9", "--config", str(f))


def test_yaml_round_trip_of_a_resolved_config(tmp_path):
    cfg = _resolve(SDERunConfig, "sde", "--dataset", "qm9", "--set", "model.sampler.snr=0.3")
    config_lib.write_yaml(cfg, tmp_path / "config.yaml")
    back = config_lib.from_dict(SDERunConfig, config_lib.read_yaml(tmp_path / "config.yaml"))
    assert dataclasses.asdict(back) == dataclasses.asdict(cfg)


def test_null_and_none_values():
    cfg = _resolve(PARDRunConfig, "pard", "--dataset", "qm9", "--set", "trainer.ema=null", "trainer.grad_clip=")
    assert cfg.trainer.ema is None and cfg.trainer.grad_clip is None


def test_every_preset_loads():
    from graphgen.generate.diffgraph.train import DiffGraphRunConfig
    from graphgen.train.encoder import EncoderRunConfig

    families = {"pard": PARDRunConfig, "sde": SDERunConfig, "hetero": HeteroRunConfig,
                "diffgraph": DiffGraphRunConfig, "lightgcn": DiffGraphRunConfig}
    for path in sorted(config_lib.CONFIG_DIR.glob("*.yaml")):
        cls = families.get(path.stem.split("_")[0], EncoderRunConfig)
        cfg = config_lib.resolve(cls, preset=path)
        assert cfg.trainer.batch_size >= 1, path.name
