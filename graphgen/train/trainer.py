"""The one training loop every graphgen model uses.

A model brings its loss, its data and its config; :class:`Trainer` brings the rest: the step loop over a seeded
data order, the optimiser, gradient clipping, the learning-rate schedule (warm-up, cosine decay, exponential decay),
an EMA of the weights, step / epoch / wall-clock budgets, ``log.jsonl`` and a tqdm bar, periodic evaluation with
checkpoint selection (``best/``), atomic checkpoints in one run-folder layout (:mod:`graphgen.train.checkpoint`),
exact resume, and data parallelism over ``torchrun`` processes (:mod:`graphgen.train.distributed`).

Wall-clock budget (``minutes``): the clock starts when the command starts (:func:`budget_clock`; without one, when
:meth:`Trainer.fit` starts), so data loading and the model build are spent from it. Training stops after the first
step that leaves less time than the end of the run is expected to take (the last evaluation's and checkpoint's
measured durations); a run with an evaluation and no timed evaluation yet evaluates once half of its training time
is spent, so the final one has a measured cost. The run therefore ends within the budget plus one step, unless its
first evaluation takes longer. A start-up that alone used the budget is refused in one line saying how long it took
(:func:`refuse_spent_budget`), before anything is written. ``log.jsonl`` ends with an ``"end"`` row holding the
elapsed time, the start-up time and the slowest step.

The model contract: ``loss_terms(batch, *, generator) -> dict[str, Tensor]`` with a ``"loss"`` entry (or
``loss(batch, *, generator) -> Tensor``); all randomness of the loss is drawn from ``generator``, which the trainer
owns and checkpoints. A custom ``loss_fn(model, batch, generator)`` replaces the contract (encoders use one).

Exact resume: the data order of epoch ``e`` is a permutation seeded by ``(seed, e)`` and the checkpoint stores the
position inside the epoch, the optimiser state, the EMA, the running log sums and every RNG state (torch / numpy /
python globals and the loss generator, per process). On CPU with deterministic ops a run killed at any moment and
resumed with ``resume=True`` produces the same per-step losses as a run that was never interrupted.

Distributed: under ``torchrun`` each process takes a contiguous share of every global batch (``batch_size`` is the
global batch), gradients are averaged by ``DistributedDataParallel``, logged losses are averaged over processes, and
rank 0 alone writes the run folder. A loss that is a mean over graphs with a deterministic forward pass (no dropout,
no batch-statistics normalisation) then gives the same losses on 1 and on N processes; diffusion losses draw their
noise per process, so there the runs agree in distribution, not value by value. With more than one process a
final partial batch is dropped so that every process gets a share.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import torch
from torch import Tensor, nn

from graphgen.train import checkpoint as ckpt
from graphgen.train import distributed
from graphgen.train.config import ConfigError
from graphgen.train.ema import EMA

SCHEDULES = ("constant", "cosine", "exponential")
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


@dataclasses.dataclass
class TrainerConfig:
    """How a model is trained (the same fields for every model; presets set them per model and dataset)."""

    batch_size: int = 32                 # global batch: split over the processes of a torchrun job
    max_steps: int | None = None         # stop at this optimiser step (counted over all sessions)
    epochs: int | None = None            # stop after this many epochs (counted over all sessions)
    minutes: float | None = None         # wall-clock budget of this invocation, start-up and evaluation included
    optimizer: str = "adamw"             # adam | adamw
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0        # max gradient norm (per group the model names, see Trainer)
    schedule: str = "constant"           # constant | cosine | exponential
    warmup_epochs: float = 0.0           # linear warm-up from lr / warmup steps
    lr_min: float = 0.0                  # cosine: value at the last step (max_steps, else epochs)
    lr_decay: float = 0.999              # exponential: factor per epoch
    ema: float | None = 0.999            # EMA decay of the sampled weights; null = no EMA
    drop_last: bool = False              # drop a final partial batch (always dropped with several processes)
    seed: int = 0
    log_every: int = 50                  # steps between log rows
    checkpoint_minutes: float = 5.0      # minutes between checkpoints (0: every step)
    checkpoint_every_epoch: bool = False
    evaluate_every: str = "checkpoint"   # checkpoint | epoch: when the model's evaluation (if any) runs
    select: bool = False                 # keep the best-scoring evaluation's weights in best/
    keep_checkpoints: bool = False       # keep every checkpoint's EMA as ema_<step>
    threads: int | None = None           # torch.set_num_threads
    progress: bool = True

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"trainer.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"trainer.optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.evaluate_every not in ("checkpoint", "epoch"):
            raise ValueError(f"trainer.evaluate_every must be 'checkpoint' or 'epoch', got {self.evaluate_every!r}")
        if self.batch_size < 1:
            raise ValueError(f"trainer.batch_size must be >= 1, got {self.batch_size}")


# -- data ---------------------------------------------------------------------------------------------------------------
class TrainData(Protocol):
    """What the trainer iterates: a length and a batch builder for a list of item indices."""

    def __len__(self) -> int: ...

    def batch(self, indices: list[int]) -> Any: ...


class GraphList:
    """A sequence of ``Data`` batched with ``Batch.from_data_list``."""

    def __init__(self, graphs: Sequence) -> None:
        self.graphs = graphs

    def __len__(self) -> int:
        return len(self.graphs)

    def batch(self, indices: list[int]) -> Any:
        from torch_geometric.data import Batch

        return Batch.from_data_list([self.graphs[i] for i in indices])


class TensorTuple:
    """Equal-length tensors indexed together (dense training sets)."""

    def __init__(self, *tensors: Tensor) -> None:
        if len({t.shape[0] for t in tensors}) != 1:
            raise ValueError(f"TensorTuple needs tensors of one length, got {[t.shape[0] for t in tensors]}")
        self.tensors = tensors

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def batch(self, indices: list[int]) -> tuple[Tensor, ...]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return tuple(t[idx] for t in self.tensors)


def epoch_order(num_items: int, seed: int, epoch: int) -> Tensor:
    """The data order of ``epoch``: a permutation that depends only on ``(seed, epoch)``, int32 [num_items] (int64
    beyond 2^31 - 1 items).

    The order stays a tensor (6 MB for MOSES's 1.58M molecules; a list of Python ints is over 60 MB) and
    :func:`batch_indices` turns one batch at a time into a list. int32 draws the same permutation as int64:
    ``randperm`` makes the same swaps whatever the dtype it stores them in.
    """
    dtype = torch.int32 if num_items <= torch.iinfo(torch.int32).max else torch.int64
    return torch.randperm(num_items, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch), dtype=dtype)


def batch_indices(order: Tensor, b: int, batch_size: int, *, rank: int = 0, world_size: int = 1) -> list[int]:
    """The item indices of batch ``b`` of an epoch's ``order`` (:func:`epoch_order`) that process ``rank`` of
    ``world_size`` takes: a contiguous share of the global batch (``tensor_split``: the first shares get one item
    more when the batch does not divide). The last batch of an epoch may be short."""
    batch = order[b * batch_size:(b + 1) * batch_size]
    if world_size > 1:
        batch = batch.tensor_split(world_size)[rank]
    return batch.tolist()   # only this batch becomes Python ints: TrainData.batch takes a list


def default_loss_fn(model: nn.Module, batch: Any, generator: torch.Generator) -> dict[str, Tensor]:
    if hasattr(model, "loss_terms"):
        return model.loss_terms(batch, generator=generator)
    return {"loss": model.loss(batch, generator=generator)}


class _LossModule(nn.Module):
    """Puts the loss function behind ``forward`` so that DistributedDataParallel sees the computation."""

    def __init__(self, model: nn.Module, loss_fn: Callable) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Any, generator: torch.Generator) -> dict[str, Tensor]:
        return self.loss_fn(self.model, batch, generator)


def learning_rate(cfg: TrainerConfig, step: int, *, steps_per_epoch: int, total_steps: int | None,
                  decay_start: int) -> float:
    """The learning rate of optimiser step ``step`` (0-based): linear warm-up, then the schedule."""
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    if warmup > 0 and step < warmup:
        return cfg.lr * (step + 1) / warmup
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "exponential":
        return cfg.lr * cfg.lr_decay ** (step // max(steps_per_epoch, 1))
    if total_steps is None:
        raise ValueError("trainer.schedule=cosine needs trainer.max_steps or trainer.epochs (where the decay ends)")
    if total_steps <= decay_start:
        return cfg.lr_min
    frac = min(max((step - decay_start) / (total_steps - decay_start), 0.0), 1.0)
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1.0 + math.cos(math.pi * frac))


def _truncate_log(path: Path, step: int) -> None:
    """Keep the log rows up to ``step``: later rows belong to steps that are trained again after a resume (a row
    cut short by a kill can only be the last one)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    path.write_text("".join(ln + "\n" for ln in kept))


def _is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is torch failing to allocate: a MemoryError, the CPU allocator's RuntimeError ("can't allocate
    memory") or CUDA's OutOfMemoryError (a RuntimeError subclass, "out of memory")."""
    text = str(err).lower()
    return isinstance(err, MemoryError) or "can't allocate memory" in text or "out of memory" in text


# -- wall-clock budget ---------------------------------------------------------------------------------------------
# perf_counter() time the current command started (None outside budget_clock): the origin of a --minutes budget
_BUDGET_CLOCK: contextvars.ContextVar[float | None] = contextvars.ContextVar("graphgen_budget_clock", default=None)


@contextlib.contextmanager
def budget_clock(started_at: float | None = None):
    """Count the ``minutes`` budget of every :meth:`Trainer.fit` inside the block from ``started_at`` (a
    ``time.perf_counter()`` value, default now), so the work before ``fit`` (data loading, model build) is spent from
    it. A fit that ends restarts the clock: a command that trains several models in turn (``graphgen bench
    encoders``) gives each the whole budget, counted from the end of the previous one."""
    token = _BUDGET_CLOCK.set(time.perf_counter() if started_at is None else started_at)
    try:
        yield
    finally:
        _BUDGET_CLOCK.reset(token)


@dataclasses.dataclass
class WallClockBudget:
    """The ``minutes`` budget of one fit: when it ends, and the measured durations that decide when to stop."""

    origin: float                          # perf_counter() time the budget started (the command's start)
    seconds: float | None                  # the budget (None: no wall-clock limit)
    slowest_step: float = 0.0              # seconds of the slowest optimiser step of this session
    evaluation: float | None = None        # seconds of the last evaluation (None: none timed yet)
    checkpoint: float = 0.0                # seconds of the last checkpoint write

    @property
    def deadline(self) -> float | None:
        return None if self.seconds is None else self.origin + self.seconds

    def spent(self, now: float, *, evaluates: bool) -> bool:
        """Whether training must stop at ``now`` to leave time for the final evaluation (if ``evaluates``) and the
        final checkpoint, at their last measured durations."""
        if self.deadline is None:
            return False
        reserve = self.checkpoint + ((self.evaluation or 0.0) if evaluates else 0.0)
        return now + reserve >= self.deadline

    def probe_due(self, now: float, loop_start: float) -> bool:
        """Whether to time a first evaluation now: none is timed and half of the training time is gone (so the final
        evaluation's cost is known before the budget runs out)."""
        if self.deadline is None or self.evaluation is not None:
            return False
        return now >= loop_start + 0.5 * (self.deadline - loop_start)

    def evaluation_fits(self, now: float) -> bool:
        """Whether an evaluation at its last measured duration ends within the budget and its 10% tolerance (an
        evaluation not timed yet is run: it is the first one)."""
        if self.deadline is None or self.evaluation is None:
            return True
        return now + self.evaluation <= self.deadline + 0.1 * self.seconds

    def used_by_start_up(self, now: float) -> bool:
        """Whether the start-up (from ``origin`` to ``now``) alone used the whole budget: no training step fits."""
        return self.deadline is not None and now >= self.deadline


def refuse_spent_budget(budget: WallClockBudget, ctx: distributed.Context) -> None:
    """Stop, in one line (a :class:`ConfigError`: exit code 2 through the command line), a run whose start-up alone
    used its ``minutes`` budget, rather than train past the budget. Every process of a torchrun job decides alike:
    each measures its own start-up and all stop if any is out of time (a lone process leaving would hang the rest in
    their next collective)."""
    if budget.seconds is None:   # no budget (the same config on every process: none of them takes the collective)
        return
    now = time.perf_counter()
    if not distributed.any_true(budget.used_by_start_up(now), ctx):
        return
    startup = now - budget.origin
    enough = math.ceil(100.0 * startup / 60.0) / 100.0   # rounded up: the advice must be above the start-up
    raise ConfigError(f"--minutes {budget.seconds / 60.0:g} ({budget.seconds:g} s): start-up (loading the data, "
                      f"building the model) took {startup:.1f} s, so no training step fits; give --minutes above "
                      f"{enough:.2f}")


class Trainer:
    """Train ``model`` on ``data`` into the run folder ``run_dir``.

    Args:
        model: the module to train; checkpoints are written with its ``save_pretrained`` when it has one.
        data: a :class:`TrainData` (:class:`GraphList`, :class:`TensorTuple` or any object with ``len`` and
            ``batch(indices)``).
        config: :class:`TrainerConfig`.
        run_dir: the run folder.
        run_config: the fully resolved run config (a dataclass), written to ``config.yaml`` on a fresh start.
        loss_fn: ``(model, batch, generator) -> dict`` with ``"loss"``; default: the model's ``loss_terms``/``loss``.
        evaluate_fn: ``(model) -> dict[str, float]``, run on the EMA weights (live weights without EMA) at every
            checkpoint or epoch (``config.evaluate_every``); with ``config.select`` its ``"score"`` (lower is better)
            picks ``best/``.
        clip_groups: names of submodules whose gradients are clipped separately (GDSS clips each score network on
            its own); default: all parameters together.
        state_extra: JSON values stored in ``trainer_state.json`` (e.g. a model's training mode), read back before
            the model is built with :func:`graphgen.train.runs.resumed_extra`.
        model_config: JSON config written next to the weights when the model has no ``save_pretrained``.
        started_at: ``time.perf_counter()`` time the ``minutes`` budget counts from (default: the enclosing
            :func:`budget_clock`, else the start of :meth:`fit`).
    """

    def __init__(self, model: nn.Module, data: TrainData, config: TrainerConfig, run_dir: str | Path, *,
                 run_config: Any = None, loss_fn: Callable | None = None, evaluate_fn: Callable | None = None,
                 clip_groups: Sequence[str] | None = None, state_extra: dict[str, Any] | None = None,
                 model_config: dict[str, Any] | None = None, ctx: distributed.Context | None = None,
                 started_at: float | None = None) -> None:
        self.model = model
        self.data = data
        self.config = config
        self.run = ckpt.RunFolder(run_dir)
        self.run_config = run_config
        self.loss_fn = loss_fn or default_loss_fn
        self.evaluate_fn = evaluate_fn
        self.clip_groups = list(clip_groups or [])
        self.state_extra = dict(state_extra or {})
        self.model_config = model_config
        self.ctx = ctx or distributed.init()
        self.started_at = started_at
        if config.max_steps is None and config.epochs is None and config.minutes is None:
            raise ConfigError("the trainer needs a budget: set --max-steps, --epochs or --minutes "
                              "(trainer.max_steps / trainer.epochs / trainer.minutes)")
        if config.schedule == "cosine" and config.max_steps is None and config.epochs is None:
            raise ConfigError("a cosine schedule (--decay-to) ends at --max-steps or at the last of --epochs; "
                              "set one of them")
        if len(data) == 0:
            raise ValueError("the training set is empty")

    # -- set-up ------------------------------------------------------------------------------------------------------
    def _steps_per_epoch(self) -> int:
        share = self.config.batch_size
        n = len(self.data)
        drop = self.config.drop_last or self.ctx.distributed
        steps = n // share if drop else math.ceil(n / share)
        if steps == 0:
            raise ValueError(f"trainer.batch_size {share} is larger than the training set ({n} items) with "
                             "drop_last; lower the batch size")
        return steps

    def _total_steps(self, steps_per_epoch: int) -> int | None:
        caps = [c for c in (self.config.max_steps,
                            None if self.config.epochs is None else self.config.epochs * steps_per_epoch)
                if c is not None]
        return min(caps) if caps else None

    def _clip_parameter_groups(self) -> list[list[nn.Parameter]]:
        if not self.clip_groups:
            return [[p for p in self.model.parameters() if p.requires_grad]]
        groups = []
        for name in self.clip_groups:
            module = self.model.get_submodule(name)
            groups.append([p for p in module.parameters() if p.requires_grad])
        return groups

    # -- checkpoints -------------------------------------------------------------------------------------------------
    def _gather_rng(self, gen: torch.Generator) -> dict[str, Any]:
        """RNG states of every process (rank 0's numpy / python, every rank's torch global and loss generator)."""
        own = torch.cat([torch.get_rng_state(), gen.get_state()])
        if self.ctx.distributed:
            import torch.distributed as dist

            parts = [torch.empty_like(own) for _ in range(self.ctx.world_size)]
            dist.all_gather(parts, own)
        else:
            parts = [own]
        split = torch.get_rng_state().numel()
        states = ckpt.rng_states({})
        states["ranks"] = [{"torch": ckpt.tensor_to_b64(p[:split]), "loss": ckpt.tensor_to_b64(p[split:])}
                           for p in parts]
        return states

    def _restore_rng(self, states: dict[str, Any], gen: torch.Generator) -> None:
        ckpt.set_rng_states(states, {})
        ranks = states["ranks"]
        if self.ctx.rank < len(ranks):   # a process the checkpoint did not have keeps its seeded streams
            torch.set_rng_state(ckpt.tensor_from_b64(ranks[self.ctx.rank]["torch"]))
            gen.set_state(ckpt.tensor_from_b64(ranks[self.ctx.rank]["loss"]))

    def _write_checkpoint(self, state: dict[str, Any], opt, ema: EMA | None, gen: torch.Generator) -> Path | None:
        rng = self._gather_rng(gen)  # collective: every process takes part
        if not self.ctx.is_main:
            return None
        full = {**state, "rng": rng, "extra": self.state_extra}

        def fill(folder: Path) -> None:
            ckpt.save_model_folder(self.model, folder, self.model_config)
            ckpt.optimizer_state_to_safetensors(self.model, opt, folder / ckpt.OPTIMIZER_NAME)
            (folder / ckpt.STATE_NAME).write_text(json.dumps(full) + "\n")

        def ema_fill(folder: Path) -> None:
            ckpt.save_model_folder(ema.averaged_copy(self.model), folder, self.model_config)

        return self.run.write(int(state["step"]), fill, ema_fill=ema_fill if ema is not None else None,
                              keep=self.config.keep_checkpoints)

    def _load_checkpoint(self, opt, ema: EMA | None, gen: torch.Generator) -> dict[str, Any]:
        last = self.run.link("last")
        state = self.run.read_state()
        ckpt.load_weights(self.model, last)
        ckpt.optimizer_state_from_safetensors(self.model, opt, last / ckpt.OPTIMIZER_NAME)
        if ema is not None:
            if not (last / "ema" / ckpt.WEIGHTS_NAME).is_file():
                raise ckpt.CheckpointError(f"{last} has no ema/ folder but the run config asks for an EMA")
            from safetensors.torch import load_file

            averaged = load_file(str(last / "ema" / ckpt.WEIGHTS_NAME))
            ema.load_state_dict({k: averaged[k] for k in ema.shadow})
        self._restore_rng(state.pop("rng"), gen)
        state.pop("extra", None)
        return state

    # -- the loop ----------------------------------------------------------------------------------------------------
    def fit(self, *, resume: bool = False) -> dict[str, Any]:
        """Train until a budget runs out; returns a summary (step, epoch, elapsed, what stopped it, best score)."""
        cfg, ctx, run = self.config, self.ctx, self.run
        t_start = time.perf_counter()
        origin = self.started_at if self.started_at is not None else _BUDGET_CLOCK.get()
        budget = WallClockBudget(origin=t_start if origin is None else origin,
                                 seconds=None if cfg.minutes is None else 60.0 * cfg.minutes)
        evaluates = self.evaluate_fn is not None and ctx.is_main   # evaluations run on rank 0 only
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if resume and not run.has_checkpoint():
            raise ckpt.CheckpointError(f"--resume: no loadable checkpoint ({run.describe()}); "
                                       "run without --resume to start this run")
        if not resume and run.is_used():
            raise ckpt.CheckpointError(f"{run.path} already holds a run; pass --resume to continue it or "
                                       "--overwrite to replace it")
        if origin is not None:   # a command's clock: start-up was spent from the budget (a bare fit() has none)
            refuse_spent_budget(budget, ctx)   # before the run folder is written: a refused run leaves nothing behind
        distributed.barrier(ctx)
        model = self.model
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters")
        opt = OPTIMIZERS[cfg.optimizer](params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        ema = EMA(model, cfg.ema) if cfg.ema is not None else None
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + ctx.rank)
        steps_per_epoch = self._steps_per_epoch()
        total_steps = self._total_steps(steps_per_epoch)
        state: dict[str, Any] = {"step": 0, "epoch": 0, "position": 0, "elapsed": 0.0, "running": {},
                                 "running_steps": 0, "decay_start": None, "best_score": None,
                                 "world_size": ctx.world_size, "batch_size": cfg.batch_size}
        if resume:
            state.update(self._load_checkpoint(opt, ema, gen))
            if ctx.is_main and state.get("world_size", 1) != ctx.world_size:
                print(f"[train] the checkpoint was written by {state['world_size']} processes, this run has "
                      f"{ctx.world_size}: training continues, but not as the same sequence of steps", flush=True)
            state["world_size"] = ctx.world_size
            if ctx.is_main:
                _truncate_log(run.path / "log.jsonl", int(state["step"]))
                print(f"[train] resumed from {run.link('last').resolve()} at step {state['step']} "
                      f"(epoch {state['epoch']})", flush=True)
        else:
            torch.manual_seed(cfg.seed + ctx.rank)    # application entry: dropout and other global draws
            if ctx.is_main:
                run.path.mkdir(parents=True, exist_ok=True)
                if self.run_config is not None:
                    from graphgen.train.config import write_yaml

                    write_yaml(self.run_config, run.path / "config.yaml")
        if cfg.schedule == "cosine" and state["decay_start"] is None:
            # the cosine starts where it was first asked for: after the warm-up on a fresh run, at the resume step
            # when a run that trained at a constant rate is cooled down
            state["decay_start"] = max(int(state["step"]), int(round(cfg.warmup_epochs * steps_per_epoch)))

        runner: nn.Module | Callable = _LossModule(model, self.loss_fn)
        if ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel

            runner = DistributedDataParallel(runner, find_unused_parameters=True)
        clip = self._clip_parameter_groups()
        log = open(run.path / "log.jsonl", "a") if ctx.is_main else None
        bar = None
        if ctx.is_main and cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total_steps, initial=int(state["step"]), desc="train", unit="step", dynamic_ncols=True)
        if ctx.is_main:
            log.write(json.dumps({"step": int(state["step"]), "event": "resume" if resume else "start",
                                  "processes": ctx.world_size, "trainer": dataclasses.asdict(cfg),
                                  "startup": round(time.perf_counter() - budget.origin, 3)}) + "\n")
            log.flush()
        elapsed0 = float(state["elapsed"])
        t_loop = time.perf_counter()
        last_ckpt = t_loop
        stopped_by = None

        def elapsed() -> float:
            # wall clock of the run: earlier sessions plus this one since its command started (start-up included)
            return round(elapsed0 + time.perf_counter() - budget.origin, 3)

        def evaluate_and_select() -> None:
            if self.evaluate_fn is None or state.get("evaluated_at") == state["step"]:
                return
            state["evaluated_at"] = int(state["step"])
            rng = ckpt.rng_states({})                  # evaluation must not move the training's random streams
            target = ema.averaged_copy(model) if ema is not None else model
            was_training = target.training
            target.eval()
            t_eval = time.perf_counter()
            with torch.no_grad():
                scores = dict(self.evaluate_fn(target)) if ctx.is_main else {}
            budget.evaluation = time.perf_counter() - t_eval
            target.train(was_training)
            ckpt.set_rng_states(rng, {})
            if not ctx.is_main:
                return
            row = {"step": int(state["step"]), "epoch": int(state["epoch"]), "eval": scores, "elapsed": elapsed()}
            if cfg.select:
                if "score" not in scores:
                    raise ValueError("trainer.select needs the evaluation to return a 'score' (lower is better)")
                best = state["best_score"]
                row["best"] = best is None or scores["score"] < best
                if row["best"]:
                    state["best_score"] = float(scores["score"])
                    state["pending_best"] = {"step": int(state["step"]), **scores}
            log.write(json.dumps(row) + "\n")
            log.flush()
            if cfg.select:
                with (run.path / "selection.jsonl").open("a") as fh:
                    fh.write(json.dumps({"step": row["step"], **scores, "best": row["best"]}) + "\n")
            if bar is not None:
                bar.set_postfix({k: f"{v:.4g}" for k, v in scores.items() if isinstance(v, (int, float))})

        def evaluate_if_it_fits() -> None:
            """An evaluation, unless its last measured duration would overrun the budget (then best/ keeps the
            last evaluated checkpoint, and the log says so)."""
            if self.evaluate_fn is None or state.get("evaluated_at") == state["step"]:
                return
            now = time.perf_counter()
            if budget.evaluation_fits(now):
                evaluate_and_select()
            elif ctx.is_main:
                left = budget.deadline - now
                note = (f"skipped the evaluation of step {state['step']}: the last one took {budget.evaluation:.1f} s "
                        f"and the --minutes budget has {max(left, 0.0):.1f} s left")
                print(f"[train] {note}", flush=True)
                log.write(json.dumps({"step": int(state["step"]), "event": "evaluation skipped", "note": note,
                                      "elapsed": elapsed()}) + "\n")
                log.flush()

        def checkpoint() -> None:
            t_write = time.perf_counter()
            state["elapsed"] = elapsed()
            pending = state.pop("pending_best", False)
            folder = self._write_checkpoint(state, opt, ema, gen)
            if ctx.is_main and pending:
                source = folder / "ema" if ema is not None else folder
                run.publish_best(int(state["step"]), source, pending)
            budget.checkpoint = time.perf_counter() - t_write

        if cfg.max_steps is not None and state["step"] >= cfg.max_steps:
            stopped_by = "max_steps"
        elif cfg.epochs is not None and state["epoch"] >= cfg.epochs:
            stopped_by = "epochs"
        try:
            while stopped_by is None:
                epoch = int(state["epoch"])
                order = epoch_order(len(self.data), cfg.seed, epoch)   # a tensor: batches are sliced as they come
                for b in range(int(state["position"]), steps_per_epoch):
                    t_step = time.perf_counter()
                    step = int(state["step"])
                    lr = learning_rate(cfg, step, steps_per_epoch=steps_per_epoch, total_steps=total_steps,
                                       decay_start=int(state["decay_start"] or 0))
                    for group in opt.param_groups:
                        group["lr"] = lr
                    share = batch_indices(order, b, cfg.batch_size, rank=ctx.rank,
                                          world_size=ctx.world_size if ctx.distributed else 1)
                    try:
                        terms = runner(self.data.batch(share), gen)
                        loss = terms["loss"]
                        if not torch.isfinite(loss.detach()).all():
                            raise FloatingPointError(f"non-finite loss at step {step}; lower trainer.lr or check "
                                                     "the data")
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        if cfg.grad_clip is not None:
                            for group in clip:
                                torch.nn.utils.clip_grad_norm_(group, cfg.grad_clip)
                        opt.step()
                    except (RuntimeError, MemoryError) as err:  # one line with the fix, then the error as it was
                        if _is_out_of_memory(err):
                            print(f"[train] out of memory at step {step} with batch size {cfg.batch_size}: retry "
                                  f"with --batch-size {max(1, cfg.batch_size // 2)} (or a smaller model, "
                                  "--set model.hidden=...)", file=sys.stderr, flush=True)
                        raise
                    if ema is not None:
                        ema.update(model)
                    state["step"] = step + 1
                    state["position"] = b + 1
                    names = sorted(terms)
                    now = time.perf_counter()
                    budget.slowest_step = max(budget.slowest_step, now - t_step)
                    flags = [float(budget.spent(now, evaluates=evaluates)),
                             float(now - last_ckpt >= 60.0 * cfg.checkpoint_minutes),
                             float(evaluates and budget.probe_due(now, t_loop))]
                    reduced = distributed.all_reduce_mean(
                        torch.stack([terms[k].detach().float() for k in names] + [torch.tensor(f) for f in flags]), ctx)
                    # a flag raised by any process holds for all of them (mean > 0)
                    out_of_time, due, probe = (bool(v > 0) for v in reduced[len(names):])
                    for k, v in zip(names, reduced[:len(names)].tolist()):
                        state["running"][k] = state["running"].get(k, 0.0) + v
                    state["running_steps"] += 1
                    if ctx.is_main and state["step"] % cfg.log_every == 0:
                        row = {"step": state["step"], "epoch": epoch, "lr": lr,
                               **{k: v / state["running_steps"] for k, v in state["running"].items()},
                               "elapsed": elapsed()}
                        log.write(json.dumps(row) + "\n")
                        log.flush()
                        if bar is not None:
                            bar.set_postfix(loss=f"{row['loss']:.4g}")
                    if state["step"] % cfg.log_every == 0:
                        state["running"], state["running_steps"] = {}, 0
                    if bar is not None:
                        bar.update(1)
                    if cfg.max_steps is not None and state["step"] >= cfg.max_steps:
                        stopped_by = "max_steps"
                    elif out_of_time:
                        stopped_by = "minutes"
                    if (due or probe) and stopped_by is None:
                        if cfg.evaluate_every == "checkpoint" or probe:   # a probe times the final evaluation
                            evaluate_if_it_fits()
                        checkpoint()
                        last_ckpt = time.perf_counter()
                    if stopped_by is not None:
                        evaluate_if_it_fits()          # a budget that ends inside an epoch still scores it
                        checkpoint()
                        break
                else:
                    state["epoch"] = epoch + 1
                    state["position"] = 0
                    if cfg.epochs is not None and state["epoch"] >= cfg.epochs:
                        stopped_by = "epochs"
                    if cfg.evaluate_every == "epoch":
                        evaluate_if_it_fits()
                    if cfg.checkpoint_every_epoch or stopped_by is not None or state.get("pending_best"):
                        checkpoint()
                        last_ckpt = time.perf_counter()
            if ctx.is_main:   # what the budget check measured, for the user and for tests of the budget
                log.write(json.dumps({"step": int(state["step"]), "event": "end", "stopped_by": stopped_by,
                                      "elapsed": elapsed(), "budget_seconds": budget.seconds,
                                      "startup": round(t_loop - budget.origin, 3),
                                      "slowest_step": round(budget.slowest_step, 3),
                                      "last_evaluation": None if budget.evaluation is None
                                      else round(budget.evaluation, 3)}) + "\n")
        finally:
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()
        distributed.barrier(ctx)
        if _BUDGET_CLOCK.get() is not None:   # the next model trained by this command starts its budget now
            _BUDGET_CLOCK.set(time.perf_counter())
        return {"step": int(state["step"]), "epoch": int(state["epoch"]), "position": int(state["position"]),
                "elapsed": elapsed(), "startup_seconds": round(t_loop - budget.origin, 3),
                "stopped_by": stopped_by, "best_score": state["best_score"], "run_dir": str(run.path)}
