"""``save_pretrained`` / ``from_pretrained`` for every module built from one config dataclass.

A saved model is a folder: ``model.safetensors`` (every parameter and buffer) and ``config.json`` (the full resolved
config plus a key naming what the folder holds, e.g. ``"generator": "pard"`` or ``"encoder": "gps"``). Loading
rebuilds the module from ``config.json`` and loads the tensors strictly. Nothing is unpickled.

A class using :class:`PretrainedMixin` sets ``config_class`` (the dataclass), ``kind_key`` (the key written first
in ``config.json``) and :meth:`kind_value`; a config whose saved form needs conversion (old field names) overrides
:meth:`config_from_dict`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


class PretrainedMixin:
    """Adds ``config_dict``, ``config_from_dict``, ``save_pretrained`` and ``from_pretrained`` to a module that keeps
    its config dataclass as ``self.config``."""

    config_class: ClassVar[type] = object
    kind_key: ClassVar[str] = "kind"

    def kind_value(self) -> str:
        """The value written under :attr:`kind_key` in ``config.json``."""
        raise NotImplementedError

    def config_dict(self) -> dict[str, Any]:
        """The full resolved config as a JSON-able dict, with the kind key first."""
        from graphgen.train.config import to_dict

        return {self.kind_key: self.kind_value(), **to_dict(self.config)}

    @classmethod
    def config_from_dict(cls, d: dict[str, Any]) -> Any:
        """Inverse of :meth:`config_dict`; unknown keys are an error that lists the valid ones."""
        from graphgen.train.config import from_dict

        d = dict(d)
        if cls.kind_key != "kind":  # "kind" may also be a config field (EncoderConfig.kind)
            d.pop(cls.kind_key, None)
        return from_dict(cls.config_class, d)

    @classmethod
    def from_config(cls, config: Any):
        """An untrained module from its config (override when ``__init__`` takes more than the config)."""
        return cls(config)

    def save_pretrained(self, path: str | Path) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into the folder ``path`` (created if needed)."""
        from safetensors.torch import save_model

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_model(self, str(path / WEIGHTS_NAME), metadata={self.kind_key: self.kind_value()})
        (path / CONFIG_NAME).write_text(json.dumps(self.config_dict(), indent=2) + "\n")
        return path

    @classmethod
    def resolve_path(cls, name_or_path: str | Path) -> Path:
        """The folder to load from (subclasses add names, e.g. bundled models)."""
        return Path(name_or_path)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *, map_location: str = "cpu"):
        """Rebuild from ``config.json`` and load ``model.safetensors`` strictly; returns the module in eval mode."""
        from safetensors.torch import load_model

        path = cls.resolve_path(name_or_path)
        cfg_file, weights = path / CONFIG_NAME, path / WEIGHTS_NAME
        for f in (cfg_file, weights):
            if not f.is_file():
                raise FileNotFoundError(f"{f} not found: a saved model folder holds {CONFIG_NAME} and {WEIGHTS_NAME}")
        try:
            raw = json.loads(cfg_file.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{cfg_file}: not valid JSON ({err})") from err
        cls.check_kind(raw, cfg_file)
        model = cls.from_config(cls.config_from_dict(raw))
        load_model(model, str(weights), strict=True, device=map_location)
        model.eval()
        return model

    @classmethod
    def check_kind(cls, raw: dict[str, Any], cfg_file: Path) -> None:
        """Raise if ``config.json`` describes another kind of model than ``cls`` loads."""
