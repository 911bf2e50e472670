"""Findings the policy drops are told to the vendor that sent them: one `policy.findings.dropped` event
for that vendor, with how many, why and when, and nothing of the findings themselves."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from temporalio.api.enums.v1 import EventType

from contracts.policy import MonitoringBatch
from tests.builders import assessment, monitoring_finding
from tests.patience import patience
from tests.workflows.support import bind, eventually, running_worker, start_policy
from workflows.patches import FINDINGS_DROPPED_NOTICE
from workflows.policy import PolicyWorkflow


async def vendor_events(session_factory, policy_id: str, *, count: int) -> list[dict]:
    """The vendor's `policy.findings.dropped` events for the policy, once there are `count` of them."""
    deadline = asyncio.get_running_loop().time() + patience(30)
    while True:
        async with session_factory() as session:
            rows = (await session.execute(text(
                "SELECT party_kind, party_id, subject, subject_id, payload FROM party_events"
                " WHERE event_type = 'policy.findings.dropped' AND subject_id = :p ORDER BY id"
            ), {"p": policy_id})).mappings().all()
        if len(rows) >= count or asyncio.get_running_loop().time() > deadline:
            return [dict(row) for row in rows]
        await asyncio.sleep(0.05)


async def test_findings_sent_before_cover_are_told_to_the_vendor_that_sent_them(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        policy_id = handle.id.removeprefix("policy-")
        await handle.signal(
            PolicyWorkflow.report_findings,
            MonitoringBatch(vendor_id="vendor-a", findings=[monitoring_finding("early-1"), monitoring_finding("early-2")]),
        )
        await eventually(handle, lambda s: s.findings_ignored == 2)
        [event] = await vendor_events(session_factory, policy_id, count=1)

        assert (event["party_kind"], event["party_id"]) == ("vendor", "vendor-a")
        assert (event["subject"], event["subject_id"]) == ("policy", policy_id)
        payload = event["payload"]
        assert set(payload) == {"policy_id", "count", "reason", "dropped_at"}
        assert payload["policy_id"] == policy_id and payload["count"] == 2
        assert "not in force" in payload["reason"]
        assert datetime.fromisoformat(payload["dropped_at"]).tzinfo is not None

        # In the history too: the new branch's patch marker.
        history = await handle.fetch_history()
        markers = [e.marker_recorded_event_attributes for e in history.events
                   if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
        assert any(FINDINGS_DROPPED_NOTICE.encode() in payload.data
                   for marker in markers for details in marker.details.values() for payload in details.payloads)


async def test_findings_from_another_vendor_or_the_future_are_told_each_to_their_sender(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        policy_id = handle.id.removeprefix("policy-")
        await bind(handle, assessment())
        await handle.signal(
            PolicyWorkflow.report_findings, MonitoringBatch(vendor_id="vendor-z", findings=[monitoring_finding("stray")])
        )
        ahead = datetime.now(UTC) + timedelta(days=30)
        await handle.signal(
            PolicyWorkflow.report_findings,
            MonitoringBatch(vendor_id="vendor-a", findings=[
                monitoring_finding("now-1"), monitoring_finding("ahead-1", observed_at=ahead),
            ]),
        )
        settled = await eventually(handle, lambda s: s.findings_ignored == 2 and s.findings.total == 1)
        assert len(settled.dropped_findings) == 2
        # Each notice goes to its own sender; the two are written in whichever order they are sent.
        told = {event["party_id"]: event for event in await vendor_events(session_factory, policy_id, count=2)}
        assert sorted(told) == ["vendor-a", "vendor-z"], told
        stray, future = told["vendor-z"], told["vendor-a"]

        assert stray["party_id"] == "vendor-z" and stray["payload"]["count"] == 1
        assert "does not monitor this policy" in stray["payload"]["reason"]
        assert future["party_id"] == "vendor-a" and future["payload"]["count"] == 1
        assert "clock skew" in future["payload"]["reason"]
