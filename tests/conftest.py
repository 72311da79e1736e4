"""Shared test fixtures. Tests that need the real datasets read them from ``GRAPHGEN_DATA``
(CI sets it to ``../shared/data``); they are skipped with a message when it is not set."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = os.environ.get("GRAPHGEN_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("GRAPHGEN_DATA is not set to the shared data folder")
    return Path(root)


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Processed caches go to a per-session temp folder unless GRAPHGEN_CACHE is set explicitly."""
    if "GRAPHGEN_CACHE" not in os.environ:
        os.environ["GRAPHGEN_CACHE"] = str(tmp_path_factory.mktemp("graphgen_cache"))
    yield


@pytest.fixture
def one_torch_thread():
    """Set torch to one thread for the test and restore the previous count afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
