"""The commands in README.md and docs/ run as written.

Blocks without a marker run in a subprocess without any server, with a state folder of their own and
Temporal pointed at a free port with nothing behind it. Blocks marked `<!-- needs: stack -->` (the
README's walkthrough) run against a Temporal dev server, a PostgreSQL database and a worker of this
test. Every other block is at least checked for its `cyberins` commands and options. See
tests/docs/shell_blocks.py for the markers.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from cli.main import app
from contracts.incident_activities import IncidentReport
from contracts.policy import AssessmentSubmission, MonitoringBatch
from devstack.ports import free_port
from domain.application import PolicyApplication
from tests.docs.shell_blocks import REPO, ShellBlock, all_blocks, cyberins_commands, documents
from tests.workflows.support import running_worker

BIN = Path(sys.executable).parent
BLOCKS = all_blocks()
STACK_FREE = [block for block in BLOCKS if block.needs == ""]
ON_A_STACK = [block for block in BLOCKS if block.needs == "stack"]
README_LINES_AT_MOST = 200
# [text](page.md) or [text](page.md#heading), between README.md and docs/
LOCAL_LINK = re.compile(r"\]\(([\w./-]+\.md)(?:#([\w-]+))?\)")


def _ids(blocks: list[ShellBlock]) -> list[str]:
    return [block.where for block in blocks]


def _environment(state_dir: Path, **extra: str) -> dict[str, str]:
    """Nothing of the caller's stack: no Temporal, database or key of a running `make dev`."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "CYBERINS_")) and k != "DATABASE_URL"
    }
    env.update(CYBERINS_STATE_DIR=str(state_dir), CYBERINS_SMTP_HOST="", COLUMNS="200", **extra)
    return env


def run_block(block: ShellBlock, env: dict[str, str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    """As a reader would paste it into bash, with the venv of this test run for `.venv/bin/`."""
    script = block.text.replace(".venv/bin/", f"{BIN}/")
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def _report(block: ShellBlock, result: subprocess.CompletedProcess[str]) -> str:
    output = f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    return f"{block.where} exited {result.returncode}\n{output}"


# --- every block: the commands it names exist ---------------------------------------------------

def _unknown_words(words: list[str]) -> str | None:
    """Why `cyberins <words>` names no command or option of ours; None when it does."""
    command = typer.main.get_command(app)
    path = ["cyberins"]
    for word in words:
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
            if name not in known | {"--help"}:
                return f"`{' '.join(path)}` has no option {name}"
        elif hasattr(command, "get_command"):  # a group: the word names one of its commands
            found = command.get_command(command.context_class(command, info_name=path[-1]), word)
            if found is None:
                return f"`{' '.join(path)}` has no command {word!r}"
            command = found
            path.append(word)
    return None


def test_every_document_has_a_shell_block_to_check() -> None:
    assert (REPO / "README.md") in {block.path for block in BLOCKS}
    assert len(documents()) > 1, "docs/ holds the rest of the documentation"


@pytest.mark.parametrize("block", BLOCKS, ids=_ids(BLOCKS))
def test_every_cyberins_command_shown_exists(block: ShellBlock) -> None:
    wrong = [reason for words in cyberins_commands(block) if (reason := _unknown_words(words))]
    assert not wrong, f"{block.where}: " + "; ".join(wrong)


def test_the_readme_stays_short() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_LINES_AT_MOST, f"README.md has {lines} lines; move detail into docs/"


def test_the_readme_points_to_every_docs_page() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in readme, f"README.md does not point to docs/{page.name}"


@pytest.mark.parametrize("document", documents(), ids=lambda path: str(path.relative_to(REPO)))
def test_every_link_between_the_documents_leads_somewhere(document: Path) -> None:
    broken = [
        f"{target}{'#' + anchor if anchor else ''}"
        for target, anchor in LOCAL_LINK.findall(document.read_text(encoding="utf-8"))
        if not (document.parent / target).is_file()
        or (anchor and anchor not in _anchors(document.parent / target))
    ]
    assert not broken, f"{document.relative_to(REPO)} links to nothing: {broken}"


def _anchors(page: Path) -> set[str]:
    """The ids a Markdown renderer gives the page's headings: lower case, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_the_layers_in_architecture_md_are_those_the_layer_test_keeps() -> None:
    from tests.architecture.test_layers import LAYERS

    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", text, flags=re.MULTILINE)
    documented = [set(re.findall(r"`(\w+)`", packages)) for _, packages in rows]
    assert documented == LAYERS, "docs/architecture.md's table of layers differs from tests/architecture LAYERS"


# --- blocks that need no server: run them -----------------------------------------------------------

@pytest.mark.parametrize("block", STACK_FREE, ids=_ids(STACK_FREE))
def test_a_block_without_servers_runs(block: ShellBlock, tmp_path: Path) -> None:
    env = _environment(tmp_path / "state", TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")
    result = run_block(block, env, timeout=60)
    assert result.returncode == 0, _report(block, result)
    assert "Traceback" not in result.stdout + result.stderr, _report(block, result)


@pytest.mark.parametrize(
    ("example", "model"),
    [
        ("application.json", PolicyApplication),
        ("assessment.json", AssessmentSubmission),
        ("findings.json", MonitoringBatch),
        ("incident.json", IncidentReport),
    ],
)
def test_the_example_files_are_valid(example: str, model) -> None:
    model.model_validate(json.loads((REPO / "examples" / example).read_text(encoding="utf-8")))


# --- the walkthrough: against a stack of this test ------------------------------------------------

def _policy_commands_landed() -> bool:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "policy", "assess", "--help"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    return result.returncode == 0


@pytest.mark.parametrize("block", ON_A_STACK, ids=_ids(ON_A_STACK))
async def test_a_walkthrough_block_runs_on_a_stack(
    block: ShellBlock, dev_client, session_factory, database_url, task_queue: str, tmp_path: Path
) -> None:
    if "policy assess" in block.text and not await asyncio.to_thread(_policy_commands_landed):
        pytest.skip("`cyberins policy assess` is not a command yet (`cyberins policy assess --help` fails)")
    env = _environment(
        tmp_path / "state",
        TEMPORAL_ADDRESS=dev_client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=dev_client.namespace,
        CYBERINS_TASK_QUEUE=task_queue,
        DATABASE_URL=database_url,
    )
    async with running_worker(dev_client, session_factory, task_queue):
        # In a thread, so that the worker in this event loop keeps answering the commands.
        result = await asyncio.to_thread(run_block, block, env, timeout=180)
    assert result.returncode == 0, _report(block, result)
    assert "Traceback" not in result.stdout + result.stderr, _report(block, result)
    if "policy accept" in block.text:  # the README's first policy: it ends in cover
        assert "in_force" in result.stdout, _report(block, result)
