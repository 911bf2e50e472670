"""`cyberins dev` survives its own servers: a killed Temporal dev server or PostgreSQL comes back on
the same ports and state, the worker and the API carry on with it, and a server that keeps failing
stops the stack with a non-zero exit.

The stacks run as subprocesses on free ports in private folders (as in test_devstack.py); the
restart policy is checked on its own with real short-lived processes standing in for a server.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.postgres import EmbeddedPostgres
from devstack.supervision import PartKeptFailing, RestartBudget, RestartPolicy, Supervisor, describe_exit
from tests.integration.test_devstack import (
    CLI,
    EXAMPLE,
    READY_LINE,
    REPO,
    START_TIMEOUT,
    RunningStack,
    pick_free_ports,
    processes_using,
    stack_env,
    stop_and_check_gone,
)

# Generous: on a busy machine a restarted server replays its files before it answers.
COME_BACK_SECONDS = 60
GIVE_UP_SECONDS = 60


# -- The restart policy, as a calculation ----------------------------------------------------------


def test_restart_delays_double_up_to_the_cap() -> None:
    policy = RestartPolicy(max_attempts=7, first_delay=1, max_delay=30)
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_budget_gives_up_after_max_attempts_of_restarts_that_did_not_hold() -> None:
    budget = RestartBudget(RestartPolicy(max_attempts=5, first_delay=1, stable_after=60))
    delays = []
    now = 0.0
    for _ in range(5):
        delays.append(budget.next_delay(now))
        now += 10  # each restart comes up, then dies again 10 s later: never stable
        budget.restarted(now)
        now += 10
    assert delays == [1, 2, 4, 8, 16]
    assert budget.next_delay(now) is None
    assert budget.restarts == 5


def test_budget_starts_afresh_after_a_restart_that_held() -> None:
    budget = RestartBudget(RestartPolicy(max_attempts=2, first_delay=1, stable_after=60))
    assert budget.next_delay(0) == 1
    budget.restarted(1)
    assert budget.next_delay(30) == 2  # died again within the minute: the second attempt
    budget.restarted(32)
    assert budget.next_delay(32 + 60) == 1  # held for a minute: a new run of failures
    assert budget.attempts == 1


def test_budget_with_restarts_off_gives_up_at_the_first_death() -> None:
    assert RestartBudget(RestartPolicy(max_attempts=0)).next_delay(0) is None


# -- The supervisor, with real processes that keep dying -------------------------------------------


class DyingProcess:
    """A real process that exits with code 3 `lifetime` seconds after each start."""

    name = "flaky server"

    def __init__(self, log_file: Path, lifetime: float) -> None:
        self.log_file, self.lifetime = log_file, lifetime
        self.starts = 0
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        code = f"import sys, time; time.sleep({self.lifetime}); sys.exit(3)"
        return subprocess.Popen([sys.executable, "-c", code])

    def exit_reason(self) -> str | None:
        return None if self.process.poll() is None else describe_exit(self.process.returncode)

    async def restart(self) -> None:
        self.process = self._spawn()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def test_supervisor_restarts_with_backoff_then_gives_up_naming_the_part_and_its_log(tmp_path: Path) -> None:
    part = DyingProcess(tmp_path / "flaky.log", lifetime=0.1)
    said: list[str] = []
    policy = RestartPolicy(max_attempts=3, first_delay=0.05, stable_after=600)
    try:
        with pytest.raises(PartKeptFailing) as gave_up:
            asyncio.run(asyncio.wait_for(Supervisor(part, policy, said.append).run(asyncio.Event()), 60))
    finally:
        part.stop()
    assert part.starts == 4  # the first start and three restarts
    assert str(gave_up.value) == (
        f"the flaky server kept failing (exit code 3; 3 restarts in a row did not hold), so the stack "
        f"stopped; see its log {tmp_path / 'flaky.log'}"
    )
    stops = [line for line in said if "stopped unexpectedly" in line]
    assert stops == [
        "flaky server stopped unexpectedly (exit code 3); restarting (attempt 1 of 3) in 0.05 s",
        "flaky server stopped unexpectedly (exit code 3); restarting (attempt 2 of 3) in 0.1 s",
        "flaky server stopped unexpectedly (exit code 3); restarting (attempt 3 of 3) in 0.2 s",
    ]
    restarted = [line for line in said if " restarted at " in line]
    assert [line.split(" (")[1] for line in restarted] == [
        "1 restart since the stack started)", "2 restarts since the stack started)", "3 restarts since the stack started)",
    ]


def test_supervisor_keeps_restarting_a_server_whose_restarts_hold(tmp_path: Path) -> None:
    # Each restart lives longer than `stable_after`, so each death is the first of a new run.
    part = DyingProcess(tmp_path / "flaky.log", lifetime=0.3)
    said: list[str] = []
    policy = RestartPolicy(max_attempts=1, first_delay=0.01, stable_after=0.1)

    async def supervise_until_three_restarts() -> None:
        stopping = asyncio.Event()
        running = asyncio.create_task(Supervisor(part, policy, said.append).run(stopping))
        while part.starts < 4 and not running.done():
            await asyncio.sleep(0.05)
        stopping.set()
        await running  # returns, rather than giving up, once the stack stops

    try:
        asyncio.run(asyncio.wait_for(supervise_until_three_restarts(), 60))
    finally:
        part.stop()
    assert part.starts >= 4
    assert all("attempt 1 of 1" in line for line in said if "stopped unexpectedly" in line)


def test_a_stale_postmaster_pid_is_cleared_and_a_live_one_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "postgres"
    data_dir.mkdir()
    postgres = EmbeddedPostgres(data_dir, port=1)
    # A pid file naming a process that is no postmaster of this folder (pytest itself: a pid reused).
    postgres.pid_file.write_text(f"{os.getpid()}\n{data_dir}\n")
    postgres.clear_stale_pid_file()
    assert not postgres.pid_file.exists()
    # A pid file naming a process that is gone.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    postgres.pid_file.write_text(f"{gone.pid}\n")
    postgres.clear_stale_pid_file()
    assert not postgres.pid_file.exists()
    # A live process whose command line names the folder, as a running postmaster's does.
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-D", str(postgres.data_dir)])
    try:
        postgres.pid_file.write_text(f"{live.pid}\n")
        postgres.clear_stale_pid_file()
        assert postgres.pid_file.exists()
    finally:
        live.kill()
        live.wait()


# -- The real stack -------------------------------------------------------------------------------


@pytest.fixture
def stack_folder() -> Iterator[Path]:
    """A private folder: servers must not live where a concurrent pytest session prunes old temp folders."""
    folder = Path(tempfile.mkdtemp(prefix="cyberins-test-supervision-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def launch(state_dir: Path, ports: dict[str, int], name: str, *extra: str) -> RunningStack:
    out, err = state_dir.parent / f"{name}.out", state_dir.parent / f"{name}.err"
    options = {"--state-dir": state_dir, "--temporal-port": ports["temporal"], "--ui-port": ports["ui"],
               "--pg-port": ports["pg"], "--api-port": ports["api"], "--codec-port": ports["codec"]}
    command = [*CLI, "dev", *(str(part) for pair in options.items() for part in pair), *extra]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=REPO, env=stack_env(ports), stdout=stdout, stderr=stderr)
    stack = RunningStack(process, ports, out, err, state_dir)
    wait_for_output(stack, READY_LINE, START_TIMEOUT)
    return stack


def wait_for_output(stack: RunningStack, text: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while text not in stack.out.read_text():
        if stack.process.poll() is not None:
            pytest.fail(f"cyberins dev exited with {stack.process.returncode} before printing {text!r}:\n{stack.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"cyberins dev did not print {text!r} within {seconds} s:\n{stack.output()}")
        time.sleep(0.2)


def api(stack: RunningStack) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{stack.ports['api']}", timeout=30)


def ready_answers_until_ready(stack: RunningStack) -> list[dict]:
    """/ready's answers, one every half second, up to and including the first 200."""
    answers = []
    deadline = time.monotonic() + COME_BACK_SECONDS
    with api(stack) as client:
        while time.monotonic() < deadline:
            answer = client.get("/ready")
            answers.append({**answer.json(), "http": answer.status_code})
            if answer.status_code == 200:
                return answers
            time.sleep(0.5)
    pytest.fail(f"/ready did not answer 200 within {COME_BACK_SECONDS} s: {answers[-3:]}\n{stack.output()}")


