"""Delivering events: signed Standard Webhooks POSTs on a schedule, 410, give-up, urgent e-mail fallback.

Real Temporal (dev server), real PostgreSQL, a real receiver on loopback verifying with the
`standardwebhooks` reference package, a real SMTP sink. Schedules are shortened to seconds.
"""

from __future__ import annotations

from standardwebhooks.webhooks import Webhook

from devstack.webhook_receiver import WebhookReceiver
from mail.sink import MailSink, stored_messages
from tests.notifications.support import (
    deliveries,
    delivering_worker,
    delivery_settings,
    dispatch_to,
    emit,
    register_address,
    register_endpoint,
    scalar,
    until,
)

VENDOR = ("vendor", "vendor-7")




async def test_a_dispatch_reaches_the_vendor_signed_and_verifiable(dev_client, session_factory, task_queue):
    async with WebhookReceiver() as receiver:
        endpoint_id, secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["incident.dispatch.requested"])
        receiver.secrets = [secret]
        async with delivering_worker(dev_client, session_factory, task_queue, delivery_settings()) as notifier:
            [event_id] = await emit(session_factory, notifier, [dispatch_to("vendor-7", incident_id="inc-1")])
            await until(lambda: event_id in receiver.applied, what="the dispatch delivered")
    received = receiver.applied[event_id]
    assert received.event_type == "incident.dispatch.requested"
    assert received.data["incident_id"] == "inc-1" and received.data["object"] == "incident"
    assert receiver.rejected == 0
    [row] = await deliveries(session_factory, event_id)
    assert (row.channel, row.target, row.status, row.attempts) == ("webhook", endpoint_id, "delivered", 1)
    # The test's own check, independent of the receiver: the reference package accepts what was logged.
    assert Webhook(secret)  # the secret is a valid Standard Webhooks secret
    assert await scalar(session_factory, "SELECT count(*) FROM delivery_attempts WHERE event_id = :e AND outcome = 'delivered'",
                        e=event_id) == 1


async def test_a_party_not_subscribed_or_paused_gets_nothing(dev_client, session_factory, task_queue):
    async with WebhookReceiver() as receiver:
        _, secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["policy.bound"])
        _, paused_secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["*"], status="paused")
        receiver.secrets = [secret, paused_secret]
        async with delivering_worker(dev_client, session_factory, task_queue, delivery_settings()) as notifier:
            started = await emit(session_factory, notifier, [dispatch_to("vendor-7")])
    assert started == []  # nothing planned: the only live endpoint wants other types
    assert receiver.requests == 0


async def test_a_receiver_down_then_up_gets_each_event_once(dev_client, session_factory, task_queue):
    async with WebhookReceiver(answer=lambda n: 503 if n <= 4 else 200) as receiver:
        _, secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["*"])
        receiver.secrets = [secret]
        settings = delivery_settings(webhook_retry_schedule="0s,1s,1s,1s,1s,1s")
        async with delivering_worker(dev_client, session_factory, task_queue, settings) as notifier:
            events = await emit(session_factory, notifier, [dispatch_to("vendor-7") for _ in range(3)])
            await until(lambda: set(events) <= receiver.applied.keys(), what="every event delivered")
    assert receiver.requests >= 5  # four refusals, then the deliveries
    assert sorted(receiver.applied) == sorted(events)
    for event_id in events:
        [row] = await deliveries(session_factory, event_id)
        assert row.status == "delivered"
        ids = {r.webhook_id for r in receiver.deliveries if r.webhook_id == event_id}
        assert ids == {event_id}  # the same webhook-id on every try


async def test_410_disables_the_endpoint_at_once_and_tells_its_owner(dev_client, session_factory, task_queue, sink):
    async with WebhookReceiver(answer=lambda n: 410) as receiver:
        endpoint_id, secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["*"])
        await register_address(session_factory, VENDOR, "soc@vendor.test", ["endpoint.disabled"], language="en")
        receiver.secrets = [secret]
        settings = delivery_settings(smtp_port=sink.port)
        async with delivering_worker(dev_client, session_factory, task_queue, settings) as notifier:
            [event_id] = await emit(session_factory, notifier, [dispatch_to("vendor-7")])
            await until(lambda: any(m.event_type == "endpoint.disabled" for m in stored_messages(sink.folder)),
                        what="the owner told by e-mail")
    assert receiver.requests == 1
    assert await scalar(session_factory, "SELECT status FROM webhook_endpoints WHERE endpoint_id = :e", e=endpoint_id) == "disabled"
    rows = {r.channel: r for r in await deliveries(session_factory, event_id)}
    assert rows["webhook"].status == "failed"
    [mail] = [m for m in stored_messages(sink.folder) if m.event_type == "endpoint.disabled"]
    assert mail.recipients == ("soc@vendor.test",)
    # The dispatch is urgent: with its webhook gone, the vendor's address gets it by e-mail at once.
    await until(lambda: any(m.event_id == event_id for m in stored_messages(sink.folder)), what="the fallback")


