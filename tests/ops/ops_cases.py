"""Shared by tests/ops: tiny hand-built graphs and the list of backends testable on this machine."""
from __future__ import annotations

import os

import pytest
import torch


def fused_backends() -> list:
    """Fused backends compared against ``reference``; unavailable ones are skipped with the reason."""
    params = [pytest.param("cpu", id="cpu")]
    try:
        import triton  # noqa: F401
        triton_ok = os.environ.get("TRITON_INTERPRET") == "1" or torch.cuda.is_available()
    except ImportError:
        triton_ok = False
    params.append(pytest.param("triton", id="triton", marks=pytest.mark.skipif(
        not triton_ok, reason="triton not installed, or neither CUDA nor TRITON_INTERPRET=1")))
    try:
        import torch_scatter  # noqa: F401
        has_ts = True
    except ImportError:
        has_ts = False
    params.append(pytest.param("torch_scatter", id="torch_scatter", marks=pytest.mark.skipif(
        not has_ts, reason="torch_scatter is not installed")))
    return params


def _graphs() -> dict[str, tuple[torch.Tensor, int]]:
    """name -> (edge_index [2, E] (row 0 source, row 1 destination), num_nodes)."""
    gen = torch.Generator().manual_seed(0)
    random = torch.randint(0, 6, (2, 18), generator=gen)
    return {
        # no edges at all (every node has in-degree 0)
        "empty": (torch.zeros(2, 0, dtype=torch.long), 3),
        # 0 -> 1, 2 -> 1, 1 -> 2; node 0 and node 3 (isolated) receive nothing
        "path": (torch.tensor([[0, 2, 1], [1, 1, 2]]), 4),
        # self loops and a triple multi-edge 0 -> 2, unsorted order
        "loops_multi": (torch.tensor([[0, 1, 0, 2, 0, 2, 3], [2, 1, 2, 2, 2, 0, 3]]), 5),
        # random multigraph with isolated nodes 6, 7
        "random": (random, 8),
    }


GRAPHS = _graphs()
