"""The surface every graph generator shares, the sampling-event schema, and an exponential moving average of weights.

A generator is an :class:`torch.nn.Module` built from one config dataclass (kept as ``self.config``) with

- ``loss(batch) -> Tensor``: the scalar training loss on a PyG ``Batch`` (or whatever the generator's loader yields);
- ``sample(num_graphs, *, generator=None, batch_size=None, progress=False, callback=None, **options) -> list[Data]``:
  new graphs, randomness drawn only from ``generator``; ``options`` are the generator's sampler settings (an unknown
  one is a :class:`SampleOptionError` naming the valid ones);
- ``save_pretrained(path)``: ``path/model.safetensors`` (every parameter and buffer) and ``path/config.json`` (the full
  resolved config plus ``"generator": <key of graphgen.generate.GENERATORS>``);
- ``from_pretrained(name_or_path)``: rebuild from ``config.json`` and load the weights (strict: missing or unexpected
  tensors are an error); a bundled model name is resolved by ``graphgen.generate.model_folder``. Nothing is unpickled.

Sampling events. ``callback(event)`` receives dicts with a ``"kind"`` key; every generator emits

- ``{"kind": "evaluation", "num_graphs": k, ...}`` once per network pass over ``k`` graphs. One pass over one graph
  counts 1, whatever the network (GDSS: one joint evaluation of its two score networks; PARD: one denoising step of a
  block, or one next-block size/degree prediction). Generator-specific keys may follow (GDSS ``"step"``; PARD
  ``"block"``, ``"step"``, ``"finished"``);
- ``{"kind": "sampled", "num_graphs": k}`` when ``k`` more graphs are finished.

Other kinds are generator-specific (GDSS ``"step"`` carries the state after each sampler step); a callback ignores
kinds it does not know. :class:`SampleStats` is a callback that counts network evaluations per graph.

Subclasses set two class attributes, ``generator_key`` (e.g. ``"sde"``) and ``config_class`` (the dataclass), and
implement ``loss`` and ``sample``. A config whose fields are themselves dataclasses (or need conversion) overrides
:meth:`Generator.config_from_dict`.
"""
from __future__ import annotations

import abc
import copy
import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor, nn

from graphgen.generate import model_folder  # the package module imports only graphgen.hub: no cycle

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


class SampleOptionError(ValueError):
    """A sampler option that the generator does not take, or a value it cannot use; the message names the valid ones."""


def check_sample_options(owner: str, options: dict[str, Any], valid: list[str], hint: str = "") -> None:
    """Raise :class:`SampleOptionError` if ``options`` has a key outside ``valid``; ``owner`` names the method."""
    unknown = sorted(set(options) - set(valid))
    if unknown:
        takes = f"valid options: {', '.join(sorted(valid))}" if valid else "it takes no sampler options"
        raise SampleOptionError(f"{owner}: unknown option{'s' if len(unknown) > 1 else ''} "
                                f"{', '.join(unknown)}; {takes}{'. ' + hint if hint else ''}")


class SampleStats:
    """A sampling callback that counts network evaluations and finished graphs (events in the module docstring).

    ``stats = SampleStats(); model.sample(100, callback=stats); stats.evaluations_per_graph``.
    """

    def __init__(self) -> None:
        self.evaluations = 0  # graph-evaluations: sum of num_graphs over "evaluation" events
        self.graphs = 0  # sum of num_graphs over "sampled" events

    def __call__(self, event: dict[str, Any]) -> None:
        if event["kind"] == "evaluation":
            self.evaluations += event["num_graphs"]
        elif event["kind"] == "sampled":
            self.graphs += event["num_graphs"]

    @property
    def evaluations_per_graph(self) -> float:
        """Network evaluations per finished graph (``nan`` before any graph finished)."""
        return self.evaluations / self.graphs if self.graphs else float("nan")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(evaluations={self.evaluations}, graphs={self.graphs})"


