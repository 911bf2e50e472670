"""kill -9 the Temporal server mid-run, restart it on the same port and SQLite file: nothing is lost.

Run alone: .venv/bin/pytest -q tests/faults/test_server_crash.py

The test runs its own `temporal server start-dev --db-filename` so that the server's state outlives
the process. The `cyberins worker` processes are not touched: they keep polling through the outage
and carry on once the server answers again.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from temporalio.client import Client

from devstack.ports import free_port
from tests.faults.claims import accept_offers, each, offered_claims, retries_in, settled, until
from tests.faults.payouts import assert_paid_once, claims_closed, repeated_keys
from tests.faults.processes import DevServer, pollers

POLICIES, INCIDENTS_PER_POLICY = 3, 10  # 30 claims, 63 workflow executions
# As in the worker test: when the server dies, payouts are booked but unanswered and no claim is paid.
BANK_ANSWERS_AFTER_SECONDS = 3.0
STRIKE_AFTER_PAYOUTS = 5
# Long enough for the workers' polls and in-flight calls to fail, as in a real outage.
DOWN_SECONDS = 3.0


async def statuses(client: Client, workflow_ids: list[str]) -> Counter[str]:
    """How many of the executions are in each state; one that is missing fails the describe."""
    descriptions = await each(
        workflow_ids, lambda workflow_id: client.get_workflow_handle(workflow_id).describe()
    )
    return Counter(description.status.name for description in descriptions if description.status is not None)


async def test_the_temporal_server_killed_and_restarted_loses_no_execution(
    fault_folder, session_factory, bank, start_worker, task_queue, report
):
    server = DevServer(fault_folder, free_port())
    server.start()
    try:
        client = await server.connect()
        workers = [start_worker(server.address), start_worker(server.address)]
        pids = {worker.pid for worker in workers}
        await until(
            lambda: pollers(client, task_queue), lambda p: pids <= p, seconds=60, what="both workers polling"
        )
        started = time.monotonic()
        claims = await offered_claims(
            client, task_queue, session_factory, policies=POLICIES, incidents_per_policy=INCIDENTS_PER_POLICY
        )
        setup_seconds = time.monotonic() - started
        workflow_ids = sorted({i for claim in claims for i in claim.workflow_ids})
        assert await statuses(client, workflow_ids) == {"RUNNING": len(workflow_ids)}

        await bank.hold(BANK_ANSWERS_AFTER_SECONDS)
        updates = await accept_offers(claims)
        booked = await until(
            bank.payouts, lambda p: len(p) >= STRIKE_AFTER_PAYOUTS, seconds=60, what="payouts"
        )
        closed = await claims_closed(session_factory)
        server.kill()
        killed_at = time.monotonic()
        await asyncio.sleep(DOWN_SECONDS)
        server.start()
        client = await server.connect()
        restarted_at = time.monotonic()

        # Every execution is still there (a claim may already have been paid and ended), and the
        # workers found the server again by themselves.
        after_restart = await statuses(client, workflow_ids)
        assert sum(after_restart.values()) == len(workflow_ids), after_restart
        assert set(after_restart) <= {"RUNNING", "COMPLETED"}, after_restart
        await until(
            lambda: pollers(client, task_queue), lambda p: pids <= p, seconds=60, what="workers reconnected"
        )
        reconnect_seconds = time.monotonic() - restarted_at
        outcomes = await settled(updates, seconds=150)
        all_paid_seconds = time.monotonic() - restarted_at
        assert all(worker.alive() for worker in workers) and {w.pid for w in workers} == pids

        requests = await assert_paid_once(claims, outcomes, bank, session_factory)
        retried = await retries_in(claims)
        report(
            "Temporal server kill -9 mid-payment, restarted on the same file",
            claims=len(claims),
            setup_s=round(setup_seconds, 1),
            executions_found_after_restart=f"{sum(after_restart.values())}/{len(workflow_ids)}",
            claims_in_flight_at_kill=len(claims) - closed,
            payouts_booked_at_kill=len(booked),
            server_down_s=round(restarted_at - killed_at, 1),
            workers_polling_s_after_restart=round(reconnect_seconds, 1),
            all_paid_s_after_restart=round(all_paid_seconds, 1),
            activities_retried=dict(retried),
            keys_sent_twice=await repeated_keys(bank),
            bank_requests=requests,
        )
    finally:
        server.stop()
