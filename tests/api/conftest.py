"""A real API stack for API tests: the session's dev server and PostgreSQL, a `cyberins worker`
process and a `cyberins api` process on a free port, as production runs them.

Processes rather than tasks in the test loop, so that synchronous tools (schemathesis) can drive the
API while nothing in the test's event loop needs to run.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.client import ApiClient
from api.context import PartyKind
from api.provisioning import IssuedCredentials, issue_credentials
from devstack.ports import free_port
from devstack.processes import spawn, stop, wait_for_health
from storage.db import create_session_factory
from tests.fixtures.postgres import TEMPLATE_DATABASE, _admin

CYBERINS = Path(sys.executable).parent / "cyberins"


@dataclass
class ApiStack:
    base_url: str
    temporal: Client
    sessions: async_sessionmaker[AsyncSession]
    task_queue: str
    env: dict[str, str]
    logs: Path
    engine: AsyncEngine  # the test process's pool on the stack's database

    async def credentials(self, kind: PartyKind, party_id: str | None = None) -> IssuedCredentials:
        return await issue_credentials(self.sessions, kind, party_id or f"{kind.value}-{uuid.uuid4().hex[:8]}")

    async def insured_vendor_insurer(self, label: str) -> tuple[dict[str, IssuedCredentials], dict[str, ApiClient]]:
        """Keys for one insured, one vendor and one insurer of their own, and a client for each (the
        caller closes them)."""
        run = uuid.uuid4().hex[:6]
        issued = {
            kind.value: await self.credentials(kind, f"{kind.value}-{label}-{run}")
            for kind in (PartyKind.INSURED, PartyKind.VENDOR, PartyKind.INSURER)
        }
        clients = {k: ApiClient(self.base_url, v.token, webhook_secret=v.webhook_secret) for k, v in issued.items()}
        return issued, clients


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
    # The worker delivers to the tests' receivers on loopback; the API keeps production's URL rules.
    worker = spawn([str(CYBERINS), "worker"], log=worker_log, env={**env, "CYBERINS_WEBHOOK_HTTP_LOOPBACK": "true"})
    api = spawn([str(CYBERINS), "api"], log=api_log, env=env)
    engine, sessions = create_session_factory(database_url)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(f"{base_url}/health", log=api_log, process=api)
        yield ApiStack(
            base_url, dev_server_env.client, sessions, task_queue, {**env, "CYBERINS_API_URL": base_url}, folder, engine
        )
    finally:
        stop(api)
        stop(worker)
        await engine.dispose()
        if not os.environ.get("KEEP_API_LOGS"):
            shutil.rmtree(folder, ignore_errors=True)
