"""The command-line entry point: OpenMP's wait policy is set before torch loads, unless the user set it."""
import subprocess
import sys

_PROBE = ("import os, graphgen.cli as c\n"
          "try:\n    c.main(['data', '--help'])\nexcept SystemExit:\n    pass\n"
          "import torch\nprint(os.environ.get('OMP_WAIT_POLICY'))\n")


def _policy(env_policy: str | None) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy is not None:
        env["OMP_WAIT_POLICY"] = env_policy
    return subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                          check=True).stdout.strip().splitlines()[-1]


def test_cli_sets_a_passive_openmp_wait_policy_unless_the_user_chose_one():
    assert _policy(None) == "PASSIVE"
    assert _policy("ACTIVE") == "ACTIVE"


def test_cli_does_not_import_torch_before_setting_the_policy():
    out = subprocess.run([sys.executable, "-c", "import sys, graphgen.cli; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
