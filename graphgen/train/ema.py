"""Exponential moving average of a module's weights (Polyak averaging), owned by the trainer."""
from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn


class EMA:
    """``shadow <- decay * shadow + (1 - decay) * param`` after every optimiser step (:meth:`update`).

    Only floating-point parameters are averaged; buffers are taken from the live module when an averaged copy is
    made. The shadow is a plain dict of tensors, so it is written with safetensors.

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

    @contextmanager
    def swap(self, module: nn.Module) -> Iterator[nn.Module]:
        """Averaged weights inside the ``with`` block, live weights restored on exit."""
        backup = {n: p.detach().clone() for n, p in module.named_parameters() if n in self.shadow}
        self.copy_to(module)
        try:
            yield module
        finally:
            with torch.no_grad():
                for n, p in module.named_parameters():
                    if n in backup:
                        p.copy_(backup[n])

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