class Generator(nn.Module, abc.ABC):
    """Abstract graph generator: ``loss``, ``sample``, ``save_pretrained``, ``from_pretrained``.

    Args:
        config: the generator's config dataclass instance (an instance of ``config_class``); kept as ``self.config``
            and written verbatim to ``config.json``. Derived values (e.g. a node-count histogram measured on the
            training set) are buffers or explicit arguments, never written back into the config.
    """

    generator_key: ClassVar[str] = ""
    config_class: ClassVar[type] = object

    def __init__(self, config: Any) -> None:
        super().__init__()
        if self.config_class is not object and not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} expects a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    # -- the two things every generator does --------------------------------------------------------------------
    @abc.abstractmethod
    def loss(self, batch: Any) -> Tensor:
        """Scalar training loss on one batch."""

    @abc.abstractmethod
    def sample(self, num_graphs: int, *, generator: torch.Generator | None = None, batch_size: int | None = None,
               progress: bool = False, callback: Callable[[dict[str, Any]], None] | None = None,
               **options: Any) -> list:
        """``num_graphs`` new graphs as a list of ``torch_geometric.data.Data``.

        Args:
            generator: the only source of randomness (same seed and arguments -> same graphs).
            batch_size: graphs sampled together (``None``: the generator's default).
            progress: show a tqdm bar.
            callback: receives the sampling events of the module docstring (e.g. a :class:`SampleStats`).
            options: sampler settings of this generator; an unknown one is a :class:`SampleOptionError`.
        """

    # -- persistence ------------------------------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        """The full resolved config as a JSON-able dict, with the ``"generator"`` key first."""
        cfg = dataclasses.asdict(self.config) if dataclasses.is_dataclass(self.config) else dict(self.config)
        return {"generator": self.generator_key, **cfg}

    @classmethod
    def config_from_dict(cls, d: dict[str, Any]) -> Any:
        """Inverse of :meth:`config_dict` (minus the ``"generator"`` key). Unknown keys are an error."""
        d = {k: v for k, v in d.items() if k != "generator"}
        if dataclasses.is_dataclass(cls.config_class):
            known = {f.name for f in dataclasses.fields(cls.config_class)}
            unknown = sorted(set(d) - known)
            if unknown:
                raise ValueError(f"config.json has keys {unknown} that {cls.config_class.__name__} does not define")
        return cls.config_class(**d)

    @classmethod
    def from_config(cls, config: Any) -> "Generator":
        """Build an untrained generator from its config (override when ``__init__`` takes more than the config)."""
        return cls(config)

    def save_pretrained(self, path: str | Path) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into the folder ``path`` (created if needed)."""
        from safetensors.torch import save_model

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_model(self, str(path / WEIGHTS_NAME), metadata={"generator": self.generator_key})
        (path / CONFIG_NAME).write_text(json.dumps(self.config_dict(), indent=2, sort_keys=False) + "\n")
        return path

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *, map_location: str = "cpu") -> "Generator":
        """Rebuild from ``config.json`` and load ``model.safetensors`` strictly (no pickle). ``name_or_path``: a folder
        written by :meth:`save_pretrained` or a bundled model name (``graphgen.hub.MODELS``)."""
        from safetensors.torch import load_model

        path = model_folder(name_or_path)
        cfg_file, weights = path / CONFIG_NAME, path / WEIGHTS_NAME
        for f in (cfg_file, weights):
            if not f.exists():
                raise FileNotFoundError(f"{f} not found: save_pretrained() writes {CONFIG_NAME} and {WEIGHTS_NAME}")
        raw = json.loads(cfg_file.read_text())
        kind = raw.get("generator")
        if cls.generator_key and kind != cls.generator_key:
            raise ValueError(
                f"{cfg_file} is a '{kind}' generator, not '{cls.generator_key}'; "
                "use graphgen.generate.load_generator(path) to load any kind"
            )
        model = cls.from_config(cls.config_from_dict(raw))
        load_model(model, str(weights), strict=True, device=map_location)
        model.eval()
        return model

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class EMA:
    """Exponential moving average of a module's floating-point parameters (Polyak averaging).

    ``shadow <- decay * shadow + (1 - decay) * param`` after every optimiser step (:meth:`update`). Use
    :meth:`swap` (a context manager) to evaluate or sample with the averaged weights and then restore the live ones.
    Buffers are not averaged (they are copied as they are when swapping). The shadow is a plain dict of tensors so it
    can be written with safetensors (:meth:`state_dict` / :meth:`load_state_dict`).

    Args:
        module: the module whose parameters are averaged.
        decay: averaging factor in [0, 1); GDSS uses 0.999.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.shadow: dict[str, Tensor] = {
            n: p.detach().clone() for n, p in module.named_parameters() if p.dtype.is_floating_point
        }

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for n, p in module.named_parameters():
            if n in self.shadow:
                self.shadow[n].lerp_(p.detach(), 1.0 - self.decay)

    @torch.no_grad()
    def copy_to(self, module: nn.Module) -> None:
        """Overwrite ``module``'s parameters with the averages."""
        for n, p in module.named_parameters():
            if n in self.shadow:
                p.copy_(self.shadow[n])

    def swap(self, module: nn.Module):
        """Context manager: averaged weights inside, live weights restored on exit."""
        ema = self

        class _Swap:
            def __enter__(self_inner):
                self_inner.backup = {n: p.detach().clone() for n, p in module.named_parameters() if n in ema.shadow}
                ema.copy_to(module)
                return module

            def __exit__(self_inner, *exc):
                with torch.no_grad():
                    for n, p in module.named_parameters():
                        if n in self_inner.backup:
                            p.copy_(self_inner.backup[n])
                return False

        return _Swap()

    def averaged_copy(self, module: nn.Module) -> nn.Module:
        """A deep copy of ``module`` holding the averaged weights (the live module is untouched)."""
        clone = copy.deepcopy(module)
        self.copy_to(clone)
        return clone

    def state_dict(self) -> dict[str, Tensor]:
        return {n: t.clone() for n, t in self.shadow.items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        missing = sorted(set(self.shadow) - set(state))
        if missing:
            raise KeyError(f"EMA state is missing {missing[:5]}{'...' if len(missing) > 5 else ''}")
        for n in self.shadow:
            self.shadow[n].copy_(state[n])

    def __repr__(self) -> str:
        return f"EMA(decay={self.decay}, tensors={len(self.shadow)})"
