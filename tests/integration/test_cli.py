"""The `cyberins` command's answers to bad input: exit 2, the field named, no traceback.

These run the real command as a subprocess. Temporal is pointed at a free port with nothing behind
it, so a file that wrongly passed validation could never start a policy anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.ports import free_port
from domain.application import PolicyApplication

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "application.json"
VALID_CODE = "91350100M000100Y43"
BAD_CHECK_CODE = "91350100M000100Y44"  # last character should be 3


def cyberins(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "CYBERINS_")) and k != "DATABASE_URL"
    }
    env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{free_port()}"
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=REPO,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def example() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "application.json"
    path.write_text(content, encoding="utf-8")
    return path


def test_the_example_application_is_valid() -> None:
    application = PolicyApplication.model_validate(example())
    assert application.organisation.unified_social_credit_code == VALID_CODE
    assert application.organisation.industry == "industrial_internet"


def _with_bad_credit_code(data: dict) -> dict:
    data["organisation"]["unified_social_credit_code"] = BAD_CHECK_CODE
    return data


def _with_unknown_industry(data: dict) -> dict:
    data["organisation"]["industry"] = "space_mining"
    return data


def _with_bad_system_level(data: dict) -> dict:
    data["organisation"]["systems"][1]["mlps_level"] = 7
    return data


@pytest.mark.parametrize(
    ("broken", "field", "words"),
    [
        (_with_bad_credit_code, "organisation.unified_social_credit_code", "check character"),
        (_with_unknown_industry, "organisation.industry", "Input should be"),
        (_with_bad_system_level, "organisation.systems[1].mlps_level", "less than or equal to 5"),
    ],
)
def test_an_invalid_application_is_refused_naming_the_field(tmp_path, broken, field, words) -> None:
    path = write(tmp_path, json.dumps(broken(example()), ensure_ascii=False))
    result = cyberins("policy", "apply", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{field}: " in result.stderr and words in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    # The message names the field, never repeats what was typed (it can be personal data).
    assert BAD_CHECK_CODE not in result.stderr and "space_mining" not in result.stderr


def test_a_file_that_is_not_json_is_refused(tmp_path) -> None:
    result = cyberins("policy", "apply", str(write(tmp_path, "organisation: {name: x")))
    assert result.returncode == 2
    assert "is not valid JSON" in result.stderr and "line 1 column" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_missing_file_is_refused(tmp_path) -> None:
    result = cyberins("policy", "apply", str(tmp_path / "nowhere.json"))
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr


def test_a_policy_id_with_unsafe_characters_is_refused() -> None:
    result = cyberins("policy", "apply", str(EXAMPLE), "--policy-id", "Acme Ltd/91350100")
    assert result.returncode == 2
    assert "policy_id: " in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_an_unreachable_temporal_is_a_clear_error() -> None:
    result = cyberins("policy", "apply", str(EXAMPLE))
    assert result.returncode == 1
    assert "cannot reach Temporal at 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