def insured_key(stack: RunningStack) -> str:
    issued = stack.cli("keys", "create", "--party", "insured", "--id", "insured-supervision", "--json")
    assert issued.returncode == 0, issued.stderr
    return json.loads(issued.stdout)["api_key"]


def apply_through_the_api(stack: RunningStack, key: str) -> str:
    """A policy applied for through the API (its key checked in PostgreSQL, its workflow started in
    Temporal), then seen through the API once the worker has recorded the application in PostgreSQL."""
    body = {"insurer_id": "insurer-supervision", "application": json.loads(EXAMPLE.read_text())}
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())}
    with api(stack) as client:
        created = client.post("/v1/policies", json=body, headers=headers)
        assert created.status_code == 201, created.text
        policy_id = created.json()["id"]
        wait_until_recorded(stack, policy_id)
        shown = client.get(f"/v1/policies/{policy_id}", headers={"Authorization": f"Bearer {key}"})
    assert shown.status_code == 200, shown.text
    assert shown.json()["phase"] == "awaiting_assessment"
    return policy_id


def recorded_applications(stack: RunningStack) -> set[str]:
    postgres = EmbeddedPostgres(stack.state_dir / "postgres", stack.ports["pg"])
    return set(postgres.psql("SELECT policy_id FROM applications", database="cyberins").split())


