"""The payment gateway against the bank simulator in process (no servers but PostgreSQL): a key is
paid once, a repeat is answered with the same payout, and the pay activity records the bank's
reference whether it made the payout now or an earlier, crashed attempt did."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.claim import ClaimActivities
from contracts.claim_activities import PayoutInstruction
from devstack.ports import free_port
from domain.money import Money
from payments.gateway import (
    PaymentGateway,
    PaymentRefused,
    PaymentServiceUnavailable,
    payment_gateway_from_env,
)
from payments.messages import PayoutOrder
from payments.simulator import create_app
from tests.activities.builders import DAY, T0

KEY = "clm-1:payout:1"


def order(yuan: int = 120_000) -> PayoutOrder:
    return PayoutOrder(claim_id="clm-1", sequence=1, amount=Money.yuan(yuan), requested_at=T0 + 40 * DAY)


def instruction(yuan: int = 120_000) -> PayoutInstruction:
    return PayoutInstruction(
        claim_id="clm-1", sequence=1, amount=Money.yuan(yuan), requested_at=T0 + 40 * DAY
    )


@pytest.fixture
def bank_app(tmp_path: Path):
    return create_app(tmp_path / "bank.sqlite")


@pytest.fixture
async def gateway(bank_app):
    gateway = PaymentGateway("http://bank.test", transport=httpx.ASGITransport(app=bank_app))
    yield gateway
    await gateway.aclose()


async def bank_log(bank_app) -> list[str]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=bank_app), base_url="http://bank.test"
    ) as http:
        return [r["outcome"] for r in (await http.get("/admin/requests")).json()]


async def payout_rows(session_factory) -> list[tuple[str, str]]:
    async with session_factory() as session:
        result = await session.execute(text("SELECT idempotency_key, payment_reference FROM payouts"))
        return [tuple(row) for row in result]


async def test_the_bank_pays_a_key_once_and_answers_a_repeat_with_that_payout(gateway, bank_app):
    first = await gateway.pay(order(), idempotency_key=KEY)
    again = await gateway.pay(order(), idempotency_key=KEY)
    assert not first.replayed and again.replayed
    assert again.payment_reference == first.payment_reference and first.payment_reference.startswith("BNK-")
    assert again.amount == first.amount == Money.yuan(120_000)
    assert await bank_log(bank_app) == ["accepted", "replayed"]


async def test_the_same_key_for_another_amount_is_refused_as_a_conflict(gateway):
    await gateway.pay(order(), idempotency_key=KEY)
    with pytest.raises(PaymentRefused) as refused:
        await gateway.pay(order(yuan=130_000), idempotency_key=KEY)
    assert refused.value.conflict and refused.value.status == 422


async def test_no_answer_or_a_server_error_means_unavailable_not_refused():
    nobody = PaymentGateway(f"http://127.0.0.1:{free_port()}")
    broken = PaymentGateway("http://bank.test", transport=httpx.MockTransport(lambda _: httpx.Response(503)))
    for gateway in (nobody, broken):
        with pytest.raises(PaymentServiceUnavailable):
            await gateway.pay(order(), idempotency_key=KEY)
        await gateway.aclose()


def test_without_a_payment_url_there_is_no_gateway():
    assert payment_gateway_from_env({}) is None
    assert payment_gateway_from_env({"CYBERINS_PAYMENT_URL": " "}) is None
    assert payment_gateway_from_env({"CYBERINS_PAYMENT_URL": "http://bank:9/"}).base_url == "http://bank:9"


async def test_the_pay_activity_records_the_banks_reference(gateway, session_factory, bank_app):
    receipt = await ClaimActivities(session_factory, gateway).pay(instruction())
    assert receipt.first_attempt and receipt.payment_reference.startswith("BNK-")
    assert await payout_rows(session_factory) == [(KEY, receipt.payment_reference)]


async def test_a_payout_the_bank_made_before_a_crash_is_recorded_not_paid_again(
    gateway, session_factory, bank_app
):
    paid_before_the_crash = await gateway.pay(order(), idempotency_key=KEY)  # the worker died right after
    receipt = await ClaimActivities(session_factory, gateway).pay(instruction())
    assert receipt.payment_reference == paid_before_the_crash.payment_reference and not receipt.first_attempt
    assert await payout_rows(session_factory) == [(KEY, paid_before_the_crash.payment_reference)]
    assert await bank_log(bank_app) == ["accepted", "replayed"]


async def test_a_recorded_payout_is_not_sent_to_the_bank_again(gateway, session_factory, bank_app):
    claims = ClaimActivities(session_factory, gateway)
    first = await claims.pay(instruction())
    again = await claims.pay(instruction())
    assert again.payment_reference == first.payment_reference and not again.first_attempt
    assert await bank_log(bank_app) == ["accepted"]


async def test_a_conflict_at_the_bank_is_not_retried_and_an_outage_is(gateway, session_factory):
    await gateway.pay(order(yuan=1), idempotency_key=KEY)
    with pytest.raises(ApplicationError) as conflict:
        await ClaimActivities(session_factory, gateway).pay(instruction())
    assert conflict.value.type == "payout_conflict" and conflict.value.non_retryable
    down = PaymentGateway(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ApplicationError) as outage:
        await ClaimActivities(session_factory, down).pay(
            instruction(yuan=5).model_copy(update={"sequence": 2})
        )
    assert outage.value.type == "payment_service_unavailable" and not outage.value.non_retryable
    await down.aclose()
    assert await payout_rows(session_factory) == []


async def test_the_pay_activity_heartbeats_while_the_bank_holds_its_answer(
    gateway, session_factory, bank_app
):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=bank_app), base_url="http://bank.test"
    ) as http:
        await http.post("/admin/hold", params={"seconds": 2.5})
    beats: list[tuple] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    receipt = await asyncio.wait_for(
        env.run(ClaimActivities(session_factory, gateway).pay, instruction()), 20
    )
    assert receipt.first_attempt and len(beats) >= 1
