"""Activities of the claim workflow: the basis a claim is judged on, its records, and payment.

Each activity is one unit of work and safe to retry. A payout is keyed by the claim and the
payment's sequence, so a payment order retried after a crash, or sent twice at once, pays once
and every attempt receives the same payment reference.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.claim_messages import (
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
from activities.incident import unknown_incident
from domain.claim import ClaimPhase
from domain.incident import CoverageCheck
from domain.money import Money
from storage.models import PayoutRow
from activities.log_context import activity_log
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
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

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
            await uow.claims.add(
                claim_id=command.claim_id,
                incident_id=command.incident_id,
                policy_id=command.policy_id,
                claimant=command.claimant.value,
                third_party=command.third_party,
                phase=ClaimPhase.GATHERING_LOSS.value,
                opened_at=command.opened_at,
            )
        activity_log(claim_id=command.claim_id, incident_id=command.incident_id).info(
            "claim recorded", claimant=command.claimant.value
        )

    @activity.defn
    async def record_claim_phase(self, command: RecordClaimPhase) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await _require_claim(uow, command.claim_id)
            await uow.claims.add_phase(
                claim_id=command.claim_id, phase=command.phase.value, at=command.at, reason=command.reason
            )
        activity_log(claim_id=command.claim_id).info("claim phase recorded", phase=command.phase.value)

    @activity.defn
    async def record_loss_items(self, command: RecordLossItems) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await _require_claim(uow, command.claim_id)
            await uow.claims.save_loss_items(claim_id=command.claim_id, items=command.items, at=command.at)
        activity_log(claim_id=command.claim_id).info("loss items recorded", items=len(command.items))

    @activity.defn
    async def record_loss_statement(self, command: RecordLossStatement) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await _require_claim(uow, command.claim_id)
            await uow.claims.add_loss_statement(
                claim_id=command.claim_id,
                determination=command.determination,
                statement=command.statement,
                at=command.at,
            )
        activity_log(claim_id=command.claim_id).info(
            "loss statement recorded",
            determination=command.determination,
            total_payable_fen=command.statement.total_payable.fen,
        )

    @activity.defn
    async def pay(self, instruction: PayoutInstruction) -> PayoutReceipt:
        key = instruction.idempotency_key
        log = activity_log(claim_id=instruction.claim_id, idempotency_key=key)
        async with UnitOfWork(self._sessions) as uow:
            # A reference is drawn for every attempt but only the first insert keeps one.
            paid = await uow.payouts.pay(
                idempotency_key=key,
                claim_id=instruction.claim_id,
                sequence=instruction.sequence,
                amount=instruction.amount,
                head=None if instruction.head is None else instruction.head.value,
                interim=instruction.interim,
                payment_reference=new_payment_reference(),
                requested_at=instruction.requested_at,
            )
            first_attempt = paid is not None
            if paid is None:
                paid = await uow.payouts.get(key)
                assert paid is not None, "the insert met a conflict, so the row exists"
                _refuse_a_different_payout(paid, instruction)
        receipt = PayoutReceipt(
            idempotency_key=key,
            payment_reference=paid.payment_reference,
            amount=_amount(paid),
            first_attempt=first_attempt,
        )
        log.info(
            "payout made" if first_attempt else "payout already made",
            payment_reference=receipt.payment_reference,
            amount_fen=receipt.amount.fen,
            interim=instruction.interim,
        )
        return receipt

    @activity.defn
    async def record_subrogation(self, command: RecordSubrogation) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await _require_claim(uow, command.claim_id)
            await uow.claims.save_subrogation(
                claim_id=command.claim_id,
                liable_party=command.liable_party,
                basis=command.basis,
                amount_sought=command.amount_sought,
                at=command.at,
            )
        # The liable party may be a person: it stays out of the logs.
        activity_log(claim_id=command.claim_id).info(
            "subrogation recorded", amount_sought_fen=command.amount_sought.fen
        )


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