async def test_after_the_schedule_the_delivery_fails_and_the_operators_are_told(dev_client, session_factory, task_queue, sink):
    async with WebhookReceiver(answer=lambda n: 500) as receiver:
        _, secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["*"])
        receiver.secrets = [secret]
        settings = delivery_settings(smtp_port=sink.port, webhook_retry_schedule="0s,1s,1s")
        async with delivering_worker(dev_client, session_factory, task_queue, settings) as notifier:
            notice = dispatch_to("vendor-7").model_copy(update={"kind": "policy_bound"})  # not urgent: no fallback
            [event_id] = await emit(session_factory, notifier, [notice])
            await until(lambda: any(m.event_type == "delivery.failed" for m in stored_messages(sink.folder)),
                        what="the operators told")
    assert receiver.requests == 3
    [row] = await deliveries(session_factory, event_id)
    assert (row.status, row.attempts) == ("failed", 3)
    [mail] = [m for m in stored_messages(sink.folder) if m.event_type == "delivery.failed"]
    assert mail.recipients == ("ops@cyberins.test",)
    attempts = await scalar(session_factory, "SELECT string_agg(outcome || ':' || status_code, ',' ORDER BY id) "
                            "FROM delivery_attempts WHERE event_id = :e", e=event_id)
    assert attempts == "failed:500,failed:500,failed:500"


async def test_an_urgent_event_falls_back_to_email_when_the_webhook_fails(dev_client, session_factory, task_queue, sink):
    async with WebhookReceiver(answer=lambda n: 500) as receiver:
        _, secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["*"])
        await register_address(session_factory, VENDOR, "duty@vendor.test", ["policy.bound"])  # not subscribed
        receiver.secrets = [secret]
        settings = delivery_settings(smtp_port=sink.port, webhook_retry_schedule="0s,1m", urgent_fallback_seconds=2)
        async with delivering_worker(dev_client, session_factory, task_queue, settings) as notifier:
            [event_id] = await emit(session_factory, notifier, [dispatch_to("vendor-7")])
            mails = await until(lambda: [m for m in stored_messages(sink.folder) if m.event_id == event_id],
                                seconds=60, what="the fallback e-mail")
    assert mails[0].recipients == ("duty@vendor.test",)
    assert mails[0].event_type == "incident.dispatch.requested"
    rows = {r.channel: r for r in await deliveries(session_factory, event_id)}
    assert rows["email"].status == "delivered" and rows["email"].role == "fallback"


async def test_an_urgent_event_answered_in_time_sends_no_fallback(dev_client, session_factory, task_queue, sink):
    async with WebhookReceiver() as receiver:
        _, secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["*"])
        await register_address(session_factory, VENDOR, "duty@vendor.test", ["policy.bound"])
        receiver.secrets = [secret]
        settings = delivery_settings(smtp_port=sink.port, urgent_fallback_seconds=30)
        async with delivering_worker(dev_client, session_factory, task_queue, settings) as notifier:
            [event_id] = await emit(session_factory, notifier, [dispatch_to("vendor-7")])
            await until(lambda: event_id in receiver.applied, what="delivered by webhook")
            rows = await until(lambda: _settled(session_factory, event_id), what="the fallback stood down")
    assert {r.channel: r.status for r in rows} == {"webhook": "delivered", "email": "skipped"}
    assert stored_messages(sink.folder) == []


async def _settled(sessions, event_id):
    rows = await deliveries(sessions, event_id)
    return rows if all(r.status not in ("pending", "standby") for r in rows) else None


