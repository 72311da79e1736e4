"""Shared test fixtures and the test environment. Tests that need the real datasets read them from
``GRAPHGEN_DATA`` (the README's test command and ``.ci/run`` set it to ``../shared/data``); they are skipped with a
message when it is not set.

The environment below is set here, before any test module imports torch, numba or triton, so that the README's
command and ``.ci/run`` (which runs that command) collect and run the same tests. ``setdefault``: a value exported
in the shell wins.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Nothing above imports numpy, torch, numba or triton (pytest and its hypothesis plugin do not either), so these
# values are in place before any library reads them.
TEST_ENVIRONMENT = {
    # the Triton kernels run on CPU tensors (the interpreter), so their tests run instead of being skipped; Triton
    # reads it when the kernels are defined, i.e. when graphgen.ops._triton is first imported
    "TRITON_INTERPRET": "1",
    # one thread per pool: the OpenMP, numba and BLAS pools would otherwise each start one thread per core and
    # oversubscribe a 2-core machine (read when each library starts its pool)
    "OMP_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
for _name, _value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

# CI sets GRAPHGEN_DATA relative to the repository ("../shared/data"); tests that run the CLI in a temp folder pass the
# environment on, so the path is made absolute here, against the folder pytest started in
if os.environ.get("GRAPHGEN_DATA"):
    os.environ["GRAPHGEN_DATA"] = str(Path(os.environ["GRAPHGEN_DATA"]).resolve())


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
