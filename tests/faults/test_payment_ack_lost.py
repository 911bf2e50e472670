"""The bank accepts a payout and the worker dies before the pay activity returns: paid exactly once.

Run alone: .venv/bin/pytest -q tests/faults/test_payment_ack_lost.py

The bank is told to hold its answer after booking the payout; the worker is killed -9 in that
window, between the effect (the payout on the bank's books) and the acknowledgement (the activity
completing in Temporal). Temporal retries the activity on a new worker after the heartbeat timeout;
the retry sends the same idempotency key, the bank answers with the payout it already made, and our
payouts row is written with the bank's reference.
"""

from __future__ import annotations

import time

from temporalio.api.enums.v1 import PendingActivityState

from tests.faults.claims import accept_offers, offered_claims, retried_activities, settled, until
from tests.faults.payouts import assert_paid_once
from tests.faults.processes import pollers

HOLD_LONGER_THAN_THE_TEST = 600.0


async def test_a_payout_whose_acknowledgement_dies_with_the_worker_is_paid_once(
    dev_server_env, session_factory, bank, start_worker, task_queue, report
):
    client = dev_server_env.client
    address = client.service_client.config.target_host
    first = start_worker(address)
    [claim] = await offered_claims(client, task_queue, session_factory, policies=1, incidents_per_policy=1)

    await bank.hold(HOLD_LONGER_THAN_THE_TEST)
    [update] = await accept_offers([claim])
    await until(
        bank.payouts,
        lambda p: [x["idempotency_key"] for x in p] == [claim.payout_key],
        seconds=60,
        what="the payout on the bank's books",
    )
    # The effect has happened; the acknowledgement has not: attempt 1 is still waiting for the bank.
    [paying] = (await claim.handle.describe()).raw_description.pending_activities
    assert paying.activity_type.name == "pay" and paying.attempt == 1
    assert paying.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    first.kill()
    killed_at = time.monotonic()

    second = start_worker(address)
    await until(lambda: pollers(client, task_queue), lambda p: second.pid in p, seconds=60, what="new worker")
    [outcome] = await settled([update], seconds=120)
    recovery_seconds = time.monotonic() - killed_at

    await assert_paid_once([claim], [outcome], bank, session_factory)
    sent = [r["outcome"] for r in await bank.requests() if r["idempotency_key"] == claim.payout_key]
    assert sent == ["accepted", "replayed"], sent
    retried = retried_activities(await claim.handle.fetch_history())
    assert retried["pay"] == 1, retried
    report(
        "payout accepted, worker kill -9 before the acknowledgement",
        paid_s_after_kill=round(recovery_seconds, 1),
        pay_attempts=2,
        bank_requests=sent,
        payouts_at_bank=1,
        payouts_rows=1,
        paid_fen=outcome.paid.fen,
    )
