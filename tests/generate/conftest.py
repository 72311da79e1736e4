"""Generator tests run on tiny tensors: one intra-op thread avoids OpenMP stalls on a busy 2-core machine."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Set torch to one thread for the test and restore the previous count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
