"""Value rules a generator's ``config.json`` must pass before a model is built from it (``Generator.check_config``).

:meth:`graphgen.nn.pretrained.PretrainedMixin.from_pretrained` checks a model folder in this order (each failure is
a :class:`~graphgen.errors.CorruptFileError` naming the file, and the key or tensor):

1. ``config.json`` parses (the error gives line and column) and names a known generator;
2. ``model.safetensors`` is a safetensors file whose tensor bytes match their recorded sha256;
3. the config resolves into the generator's dataclass (unknown keys, wrong types) and passes the rules below;
4. the resolved config equals the one recorded in the weights (the vocabulary compared by its elements);
5. the model built from it (under an allocation budget) has exactly the file's tensor names and shapes.

The rules here are what step 5 cannot see or would hit as a crash: every field of plain type holds that type
(``null`` where a bool belongs), sizes that must be positive (``"max_nodes": 0`` builds a model that samples nothing;
``"heads": 0`` divides by zero), widths that heads must divide, ranges that must be ordered, fractions and finite
numbers, names from a fixed set, and the vocabulary against the type counts (``"vocab": "moses"`` on the QM9 model:
8 atom types for 4 node types). A vocabulary of the same size but other elements passes these rules; only the
record of step 4 catches it, so folders saved before the record existed cannot be checked for it.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any

from graphgen.errors import CorruptFileError

# Dotted keys per generator (``GENERATORS`` key). Every listed key exists in that generator's config dataclass.
POSITIVE_INTS: dict[str, tuple[str, ...]] = {
    "pard": ("num_node_types", "num_edge_types", "max_hops", "num_steps", "hidden", "edge_hidden", "num_layers",
             "heads", "max_block_size", "max_nodes"),
    "sde": ("max_nodes", "num_node_features", "sde_x.num_scales", "sde_adj.num_scales", "net_x.depth",
            "net_x.hidden", "net_adj.num_layers", "net_adj.hidden", "net_adj.attn", "net_adj.heads",
            "net_adj.num_linears", "net_adj.c_init", "net_adj.c_hid", "net_adj.c_final", "sampler.n_steps"),
    "hetero": ("schema.max_nodes", "edm.steps", "denoiser.hidden", "denoiser.edge_hidden", "denoiser.layers",
               "denoiser.heads", "denoiser.ff_mult", "denoiser.cond_dim", "sample_batch_size"),
}
NON_NEGATIVE_INTS: dict[str, tuple[str, ...]] = {"pard": ("max_degree",)}
OPTIONAL_POSITIVE_INTS: dict[str, tuple[str, ...]] = {"sde": ("sampler.num_steps",)}
# (heads, width): the width is split into equal heads
DIVIDES: dict[str, tuple[tuple[str, str], ...]] = {
    "pard": (("heads", "hidden"),),
    "sde": (("net_adj.heads", "net_adj.attn"),),
    "hetero": (("denoiser.heads", "denoiser.hidden"),),
}
POSITIVE_FLOATS: dict[str, tuple[str, ...]] = {
    "sde": ("sde_x.beta_min", "sde_x.beta_max", "sde_adj.beta_min", "sde_adj.beta_max"),
    "hetero": ("edm.sigma_data", "edm.sigma_min", "edm.sigma_max", "edm.rho", "edm.p_std"),
}
NON_NEGATIVE_FLOATS: dict[str, tuple[str, ...]] = {
    "pard": ("vlb_weight", "ce_weight", "size_weight"),
    "sde": ("sampler.snr", "sampler.scale_eps"),
    "hetero": ("edge_loss_weight", "giou_weight", "edm.churn"),
}
# dropout probabilities: [0, 1)
FRACTIONS: dict[str, tuple[str, ...]] = {"pard": ("dropout",), "hetero": ("denoiser.dropout",)}
# times on the SDE's [0, 1] clock that must lie strictly inside it (the last sampling time, the smallest training time)
UNIT_TIMES: dict[str, tuple[str, ...]] = {"sde": ("sampler.eps", "train_eps")}
# (low, high): low < high (VP: beta rises over time; VE and EDM: the noise level falls from its max to its min)
ORDERED: dict[str, tuple[tuple[str, str], ...]] = {
    "sde": (("sde_x.beta_min", "sde_x.beta_max"), ("sde_adj.beta_min", "sde_adj.beta_max")),
    "hetero": (("edm.sigma_min", "edm.sigma_max"),),
}


def _choices(kind: str) -> dict[str, tuple[str, ...]]:
    """Keys whose value is a name from a fixed table (imported here: the tables live beside what they name)."""
    if kind != "sde":
        return {}
    from graphgen.generate.sde.samplers import CORRECTORS, PREDICTORS, SAMPLERS
    from graphgen.generate.sde.sde import SDES

    return {"sde_x.kind": tuple(SDES), "sde_adj.kind": tuple(SDES), "sampler.method": tuple(SAMPLERS),
            "sampler.predictor": tuple(PREDICTORS), "sampler.corrector": tuple(CORRECTORS)}


def _get(config: Any, key: str) -> Any:
    """The value at a dotted key of a (nested) config dataclass."""
    value = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Rules:
    """Collects the first broken rule of one config as a :class:`CorruptFileError` naming file and key."""

    def __init__(self, config: Any, cfg_file: Path) -> None:
        self.config, self.cfg_file = config, cfg_file

    def fail(self, key: str, value: Any, expected: str) -> None:
        raise CorruptFileError(f"{self.cfg_file}: {key} is {value!r}; it must be {expected}. Restore the value "
                               "saved with the weights")

    def int_at_least(self, key: str, low: int, *, optional: bool = False) -> None:
        value = _get(self.config, key)
        if optional and value is None:
            return
        if not _is_int(value) or value < low:
            self.fail(key, value, f"an integer >= {low}" + (" or null" if optional else ""))

    def number(self, key: str, *, low: float, strict: bool, high: float | None = None) -> None:
        value = _get(self.config, key)
        ok = _is_number(value) and math.isfinite(value) and (value > low if strict else value >= low)
        if ok and high is not None:
            ok = value < high
        if not ok:
            bound = f"> {low}" if strict else f">= {low}"
            self.fail(key, value, f"a finite number {bound}" + (f" and < {high}" if high is not None else ""))

    def divides(self, heads_key: str, width_key: str) -> None:
        heads, width = _get(self.config, heads_key), _get(self.config, width_key)
        if width % heads:
            self.fail(heads_key, heads, f"a divisor of {width_key}={width} (the width is split into equal heads)")

    def ordered(self, low_key: str, high_key: str) -> None:
        low, high = _get(self.config, low_key), _get(self.config, high_key)
        if not low < high:
            self.fail(low_key, low, f"below {high_key}={high}")

    def choice(self, key: str, names: tuple[str, ...]) -> None:
        value = _get(self.config, key)
        if value not in names:
            self.fail(key, value, f"one of {', '.join(names)}")


def _plain_types(annotation: Any) -> tuple[type, ...] | None:
    """The types a field annotated ``annotation`` accepts when it is built from plain types (``int``, ``float | None``,
    ``dict[str, Any]``, ...); ``None`` when it names anything else (a dataclass, a union of containers, ``Any``)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [_plain_types(a) for a in typing.get_args(annotation)]
        return None if any(p is None for p in parts) else tuple(t for p in parts for t in p)
    if annotation is type(None):
        return (type(None),)
    if annotation in (bool, int, float, str):
        return (annotation,)
    if origin in (dict, list, tuple):
        return (origin, list) if origin is tuple else (origin,)  # a tuple field reads back from JSON as a list
    return None


