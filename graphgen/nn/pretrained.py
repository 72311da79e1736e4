"""``save_pretrained`` / ``from_pretrained`` for every module built from one config dataclass.

A saved model is a folder: ``model.safetensors`` (every parameter and buffer) and ``config.json`` (the full resolved
config plus a key naming what the folder holds, e.g. ``"generator": "pard"`` or ``"encoder": "gps"``). Loading
rebuilds the module from ``config.json`` and loads the tensors strictly. Nothing is unpickled.

The weights carry a record of what they were saved with, in the safetensors header's metadata:

- ``graphgen.config``: the resolved config (JSON). On load, ``config.json`` resolved the same way must equal it on
  every key both hold (a field added to a config class after the save is not compared); a difference is a
  :class:`~graphgen.errors.CorruptFileError` naming the key, the saved and the found value. This is how a
  vocabulary of the same size but other elements (C, N, S, F on a model trained with C, N, O, F), a head count that
  still divides the width, or another noise schedule is caught: none of them changes a tensor's shape. Sampler
  settings are per-call options (``sample(..., snr=0.1)``, ``graphgen sample --set``), not edits of ``config.json``.
- ``graphgen.data_sha256``: the sha256 of the tensor bytes, so a damaged or swapped data section is caught.

Folders saved before the record existed load with the checks that need no record: ``config.json`` parses (errors
name the file and line), its values pass the owner's :meth:`PretrainedMixin.check_config` (for generators the rules
of :mod:`graphgen.generate.model_folder_checks`: types, positive sizes, heads dividing widths, the vocabulary's size
against the type counts, ...), and every tensor of the model built from it matches the file's name and shape
(missing, unexpected and mis-shaped tensors are named). A same-size change of a meaning-only value (vocabulary
elements, head count) cannot be told from the weights of such a folder; saving it again
(``load_generator(path).save_pretrained(path)``) adds the record.

The model is built from ``config.json`` under an allocation budget (a few times the weights' size), so a config
asking for a huge model fails with a named error instead of exhausting memory.

A class using :class:`PretrainedMixin` sets ``config_class`` (the dataclass), ``kind_key`` (the key written first
in ``config.json``) and :meth:`kind_value`; a config whose saved form needs conversion (old field names) overrides
:meth:`config_from_dict`, and value rules go into :meth:`check_config`.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from graphgen.errors import CorruptFileError, GraphgenError, InputError

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
# safetensors metadata keys of the record (see the module docstring)
RECORD_CONFIG = "graphgen.config"
RECORD_DATA_SHA256 = "graphgen.data_sha256"
# Building a model from config.json may allocate this many times the weights' bytes, plus the slack: a config
# describing these weights needs about 1x (parameters and buffers), the rest covers temporaries of the init.
BUILD_BUDGET_FACTOR = 4
BUILD_BUDGET_SLACK = 64 << 20
# A safetensors header larger than this is not one graphgen wrote (its headers are a few kB to a few hundred kB).
MAX_HEADER_BYTES = 64 << 20


class MissingModelFileError(GraphgenError, FileNotFoundError):
    """A file of a saved model folder (``config.json``, ``model.safetensors``) is missing; the message names it."""


def require_file(path: Path) -> None:
    """Raise :class:`MissingModelFileError` naming ``path`` unless it is a file."""
    if not path.is_file():
        raise MissingModelFileError(f"{path} not found: a folder written by save_pretrained() holds {CONFIG_NAME} "
                                    f"and {WEIGHTS_NAME}")


# ----------------------------------------------------------------------------------------------------------------------
# config.json
# ----------------------------------------------------------------------------------------------------------------------
def read_config_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; a parse error names the file, line and column (:class:`CorruptFileError`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise CorruptFileError(f"{path}: not UTF-8 text ({err}); a saved model's config.json is JSON") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise CorruptFileError(f"{path}: not valid JSON at line {err.lineno}, column {err.colno} ({err.msg}); "
                               "restore the config.json written by save_pretrained()") from None
    if not isinstance(doc, dict):
        raise CorruptFileError(f"{path}: expected a JSON object of config keys, found {type(doc).__name__}")
    return doc


def config_differences(saved: Any, found: Any, where: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted key, saved value, found value)`` for every leaf where two resolved configs differ. Only keys both
    hold are compared: a field added to a config class after the save (or removed since) is not a difference, and
    a key left out of ``config.json`` resolves to its default, which is compared."""
    if isinstance(saved, dict) and isinstance(found, dict):
        out = []
        for key in sorted(set(saved) & set(found), key=str):
            sub = f"{where}.{key}" if where else str(key)
            out += config_differences(saved[key], found[key], sub)
        return out
    return [] if saved == found else [(where, saved, found)]


