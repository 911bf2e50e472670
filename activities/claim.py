"""Activities of the claim workflow: the basis a claim is judged on, its records, and payment.

Each activity is one unit of work and safe to retry. A payout is keyed by the claim and the
payment's sequence, so a payment order retried after a crash, or sent twice at once, pays once
and every attempt receives the same payment reference. With a payment service configured
(CYBERINS_PAYMENT_URL) the key goes to it as the Idempotency-Key and its reference is recorded;
without one the payouts table is the payment.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.stdlib import BoundLogger
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.incident import unknown_incident
from activities.log_context import activity_log
from contracts.claim_activities import (
    ClaimBasis,
    LoadClaimBasis,
    PayoutInstruction,
    PayoutReceipt,
    RecordClaim,
    RecordClaimPhase,
    RecordLossItems,
    RecordLossStatement,
    RecordSubrogation,
)
from domain.claim import ClaimPhase
from domain.incident import CoverageCheck
from domain.money import Money
from payments.gateway import PaymentGateway, PaymentRefused, PaymentServiceUnavailable
from payments.messages import PaymentConfirmation, PayoutOrder
from storage.models import PayoutRow
from storage.unit_of_work import UnitOfWork


def new_payment_reference() -> str:
    return f"PAY-{uuid.uuid4().hex[:16].upper()}"


async def _require_claim(uow: UnitOfWork, claim_id: str) -> None:
    if not await uow.claims.exists(claim_id):
        raise ApplicationError(f"no claim {claim_id}", type="unknown_claim", non_retryable=True)


# A claim may be opened the moment its incident is reported, before the incident workflow has
# recorded the report: the basis is retried for about two minutes before the incident counts as unknown.
INCIDENT_RECORDING_ATTEMPTS = 8


def _not_recorded_yet(incident_id: str) -> ApplicationError:
    if activity.in_activity() and activity.info().attempt < INCIDENT_RECORDING_ATTEMPTS:
        return ApplicationError(f"incident {incident_id} is not recorded yet", type="incident_not_recorded_yet")
    return unknown_incident(incident_id)


class ClaimActivities:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], payments: PaymentGateway | None = None
    ) -> None:
        self._sessions = sessions
        self._payments = payments

    @activity.defn
    async def load_claim_basis(self, query: LoadClaimBasis) -> ClaimBasis:
        async with UnitOfWork(self._sessions) as uow:
            incident = await uow.incidents.get(query.incident_id)
            if incident is None:
                raise _not_recorded_yet(query.incident_id)
            term = (
                None
                if incident.term_number is None
                else await uow.cover.term(incident.policy_id, incident.term_number)
            )
            forensics = await uow.incidents.forensics(query.incident_id)
            overdue_critical = await uow.claims.overdue_critical_on(
                policy_id=incident.policy_id,
                assets=[] if forensics is None else list(forensics.exploited_assets),
                at=incident.discovered_at,
            )
        schedule = None if term is None else term.schedule
        activity_log(incident_id=query.incident_id, policy_id=incident.policy_id).info(
            "claim basis loaded", term_number=incident.term_number, overdue_critical=overdue_critical
        )
        return ClaimBasis(
            incident_id=incident.incident_id,
            policy_id=incident.policy_id,
            term_number=incident.term_number,
            schedule=schedule,
            panel_vendor_ids=[] if schedule is None else list(schedule.panel_vendor_ids),
            coverage=CoverageCheck.model_validate(incident.coverage),
            discovered_at=incident.discovered_at,
            forensics=forensics,
            overdue_critical_on_exploited_asset=overdue_critical,
        )

    @activity.defn
    async def record_claim(self, command: RecordClaim) -> None:
        async with UnitOfWork(self._sessions) as uow:
            if not await uow.incidents.exists(command.incident_id):
                raise unknown_incident(command.incident_id)
            await uow.claims.add(command, phase=ClaimPhase.GATHERING_LOSS)
        activity_log(claim_id=command.claim_id, incident_id=command.incident_id).info(
            "claim recorded", claimant=command.claimant.value
        )

    @activity.defn
    async def record_claim_phase(self, command: RecordClaimPhase) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await _require_claim(uow, command.claim_id)
            await uow.claims.add_phase(command)
        activity_log(claim_id=command.claim_id).info("claim phase recorded", phase=command.phase.value)

    @activity.defn
    async def record_loss_items(self, command: RecordLossItems) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await _require_claim(uow, command.claim_id)
            await uow.claims.save_loss_items(command)
        activity_log(claim_id=command.claim_id).info("loss items recorded", items=len(command.items))

    @activity.defn
    async def record_loss_statement(self, command: RecordLossStatement) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await _require_claim(uow, command.claim_id)
            await uow.claims.add_loss_statement(command)
        activity_log(claim_id=command.claim_id).info(
            "loss statement recorded",
            determination=command.determination,
            total_payable_fen=command.statement.total_payable.fen,
        )

    @activity.defn
    async def pay(self, instruction: PayoutInstruction) -> PayoutReceipt:
        """The payment service first (when there is one), then our record of what it paid.

        A crash between the two is healed by the retry: the service answers the repeated key with
        the payout it already made, and the record is written with that payout's reference.
        """
        key = instruction.idempotency_key
        log = activity_log(claim_id=instruction.claim_id, idempotency_key=key)
        async with _heartbeating():
            async with UnitOfWork(self._sessions) as uow:
                recorded = await uow.payouts.get(key)
            if recorded is not None:
                # Recorded, so paid: never ask the payment service again (it may not have made it).
                _refuse_a_different_payout(recorded, instruction)
                return _receipt(recorded, first_attempt=False, log=log)
            confirmation = await self._instruct_payment(instruction)
            async with UnitOfWork(self._sessions) as uow:
                # Without a payment service each attempt draws a reference; the first insert keeps it.
                paid = await uow.payouts.pay(
                    instruction,
                    payment_reference=(
                        new_payment_reference() if confirmation is None else confirmation.payment_reference
                    ),
                )
                recorded_now = paid is not None
                if paid is None:
                    paid = await uow.payouts.get(key)
                    assert paid is not None, "the insert met a conflict, so the row exists"
                    _refuse_a_different_payout(paid, instruction)
        paid_now = recorded_now and (confirmation is None or not confirmation.replayed)
        return _receipt(paid, first_attempt=paid_now, log=log)

    async def _instruct_payment(self, instruction: PayoutInstruction) -> PaymentConfirmation | None:
        """The payment service's confirmation; None when the payouts table is the payment."""
        if self._payments is None:
            return None
        order = PayoutOrder(
            claim_id=instruction.claim_id,
            sequence=instruction.sequence,
            amount=instruction.amount,
            head=None if instruction.head is None else instruction.head.value,
            interim=instruction.interim,
            requested_at=instruction.requested_at,
        )
        try:
            confirmation = await self._payments.pay(order, idempotency_key=instruction.idempotency_key)
        except PaymentRefused as refused:
            kind = "payout_conflict" if refused.conflict else "payment_refused"
            raise ApplicationError(str(refused), type=kind, non_retryable=True) from None
        except PaymentServiceUnavailable as unavailable:
            # Retried with the same key: the service pays it once whatever happened to this attempt.
            raise ApplicationError(str(unavailable), type="payment_service_unavailable") from None
        if confirmation.amount != instruction.amount:
            raise ApplicationError(
                f"the payment service paid {confirmation.amount} for {instruction.idempotency_key}, "
                f"not {instruction.amount}",
                type="payout_conflict",
                non_retryable=True,
            )
        return confirmation

    @activity.defn
    async def record_subrogation(self, command: RecordSubrogation) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await _require_claim(uow, command.claim_id)
            await uow.claims.save_subrogation(command)
        # The liable party may be a person: it stays out of the logs.
        activity_log(claim_id=command.claim_id).info(
            "subrogation recorded", amount_sought_fen=command.amount_sought.fen
        )


