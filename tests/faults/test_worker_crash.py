"""kill -9 one of two `cyberins worker` processes while claims are being paid: 96 in `make test`, 200
in `make test-long`.

Run alone: .venv/bin/pytest -q tests/faults/test_worker_crash.py

The survivor takes over: the dead worker's activities time out (the pay activity's heartbeat
timeout, 10 s) and are retried, its workflow tasks move to the survivor. Every claim completes, and
the bank's idempotency keys keep a payout whose answer died with the worker from being paid twice.
"""

from __future__ import annotations

import time

from tests.faults.claims import accept_offers, offered_claims, retries_in, settled, until
from tests.faults.payouts import assert_paid_once, claims_closed, repeated_keys
from tests.faults.processes import pollers
from tests.scale import sized

# One claim per incident. At most 8 claims a policy: a claim's settlement is an update on its
# policy's workflow, and Temporal refuses more than 10 updates in flight on one workflow.
POLICIES, INCIDENTS_PER_POLICY = sized(7, 25), 8
# The bank holds its answer to each new payout this long, so that when the worker dies payouts are
# booked but unanswered and not one claim has been paid and closed yet.
BANK_ANSWERS_AFTER_SECONDS = 3.0
STRIKE_AFTER_PAYOUTS = 20


async def test_a_worker_killed_mid_payment_leaves_every_claim_paid_once(
    dev_server_env, session_factory, bank, start_worker, task_queue, report
):
    client = dev_server_env.client
    address = client.service_client.config.target_host
    victim, survivor = start_worker(address), start_worker(address)
    await until(
        lambda: pollers(client, task_queue),
        lambda p: {victim.pid, survivor.pid} <= p,
        seconds=60,
        what="both workers polling",
    )

    started = time.monotonic()
    claims = await offered_claims(
        client, task_queue, session_factory, policies=POLICIES, incidents_per_policy=INCIDENTS_PER_POLICY
    )
    setup_seconds = time.monotonic() - started

    await bank.hold(BANK_ANSWERS_AFTER_SECONDS)
    updates = await accept_offers(claims)
    booked = await until(bank.payouts, lambda p: len(p) >= STRIKE_AFTER_PAYOUTS, seconds=120, what="payouts")
    closed = await claims_closed(session_factory)
    victim.kill()
    killed_at = time.monotonic()
    assert closed == 0 and len(claims) == POLICIES * INCIDENTS_PER_POLICY, f"{closed} claims were paid before the kill"

    outcomes = await settled(updates, seconds=300)
    recovery_seconds = time.monotonic() - killed_at
    assert survivor.alive(), survivor.tail()
    requests = await assert_paid_once(claims, outcomes, bank, session_factory)
    retried = await retries_in(claims)
    repeated = await repeated_keys(bank)
    assert sum(retried.values()) >= 1, "no activity of the killed worker was retried"
    report(
        "worker kill -9 (1 of 2) mid-payment",
        claims=len(claims),
        setup_s=round(setup_seconds, 1),
        claims_in_flight_at_kill=len(claims) - closed,
        payouts_booked_at_kill=len(booked),
        all_paid_s_after_kill=round(recovery_seconds, 1),
        activities_retried=dict(retried),
        keys_sent_twice=repeated,
        bank_requests=requests,
        payouts_at_bank=len(claims),
        payouts_rows=len(claims),
    )
