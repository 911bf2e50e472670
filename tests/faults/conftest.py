"""Fault tests: real `cyberins worker` processes paying through the bank simulator, killed with -9.

Each test gets a fresh database (from the session's PostgreSQL), its own task queue, a bank
simulator on a free port and a folder for the processes' logs. Figures a test measures (time to
recover, retries seen) are printed past pytest's capture, so `make test` shows them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from devstack.ports import free_port
from tests.faults.processes import BIN, Bank, Process, start, worker_env

FAILED = pytest.StashKey[bool]()  # set on a test item when its call phase failed


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    report = yield
    if call.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture
def fault_folder(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The processes' logs; after a failure their ends are printed, for the failure report."""
    folder = Path(tempfile.mkdtemp(prefix="cyberins-test-faults-"))
    yield folder
    if request.node.stash.get(FAILED, False):
        for log in sorted(folder.glob("*.log")):
            print(f"--- {log.name} (last 4000 characters)\n{log.read_text(errors='replace')[-4000:]}")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def bank(fault_folder: Path) -> AsyncIterator[Bank]:
    bank = Bank(fault_folder, free_port())
    try:
        await bank.wait_serving()
        yield bank
    finally:
        bank.stop()


@pytest.fixture
def start_worker(
    fault_folder: Path, database_url: str, bank: Bank, task_queue: str
) -> Iterator[Callable[..., Process]]:
    """Starts `cyberins worker` processes for this test's queue; whatever still runs is stopped after."""
    started: list[Process] = []

    def start_one(temporal_address: str, namespace: str = "default") -> Process:
        env = worker_env(
            database_url=database_url,
            temporal_address=temporal_address,
            namespace=namespace,
            task_queue=task_queue,
            payment_url=bank.url,
            state_dir=fault_folder / "state",
        )
        process = start(f"worker-{len(started) + 1}", [str(BIN / "cyberins"), "worker"], fault_folder, env)
        started.append(process)
        return process

    yield start_one
    for process in started:
        process.stop()


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[..., None]:
    """Print a test's figures on the terminal even under capture: they go into the README."""

    def show(title: str, **figures: object) -> None:
        with capsys.disabled():
            print(f"\n[faults] {title}: " + ", ".join(f"{name}={value}" for name, value in figures.items()))

    return show
