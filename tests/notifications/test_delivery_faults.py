"""Deliveries survive a worker killed with -9 and a Temporal server killed and restarted mid-delivery.

Run alone: .venv/bin/pytest -q tests/notifications/test_delivery_faults.py

The worker is `cyberins worker` in a process of its own, every setting from the environment (a retry
schedule of seconds). The receiver holds each request two seconds before it answers 204, so that when
the fault strikes many events are in flight: sent, taken by the receiver, their answers not yet heard.
What the tests hold the service to: every event delivered, none lost, and whatever is sent again
reaches the receiver with the same `webhook-id` and body, so a receiver that dedupes applies it once.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.notifying import Notifier
from devstack.ports import free_port
from tests.faults.processes import DevServer, Process, pollers
from tests.notifications.faults import (
    VENDOR,
    FlakyReceiver,
    all_delivered,
    attempts_of,
    delivering_worker_process,
    delivery_rows,
    policy_bound_notices,
)
from tests.notifications.support import emit, register_endpoint, until
from tests.scale import sized

EVENTS = sized(50, 200)
SCHEDULE = "0s,1s,1s,2s,5s"
HOLD_SECONDS = 2.0
# Strike once this many requests wait for their answer at the receiver.
STRIKE_WHEN_HELD = 8
# The dead worker's attempts are retried once their start-to-close timeout (the webhook's 5 s + 15 s)
# runs out; a busy machine gets the rest.
RECOVERY_SECONDS = 120
DOWN_SECONDS = 3.0


@pytest.fixture
def fault_folder(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The processes' logs (and the dev server's database). Not under pytest's numbered temp folders,
    which another pytest session may prune while a server still writes there."""
    folder = Path(tempfile.mkdtemp(prefix="cyberins-test-delivery-faults-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def workers() -> Iterator[list[Process]]:
    """The worker processes a test starts (`start_worker`); whatever still runs is stopped after."""
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def start_worker(workers: list[Process], folder: Path, database_url: str, temporal_address: str, task_queue: str) -> Process:
    process = delivering_worker_process(
        folder, len(workers) + 1, database_url=database_url, temporal_address=temporal_address,
        task_queue=task_queue, schedule=SCHEDULE,
    )
    workers.append(process)
    return process


async def polling(client, task_queue: str, process: Process) -> bool:
    if not process.alive():
        raise AssertionError(f"{process.name} exited:\n{process.tail()}")
    return process.pid in await pollers(client, task_queue)


async def delivered_count(sessions, event_ids: list[str]) -> int:
    rows = await delivery_rows(sessions, event_ids)
    return sum(row.status == "delivered" for row in rows.values())


async def strike_when_in_flight(receiver: FlakyReceiver, sessions, events: list[str]) -> dict[str, int]:
    """Wait until requests are held at the receiver; what stood in flight, read just before the strike."""
    await until(lambda: receiver.held >= STRIKE_WHEN_HELD, seconds=60, what=f"{STRIKE_WHEN_HELD} requests in flight")
    return {"held": receiver.held, "taken": len(receiver.deliveries),
            "delivered_rows": await delivered_count(sessions, events)}


async def assert_each_delivered_once_by_id(receiver: FlakyReceiver, sessions, events: list[str]) -> dict[str, int]:
    """Every event delivered, none lost; what the receiver got twice it got with the same id and body."""
    rows = await delivery_rows(sessions, events)
    assert len(rows) == len(events) and {row.status for row in rows.values()} == {"delivered"}
    assert sorted(receiver.applied) == sorted(events)  # each id applied once, none missing, none unknown
    assert {received.webhook_id for received in receiver.deliveries} == set(events)
    assert receiver.rejected == 0
    twice = receiver.sent_twice()
    for webhook_id in twice:
        copies = [r for r in receiver.deliveries if r.webhook_id == webhook_id]
        assert {(r.event_type, tuple(sorted(r.data.items()))) for r in copies} == {
            (copies[0].event_type, tuple(sorted(copies[0].data.items())))
        }, f"{webhook_id} was sent again with another body"
    # A try lost with its worker or its answer is made again, not counted as a failed attempt of the
    # schedule. On a busy machine a held request can still outlast the webhook timeout: such an
    # attempt is logged as failed by its transport error (never by an answer), and a later one delivers.
    logged = await attempts_of(sessions, events)
    for event_id in events:
        outcomes = [(a.attempt, a.outcome, a.status_code, a.error) for a in logged[event_id]]
        assert any(outcome == "delivered" for _, outcome, _, _ in outcomes), (event_id, outcomes)
        assert all(code is None for _, outcome, code, _ in outcomes if outcome == "failed"), (event_id, outcomes)
    return twice


def show(capsys: pytest.CaptureFixture[str], title: str, **figures: object) -> None:
    with capsys.disabled():
        print(f"\n[delivery faults] {title}: " + ", ".join(f"{name}={value}" for name, value in figures.items()))


async def test_a_worker_killed_mid_delivery_loses_no_event_and_resends_only_by_the_same_id(
    dev_client, database_url, session_factory, task_queue, fault_folder, workers, capsys
):
    client = dev_client
    address = client.service_client.config.target_host
    async with FlakyReceiver(hold_seconds=HOLD_SECONDS) as receiver:
        _, secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["*"])
        receiver.secrets = [secret]
        victim = start_worker(workers, fault_folder, database_url, address, task_queue)
        await until(lambda: polling(client, task_queue, victim), seconds=60, what="the worker polling")

        events = await emit(session_factory, Notifier(client, task_queue), policy_bound_notices(EVENTS))
        assert len(events) == EVENTS
        at_strike = await strike_when_in_flight(receiver, session_factory, events)
        victim.kill()
        killed_at = time.monotonic()
        assert at_strike["delivered_rows"] < EVENTS, at_strike

        successor = start_worker(workers, fault_folder, database_url, address, task_queue)
        await until(lambda: all_delivered(session_factory, events), seconds=RECOVERY_SECONDS,
                    what=f"every event delivered after the kill\n{successor.tail()}")
        recovered_s = time.monotonic() - killed_at
        await asyncio.sleep(HOLD_SECONDS + 0.5)  # a request still held is counted before the receiver stops
    assert successor.alive(), successor.tail()

    twice = await assert_each_delivered_once_by_id(receiver, session_factory, events)
    # The kill struck while requests were held: their answers died with the worker, so they were sent again.
    assert twice, f"no event was sent twice: the kill struck nothing in flight ({at_strike})"
    show(capsys, "worker kill -9 mid-delivery", events=EVENTS, **at_strike, all_delivered_s_after_kill=round(recovered_s, 1),
         sent_twice=len(twice), requests=receiver.requests)


async def test_the_temporal_server_killed_and_restarted_mid_delivery_loses_no_event(
    database_url, session_factory, task_queue, fault_folder, workers, capsys
):
    server = DevServer(fault_folder, free_port())
    server.start()
    try:
        client = await server.connect()
        async with FlakyReceiver(hold_seconds=HOLD_SECONDS) as receiver:
            _, secret = await register_endpoint(session_factory, VENDOR, receiver.url, ["*"])
            receiver.secrets = [secret]
            worker = start_worker(workers, fault_folder, database_url, server.address, task_queue)
            await until(lambda: polling(client, task_queue, worker), seconds=60, what="the worker polling")

            events = await emit(session_factory, Notifier(client, task_queue), policy_bound_notices(EVENTS))
            assert len(events) == EVENTS
            at_strike = await strike_when_in_flight(receiver, session_factory, events)
            server.kill()
            killed_at = time.monotonic()
            assert at_strike["delivered_rows"] < EVENTS, at_strike
            await asyncio.sleep(DOWN_SECONDS)
            server.start()
            client = await server.connect()
            restarted_at = time.monotonic()

            await until(lambda: all_delivered(session_factory, events), seconds=RECOVERY_SECONDS,
                        what=f"every event delivered after the restart\n{worker.tail()}")
            recovered_s = time.monotonic() - restarted_at
            await asyncio.sleep(HOLD_SECONDS + 0.5)
        # The same worker found the server again by itself.
        assert worker.alive(), worker.tail()
        twice = await assert_each_delivered_once_by_id(receiver, session_factory, events)
        show(capsys, "Temporal server kill -9 mid-delivery, restarted on the same file", events=EVENTS, **at_strike,
             server_down_s=round(restarted_at - killed_at, 1), all_delivered_s_after_restart=round(recovered_s, 1),
             sent_twice=len(twice), requests=receiver.requests)
    finally:
        for process in workers:  # before the server, so that their graceful shutdown can reach it
            process.stop()
        server.stop()
