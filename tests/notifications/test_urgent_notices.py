"""Urgent notices in a real incident: the panel vendor is told by webhook at once, the next vendor by
e-mail when it has no webhook, the workflow escalates on its own clock whatever the deliveries do,
and the incident's timeline shows when and how each notice arrived (API route included)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from devstack.webhook_receiver import WebhookReceiver
from mail.sink import stored_messages
from storage.models import IncidentEventRow
from tests.notifications.support import (
    delivering_worker,
    delivery_settings,
    register_address,
    register_endpoint,
    until,
)
from tests.workflows.support import eventually
from tests.workflows.test_post_cover_scenarios import covered_incident, incident_id, incident_status


async def notices_on_timeline(sessions, incident: str) -> list[IncidentEventRow]:
    async with sessions() as session:
        rows = await session.scalars(select(IncidentEventRow).where(
            IncidentEventRow.incident_id == incident, IncidentEventRow.kind == "notice_delivered").order_by(IncidentEventRow.id))
        return list(rows)


async def test_dispatch_notices_reach_each_panel_vendor_and_the_timeline(time_skipping_env, session_factory, task_queue, sink):
    env = time_skipping_env
    receiver = await WebhookReceiver().start()
    try:
        _, secret = await register_endpoint(session_factory, ("vendor", "panel-ir-01"), receiver.url,
                                            ["incident.dispatch.requested"])
        receiver.secrets = [secret]
        await register_address(session_factory, ("vendor", "panel-ir-02"), "duty@panel-02.test", ["policy.bound"])
        settings = delivery_settings(smtp_port=sink.port, urgent_fallback_seconds=60)
        async with delivering_worker(env.client, session_factory, task_queue, settings):
            _, _, incident, _ = await covered_incident(env, task_queue)
            inc = incident_id(incident)
            await eventually(incident, **incident_status(lambda s: s.dispatched_vendor == "panel-ir-01"))
            await until(lambda: any(r.data.get("incident_id") == inc for r in receiver.applied.values()),
                        what="the first vendor told by webhook")
            # Nobody acknowledges: the workflow moves on after its hour, delivery or not.
            await env.sleep(timedelta(minutes=61))
            await eventually(incident, **incident_status(lambda s: s.dispatched_vendor == "panel-ir-02"))
            mails = await until(lambda: [m for m in stored_messages(sink.folder) if m.recipients == ("duty@panel-02.test",)],
                                what="the second vendor told by e-mail")
            timeline = await until(lambda: _two(notices_on_timeline(session_factory, inc)), what="both on the timeline")
    finally:
        await receiver.stop()
    assert mails[0].event_type == "incident.dispatch.requested"
    how = [(row.details["recipient"], row.details["channel"], row.details["fallback"]) for row in timeline]
    assert how == [("vendor", "webhook", False), ("vendor", "email", True)]
    assert all(row.details["event_type"] == "incident.dispatch.requested" for row in timeline)


async def _two(rows):
    found = await rows
    return found if len(found) >= 2 else None


async def test_the_intent_form_reaches_the_insurer_and_the_qualifications_timeline(
    time_skipping_env, session_factory, task_queue
):
    from contracts.qualification import PlatformContact, PlatformDecision
    from storage.models import QualificationEventRow
    from tests.workflows.test_qualification import INSURER, application, until_status
    from workflows.qualification import QualificationWorkflow
    from workflows.starting import apply_for_qualification

    env = time_skipping_env
    receiver = await WebhookReceiver().start()
    try:
        _, secret = await register_endpoint(session_factory, ("insurer", INSURER), receiver.url,
                                            ["qualification.intent_form.issued"])
        receiver.secrets = [secret]
        async with delivering_worker(env.client, session_factory, task_queue, delivery_settings()):
            qualification_id, handle = await apply_for_qualification(env.client, task_queue, application(), "notices-1")
            await until_status(handle, lambda s: s.platform_contact is not None)
            await handle.execute_update(QualificationWorkflow.platform_contacted, PlatformContact(operator_id="ops-1"))
            await handle.execute_update(QualificationWorkflow.platform_decide,
                                        PlatformDecision(operator_id="ops-1", approve=True, reason="policy path"))
            sent = await until_status(handle, lambda s: s.intent_id is not None)
            await until(lambda: [r for r in receiver.applied.values() if r.data.get("intent_id") == sent.intent_id],
                        what="the insurer told of the intent form")

            async def on_timeline():
                async with session_factory() as session:
                    return (await session.scalars(select(QualificationEventRow).where(
                        QualificationEventRow.qualification_id == qualification_id,
                        QualificationEventRow.kind == "notice_delivered"))).all()

            [entry] = await until(on_timeline, what="the notice on the timeline")
    finally:
        await receiver.stop()
    assert entry.details["event_type"] == "qualification.intent_form.issued"
    assert (entry.details["recipient"], entry.details["channel"], entry.details["fallback"]) == ("insurer", "webhook", False)