async def test_after_a_rotation_both_secrets_verify_until_the_old_one_expires(dev_client, session_factory, task_queue):
    from datetime import UTC, datetime, timedelta

    from api.provisioning import new_webhook_secret
    from storage.models import EndpointSecretRow
    from storage.unit_of_work import UnitOfWork

    async with WebhookReceiver() as receiver:
        endpoint_id, old = await register_endpoint(session_factory, VENDOR, receiver.url, ["*"])
        new = new_webhook_secret()
        async with UnitOfWork(session_factory) as uow:
            uow.session.add(EndpointSecretRow(endpoint_id=endpoint_id, secret=new))
        receiver.secrets = [old]  # a receiver not yet switched still verifies
        async with delivering_worker(dev_client, session_factory, task_queue, delivery_settings()) as notifier:
            [first] = await emit(session_factory, notifier, [dispatch_to("vendor-7")])
            await until(lambda: first in receiver.applied, what="verified with the old secret")
            receiver.secrets = [new]
            [second] = await emit(session_factory, notifier, [dispatch_to("vendor-7")])
            await until(lambda: second in receiver.applied, what="verified with the new secret")
            async with UnitOfWork(session_factory) as uow:  # the overlap ends
                from sqlalchemy import update
                await uow.session.execute(update(EndpointSecretRow).where(EndpointSecretRow.secret == old)
                                          .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
            receiver.secrets = [old]
            [third] = await emit(session_factory, notifier, [dispatch_to("vendor-7")])
            await until(lambda: receiver.rejected >= 1, what="the old secret no longer signs")
    assert third not in receiver.applied


async def test_an_endpoint_failing_for_the_configured_period_is_disabled_and_its_owner_told(
    dev_client, session_factory, task_queue, sink
):
    async with WebhookReceiver(answer=lambda n: 502) as receiver:
        endpoint_id, secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["*"])
        await register_address(session_factory, VENDOR, "soc@vendor.test", ["endpoint.disabled"])
        receiver.secrets = [secret]
        # Failing for 2 s counts as failing "too long" here; the default is 5 days.
        settings = delivery_settings(smtp_port=sink.port, webhook_retry_schedule="0s,1s,1s,1s,1s,1s",
                                     webhook_disable_after_hours=2 / 3600)
        async with delivering_worker(dev_client, session_factory, task_queue, settings) as notifier:
            notice = dispatch_to("vendor-7").model_copy(update={"kind": "policy_bound"})
            [event_id] = await emit(session_factory, notifier, [notice])
            await until(lambda: any(m.event_type == "endpoint.disabled" for m in stored_messages(sink.folder)),
                        what="the owner told")
            await until(lambda: _settled(session_factory, event_id), what="the delivery settled")
    status, reason = (await scalar(session_factory, "SELECT status || '|' || status_reason FROM webhook_endpoints "
                                   "WHERE endpoint_id = :e", e=endpoint_id)).split("|")
    assert status == "disabled" and reason.startswith("failing since")
    # Once disabled, the schedule's remaining attempts are not made.
    [row] = await deliveries(session_factory, event_id)
    assert row.status == "skipped" and 3 <= receiver.requests < 6


async def test_a_delivery_whose_start_was_lost_is_started_by_the_sweep(dev_client, session_factory, task_queue):
    from datetime import timedelta

    from activities.notifying import Notifier, resume_lost_deliveries

    async with WebhookReceiver() as receiver:
        _, secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["*"])
        receiver.secrets = [secret]
        # Stored and planned, then the process "died" before starting the delivery.
        [event_id] = await emit(session_factory, Notifier(None, task_queue), [dispatch_to("vendor-7")])
        async with delivering_worker(dev_client, session_factory, task_queue, delivery_settings()) as notifier:
            assert await resume_lost_deliveries(session_factory, notifier, older_than=timedelta(0)) == 1
            await until(lambda: event_id in receiver.applied, what="delivered after the sweep")
            # Delivered: a second sweep finds nothing to start.
            assert await resume_lost_deliveries(session_factory, notifier, older_than=timedelta(0)) == 0


async def test_in_production_a_host_resolving_to_an_internal_address_is_not_posted_to(dev_client, session_factory, task_queue):
    async with WebhookReceiver() as receiver:
        _, secret = await register_endpoint(session_factory, VENDOR, f"http://localhost:{receiver.port}/hooks/cyberins", ["*"])
        receiver.secrets = [secret]
        settings = delivery_settings(webhook_http_loopback=False, webhook_retry_schedule="0s,1s")
        async with delivering_worker(dev_client, session_factory, task_queue, settings) as notifier:
            notice = dispatch_to("vendor-7").model_copy(update={"kind": "policy_bound"})
            [event_id] = await emit(session_factory, notifier, [notice])
            await until(lambda: _settled(session_factory, event_id), what="the delivery given up")
    assert receiver.requests == 0
    errors = await scalar(session_factory, "SELECT string_agg(DISTINCT error, '|') FROM delivery_attempts WHERE event_id = :e",
                          e=event_id)
    assert errors == "the host resolves to a loopback address: webhooks go to public hosts only"


async def test_a_mail_server_away_is_tried_again_on_the_schedule(dev_client, session_factory, task_queue, tmp_path):
    from devstack.ports import free_port

    port = free_port()
    await register_address(session_factory, VENDOR, "soc@vendor.test", ["policy.bound"])
    settings = delivery_settings(smtp_port=port, webhook_retry_schedule="0s,2s,2s,2s,2s")
    async with delivering_worker(dev_client, session_factory, task_queue, settings) as notifier:
        notice = dispatch_to("vendor-7").model_copy(update={"kind": "policy_bound"})
        [event_id] = await emit(session_factory, notifier, [notice])
        await until(lambda: scalar(session_factory, "SELECT count(*) FROM delivery_attempts WHERE event_id = :e", e=event_id),
                    what="a first attempt while the server is away")
        with MailSink(tmp_path / "late-mail", port=port) as late:
            await until(lambda: stored_messages(late.folder), what="the e-mail once the server is back")
            rows = await until(lambda: _settled(session_factory, event_id), what="the delivery settled")
    assert [(r.channel, r.status) for r in rows] == [("email", "delivered")] and rows[0].attempts >= 2
