"""The one configuration mechanism: dataclasses, loaded from YAML, overridden with ``--set a.b=value``.

A run is configured by one nested dataclass (for example :class:`graphgen.generate.pard.train.PARDRunConfig`: the
dataset, the model's config under ``model``, the trainer's under ``trainer``). Values are resolved in this order,
each step overriding the previous one:

1. the dataclass defaults;
2. the preset ``graphgen/train/configs/<family>_<dataset>.yaml`` (or ``<family>.yaml`` when no dataset preset
   exists), or the file given with ``--config FILE``;
3. ``--set a.b=value`` overrides (repeatable), in command-line order. Values are parsed as YAML scalars, so
   ``--set trainer.lr=1e-3`` is a float, ``--set model.noise=uniform`` a string and ``--set trainer.ema=null`` is None.

Every key is checked against the dataclass it lands in: an unknown key is an error that lists the valid ones. The
resolved config is written to the run folder as ``config.yaml`` and never changed afterwards (derived values such as
a node-count histogram live in the model, not in this config).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from graphgen.errors import InputError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

T = TypeVar("T")


class ConfigError(InputError):
    """A config file or override that does not fit its dataclass; the message names the key and the valid keys."""


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def _dataclass_in(tp: Any) -> type | None:
    """The dataclass named by an annotation (``Foo`` or ``Foo | None``), else None."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            return _dataclass_in(inner[0])
    return None


def from_dict(cls: type[T], values: dict[str, Any] | None, *, where: str = "") -> T:
    """Build dataclass ``cls`` from a nested dict; nested dataclass fields and ``list[Dataclass]`` items are built
    recursively.

    Unknown keys raise :class:`ConfigError` naming the dotted key and listing the valid keys at that level.
    """
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping of {cls.__name__} keys, got {values!r}")
    types_ = _field_types(cls)
    unknown = sorted(set(values) - set(types_))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(prefix + k for k in unknown)} "
                          f"for {cls.__name__}; valid keys: {', '.join(sorted(types_))}")
    kwargs = {}
    for name, value in values.items():
        key = f"{where}.{name}" if where else name
        sub = _dataclass_in(types_[name])
        if sub is not None and isinstance(value, dict):
            value = from_dict(sub, value, where=key)
        item = _list_item_dataclass(types_[name])
        if item is not None and isinstance(value, (list, tuple)):
            value = [from_dict(item, v, where=f"{key}[{i}]") if isinstance(v, dict) else v
                     for i, v in enumerate(value)]
        kwargs[name] = _coerce(value, types_[name], key)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where or cls.__name__}: {err}") from err


def _list_item_dataclass(tp: Any) -> type | None:
    """The dataclass of a ``list[Foo]`` annotation (or ``list[Foo] | None``), else None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _list_item_dataclass(inner[0]) if len(inner) == 1 else None
    if typing.get_origin(tp) in (list, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return _dataclass_in(args[0]) if len(args) == 1 else None
    return None


def _scalar_types(tp: Any) -> tuple[type, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return tuple(t for a in typing.get_args(tp) for t in _scalar_types(a))
    return (tp,) if tp in (int, float, bool, str, type(None)) else ()


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """YAML reads ``1e-3`` as a string and ``1`` as an int: give numeric fields the type they declare."""
    allowed = _scalar_types(tp)
    if not allowed or not isinstance(value, (int, float, str)) or isinstance(value, bool) or type(value) in allowed:
        return value
    if float in allowed and isinstance(value, (int, str)):
        try:
            return float(value)
        except ValueError:
            pass
    if int in allowed and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    if int in allowed and isinstance(value, float) and value.is_integer():
        return int(value)
    if str in allowed and isinstance(value, (int, float)):
        return str(value)
    names = " or ".join(t.__name__ for t in allowed if t is not type(None))
    raise ConfigError(f"{key}: expected {names}, got {value!r}")


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass as a plain nested dict (tuples become lists, so it round-trips through YAML and JSON)."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(config)


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"a.b=value"`` -> ``(["a", "b"], value)``, the value parsed as a YAML scalar."""
    import yaml

    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. trainer.lr=1e-3 or model.hidden=128")
    key, raw = item.split("=", 1)
    path = [k for k in key.strip().split(".") if k]
    if not path:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {item!r}: the value is not valid YAML ({err})") from err
    return path, value


def apply_overrides(cls: type, values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a nested dict, checking every key against ``cls`` as it goes."""
    import copy

    values = copy.deepcopy(values)
    for item in overrides:
        path, value = parse_override(item)
        target, target_cls = values, cls
        for depth, key in enumerate(path):
            types_ = _field_types(target_cls)
            if key not in types_:
                where = ".".join(path[:depth]) or target_cls.__name__
                raise ConfigError(f"--set {item!r}: unknown key {key!r} under {where}; "
                                  f"valid keys: {', '.join(sorted(types_))}")
            if depth == len(path) - 1:
                target[key] = value
                break
            sub = _dataclass_in(types_[key])
            if sub is None:
                raise ConfigError(f"--set {item!r}: {'.'.join(path[:depth + 1])} is a value, not a section")
            if not isinstance(target.get(key), dict):
                target[key] = to_dict(target[key]) if dataclasses.is_dataclass(target.get(key)) else {}
            target, target_cls = target[key], sub
    return values


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; errors name the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level")
    return values


def preset_path(family: str, dataset: str | None) -> Path:
    """``configs/<family>_<dataset>.yaml`` if it exists, else ``configs/<family>.yaml``."""
    if dataset:
        specific = CONFIG_DIR / f"{family}_{Path(str(dataset)).name.replace('-', '_')}.yaml"
        if specific.is_file():
            return specific
    generic = CONFIG_DIR / f"{family}.yaml"
    if not generic.is_file():
        have = sorted(p.stem for p in CONFIG_DIR.glob(f"{family}*.yaml"))
        raise ConfigError(f"no preset for {family} on {dataset!r} and no {generic.name}; presets: {have}")
    return generic


def resolve(cls: type[T], *, file: str | Path | None = None, preset: str | Path | None = None,
            base: dict[str, Any] | None = None, flags: dict[str, Any] | None = None,
            overrides: list[str] | None = None) -> T:
    """Defaults < ``base`` < YAML (``file`` if given, else ``preset``) < ``flags`` (a nested dict of typed values
    from command-line flags) < ``overrides`` (``--set`` items); see the module docstring."""
    values: dict[str, Any] = dict(base or {})
    source = file if file is not None else preset
    if source is not None:
        values = _merge(values, read_yaml(source))
    values = _merge(values, flags or {})
    values = apply_overrides(cls, values, list(overrides or []))
    where = str(source) if source is not None else ""
    try:
        return from_dict(cls, values)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}" if where else str(err)) from None


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def write_yaml(config: Any, path: str | Path) -> None:
    """The resolved config as YAML (keys in field order)."""
    import yaml

    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
