"""The command-line entry point: OpenMP's wait policy is set before torch loads unless the user set it; a graphgen
error ends a command with one line and exit code 2."""
import subprocess
import sys

import pytest

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


def test_a_graphgen_error_ends_the_command_with_one_line_and_exit_code_2(monkeypatch, capsys):
    import graphgen.cli as cli
    import graphgen.data.commands as commands
    from graphgen.errors import CorruptFileError

    def broken(args):
        raise CorruptFileError("cache /tmp/x/manifest.json: sha256 differs; run graphgen data prepare x --rebuild")
    monkeypatch.setattr(commands, "run", broken)
    assert cli.main(["data", "list"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "graphgen data: cache /tmp/x/manifest.json: sha256 differs; run graphgen data prepare x " \
                          "--rebuild"
    with pytest.raises(CorruptFileError):
        cli.main(["data", "list", "--debug"])
