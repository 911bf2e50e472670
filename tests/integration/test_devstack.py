"""`cyberins dev` end to end: real Temporal dev server, real PostgreSQL, the real worker.

Each stack runs as a subprocess on free ports in a temporary state folder, never those of `make dev`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.ports import free_port
from devstack.stack import READY_LINE

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "cli.main"]
TEMPORAL = Path(sys.executable).parent / "temporal"
EXAMPLES = REPO / "examples"
EXAMPLE = EXAMPLES / "application.json"
MAKE_DEV_PORTS = {7233, 8233, 55432, 8300, 8301, 8325}
START_TIMEOUT = 60
STOP_TIMEOUT = 40


def pick_free_ports() -> dict[str, int]:
    """Six distinct free ports, none of them one that `make dev` uses (the mail sink's too)."""
    chosen: set[int] = set()
    while len(chosen) < 6:
        port = free_port()
        if port not in MAKE_DEV_PORTS:
            chosen.add(port)
    temporal, ui, pg, api, codec, smtp = sorted(chosen)
    return {"temporal": temporal, "ui": ui, "pg": pg, "api": api, "codec": codec, "smtp": smtp}


def stack_env(ports: dict[str, int]) -> dict[str, str]:
    """A test stack's environment: nothing of the developer's, and its own mail sink port."""
    return clean_env(CYBERINS_SMTP_PORT=str(ports["smtp"]))


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the developer's Temporal or database settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "CYBERINS_")) and k != "DATABASE_URL"
    }
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    out: Path
    err: Path
    state_dir: Path

    def output(self) -> str:
        return f"--- stdout\n{self.out.read_text()}\n--- stderr\n{self.err.read_text()[-4000:]}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = clean_env(
            TEMPORAL_ADDRESS=f"127.0.0.1:{self.ports['temporal']}",
            CYBERINS_TEMPORAL_UI_PORT=str(self.ports["ui"]),
            CYBERINS_API_PORT=str(self.ports["api"]),
            CYBERINS_POSTGRES_PORT=str(self.ports["pg"]),
            CYBERINS_STATE_DIR=str(self.state_dir),  # where the CLI finds the stack's payload keys
        )
        return subprocess.run(
            [*CLI, *args], cwd=REPO, env=env, check=False, capture_output=True, text=True, timeout=120
        )

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=STOP_TIMEOUT)


def launch(state_dir: Path, ports: dict[str, int], name: str) -> RunningStack:
    out, err = state_dir.parent / f"{name}.out", state_dir.parent / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [
                *CLI,
                "dev",
                "--state-dir",
                str(state_dir),
                "--temporal-port",
                str(ports["temporal"]),
                "--ui-port",
                str(ports["ui"]),
                "--pg-port",
                str(ports["pg"]),
                "--api-port",
                str(ports["api"]),
                "--codec-port",
                str(ports["codec"]),
            ],
            cwd=REPO,
            env=stack_env(ports),
            stdout=stdout,
            stderr=stderr,
        )
    return RunningStack(process, ports, out, err, state_dir)


def start_stack(state_dir: Path, ports: dict[str, int], name: str) -> RunningStack:
    stack = launch(state_dir, ports, name)
    deadline = time.monotonic() + START_TIMEOUT
    while READY_LINE not in stack.out.read_text():
        if stack.process.poll() is not None:
            pytest.fail(f"cyberins dev exited with {stack.process.returncode}:\n{stack.output()}")
        if time.monotonic() > deadline:
            stack.process.kill()
            pytest.fail(f"cyberins dev not ready within {START_TIMEOUT} s:\n{stack.output()}")
        time.sleep(0.2)
    return stack


