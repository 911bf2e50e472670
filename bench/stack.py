"""A cyberins stack of the benchmark's own, so that `make bench` works on a fresh clone without
`make dev`: the Temporal dev server from .venv/bin/temporal, an embedded PostgreSQL, and
`cyberins worker` and `cyberins api` processes, on free ports in a temporary folder.

Nothing of the dev stack is touched: not `.state/`, not its ports 7233, 8233, 8300 or 55432.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from devstack.processes import spawn, stop, tail, wait_for_health
from storage.db import create_session_factory
from storage.migrate import upgrade_to_head
from workflows import search_attributes

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parent.parent
DATABASE = "cyberins_bench"


@dataclass
class Stack:
    """What a load run needs from a running stack, whoever started it."""

    base_url: str
    sessions: async_sessionmaker[AsyncSession]
    temporal: Client
    logs: Path
    worker: subprocess.Popen | None = None  # the cyberins worker, for its memory
    api: subprocess.Popen | None = None
    task_queue: str = "cyberins-policy"

    @asynccontextmanager
    async def bare_worker(self, *, milestones: Path | None = None, module: str = "bench.bare") -> AsyncIterator[str]:
        """A bare-Temporal worker process (`module`: bench.bare, bench.bare_delivery) on a task queue of
        its own, on the same server."""
        task_queue = f"bare-{uuid.uuid4().hex[:8]}"
        command = [sys.executable, "-m", module, "--task-queue", task_queue,
                   "--address", self.temporal.service_client.config.target_host,
                   "--namespace", self.temporal.namespace]
        if milestones is not None:
            command += ["--milestones", str(milestones)]
        log = self.logs / f"{task_queue}.log"
        process = spawn(command, log=log, cwd=PROJECT)
        try:
            await asyncio.to_thread(_wait_for_line, log, "bare worker polling", process)
            yield task_queue
        finally:
            await asyncio.to_thread(stop, process, 30)


def _wait_for_line(log: Path, line: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while line not in tail(log, 20_000):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"bare worker did not start:\n{tail(log)}")
        time.sleep(0.1)


def peak_rss_kib(process: subprocess.Popen) -> int | None:
    """A running child's peak resident set (VmHWM), KiB; None when it has ended or there is no /proc."""
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


async def migrated_database(stack: AsyncExitStack, folder: Path, name: str) -> str:
    """An embedded PostgreSQL in `folder`, destroyed with `stack`, holding database `name` at the head."""
    postgres = EmbeddedPostgres(data_dir=folder / "pg", port=free_port())
    stack.callback(postgres.destroy)
    await asyncio.to_thread(postgres.start)
    await asyncio.to_thread(postgres.create_database, name)
    await asyncio.to_thread(upgrade_to_head, postgres.url(name))
    return postgres.url(name)


def service_env(database_url: str, temporal: Client, task_queue: str, folder: Path) -> dict[str, str]:
    """The environment of a `cyberins` process of the benchmark's: its own database, server and queue,
    nothing of a profile, an API key or a payment service the caller may have set."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": temporal.namespace,
        "CYBERINS_TASK_QUEUE": task_queue,
        "CYBERINS_STATE_DIR": str(folder / "state"),
        "CYBERINS_LOG_FORMAT": "json",
        "CYBERINS_LOG_LEVEL": "WARNING",
    }
    for name in ("TEMPORAL_PROFILE", "TEMPORAL_API_KEY", "CYBERINS_PAYMENT_URL"):
        env.pop(name, None)
    return env


@asynccontextmanager
async def own_stack(*, say=print, settings: Mapping[str, str] | None = None) -> AsyncIterator[Stack]:
    """Start everything, yield the running stack, stop everything and remove the folder. `settings`:
    more environment for the cyberins processes (CYBERINS_* settings a benchmark needs)."""
    folder = Path(tempfile.mkdtemp(prefix="cyberins-bench-"))
    async with AsyncExitStack() as stack:
        stack.callback(shutil.rmtree, folder, True)
        say(f"stack folder {folder}")
        database_url = await migrated_database(stack, folder, DATABASE)
        say("PostgreSQL migrated")

        temporal = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(BIN / "temporal"), data_converter=pydantic_data_converter,
            search_attributes=search_attributes.ALL, port=free_port(), ui=False,
        )
        stack.push_async_callback(temporal.shutdown)
        target = temporal.client.service_client.config.target_host
        say(f"Temporal dev server on {target}")

        port = free_port()
        task_queue = f"bench-{uuid.uuid4().hex[:8]}"
        env = service_env(database_url, temporal.client, task_queue, folder) | {
            "CYBERINS_API_HOST": "127.0.0.1", "CYBERINS_API_PORT": str(port), **(settings or {}),
        }
        processes = {}
        for role in ("worker", "api"):
            processes[role] = spawn([str(BIN / "cyberins"), role], log=folder / f"{role}.log", env=env)
            stack.callback(stop, processes[role], 30)
        base_url = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_for_health, f"{base_url}/health", log=folder / "api.log", seconds=90)
        say(f"cyberins worker and api running; API on {base_url}")

        engine, sessions = create_session_factory(database_url)
        stack.push_async_callback(engine.dispose)
        yield Stack(base_url, sessions, temporal.client, folder, processes["worker"], processes["api"], task_queue)
        say("stopping the stack")