def _fits(value: Any, accepted: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in accepted
    if isinstance(value, int) and float in accepted:
        return True
    return isinstance(value, accepted)


def _types_match(config: Any, cfg_file: Path, where: str = "") -> None:
    """Every field of plain type holds that type (``from_dict`` coerces numbers, but lets ``null`` or a string
    through where a bool or an object belongs)."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        key, value = f"{where}.{f.name}" if where else f.name, getattr(config, f.name)
        annotation = hints.get(f.name, Any)
        if dataclasses.is_dataclass(annotation) and not isinstance(value, annotation):
            raise CorruptFileError(f"{cfg_file}: {key} is {value!r}; it must be an object of "
                                   f"{annotation.__name__} keys. Restore the value saved with the weights")
        if dataclasses.is_dataclass(value):
            _types_match(value, cfg_file, key)
            continue
        accepted = _plain_types(annotation)
        if accepted is not None and not _fits(value, accepted):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in accepted)
            raise CorruptFileError(f"{cfg_file}: {key} is {value!r}; it must be {names}. Restore the value saved "
                                   "with the weights")


def _all_numbers_finite(config: Any, cfg_file: Path, where: str = "") -> None:
    """No NaN or infinity anywhere in the config (JSON readers accept ``NaN`` and ``Infinity``)."""
    items = ((f.name, getattr(config, f.name)) for f in dataclasses.fields(config)) \
        if dataclasses.is_dataclass(config) else (config.items() if isinstance(config, dict) else ())
    for name, value in items:
        key = f"{where}.{name}" if where else str(name)
        if isinstance(value, float) and not math.isfinite(value):
            raise CorruptFileError(f"{cfg_file}: {key} is {value}; it must be a finite number. Restore the value "
                                   "saved with the weights")
        if dataclasses.is_dataclass(value) or isinstance(value, dict):
            _all_numbers_finite(value, cfg_file, key)


def _vocab_fits(config: Any, cfg_file: Path, node_key: str, edge_key: str | None) -> None:
    """The vocabulary resolves and has as many atom (and bond) types as the model has node (and edge) classes."""
    from graphgen.data.molecules import resolve_vocab

    try:
        vocab = resolve_vocab(config.vocab)
    except (TypeError, ValueError) as err:
        raise CorruptFileError(f"{cfg_file}: vocab {config.vocab!r} is not a vocabulary ({err})") from None
    if _get(config, node_key) != vocab.num_atom_types:
        raise CorruptFileError(f"{cfg_file}: vocab {vocab.name!r} has {vocab.num_atom_types} atom types "
                               f"({', '.join(vocab.atoms)}) but {node_key} is {_get(config, node_key)}; restore the "
                               "vocab saved with the weights")
    if edge_key is not None and _get(config, edge_key) != vocab.num_bond_types + 1:
        raise CorruptFileError(f"{cfg_file}: vocab {vocab.name!r} has {vocab.num_bond_types} bond types but "
                               f"{edge_key} is {_get(config, edge_key)} (expected {vocab.num_bond_types + 1}, "
                               "counting 'no edge'); restore the vocab saved with the weights")


def check_generator_config(kind: str, config: Any, cfg_file: Path) -> None:
    """Raise :class:`CorruptFileError` naming ``cfg_file`` and the key for the first value of the resolved config
    of generator ``kind`` that breaks a rule of this module."""
    _types_match(config, cfg_file)
    rules = _Rules(config, cfg_file)
    for key in POSITIVE_INTS.get(kind, ()):
        rules.int_at_least(key, 1)
    for key in NON_NEGATIVE_INTS.get(kind, ()):
        rules.int_at_least(key, 0)
    for key in OPTIONAL_POSITIVE_INTS.get(kind, ()):
        rules.int_at_least(key, 1, optional=True)
    for heads_key, width_key in DIVIDES.get(kind, ()):
        rules.divides(heads_key, width_key)
    for key in POSITIVE_FLOATS.get(kind, ()):
        rules.number(key, low=0.0, strict=True)
    for key in NON_NEGATIVE_FLOATS.get(kind, ()):
        rules.number(key, low=0.0, strict=False)
    for key in FRACTIONS.get(kind, ()):
        rules.number(key, low=0.0, strict=False, high=1.0)
    for key in UNIT_TIMES.get(kind, ()):
        rules.number(key, low=0.0, strict=True, high=1.0)
    for low_key, high_key in ORDERED.get(kind, ()):
        rules.ordered(low_key, high_key)
    for key, names in _choices(kind).items():
        rules.choice(key, names)
    _all_numbers_finite(config, cfg_file)
    if kind == "pard" and config.vocab is not None:
        _vocab_fits(config, cfg_file, "num_node_types", "num_edge_types")
    if kind == "sde" and (config.kind == "molecule") != (config.vocab is not None):
        # a molecule model needs its vocabulary; a plain-graph model with one would be a molecule model relabelled
        raise CorruptFileError(f"{cfg_file}: kind is {config.kind!r} with vocab {config.vocab!r}; a 'molecule' "
                               "model has a vocab, a 'graph' model has none. Restore the values saved with the weights")
    if kind == "sde" and config.kind == "molecule":
        _vocab_fits(config, cfg_file, "num_node_features", None)
