"""The surface every graph generator shares and the sampling-event schema.

A generator is an :class:`torch.nn.Module` built from one config dataclass (kept as ``self.config``) with

- ``loss(batch) -> Tensor``: the scalar training loss on a PyG ``Batch`` (or whatever the generator's loader yields);
- ``sample(num_graphs, *, generator=None, batch_size=None, progress=None, callback=None, **options) -> list[Data]``:
  new graphs, randomness drawn only from ``generator``; ``options`` are the generator's sampler settings (an unknown
  one is a :class:`SampleOptionError` naming the valid ones); a progress bar by default when stderr is a terminal
  (:func:`progress_options`), never with ``progress=False`` or ``TQDM_DISABLE=1`` (``--no-progress``);
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
implement ``loss`` and ``sample``. Saving and loading come from :class:`graphgen.nn.pretrained.PretrainedMixin`
(nested config dataclasses are rebuilt from ``config.json`` and unknown keys are an error); a config whose saved form
needs conversion (an old field) overrides :meth:`Generator.config_from_dict`. The EMA of weights lives in
:mod:`graphgen.train.ema`.
"""
from __future__ import annotations

import abc
import sys
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor, nn

from graphgen.errors import InputError
from graphgen.generate import model_folder  # the package module imports only graphgen.hub: no cycle
from graphgen.nn.pretrained import PretrainedMixin


class SampleOptionError(InputError):
    """A sampler option that the generator does not take, or a value it cannot use; the message names the valid ones."""


def check_sample_options(owner: str, options: dict[str, Any], valid: list[str], hint: str = "") -> None:
    """Raise :class:`SampleOptionError` if ``options`` has a key outside ``valid``; ``owner`` names the method."""
    unknown = sorted(set(options) - set(valid))
    if unknown:
        takes = f"valid options: {', '.join(sorted(valid))}" if valid else "it takes no sampler options"
        raise SampleOptionError(f"{owner}: unknown option{'s' if len(unknown) > 1 else ''} "
                                f"{', '.join(unknown)}; {takes}{'. ' + hint if hint else ''}")


def node_count_histogram(num_nodes: Tensor, max_nodes: int, hint: str = "raise max_nodes") -> Tensor:
    """``P(number of nodes = n)`` for ``n = 0..max_nodes`` from the node counts of the training graphs (long
    ``[num_graphs]``); the buffer generators draw node counts from. Counts outside ``1..max_nodes`` are an error."""
    num_nodes = torch.as_tensor(num_nodes).long()
    if num_nodes.numel() == 0 or num_nodes.max() > max_nodes or num_nodes.min() < 1:
        found = f"{int(num_nodes.min())}..{int(num_nodes.max())}" if num_nodes.numel() else "no graphs"
        raise ValueError(f"node counts must be in 1..max_nodes={max_nodes}, got {found}; {hint}")
    counts = torch.bincount(num_nodes, minlength=max_nodes + 1).float()
    return counts / counts.sum()


def progress_options(progress: bool | None) -> dict[str, bool]:
    """tqdm keyword arguments for a ``progress`` argument: ``None`` (the default of ``sample``) shows the bar only when
    stderr is a terminal (tqdm's own check, so logs and pipes stay clean), ``True`` always, ``False`` never.

    ``disable`` is passed only to switch the bar off: any explicit value (``False``, or ``None`` for tqdm's terminal
    check) would override ``TQDM_DISABLE``, which ``graphgen ... --no-progress`` sets for the whole command.
    """
    if progress is False or (progress is None and not sys.stderr.isatty()):
        return {"disable": True}
    return {}


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


class Generator(PretrainedMixin, nn.Module, abc.ABC):
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
               progress: bool | None = None, callback: Callable[[dict[str, Any]], None] | None = None,
               **options: Any) -> list:
        """``num_graphs`` new graphs as a list of ``torch_geometric.data.Data``.

        Args:
            generator: the only source of randomness (same seed and arguments -> same graphs).
            batch_size: graphs sampled together (``None``: the generator's default).
            progress: a tqdm bar; ``None`` (default): when stderr is a terminal; ``False``: never.
            callback: receives the sampling events of the module docstring (e.g. a :class:`SampleStats`).
            options: sampler settings of this generator; an unknown one is a :class:`SampleOptionError`.
        """

    # -- persistence: save_pretrained / from_pretrained / config_dict come from PretrainedMixin ------------------
    kind_key: ClassVar[str] = "generator"

    def kind_value(self) -> str:
        return self.generator_key

    @classmethod
    def resolve_path(cls, name_or_path: str | Path) -> Path:
        """A folder written by :meth:`save_pretrained` or a bundled model name (``graphgen.hub.MODELS``)."""
        return model_folder(name_or_path)

    @classmethod
    def check_kind(cls, raw: dict[str, Any], cfg_file: Path) -> None:
        kind = raw.get("generator")
        if cls.generator_key and kind != cls.generator_key:
            raise InputError(f"{cfg_file} is a '{kind}' generator, not '{cls.generator_key}'; "
                             "use graphgen.generate.load_generator(path) to load any kind")

    @classmethod
    def check_config(cls, config: Any, cfg_file: Path) -> None:
        """The value rules of :mod:`graphgen.generate.model_folder_checks` for this generator's saved config."""
        from graphgen.generate.model_folder_checks import check_generator_config

        check_generator_config(cls.generator_key, config, cfg_file)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
