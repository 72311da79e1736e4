"""The run folder every trainer writes, with atomic checkpoints.

Layout (the same for every model)::

    <run>/config.yaml           the fully resolved run config (written once, before the first step)
    <run>/log.jsonl             one row per logged step: step, epoch, lr, loss terms, elapsed seconds, evaluations
    <run>/last -> checkpoints/step_<S>       live weights + config.json (as save_pretrained writes them),
                                             optimizer.safetensors, trainer_state.json
    <run>/ema  -> checkpoints/step_<S>/ema   the averaged weights (the model to sample from)
    <run>/best -> checkpoints/best_<S>       the checkpoint selection's pick (with ``select``), plus selection.json
    <run>/ema_<S> -> ...                     every checkpoint's EMA (with ``keep_checkpoints``)
    <run>/selection.jsonl                    every selection score

Atomicity: a checkpoint is written into a fresh temporary folder, every file and the folder are fsync'ed, the folder
is renamed to ``checkpoints/step_<S>`` (a rename onto a new name is atomic), and then the ``last`` symlink is
replaced with ``os.replace`` (also atomic). A ``kill -9`` at any instant therefore leaves ``last`` pointing at a
complete checkpoint: the previous one until the symlink swap, the new one after it. Folders no link points to
(a half-written temporary folder, a superseded checkpoint) are removed at the next write.

Nothing here pickles: tensors go to safetensors, everything else to JSON. Optimizer state is keyed by parameter name,
so it loads into any model with the same parameter names, for any ``torch.optim`` optimizer.
"""
from __future__ import annotations

import base64
import json
import os
import random
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from graphgen.errors import GraphgenError

CHECKPOINTS = "checkpoints"
OPTIMIZER_NAME = "optimizer.safetensors"
STATE_NAME = "trainer_state.json"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def _fault(point: str, step: int) -> None:
    """Fault injection for the crash tests: ``GRAPHGEN_FAULT=<point>:<step>`` kills this process with SIGKILL at
    that point of the checkpoint write of that step (points: ``half_written``, ``renamed``, ``last_linked``)."""
    if os.environ.get("GRAPHGEN_FAULT") == f"{point}:{step}":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


class CheckpointError(GraphgenError, RuntimeError):
    """A run folder that cannot be resumed or written as asked; the message says what was found."""


# -- model folders ----------------------------------------------------------------------------------------------------
def save_model_folder(model: nn.Module, folder: Path, config: dict[str, Any] | None = None) -> None:
    """``model.save_pretrained(folder)`` when the model has it; else its tensors and ``config`` as JSON."""
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(folder)
        return
    from safetensors.torch import save_model

    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, str(folder / WEIGHTS_NAME))
    (folder / CONFIG_NAME).write_text(json.dumps(config or {}, indent=2) + "\n")


def load_weights(model: nn.Module, folder: Path) -> None:
    """Load ``folder/model.safetensors`` into ``model`` strictly (names and shapes must match)."""
    from safetensors.torch import load_model

    path = Path(folder) / WEIGHTS_NAME
    if not path.is_file():
        raise CheckpointError(f"{path} not found")
    load_model(model, str(path), strict=True)


# -- optimizer state --------------------------------------------------------------------------------------------------
def optimizer_state_to_safetensors(model: nn.Module, opt: torch.optim.Optimizer, path: Path) -> None:
    """Write ``opt.state_dict()`` keyed by parameter name: tensors as ``<param>::<key>``; the param groups (with
    parameter names instead of positions) and non-tensor values in the file's JSON metadata."""
    from safetensors.torch import save_file

    names = {id(p): n for n, p in model.named_parameters()}
    ordered = [p for g in opt.param_groups for p in g["params"]]
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, st in sd["state"].items():
        pname = names[id(ordered[idx])]
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{pname}::{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{pname}::{key}"] = value
    groups = []
    for g in sd["param_groups"]:
        groups.append({**{k: v for k, v in g.items() if k != "params"},
                       "params": [names[id(ordered[i])] for i in g["params"]]})
    meta = {"optimizer": type(opt).__name__, "param_groups": json.dumps(groups), "scalars": json.dumps(scalars)}
    save_file(tensors, str(path), metadata=meta)


def optimizer_state_from_safetensors(model: nn.Module, opt: torch.optim.Optimizer, path: Path) -> None:
    """Inverse of :func:`optimizer_state_to_safetensors` into an optimizer built over the same named parameters."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    if meta.get("optimizer") != type(opt).__name__:
        raise CheckpointError(f"{path} holds {meta.get('optimizer')} state; the run uses {type(opt).__name__}")
    names = {id(p): n for n, p in model.named_parameters()}
    ordered = [names[id(p)] for g in opt.param_groups for p in g["params"]]
    position = {n: i for i, n in enumerate(ordered)}
    saved_groups = json.loads(meta["param_groups"])
    saved_names = [n for g in saved_groups for n in g["params"]]
    if saved_names != ordered:
        missing = sorted(set(ordered) - set(saved_names))[:5]
        extra = sorted(set(saved_names) - set(ordered))[:5]
        raise CheckpointError(f"{path}: optimizer parameters differ from the model's (missing {missing}, extra {extra})")
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        pname, k = key.split("::", 1)
        state.setdefault(position[pname], {})[k] = value
    for key, value in json.loads(meta["scalars"]).items():
        pname, k = key.split("::", 1)
        state.setdefault(position[pname], {})[k] = value
    groups = []
    for g, current in zip(saved_groups, opt.param_groups):   # JSON turned tuples (Adam's betas) into lists
        groups.append({**{k: tuple(v) if isinstance(current.get(k), tuple) else v for k, v in g.items()},
                       "params": [position[n] for n in g["params"]]})
    opt.load_state_dict({"state": state, "param_groups": groups})


# -- random number generators -----------------------------------------------------------------------------------------
def tensor_to_b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.numpy().tobytes()).decode("ascii")


def tensor_from_b64(s: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8).clone()


def rng_states(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """The torch, numpy and python global RNG states plus named ``torch.Generator`` states, as JSON values."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": tensor_to_b64(torch.get_rng_state()),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "generators": {name: tensor_to_b64(g.get_state()) for name, g in generators.items()},
    }


