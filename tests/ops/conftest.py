"""Fixtures for tests/ops (helpers live in ops_cases.py)."""
from __future__ import annotations

import pytest
import torch
from .ops_cases import GRAPHS


@pytest.fixture(params=list(GRAPHS), ids=list(GRAPHS))
def graph_case(request) -> tuple[torch.Tensor, int]:
    return GRAPHS[request.param]