def wait_until_recorded(stack: RunningStack, policy_id: str) -> None:
    """The worker's record_application activity wrote the row: the worker reached both servers."""
    deadline = time.monotonic() + COME_BACK_SECONDS
    while policy_id not in recorded_applications(stack):
        assert time.monotonic() < deadline, f"{policy_id} never recorded:\n{stack.output()}"
        time.sleep(0.5)


def kill_temporal(stack: RunningStack) -> int:
    pid = int((stack.state_dir / "temporal.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    return pid


def kill_postgres(stack: RunningStack) -> int:
    pid = int((stack.state_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    return pid


def test_dev_stack_restarts_killed_servers_and_the_worker_and_api_carry_on(stack_folder: Path) -> None:
    state_dir = stack_folder / "state"
    stack = launch(state_dir, pick_free_ports(), "supervised")
    try:
        key = insured_key(stack)
        before = apply_through_the_api(stack, key)

        killed = kill_temporal(stack)
        wait_for_output(stack, "Temporal dev server restarted at", COME_BACK_SECONDS)
        assert (
            "Temporal dev server stopped unexpectedly (killed by SIGKILL); restarting (attempt 1 of 5) in 1 s"
            in stack.out.read_text()
        )
        assert "(1 restart since the stack started); the worker and the API reach it again" in stack.out.read_text()
        assert int((state_dir / "temporal.pid").read_text()) != killed
        assert [answer["http"] for answer in ready_answers_until_ready(stack)] == [200]
        after_temporal = apply_through_the_api(stack, key)
        with api(stack) as client:  # the policy from before lives on in Temporal's SQLite file
            kept = client.get(f"/v1/policies/{before}", headers={"Authorization": f"Bearer {key}"})
        assert kept.status_code == 200 and kept.json()["phase"] == "awaiting_assessment", kept.text

        killed = kill_postgres(stack)
        wait_for_output(stack, "PostgreSQL server restarted at", COME_BACK_SECONDS)
        assert (
            f"PostgreSQL server stopped unexpectedly (its process {killed} is gone); restarting (attempt 1 of 5) "
            "in 1 s" in stack.out.read_text()
        )
        # The pools hold connections of the killed server and do not ping them (storage/db.py); the
        # supervisor's own check spent the failure that clears them, so no request of ours fails.
        assert "the worker and the API reach it again" in stack.out.read_text().split("PostgreSQL server restarted at")[1]
        assert [answer["http"] for answer in ready_answers_until_ready(stack)] == [200]
        after_postgres = apply_through_the_api(stack, key)
        assert {before, after_temporal, after_postgres} <= recorded_applications(stack)
    finally:
        if stack.process.poll() is None:
            stop_and_check_gone(stack, state_dir)
    assert stack.process.returncode == 0, stack.output()


def test_dev_stack_stops_with_status_1_when_a_server_keeps_failing(stack_folder: Path) -> None:
    state_dir = stack_folder / "state"
    ports = pick_free_ports()
    stack = launch(state_dir, ports, "failing", "--max-restarts", "2")
    try:
        with socket.socket() as squatter:
            kill_temporal(stack)
            # Another program takes the port before the restart (at least 1 s away), so every restart fails.
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            deadline = time.monotonic() + 5
            while True:
                try:
                    squatter.bind(("127.0.0.1", ports["temporal"]))
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the killed server's port stayed taken"
                    time.sleep(0.02)
            squatter.listen()
            code = stack.process.wait(timeout=GIVE_UP_SECONDS)
    finally:
        if stack.process.poll() is None:
            stack.process.kill()
    output = stack.output()
    assert code == 1, output
    assert "restarting (attempt 1 of 2) in 1 s" in output
    assert "did not come back (exit code 1: Error: can't set frontend port" in output
    assert "restarting (attempt 2 of 2) in 2 s" in output
    assert (
        "cyberins dev: the Temporal dev server kept failing (exit code 1: Error: can't set frontend port "
        f"{ports['temporal']}" in output
    )
    assert f"2 restarts in a row did not hold), so the stack stopped; see its log {state_dir / 'temporal.log'}" in output
    assert "Traceback" not in output
    assert processes_using(state_dir) == []  # PostgreSQL was stopped too
    assert not (state_dir / "postgres" / "postmaster.pid").exists()
