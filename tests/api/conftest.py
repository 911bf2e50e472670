"""A real API stack for API tests: the session's dev server and PostgreSQL, a `cyberins worker`
process and a `cyberins api` process on a free port, as production runs them.

Processes rather than tasks in the test loop, so that synchronous tools (schemathesis) can drive the
API while nothing in the test's event loop needs to run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.context import PartyKind
from api.provisioning import IssuedCredentials, issue_credentials
from storage.db import create_session_factory
from tests.fixtures.postgres import TEMPLATE_DATABASE, _admin, free_port

CYBERINS = Path(sys.executable).parent / "cyberins"


@dataclass
class ApiStack:
    base_url: str
    temporal: Client
    sessions: async_sessionmaker[AsyncSession]
    task_queue: str
    env: dict[str, str]
    logs: Path

    async def credentials(self, kind: PartyKind, party_id: str | None = None) -> IssuedCredentials:
        return await issue_credentials(self.sessions, kind, party_id or f"{kind.value}-{uuid.uuid4().hex[:8]}")


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(CYBERINS), *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_health(base_url: str, api: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if api.poll() is not None:
            raise RuntimeError(f"the API exited with {api.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API did not answer /health within 60 s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
async def api_stack(pg_server, dev_server_env) -> AsyncIterator[ApiStack]:
    database = f"api_{uuid.uuid4().hex[:12]}"
    await _admin(pg_server, f'CREATE DATABASE "{database}" TEMPLATE {TEMPLATE_DATABASE}')
    database_url = pg_server.url(database)
    folder = Path(tempfile.mkdtemp(prefix="cyberins-test-api-"))
    port = free_port()
    task_queue = f"api-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_server_env.client.namespace,
        "CYBERINS_TASK_QUEUE": task_queue,
        "CYBERINS_API_PORT": str(port),
        "CYBERINS_API_HOST": "127.0.0.1",
        "CYBERINS_STATE_DIR": str(folder / "state"),
        "CYBERINS_LOG_FORMAT": "json",
        "CYBERINS_LOG_LEVEL": "WARNING",
    }
    env.pop("TEMPORAL_PROFILE", None)
    env.pop("TEMPORAL_API_KEY", None)
    worker_log, api_log = folder / "worker.log", folder / "api.log"
    worker = _start(["worker"], env, worker_log)
    api = _start(["api"], env, api_log)
    engine, sessions = create_session_factory(database_url)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(base_url, api, api_log)
        yield ApiStack(base_url, dev_server_env.client, sessions, task_queue, {**env, "CYBERINS_API_URL": base_url}, folder)
    finally:
        _stop(api)
        _stop(worker)
        await engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
