"""`cyberins endpoints listen`: a newcomer's receiver, registered for a party, printing each event told."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from activities.notifying import Notifier
from contracts.parties import Notification, Party
from storage.unit_of_work import UnitOfWork
from tests.api.conftest import CYBERINS


async def test_the_listener_prints_its_partys_event_and_deletes_its_endpoint_when_done(api_stack):
    vendor = f"vendor-listen-{uuid.uuid4().hex[:6]}"
    process = await asyncio.create_subprocess_exec(
        str(CYBERINS), "endpoints", "listen", "--party", f"vendor:{vendor}", "--seconds", "60",
        env=api_stack.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        first = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert first.startswith("Listening on http://127.0.0.1:") and f"vendor {vendor}" in first
        notice = Notification(dedupe_key=f"listen:{vendor}", policy_id="pol-listen", recipient=Party.VENDOR,
                              recipient_id=vendor, kind="emergency_dispatch", payload={"incident_id": "inc-listen"})
        notifier = Notifier(api_stack.temporal, api_stack.task_queue)
        async with UnitOfWork(api_stack.sessions) as uow:
            started = await notifier.emit(uow, [notice])
        assert await notifier.deliver(started) == 1
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert "incident.dispatch.requested" in line and "incident inc-listen" in line and "verified" in line
        assert started[0] in line
    finally:
        process.send_signal(2)  # Ctrl-C
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert "1 event(s) received" in out.decode()
    async with api_stack.sessions() as session:
        statuses = (await session.execute(text(
            "SELECT status FROM webhook_endpoints WHERE party_id = :p"), {"p": vendor})).scalars().all()
    assert statuses == ["deleted"]
