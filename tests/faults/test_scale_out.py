"""Three `cyberins worker` processes on one dev server share a batch of policies and claims; one is
stopped (SIGTERM, as a rolling deploy or a scale-down does) while payouts are in flight. Nothing is
lost: the stopped worker finishes or hands back what it holds, the other two finish the rest, and
every claim is paid exactly once.

Run alone: .venv/bin/pytest -q tests/faults/test_scale_out.py
"""

from __future__ import annotations

import time

from tests.faults.claims import accept_offers, each, offered_claims, settled, until
from tests.faults.payouts import assert_paid_once, claims_closed
from tests.faults.processes import pollers

POLICIES, INCIDENTS_PER_POLICY = 8, 3  # 24 claims, 8 bound policies, 24 incidents
BANK_ANSWERS_AFTER_SECONDS = 2.0  # so that payouts are open when the worker is stopped
STOP_AFTER_PAYOUTS = 4


async def _workers_in(handles) -> set[int]:
    """The pids of the workers that ran any task of these workflows (the SDK's identity is pid@host)."""
    async def identities(handle) -> set[str]:
        found = set()
        async for event in handle.fetch_history_events():
            for name in ("workflow_task_started_event_attributes", "activity_task_started_event_attributes"):
                if event.HasField(name):
                    found.add(getattr(event, name).identity)
        return found

    everyone = set().union(*await each(list(handles), identities))
    return {int(pid) for pid, _, _ in (i.partition("@") for i in everyone) if pid.isdigit()}


async def test_three_workers_share_the_work_and_one_stopped_mid_run_loses_nothing(
    dev_server_env, session_factory, bank, start_worker, task_queue, report
):
    client = dev_server_env.client
    address = client.service_client.config.target_host
    workers = [start_worker(address) for _ in range(3)]
    await until(lambda: pollers(client, task_queue), lambda p: {w.pid for w in workers} <= p, seconds=60,
                what="three workers polling")

    started = time.monotonic()
    claims = await offered_claims(
        client, task_queue, session_factory, policies=POLICIES, incidents_per_policy=INCIDENTS_PER_POLICY
    )
    shared_by = await _workers_in([claim.handle for claim in claims])
    assert len(shared_by & {w.pid for w in workers}) >= 2, f"one worker did everything: {shared_by}"

    await bank.hold(BANK_ANSWERS_AFTER_SECONDS)
    updates = await accept_offers(claims)
    await until(bank.payouts, lambda p: len(p) >= STOP_AFTER_PAYOUTS, seconds=120, what="payouts")
    closed_at_stop = await claims_closed(session_factory)
    stopped = workers[0]
    stopping = time.monotonic()
    stopped.stop()  # SIGTERM: stop polling, finish in-flight tasks within the grace period
    stop_seconds = time.monotonic() - stopping
    assert stopped.popen.returncode == 0, stopped.tail()
    assert closed_at_stop < len(claims), "every claim was paid before the worker stopped"

    outcomes = await settled(updates, seconds=300)
    assert all(w.alive() for w in workers[1:]), "a remaining worker died"
    requests = await assert_paid_once(claims, outcomes, bank, session_factory)
    report(
        "scale-out: 3 workers, one stopped mid-run",
        claims=len(claims),
        workers_seen_in_histories=len(shared_by),
        claims_closed_at_stop=closed_at_stop,
        stop_s=round(stop_seconds, 1),
        all_paid_s=round(time.monotonic() - started, 1),
        bank_requests=requests,
    )