def processes_using(folder: Path) -> list[str]:
    """Command lines of live processes that mention `folder` (Temporal's db file, PostgreSQL's -D)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().split(")")[-1].split()[0]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if str(folder) in cmdline and state != "Z":
            found.append(cmdline)
    return found


def describe_workflow(ports: dict[str, int], workflow_id: str) -> dict:
    result = subprocess.run(
        [
            str(TEMPORAL),
            "workflow",
            "describe",
            "--address",
            f"127.0.0.1:{ports['temporal']}",
            "--workflow-id",
            workflow_id,
            "--output",
            "json",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def stored_input_encoding(ports: dict[str, int], workflow_id: str) -> bytes:
    """The encoding of the start input as Temporal stores it, read without the codec."""
    result = subprocess.run(
        [str(TEMPORAL), "workflow", "show", "--address", f"127.0.0.1:{ports['temporal']}",
         "--workflow-id", workflow_id, "--output", "json"],
        check=False, capture_output=True, text=True, timeout=30, env=clean_env(),
    )
    assert result.returncode == 0, result.stderr
    started = json.loads(result.stdout)["events"][0]["workflowExecutionStartedEventAttributes"]
    return base64.b64decode(started["input"]["payloads"][0]["metadata"]["encoding"])


def wait_for_phase(stack: RunningStack, policy_id: str, phase: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        shown = stack.cli("policy", "show", policy_id, "--json")
        if shown.returncode == 0 and json.loads(shown.stdout)["phase"] == phase:
            return json.loads(shown.stdout)
        if time.monotonic() > deadline:
            pytest.fail(f"policy {policy_id} not in {phase}: {shown.stdout}{shown.stderr}")
        time.sleep(0.5)


def stop_and_check_gone(stack: RunningStack, state_dir: Path) -> None:
    assert stack.interrupt() == 0, stack.output()
    assert processes_using(state_dir) == []
    assert not (state_dir / "postgres" / "postmaster.pid").exists()
    assert not (state_dir / "temporal.pid").exists()


@pytest.fixture
def stack_folder() -> Iterator[Path]:
    """A private folder: servers must not live where a concurrent pytest session prunes old temp folders."""
    folder = Path(tempfile.mkdtemp(prefix="cyberins-test-stack-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_dev_stack_runs_a_policy_and_keeps_it_across_restarts(stack_folder: Path) -> None:
    tmp_path = stack_folder
    state_dir = tmp_path / "state"
    policy_id = "pol-devstack0001"
    workflow_id = f"policy-{policy_id}"

    stack = start_stack(state_dir, pick_free_ports(), "first")
    try:
        applied = stack.cli("policy", "apply", str(EXAMPLE), "--policy-id", policy_id)
        assert applied.returncode == 0, applied.stderr
        assert workflow_id in applied.stdout
        ui_link = f"http://localhost:{stack.ports['ui']}/namespaces/default/workflows/{workflow_id}"
        assert ui_link in applied.stdout

        described = describe_workflow(stack.ports, workflow_id)
        assert described["workflowExecutionInfo"]["type"]["name"] == "PolicyWorkflow"
        assert described["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
        assert wait_for_phase(stack, policy_id, "awaiting_assessment")["policy_id"] == policy_id
        assert stored_input_encoding(stack.ports, workflow_id) == b"binary/encrypted"  # make dev encrypts
        assert f"http://127.0.0.1:{stack.ports['api']}" in stack.output()  # the panel says where the API is
        demo = stack.cli("demo")
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "Done. policy pol-" in demo.stdout and "paid ¥" in demo.stdout

        again = stack.cli("policy", "apply", str(EXAMPLE), "--policy-id", policy_id)
        assert again.returncode == 1 and "already exists" in again.stderr

        second = launch(state_dir, pick_free_ports(), "second-on-same-state")
        assert second.process.wait(timeout=START_TIMEOUT) == 1
        assert "already runs from" in second.output()
    finally:
        if stack.process.poll() is None:
            stop_and_check_gone(stack, state_dir)
    assert stack.process.returncode == 0
    assert (state_dir / "temporal.db").exists() and (state_dir / "postgres" / "PG_VERSION").exists()

    restarted = start_stack(state_dir, pick_free_ports(), "restarted")
    try:
        described = describe_workflow(restarted.ports, workflow_id)
        assert described["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
        wait_for_phase(restarted, policy_id, "awaiting_assessment")
        drive_through_the_readme(restarted, policy_id)
    finally:
        stop_and_check_gone(restarted, state_dir)


def temporal_cli(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    """The Temporal CLI with the codec server settings the panel prints: payloads are encrypted."""
    token = (stack.state_dir / "codec-token").read_text().strip()
    env = clean_env(
        TEMPORAL_CODEC_ENDPOINT=f"http://localhost:{stack.ports['codec']}", TEMPORAL_CODEC_AUTH=f"Bearer {token}"
    )
    return subprocess.run(
        [str(TEMPORAL), *args, "--address", f"127.0.0.1:{stack.ports['temporal']}", "--output", "json"],
        check=False, capture_output=True, text=True, timeout=60, env=env,
    )


def drive_through_the_readme(stack: RunningStack, policy_id: str) -> None:
    """The README's "Driving the policy" commands take the example from assessment to cover."""
    workflow_id = f"policy-{policy_id}"
    unknown = stack.cli("policy", "show", "pol-000000000000")
    assert unknown.returncode == 1 and "no policy pol-000000000000" in unknown.stderr, unknown.stderr
    assert "Traceback" not in unknown.stderr

    assessed = temporal_cli(
        stack, "workflow", "update", "execute", "--workflow-id", workflow_id,
        "--name", "submit_assessment", "--input-file", str(EXAMPLES / "assessment.json"),
    )
    assert assessed.returncode == 0, assessed.stderr
    assert json.loads(assessed.stdout)["result"]["decision"] == "accept", assessed.stdout
    quoted = wait_for_phase(stack, policy_id, "quoted")
    assert quoted["quote"]["quote_id"] == f"{policy_id}-t1"

    accepted = temporal_cli(
        stack, "workflow", "update", "execute", "--workflow-id", workflow_id,
        "--name", "accept_quote", "--input", json.dumps({"quote_id": f"{policy_id}-t1"}),
    )
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["result"]["policy_number"].startswith("CY-"), accepted.stdout

    # Straight after the acceptance's answer, as a vendor would: the policy is bound by then.
    signalled = temporal_cli(
        stack, "workflow", "signal", "--workflow-id", workflow_id,
        "--name", "report_findings", "--input-file", str(EXAMPLES / "findings.json"),
    )
    assert signalled.returncode == 0, signalled.stderr
    deadline = time.monotonic() + 30
    while (shown := json.loads(stack.cli("policy", "show", policy_id, "--json").stdout))["findings"]["total"] < 3:
        assert time.monotonic() < deadline, shown
        time.sleep(0.5)
    assert shown["findings"]["open_by_severity"] == {"critical": 1, "high": 1, "medium": 1}
    assert shown["findings_ignored"] == 0 and shown["phase"] == "in_force"

    reported = stack.cli(
        "incident", "report", str(EXAMPLES / "incident.json"), "--policy-id", policy_id, "--discovered-at", "now"
    )
    assert reported.returncode == 0, reported.stderr
    incident_id = reported.stdout.split("incident id")[1].split()[0]
    again = stack.cli(
        "incident", "report", str(EXAMPLES / "incident.json"), "--policy-id", policy_id, "--discovered-at", "now"
    )
    assert again.returncode == 0 and f"incident id  {incident_id}" in again.stdout
    deadline = time.monotonic() + 30
    while (incident := json.loads(stack.cli("incident", "show", incident_id, "--json").stdout))["dispatched_vendor"] is None:
        assert time.monotonic() < deadline, incident
        time.sleep(0.5)
    assert incident["covered"] is True and incident["report_deadline"] is not None
    claimed = stack.cli("claim", "start", incident_id)
    assert claimed.returncode == 0, claimed.stderr
    claim_id = claimed.stdout.split("claim id")[1].split()[0]
    deadline = time.monotonic() + 30
    while (claim := json.loads(stack.cli("claim", "show", claim_id, "--json").stdout))["policy_id"] is None:
        assert time.monotonic() < deadline, claim
        time.sleep(0.5)
    assert claim["phase"] == "gathering_loss"


def test_dev_stack_refuses_ports_in_use(stack_folder: Path) -> None:
    tmp_path = stack_folder
    ports = pick_free_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports["temporal"]))
        squatter.listen()
        stack = launch(tmp_path / "state", ports, "refused")
        code = stack.process.wait(timeout=START_TIMEOUT)
    assert code == 1
    output = stack.output()
    assert f"port {ports['temporal']} (Temporal gRPC) is already in use" in output
    assert "Traceback" not in output
    assert processes_using(tmp_path / "state") == []
