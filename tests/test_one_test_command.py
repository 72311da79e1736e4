"""The README's test command and .ci/run run the same tests (issue 22: .ci/run also set TRITON_INTERPRET=1, so the
README's command skipped the Triton kernels' tests: 258 skipped against 125).

The test environment lives in tests/conftest.py; neither command may set a variable of it, or the two would differ
again.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]


def _readme_test_command() -> str:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return block.strip().splitlines()[1]


def _ci_test_command() -> str:
    return [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "pytest" in line][-1]


def test_neither_command_sets_the_test_environment():
    for command in (_readme_test_command(), _ci_test_command()):
        assert "python -m pytest -q" in command
        assert not [name for name in TEST_ENVIRONMENT if name in command], command
    assert not [name for name in TEST_ENVIRONMENT if re.search(rf"export[^\n]*\b{name}=", (ROOT / ".ci" / "run")
                                                                .read_text())]


def test_conftest_sets_the_environment_unless_the_shell_does():
    """Loading tests/conftest.py in a clean process sets every variable; one exported by the shell is kept."""
    env = {k: v for k, v in os.environ.items() if k not in TEST_ENVIRONMENT}
    env["OMP_NUM_THREADS"] = "2"
    code = ("import os, tests.conftest as c; "
            "print(sorted((k, os.environ[k]) for k in c.TEST_ENVIRONMENT))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = sorted({**TEST_ENVIRONMENT, "OMP_NUM_THREADS": "2"}.items())
    assert done.stdout.strip() == str(expected)
    assert TEST_ENVIRONMENT["TRITON_INTERPRET"] == "1"  # what makes the Triton kernels' tests run on the CPU