def _receipt(paid: PayoutRow, *, first_attempt: bool, log: BoundLogger) -> PayoutReceipt:
    receipt = PayoutReceipt(
        idempotency_key=paid.idempotency_key,
        payment_reference=paid.payment_reference,
        amount=_amount(paid),
        first_attempt=first_attempt,
    )
    log.info(
        "payout made" if first_attempt else "payout already made",
        payment_reference=receipt.payment_reference,
        amount_fen=receipt.amount.fen,
        interim=paid.interim,
    )
    return receipt


# While it waits on the payment service the pay activity heartbeats, so that Temporal gives up on
# a worker that died mid-payment after the heartbeat timeout rather than the start-to-close timeout.
HEARTBEAT_EVERY_SECONDS = 2.0


@asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    if not activity.in_activity():
        yield
        return

    async def beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_SECONDS)
            activity.heartbeat()

    beating = asyncio.create_task(beat())
    try:
        yield
    finally:
        beating.cancel()


def _amount(row: PayoutRow) -> Money:
    return Money.model_validate({"fen": row.amount_fen, "currency": row.currency})


def _refuse_a_different_payout(paid: PayoutRow, instruction: PayoutInstruction) -> None:
    """The same key is the same payment: a retry must not change what is paid or on which head."""
    head = None if instruction.head is None else instruction.head.value
    if _amount(paid) == instruction.amount and paid.head == head and paid.interim == instruction.interim:
        return
    raise ApplicationError(
        f"payout {instruction.idempotency_key} was already made for {_amount(paid)} "
        f"(head {paid.head}, interim {paid.interim}); refused {instruction.amount} "
        f"(head {head}, interim {instruction.interim})",
        type="payout_conflict",
        non_retryable=True,
    )
