"""`cyberins --help` and each group's `--help` answer without loading Temporal, SQLAlchemy or FastAPI.

What a command line imports is looked at in a fresh interpreter, so the test does not depend on the
machine's speed; the time it takes is measured by hand (README of the CLI issue: under 0.5 s).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from cli.command_groups import GROUPS, group_app

REPO = Path(__file__).resolve().parents[2]
HEAVY = {"temporalio", "sqlalchemy", "fastapi", "starlette", "asyncpg", "httpx", "structlog", "pydantic_settings"}
MARK = "\nLOADED "

# Runs the command as `cyberins` would, then says which top-level packages it imported.
PROBE = f"""
import json, runpy, sys
sys.argv = ["cyberins", *json.loads(sys.argv[1])]
try:
    runpy.run_module("cli.main", run_name="__main__")
except SystemExit as exit:
    code = exit.code
else:
    code = 0
sys.stdout.flush()
sys.stderr.write({MARK!r} + json.dumps([sorted({{name.split(".")[0] for name in sys.modules}}), code]))
"""


def cyberins(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], set[str], int]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLUMNS": "200", **(env or {})}, check=False,
    )
    _, _, loaded = result.stderr.rpartition(MARK)
    assert loaded, result.stderr
    modules, code = json.loads(loaded)
    return result, set(modules), code


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),  # imports the top-level commands' modules too (dev, demo, worker, …)
        ("--version",),
        *[(group, "--help") for group in GROUPS],
        ("policy", "assess", "--help"),
        ("policy",),
    ],
    ids=lambda args: " ".join(args) or "nothing",
)
def test_help_loads_no_server_library(args):
    result, modules, code = cyberins(*args)
    assert code in (0, 2), result.stderr  # a group alone shows its help and exits 2, as Click does
    assert "Usage:" in result.stdout or "cyberins " in result.stdout
    assert not modules & HEAVY, f"`cyberins {' '.join(args)}` imported {sorted(modules & HEAVY)}"


def test_help_lists_every_group_with_its_summary():
    result, _, code = cyberins("--help")
    assert code == 0
    for name, (_, summary) in GROUPS.items():
        assert name in result.stdout
        assert summary.split()[0] in result.stdout


@pytest.mark.parametrize("name", GROUPS)
def test_each_summary_is_its_groups_own_help(name):
    assert group_app(name).info.help == GROUPS[name][1]


def test_help_needs_no_valid_settings():
    """Settings are checked for work, not for help: a broken environment still gets the help."""
    result, _, code = cyberins("policy", "--help", env={"CYBERINS_API_PORT": "not a port"})
    assert code == 0 and "assess" in result.stdout
    result, _, code = cyberins("mail", "list", "--folder", "/nonexistent", env={"CYBERINS_API_PORT": "not a port"})
    assert code == 2 and "settings are not valid" in result.stderr


def test_version_is_the_packages():
    result, _, code = cyberins("--version")
    assert code == 0
    assert result.stdout.strip() == f"cyberins {version('cyberins')}"


def test_a_mistyped_group_is_named_with_a_suggestion():
    result, _, code = cyberins("polcy", "list")
    assert code == 2
    assert "policy" in result.stderr


def test_shell_completion_is_offered():
    script = Path(sys.executable).parent / "cyberins"
    if not script.exists():
        pytest.skip("the cyberins script is not installed beside this interpreter")
    # Asked from a user's bash: `--show-completion` names the shell it is run from (a `make` recipe's
    # /bin/sh would be refused as unsupported), so the command runs inside bash here (not as bash's
    # last command, which bash would exec in its own place).
    shell = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    shown = subprocess.run(["bash", "-c", f"{shlex.quote(str(script))} --show-completion; exit $?"], env=shell, cwd=REPO,
                           capture_output=True, text=True, timeout=60, check=False)
    assert shown.returncode == 0 and "_cyberins_completion" in shown.stdout, (shown.returncode, shown.stderr)
    env = {**shell, "_CYBERINS_COMPLETE": "complete_bash", "COMP_WORDS": "cyberins policy a", "COMP_CWORD": "2"}
    completed = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert completed.stdout.split() == ["apply", "assess", "accept", "approve"], completed.stderr
