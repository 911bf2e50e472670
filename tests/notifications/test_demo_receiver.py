"""`cyberins demo` with its webhook receivers, against a real stack whose worker delivers.

A `cyberins api` process that accepts http:// endpoints on loopback (as `cyberins dev` runs it), a
worker in the test's process built with `activities_for(..., task_queue=, settings=)` so that every
stored event's delivery is started, the session's Temporal dev server and PostgreSQL. The demo runs in
this process too, so that its receivers can be read afterwards; each keeps the raw requests, and the
test verifies every one itself with the `standardwebhooks` reference package.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook
from starlette.requests import Request
from starlette.responses import Response

from cli.demo import run_demo
from devstack.ports import free_port
from devstack.processes import spawn, stop, wait_for_health
from devstack.webhook_receiver import WebhookReceiver
from settings import Settings
from storage.db import create_session_factory
from storage.models import DeliveryRow, PartyEventRow
from tests.fixtures.postgres import TEMPLATE_DATABASE, _admin
from tests.notifications.support import delivering_worker, delivery_settings

CYBERINS = Path(sys.executable).parent / "cyberins"
SETTLE_SECONDS = 60.0  # generous for a busy machine; the command itself waits 10 s


@dataclass
class RecordingReceiver(WebhookReceiver):
    """The demo's receiver, keeping every request exactly as it came."""

    raw: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    async def _receive(self, request: Request) -> Response:
        self.raw.append((await request.body(), {k.lower(): v for k, v in request.headers.items()}))
        return await super()._receive(request)


@dataclass
class DeliveringStack:
    settings: Settings  # what the demo reads: the database, the API's address
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
async def delivering_stack(pg_server, dev_server_env) -> AsyncIterator[DeliveringStack]:
    database = f"demo_{uuid.uuid4().hex[:12]}"
    await _admin(pg_server, f'CREATE DATABASE "{database}" TEMPLATE {TEMPLATE_DATABASE}')
    database_url = pg_server.url(database)
    folder = Path(tempfile.mkdtemp(prefix="cyberins-test-demo-"))
    port, task_queue = free_port(), f"demo-{uuid.uuid4().hex[:8]}"
    client = dev_server_env.client
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "CYBERINS_TASK_QUEUE": task_queue,
        "CYBERINS_API_PORT": str(port),
        "CYBERINS_API_HOST": "127.0.0.1",
        "CYBERINS_STATE_DIR": str(folder / "state"),
        "CYBERINS_LOG_FORMAT": "json",
        "CYBERINS_LOG_LEVEL": "WARNING",
        "CYBERINS_WEBHOOK_HTTP_LOOPBACK": "true",
    }
    for name in ("TEMPORAL_PROFILE", "TEMPORAL_API_KEY"):
        env.pop(name, None)
    api_log = folder / "api.log"
    api = spawn([str(CYBERINS), "api"], log=api_log, env=env)
    engine, sessions = create_session_factory(database_url)
    base_url = f"http://127.0.0.1:{port}"
    settings = Settings(database_url=database_url, api_url=base_url, task_queue=task_queue, state_dir=folder / "state")
    try:
        wait_for_health(f"{base_url}/health", log=api_log, process=api)
        async with delivering_worker(client, sessions, task_queue, delivery_settings()):
            yield DeliveringStack(settings, sessions)
    finally:
        stop(api)
        await engine.dispose()
        await _admin(pg_server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if not os.environ.get("KEEP_API_LOGS"):
            shutil.rmtree(folder, ignore_errors=True)


async def test_each_party_is_told_its_events_by_webhook_once_signed_and_only_its_own(delivering_stack):
    console = Console(file=io.StringIO(), width=240, highlight=False, soft_wrap=True, color_system=None)
    run = await run_demo(
        console, delivering_stack.settings, settle_seconds=SETTLE_SECONDS, receiver_factory=RecordingReceiver
    )
    printed = console.file.getvalue()
    parties = {party.label: party for party in run.receivers.parties}
    assert set(parties) == {"insured", "vendor", "panel vendor", "insurer"}, printed
    assert all(party.endpoint_id for party in parties.values()), printed
    assert run.arrivals is not None and run.arrivals.arrived == run.arrivals.planned, printed

    # The panel vendor is told of the demo's dispatch, and the demo says so as it happens.
    panel = parties["panel vendor"]
    [dispatch] = [r for r in panel.receiver.applied.values() if r.event_type == "incident.dispatch.requested"]
    assert dispatch.data["incident_id"] == run.ids["incident"] and dispatch.data["object_id"] == run.ids["incident"]
    assert f"⇢ webhook to panel vendor: incident.dispatch.requested  {dispatch.webhook_id}  (verified)" in printed
    assert f"{run.arrivals.arrived} of {run.arrivals.planned} planned webhook(s) arrived" in printed

    # Every request verifies, by the test's own check with the reference package, under the secret the
    # API gave the party for its endpoint; nothing was refused.
    for party in parties.values():
        receiver = party.receiver
        assert isinstance(receiver, RecordingReceiver) and receiver.rejected == 0
        [secret] = receiver.secrets
        assert secret.startswith("whsec_")
        assert len(receiver.raw) == receiver.requests == len(receiver.deliveries)
        for body, headers in receiver.raw:
            Webhook(secret).verify(body, headers)
            assert headers["webhook-id"].startswith("msg_")

    owners = await _owners(delivering_stack.sessions, {w for p in parties.values() for w in p.receiver.applied})
    expected = await _events_of(delivering_stack.sessions, [party.party_id for party in parties.values()])
    for party in parties.values():
        received = Counter(r.webhook_id for r in party.receiver.deliveries)
        # No party hears another's event...
        assert {owners.get(webhook_id) for webhook_id in received} <= {party.party_id}, party.label
        # ...and each hears every event the story produced for it, exactly once by webhook-id.
        assert set(received) == expected.get(party.party_id, set()), f"{party.label}:\n{printed}"
        assert set(received.values()) <= {1}, f"{party.label} got a webhook-id twice: {received}"
    assert expected.get(panel.party_id), "the story produced no event for the panel vendor"

    # As the service saw it: every webhook to the demo's endpoints delivered at the first attempt.
    statuses = await _webhook_statuses(delivering_stack.sessions, [p.endpoint_id for p in parties.values()])
    assert statuses and set(statuses) == {("delivered", 1)}, statuses
    # And the demo deleted its endpoints on the way out: the panel vendor is the same party every run.
    assert all(party.deleted for party in parties.values()), printed


async def _owners(sessions, event_ids: set[str]) -> dict[str, str]:
    async with sessions() as session:
        rows = await session.execute(
            select(PartyEventRow.event_id, PartyEventRow.party_id).where(PartyEventRow.event_id.in_(event_ids))
        )
        return {event_id: party_id for event_id, party_id in rows}


async def _events_of(sessions, party_ids: list[str]) -> dict[str, set[str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(PartyEventRow.party_id, PartyEventRow.event_id).where(PartyEventRow.party_id.in_(party_ids))
        )
        events: dict[str, set[str]] = {}
        for party_id, event_id in rows:
            events.setdefault(party_id, set()).add(event_id)
        return events


async def _webhook_statuses(sessions, endpoint_ids: list[str]) -> list[tuple[str, int]]:
    async with sessions() as session:
        rows = await session.execute(
            select(DeliveryRow.status, DeliveryRow.attempts)
            .where(DeliveryRow.channel == "webhook", DeliveryRow.target.in_(endpoint_ids))
        )
        return [(status, attempts) for status, attempts in rows]