def _canonical_vocab(value: Any) -> Any:
    """A ``vocab`` value as the elements it stands for (name-free), so ``"qm9"`` equals its ``to_dict()`` form."""
    if value is None:
        return None
    from graphgen.data.molecules import resolve_vocab

    try:
        v = resolve_vocab(value)
    except (TypeError, ValueError):
        return value  # compared as written; check_config reports an unknown vocabulary by name
    return {"atoms": list(v.atoms), "bonds": list(v.bonds), "charges": list(v.charges)}


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with its vocabulary (if any) written as its elements, for :func:`config_differences`."""
    out = dict(config)
    if "vocab" in out:
        out["vocab"] = _canonical_vocab(out["vocab"])
    return out


# ----------------------------------------------------------------------------------------------------------------------
# model.safetensors
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class WeightsFile:
    """A parsed ``model.safetensors``: its tensors (CPU) and header metadata."""

    path: Path
    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str]

    def record(self) -> dict[str, Any] | None:
        """The resolved config the weights were saved with, or ``None`` for a folder saved without a record."""
        text = self.metadata.get(RECORD_CONFIG)
        if text is None:
            return None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            raise CorruptFileError(f"{self.path}: the header's {RECORD_CONFIG} record is not a JSON object; "
                                   "the file is damaged: save the model again or restore the file")
        return doc


def _split_header(blob: bytes, path: Path) -> tuple[dict[str, Any], bytes]:
    """(header JSON, data section) of a safetensors byte string; anything else is a :class:`CorruptFileError`."""
    not_st = f"{path}: not a safetensors file"
    if len(blob) < 8:
        raise CorruptFileError(f"{not_st} ({len(blob)} bytes, too short for a header); save the model again with "
                               "save_pretrained() (a pickled torch.save file is never loaded)")
    n = int.from_bytes(blob[:8], "little")
    if n > min(len(blob) - 8, MAX_HEADER_BYTES):
        raise CorruptFileError(f"{not_st} (its first 8 bytes give a header of {n} bytes, the file has "
                               f"{len(blob)}): truncated or another format (a pickled torch.save file is never "
                               "loaded); save the model again with save_pretrained()")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptFileError(f"{not_st} (the header is not JSON: {err}); save the model again with "
                               "save_pretrained()") from None
    if not isinstance(header, dict):
        raise CorruptFileError(f"{not_st} (the header is not a JSON object)")
    return header, blob[8 + n:]


def read_weights(path: Path) -> WeightsFile:
    """Parse ``path`` as safetensors and check the data section against the recorded sha256 (when recorded).

    Raises:
        CorruptFileError: naming ``path`` for a file that is not safetensors (truncated, garbage, a pickle), a header
            that does not fit the data, or tensor bytes whose sha256 differs from the record.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_bytes

    path = Path(path)
    blob = path.read_bytes()
    header, data = _split_header(blob, path)
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CorruptFileError(f"{path}: the header's __metadata__ is not a map of strings; the file is damaged")
    recorded = metadata.get(RECORD_DATA_SHA256)
    if recorded is not None and hashlib.sha256(data).hexdigest() != recorded:
        raise CorruptFileError(f"{path}: the tensor bytes do not match the sha256 recorded when it was saved "
                               "(damaged or edited); restore the file or save the model again")
    try:
        tensors = load_bytes(blob)
    except (SafetensorError, ValueError, TypeError, RuntimeError) as err:
        raise CorruptFileError(f"{path}: not a valid safetensors file ({err}); save the model again with "
                               "save_pretrained()") from None
    return WeightsFile(path, tensors, dict(metadata))


