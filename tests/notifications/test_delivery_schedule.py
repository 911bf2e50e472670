"""A receiver down for most of a simulated day, on the service's own retry schedule.

The time-skipping server sleeps the schedule's waits (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) in no
time while the test waits for the deliveries to end; the attempts themselves are real POSTs to a real
receiver and real rows in PostgreSQL. The receiver cannot know the simulated time, so it is down for
a number of tries of each event: the tries the schedule makes before the hour it comes back.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest
from temporalio.client import WorkflowExecutionStatus

from contracts.delivery import DeliveryReport
from domain.notifications import retry_schedule
from mail.sink import stored_messages
from settings import Settings
from tests.notifications.faults import (
    VENDOR,
    FlakyReceiver,
    attempts_of,
    delivery_rows,
    operator_events,
    policy_bound_notices,
)
from tests.notifications.support import delivering_worker, delivery_settings, emit, register_endpoint
from workflows.delivery import EventDeliveryWorkflow

EVENTS = 20
DEFAULT_SCHEDULE = Settings.model_fields["webhook_retry_schedule"].default
SCHEDULE = retry_schedule(DEFAULT_SCHEDULE)
# The receiver comes back when the 6th attempt is due: 7 h 35 min 5 s after the first.
BACK_AT_ATTEMPT = 6
# Real seconds for every delivery to reach its end, simulated hours and all, on a busy machine.
DELIVERIES_END_WITHIN = 120



@dataclass(frozen=True)
class Ended:
    report: DeliveryReport
    simulated_run_time: timedelta  # from its start to its end, by the test server's clock


async def ended(client, event_ids: list[str]) -> list[Ended]:
    """Let every delivery workflow run to its end, the test server skipping their sleeps meanwhile.

    The SDK skips time only while awaiting a handle that `start_workflow` returned on the
    environment's client; these deliveries were started inside `Notifier.deliver`, so the test unlocks
    the server's clock itself. It asks how they stand rather than long-polling their results: the test
    server answers a long poll that outlasts its deadline with an empty history, which the SDK takes
    for a workflow without an end (RuntimeError "No completion event found")."""
    handles = [client.get_workflow_handle_for(EventDeliveryWorkflow.run, f"deliver-{event_id}") for event_id in event_ids]
    deadline = time.monotonic() + DELIVERIES_END_WITHIN
    await client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
    try:
        while True:
            described = await asyncio.gather(*(handle.describe() for handle in handles))
            running = [d.id for d in described if d.status == WorkflowExecutionStatus.RUNNING]
            if not running:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(running)} deliveries still running after {DELIVERIES_END_WITHIN} s: {running[:3]}")
            await asyncio.sleep(0.2)
    finally:
        await client.test_service.lock_time_skipping(LockTimeSkippingRequest())
    return [
        Ended(await handle.result(), d.close_time - d.start_time) for handle, d in zip(handles, described, strict=True)
    ]


def test_the_default_schedule_is_the_svix_like_one():
    """What the cases below rely on: eight attempts, the sixth due 7 h 35 min 5 s after the first."""
    assert SCHEDULE == [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    assert sum(SCHEDULE[:BACK_AT_ATTEMPT]) == 7 * 3600 + 35 * 60 + 5
    assert sum(SCHEDULE) == 27 * 3600 + 35 * 60 + 5


async def test_a_receiver_down_for_hours_gets_every_event_once_when_it_comes_back(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    down_for = BACK_AT_ATTEMPT - 1
    async with FlakyReceiver(answer_try=lambda n: 503 if n <= down_for else 204) as receiver:
        endpoint_id, secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["*"])
        receiver.secrets = [secret]
        settings = delivery_settings(webhook_retry_schedule=DEFAULT_SCHEDULE)
        async with delivering_worker(client, session_factory, task_queue, settings) as notifier:
            events = await emit(session_factory, notifier, policy_bound_notices(EVENTS))
            assert len(events) == EVENTS
            deliveries = await ended(client, events)

    # Every event delivered, none lost, each taken once by the receiver.
    assert [d.report.delivered for d in deliveries] == [[endpoint_id]] * EVENTS
    assert sorted(receiver.applied) == sorted(events)
    assert receiver.sent_twice() == {} and len(receiver.deliveries) == EVENTS
    assert receiver.rejected == 0
    # Each event met the outage on every attempt before the sixth, and was not tried after it.
    assert receiver.tries == {event_id: BACK_AT_ATTEMPT for event_id in events}
    rows = await delivery_rows(session_factory, events)
    assert {(r.status, r.attempts) for r in rows.values()} == {("delivered", BACK_AT_ATTEMPT)}
    logged = await attempts_of(session_factory, events)
    expected = [("failed", 503)] * down_for + [("delivered", 204)]
    for event_id in events:
        assert [a.attempt for a in logged[event_id]] == list(range(1, BACK_AT_ATTEMPT + 1))
        assert [(a.outcome, a.status_code) for a in logged[event_id]] == expected
    # The sixth attempt came after the schedule's waits, not before: simulated hours passed.
    waited = timedelta(seconds=sum(SCHEDULE[:BACK_AT_ATTEMPT]))
    for delivery in deliveries:
        assert waited <= delivery.simulated_run_time < waited + timedelta(minutes=10), delivery


async def test_a_receiver_down_for_the_whole_schedule_fails_each_delivery_and_tells_the_operators(
    time_skipping_env, session_factory, task_queue, sink
):
    client = time_skipping_env.client
    async with FlakyReceiver(answer_try=lambda n: 503) as receiver:
        endpoint_id, secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["*"])
        receiver.secrets = [secret]
        settings = delivery_settings(webhook_retry_schedule=DEFAULT_SCHEDULE, smtp_port=sink.port)
        async with delivering_worker(client, session_factory, task_queue, settings) as notifier:
            events = await emit(session_factory, notifier, policy_bound_notices(EVENTS))
            deliveries = await ended(client, events)
            told = await operator_events(session_factory)
            # The operators' own events are delivered too, by e-mail to their address.
            told_deliveries = await ended(client, [event.event_id for event in told])

    assert [d.report.failed for d in deliveries] == [[endpoint_id]] * EVENTS
    assert receiver.applied == {} and receiver.deliveries == []
    assert receiver.tries == {event_id: len(SCHEDULE) for event_id in events}
    rows = await delivery_rows(session_factory, events)
    assert {(r.status, r.attempts) for r in rows.values()} == {("failed", len(SCHEDULE))}
    logged = await attempts_of(session_factory, events)
    for event_id in events:
        assert [a.attempt for a in logged[event_id]] == list(range(1, len(SCHEDULE) + 1))
        assert {(a.outcome, a.status_code) for a in logged[event_id]} == {("failed", 503)}
    # The whole schedule was waited out, about a simulated day.
    whole = timedelta(seconds=sum(SCHEDULE))
    for delivery in deliveries:
        assert whole <= delivery.simulated_run_time < whole + timedelta(minutes=10), delivery

    # One `delivery.failed` per event, for the operators, naming the event, its endpoint and the attempts.
    assert [(e.event_type, e.party_kind, e.party_id) for e in told] == [("delivery.failed", "operator", "operators")] * EVENTS
    assert sorted(e.payload["event_id"] for e in told) == sorted(events)
    assert {(e.payload["endpoint_id"], e.payload["attempts"], e.payload["event_type"]) for e in told} == {
        (endpoint_id, len(SCHEDULE), "policy.bound")
    }
    assert [d.report.delivered for d in told_deliveries] == [["ops@cyberins.test"]] * EVENTS
    mailed = [m for m in stored_messages(sink.folder) if m.event_type == "delivery.failed"]
    assert sorted(m.event_id for m in mailed) == sorted(e.event_id for e in told)
