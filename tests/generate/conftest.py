"""Generator tests run on tiny tensors: one intra-op thread avoids OpenMP stalls on a busy 2-core machine."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every generator test runs on one torch thread (``one_torch_thread`` in tests/conftest.py)."""
    yield


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """No dataset anywhere: an empty GRAPHGEN_DATA and a fresh cache (what a user has right after installing)."""
    monkeypatch.setenv("GRAPHGEN_DATA", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("GRAPHGEN_CACHE", str(tmp_path / "cache"))