def _with_metadata(blob: bytes, extra: dict[str, str]) -> bytes:
    """A safetensors byte string with ``extra`` added to its header metadata; tensor bytes and offsets (relative to
    the data section) are unchanged."""
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    header["__metadata__"] = {**(header.get("__metadata__") or {}), **extra}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keep the data section 8-byte aligned, as safetensors writes it
    return len(text).to_bytes(8, "little") + text + blob[8 + n:]


def write_weights(module: torch.nn.Module, path: Path, metadata: dict[str, str]) -> None:
    """Write ``module``'s tensors to ``path`` with ``metadata`` plus the sha256 of the tensor bytes; atomically
    (a temporary file renamed into place)."""
    from safetensors.torch import save_model

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_model(module, str(tmp), metadata=dict(metadata))
        blob = tmp.read_bytes()
        _, data = _split_header(blob, tmp)
        tmp.write_bytes(_with_metadata(blob, {RECORD_DATA_SHA256: hashlib.sha256(data).hexdigest()}))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------------------------------
# building under a budget, checking shapes
# ----------------------------------------------------------------------------------------------------------------------
class _OverBudget(Exception):
    """Raised inside a model's constructor when it allocates more than its budget (not a ValueError or
    RuntimeError, so no handler in the constructor swallows it)."""


def _new_storage_bytes(args: Any, out: Any) -> int:
    """Bytes of the tensors in ``out`` whose storage is not one of the inputs' (views and in-place ops add 0)."""
    from torch.utils._pytree import tree_leaves

    def storage_of(t: Any) -> Any:
        try:
            return t.untyped_storage() if isinstance(t, torch.Tensor) else None
        except (RuntimeError, NotImplementedError):  # sparse and other storage-less layouts: counted as 0
            return None

    seen = {s.data_ptr() for s in map(storage_of, tree_leaves(args)) if s is not None}
    total = 0
    for storage in map(storage_of, tree_leaves(out)):
        if storage is not None and storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total