def set_rng_states(states: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(tensor_from_b64(states["torch"]))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    for name, g in generators.items():
        if name not in states["generators"]:
            raise CheckpointError(f"trainer_state.json has no state for generator {name!r}")
        g.set_state(tensor_from_b64(states["generators"][name]))


# -- the run folder ---------------------------------------------------------------------------------------------------
def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RunFolder:
    """One training run's folder (see the module docstring for the layout)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.checkpoints = self.path / CHECKPOINTS

    # links
    def link(self, name: str) -> Path:
        return self.path / name

    def has_checkpoint(self) -> bool:
        last = self.link("last")
        return last.is_dir() and (last / STATE_NAME).is_file() and (last / WEIGHTS_NAME).is_file()

    def describe(self) -> str:
        """What the folder holds, for error messages."""
        if not self.path.exists():
            return f"{self.path} does not exist"
        entries = sorted(p.name for p in self.path.iterdir())
        return f"{self.path} holds {entries if entries else 'nothing'}"

    def is_used(self) -> bool:
        """True if the folder already holds a run (a checkpoint, a log or a config)."""
        return any((self.path / n).exists() or (self.path / n).is_symlink()
                   for n in ("last", "log.jsonl", "config.yaml", CHECKPOINTS))

    def _point(self, name: str, target: Path) -> None:
        """Atomically make ``<run>/name`` a relative symlink to ``target``."""
        link = self.path / name
        if link.exists() and not link.is_symlink():
            raise CheckpointError(f"{link} is a real folder, not a link written by graphgen's trainer; "
                                  "move it away or train into another --out")
        tmp = self.path / f".{name}.link-{uuid.uuid4().hex[:8]}"
        os.symlink(os.path.relpath(target, self.path), tmp)
        os.replace(tmp, link)

    def write(self, step: int, fill, *, ema_fill=None, keep: bool = False) -> Path:
        """Write checkpoint ``step``: ``fill(folder)`` writes the live checkpoint into a temporary folder and
        ``ema_fill(folder)`` the averaged model into its ``ema/`` subfolder; then publish both links.
        Returns the checkpoint folder."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        final = self.checkpoints / f"step_{step:09d}"
        k = 1
        while final.exists():  # a second checkpoint at one step (e.g. at an epoch's end) gets its own folder
            final, k = self.checkpoints / f"step_{step:09d}_{k}", k + 1
        tmp = self.checkpoints / f".tmp_{step:09d}_{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        fill(tmp)
        _fault("half_written", step)
        if ema_fill is not None:
            ema_fill(tmp / "ema")
        _fsync_tree(tmp)
        os.rename(tmp, final)
        _fsync_dir(self.checkpoints)
        _fault("renamed", step)
        self._point("last", final)
        _fault("last_linked", step)
        if (final / "ema").is_dir():
            self._point("ema", final / "ema")
            if keep:
                self._point(f"ema_{step}", final / "ema")
        _fsync_dir(self.path)
        self.collect_garbage()
        return final

    def publish_best(self, step: int, source: Path, extra: dict[str, Any]) -> Path:
        """Copy the model folder ``source`` to ``checkpoints/best_<step>`` with ``selection.json``; point ``best``."""
        final = self.checkpoints / f"best_{step:09d}"
        tmp = self.checkpoints / f".tmp_best_{uuid.uuid4().hex[:8]}"
        shutil.copytree(source, tmp)
        (tmp / "selection.json").write_text(json.dumps(extra, indent=2) + "\n")
        _fsync_tree(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
        self._point("best", final)
        _fsync_dir(self.path)
        self.collect_garbage()
        return final

    def collect_garbage(self) -> None:
        """Remove checkpoint folders that no link in the run folder points into (and stale temporary folders)."""
        if not self.checkpoints.is_dir():
            return
        used = set()
        for link in self.path.iterdir():
            if link.is_symlink():
                target = (self.path / os.readlink(link)).resolve()
                try:
                    rel = target.relative_to(self.checkpoints.resolve())
                except ValueError:
                    continue
                used.add(rel.parts[0])
        for child in self.checkpoints.iterdir():
            if child.name not in used:
                shutil.rmtree(child, ignore_errors=True)

    def clear(self) -> None:
        """Remove everything a run writes (``--overwrite``)."""
        if not self.path.exists():
            return
        for child in self.path.iterdir():
            if child.is_symlink() or child.is_file():
                child.unlink()
            elif child.is_dir():
                shutil.rmtree(child)

    # state
    def read_state(self) -> dict[str, Any]:
        path = self.link("last") / STATE_NAME
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{path}: cannot read the trainer state ({err})") from err

