"""The shared trainer on a toy model: schedules, budgets, run-folder rules, optimizer and RNG state round trips."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from graphgen.train import checkpoint as ckpt
from graphgen.train.trainer import TensorTuple, Trainer, TrainerConfig, batch_indices, epoch_order, learning_rate


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 1)

    def loss_terms(self, batch, generator):
        x, y = batch
        pred = self.lin(x + 0.01 * torch.randn(x.shape, generator=generator)).squeeze(-1)
        return {"loss": ((pred - y) ** 2).mean(), "abs": (pred - y).abs().mean()}


def _data(n: int = 40):
    x = torch.randn(n, 3, generator=torch.Generator().manual_seed(0))
    return TensorTuple(x, x @ torch.tensor([1.0, -1.0, 2.0]))


def _rows(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_learning_rate_schedules():
    cfg = TrainerConfig(lr=1.0, warmup_epochs=1, schedule="cosine", lr_min=0.0)
    lr = [learning_rate(cfg, s, steps_per_epoch=4, total_steps=14, decay_start=4) for s in range(15)]
    assert lr[:4] == [0.25, 0.5, 0.75, 1.0] and lr[4] == 1.0
    assert math.isclose(lr[9], 0.5) and math.isclose(lr[14], 0.0, abs_tol=1e-12)
    exp = TrainerConfig(lr=1.0, schedule="exponential", lr_decay=0.5)
    assert [learning_rate(exp, s, steps_per_epoch=2, total_steps=None, decay_start=0) for s in range(5)] == \
        [1.0, 1.0, 0.5, 0.5, 0.25]
    with pytest.raises(ValueError, match="cosine needs"):
        learning_rate(TrainerConfig(schedule="cosine"), 0, steps_per_epoch=2, total_steps=None, decay_start=0)


def test_epoch_order_depends_only_on_seed_and_epoch():
    assert torch.equal(epoch_order(10, 3, 7), epoch_order(10, 3, 7))
    assert not torch.equal(epoch_order(10, 3, 7), epoch_order(10, 3, 8))
    assert sorted(epoch_order(10, 3, 7).tolist()) == list(range(10))


def _old_epoch_batches(num_items: int, seed: int, epoch: int, batch_size: int, steps: int, rank: int = 0,
                       world_size: int = 1) -> list[list[int]]:
    """The batches as the trainer built them before the order became a tensor: the whole permutation as a list of
    Python ints, cut into lists, each process taking ``tensor_split`` of its batch."""
    order = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).tolist()
    batches = [order[i * batch_size:(i + 1) * batch_size] for i in range(steps)]
    if world_size > 1:
        batches = [[int(i) for i in torch.tensor(b).tensor_split(world_size)[rank]] for b in batches]
    return batches


@pytest.mark.parametrize("num_items, batch_size, drop_last", [(1, 1, False), (10, 3, False), (10, 3, True),
                                                                (97, 8, False), (64, 64, True)])
@pytest.mark.parametrize("seed, epoch", [(0, 0), (3, 7), (12345, 2)])
@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_epoch_batches_equal_the_list_implementation(num_items, batch_size, drop_last, seed, epoch, world_size):
    """Exact resume across the change: the tensor order gives every process the same indices, in the same order,
    as the old list of every index did (a run checkpointed before the change resumes on the same batches)."""
    steps = num_items // batch_size if drop_last else math.ceil(num_items / batch_size)
    order = epoch_order(num_items, seed, epoch)
    assert order.dtype == torch.int32
    for rank in range(world_size):
        old = _old_epoch_batches(num_items, seed, epoch, batch_size, steps, rank, world_size)
        new = [batch_indices(order, b, batch_size, rank=rank, world_size=world_size) for b in range(steps)]
        assert new == old
        assert all(type(i) is int for batch in new for i in batch)   # what TrainData.batch is promised


def test_epoch_order_at_moses_size_equals_the_int64_permutation():
    """1.58M items (MOSES's training set): the int32 order is the int64 permutation value for value."""
    n, seed, epoch = 1_584_663, 0, 5
    old = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    new = epoch_order(n, seed, epoch)
    assert new.dtype == torch.int32 and torch.equal(new.long(), old)
    assert batch_indices(new, 3095, 512) == old[3095 * 512:].tolist()   # the short last batch


class _Recording(TensorTuple):
    """A TensorTuple that remembers the index lists the trainer asked for."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        super().__init__(*tensors)
        self.asked: list[list[int]] = []

    def batch(self, indices):
        assert isinstance(indices, list)
        self.asked.append(list(indices))
        return super().batch(indices)


@pytest.mark.parametrize("drop_last", [False, True])
def test_fit_asks_for_the_batches_of_the_list_implementation(tmp_path, drop_last):
    data = _Recording(*_data(21).tensors)
    cfg = TrainerConfig(batch_size=4, epochs=2, seed=5, drop_last=drop_last, progress=False)
    Trainer(Toy(), data, cfg, tmp_path / "run").fit()
    steps = 21 // 4 if drop_last else math.ceil(21 / 4)
    assert data.asked == [b for epoch in range(2) for b in _old_epoch_batches(21, 5, epoch, 4, steps)]


def test_fit_writes_the_run_folder_and_refuses_to_overwrite(tmp_path):
    cfg = TrainerConfig(batch_size=8, epochs=3, log_every=2, progress=False)
    out = Trainer(Toy(), _data(), cfg, tmp_path / "run").fit()
    assert out["step"] == 15 and out["epoch"] == 3 and out["stopped_by"] == "epochs"
    run = tmp_path / "run"
    assert (run / "last").is_symlink() and (run / "ema").is_symlink()
    state = json.loads((run / "last" / "trainer_state.json").read_text())
    assert state["step"] == 15 and set(state["rng"]) >= {"torch", "numpy", "python", "generators", "ranks"}
    losses = [r for r in _rows(run) if "loss" in r]
    assert [r["step"] for r in losses] == [2, 4, 6, 8, 10, 12, 14] and "abs" in losses[0]
    with pytest.raises(ckpt.CheckpointError, match="--resume"):
        Trainer(Toy(), _data(), cfg, run).fit()
    with pytest.raises(ckpt.CheckpointError, match="no loadable checkpoint"):
        Trainer(Toy(), _data(), cfg, tmp_path / "empty").fit(resume=True)


def test_budget_in_minutes_stops_after_one_step(tmp_path):
    cfg = TrainerConfig(batch_size=8, minutes=1e-9, progress=False)
    out = Trainer(Toy(), _data(), cfg, tmp_path / "run").fit()
    assert out["stopped_by"] == "minutes" and out["step"] == 1


def test_a_budget_is_required():
    with pytest.raises(ValueError, match="needs a budget"):
        Trainer(Toy(), _data(), TrainerConfig(), "unused")


def test_non_finite_loss_names_the_step(tmp_path):
    class Bad(Toy):
        def loss_terms(self, batch, generator):
            return {"loss": self.lin.weight.sum() * float("nan")}

    with pytest.raises(FloatingPointError, match="non-finite loss at step 0"):
        Trainer(Bad(), _data(), TrainerConfig(max_steps=3, progress=False), tmp_path / "run").fit()


def test_selection_keeps_the_best_evaluation(tmp_path):
    scores = iter([3.0, 1.0, 2.0])
    cfg = TrainerConfig(batch_size=8, epochs=3, select=True, evaluate_every="epoch", ema=None, progress=False)
    out = Trainer(Toy(), _data(), cfg, tmp_path / "run", evaluate_fn=lambda m: {"score": next(scores)}).fit()
    run = tmp_path / "run"
    assert out["best_score"] == 1.0
    assert json.loads((run / "best" / "selection.json").read_text())["step"] == 10      # end of epoch 2
    rows = [json.loads(line) for line in (run / "selection.jsonl").read_text().splitlines()]
    assert [r["best"] for r in rows] == [True, True, False]


@pytest.mark.parametrize("opt_cls", [torch.optim.AdamW, torch.optim.SGD, torch.optim.Adagrad])
def test_optimizer_state_round_trip_by_parameter_name(tmp_path, opt_cls):
    kwargs = {"momentum": 0.9} if opt_cls is torch.optim.SGD else {}
    model = Toy()
    opt = opt_cls(model.parameters(), lr=0.1, **kwargs)
    for _ in range(3):
        opt.zero_grad()
        model.loss_terms(_data().batch(list(range(8))), torch.Generator())["loss"].backward()
        opt.step()
    ckpt.optimizer_state_to_safetensors(model, opt, tmp_path / "opt.safetensors")
    fresh = opt_cls(model.parameters(), lr=0.5, **kwargs)
    ckpt.optimizer_state_from_safetensors(model, fresh, tmp_path / "opt.safetensors")
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for idx in a["state"]:
        for k, v in a["state"][idx].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(b["state"][idx][k]))
    with pytest.raises(ckpt.CheckpointError, match="holds"):
        ckpt.optimizer_state_from_safetensors(model, torch.optim.RMSprop(model.parameters()), tmp_path / "opt.safetensors")


def test_rng_states_round_trip():
    import random

    import numpy as np

    g = torch.Generator().manual_seed(5)
    saved = ckpt.rng_states({"g": g})
    a = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=g))
    json.loads(json.dumps(saved))                                   # plain JSON
    ckpt.set_rng_states(saved, {"g": g})
    b = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=g))
    assert torch.equal(a[0], b[0]) and (a[1] == b[1]).all() and a[2] == b[2] and torch.equal(a[3], b[3])


def test_unreferenced_checkpoint_folders_are_removed(tmp_path):
    run = ckpt.RunFolder(tmp_path)
    (tmp_path / "checkpoints" / ".tmp_000000001_dead").mkdir(parents=True)
    run.write(2, lambda f: (f / "x").write_text("2"))
    run.write(3, lambda f: (f / "x").write_text("3"))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_000000003"]
    assert (run.link("last") / "x").read_text() == "3"
    run.write(3, lambda f: (f / "x").write_text("3b"))             # a second checkpoint at the same step
    assert (run.link("last") / "x").read_text() == "3b"