def build_within_budget(build: Any, limit_bytes: int) -> torch.nn.Module:
    """``build()`` while counting the bytes its tensor operations allocate; stop with ``_OverBudget`` past
    ``limit_bytes`` (each allocation is counted before it is used, so at most one over-budget block exists)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Budget(TorchDispatchMode):
        used = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            Budget.used += _new_storage_bytes((args, kwargs), out)
            if Budget.used > limit_bytes:
                raise _OverBudget(f"building it allocates more than {limit_bytes / 2**20:.0f} MiB")
            return out

    with Budget():
        return build()


def _expected_file_keys(model: torch.nn.Module, weights: WeightsFile) -> tuple[list[str], list[str], list[str]]:
    """(missing, unexpected, mis-shaped) tensor names between ``model``'s state dict and the file. A tensor that
    safetensors stored once for several tied names is listed in the metadata under the dropped name."""
    state = model.state_dict()
    stored = weights.tensors
    aliases = {k: v for k, v in weights.metadata.items() if v in stored}
    missing = [k for k in state if k not in stored and aliases.get(k) not in stored]
    unexpected = [k for k in stored if k not in state]
    shaped = [f"{k} (file {list(stored[k].shape)}, config {list(state[k].shape)})"
              for k in state if k in stored and stored[k].shape != state[k].shape]
    return missing, unexpected, shaped


def _name_some(names: list[str], limit: int = 6) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


# ----------------------------------------------------------------------------------------------------------------------
# the mixin
# ----------------------------------------------------------------------------------------------------------------------
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
        """Write ``model.safetensors`` (with the record of the module docstring) and ``config.json`` into the folder
        ``path`` (created if needed)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = self.config_dict()
        write_weights(self, path / WEIGHTS_NAME, {self.kind_key: self.kind_value(),
                                                  RECORD_CONFIG: json.dumps(config, sort_keys=True)})
        (path / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        return path

    @classmethod
    def resolve_path(cls, name_or_path: str | Path) -> Path:
        """The folder to load from (subclasses add names, e.g. bundled models)."""
        return Path(name_or_path)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *, map_location: str = "cpu"):
        """Rebuild from ``config.json`` and load ``model.safetensors`` strictly; returns the module in eval mode.

        Raises:
            MissingModelFileError: a file of the folder is missing (a ``FileNotFoundError``).
            CorruptFileError: naming the file (and the key or tensor) when ``config.json`` is not JSON or has a
                value that cannot describe a model, when the weights are not safetensors or damaged, or when the two
                do not fit each other (see the module docstring).
        """
        path = cls.resolve_path(name_or_path)
        cfg_file, weights_file = path / CONFIG_NAME, path / WEIGHTS_NAME
        for f in (cfg_file, weights_file):
            require_file(f)
        raw = read_config_json(cfg_file)
        cls.check_kind(raw, cfg_file)
        weights = read_weights(weights_file)
        config = cls._config_of(raw, cfg_file)
        cls._check_against_record(config, weights, cfg_file)
        model = cls._build(config, weights, cfg_file)
        missing, unexpected, shaped = _expected_file_keys(model, weights)
        if missing or unexpected or shaped:
            parts = [f"{label}: {_name_some(names)}" for label, names in
                     (("missing", missing), ("unexpected", unexpected), ("other shape", shaped)) if names]
            raise CorruptFileError(f"{weights_file} does not fit the model {cfg_file} describes ({'; '.join(parts)});"
                                   f" restore the config.json saved with these weights")
        model.load_state_dict(weights.tensors, strict=False)  # names checked above; tied tensors load through one
        model.to(map_location)
        model.eval()
        return model

    @classmethod
    def _config_of(cls, raw: dict[str, Any], cfg_file: Path) -> Any:
        """The config dataclass of ``raw``, checked by :meth:`check_config`; errors name ``cfg_file``."""
        try:
            config = cls.config_from_dict(raw)
        except InputError as err:
            raise CorruptFileError(f"{cfg_file}: {err}") from None
        except (TypeError, ValueError) as err:
            raise CorruptFileError(f"{cfg_file}: a value does not fit {cls.config_class.__name__} ({err})") from None
        cls.check_config(config, cfg_file)
        return config

    @classmethod
    def _check_against_record(cls, config: Any, weights: WeightsFile, cfg_file: Path) -> None:
        """``config`` (resolved) equals the config recorded in the weights, when there is a record."""
        from graphgen.train.config import to_dict

        saved = weights.record()
        if saved is None:
            return
        found = {cls.kind_key: saved.get(cls.kind_key), **to_dict(config)}
        diffs = config_differences(_comparable(saved), _comparable(found))
        if diffs:
            shown = "; ".join(f"{k}: saved {s!r}, found {f!r}" for k, s, f in diffs[:4])
            more = f" (and {len(diffs) - 4} more)" if len(diffs) > 4 else ""
            raise CorruptFileError(f"{cfg_file} differs from the config {weights.path.name} was saved with: "
                                   f"{shown}{more}; restore those values (sampler settings are per-call options)")

    @classmethod
    def _build(cls, config: Any, weights: WeightsFile, cfg_file: Path):
        """The untrained module of ``config``, built under the allocation budget; failures name ``cfg_file``."""
        data_bytes = sum(t.numel() * t.element_size() for t in weights.tensors.values())
        limit = BUILD_BUDGET_FACTOR * data_bytes + BUILD_BUDGET_SLACK
        try:
            return build_within_budget(lambda: cls.from_config(config), limit)
        except _OverBudget as err:
            raise CorruptFileError(f"{cfg_file} describes a model far larger than {weights.path.name} "
                                   f"({data_bytes} bytes of tensors): {err}; restore the saved sizes") from None
        except (ArithmeticError, LookupError, TypeError, ValueError, RuntimeError) as err:
            raise CorruptFileError(f"{cfg_file}: no model can be built from it ({type(err).__name__}: {err}); "
                                   "restore the config.json saved with the weights") from None

    @classmethod
    def check_config(cls, config: Any, cfg_file: Path) -> None:
        """Raise a :class:`~graphgen.errors.CorruptFileError` naming ``cfg_file`` and the key for a value of the
        resolved ``config`` that no saved model can have (override to add rules; the default has none)."""

    @classmethod
    def check_kind(cls, raw: dict[str, Any], cfg_file: Path) -> None:
        """Raise if ``config.json`` describes another kind of model than ``cls`` loads."""
