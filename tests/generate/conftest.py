"""Generator tests run on tiny tensors: one intra-op thread avoids OpenMP stalls on a busy 2-core machine."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every generator test runs on one torch thread (``one_torch_thread`` in tests/conftest.py)."""
    yield
