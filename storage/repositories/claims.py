"""Claims: phases, loss items, loss statements, subrogation; and payouts, the bank's side.

A write takes the activity's command as it came and maps it to columns here, once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.claim_activities import (
    PayoutInstruction,
    RecordClaim,
    RecordClaimPhase,
    RecordLossItems,
    RecordLossStatement,
    RecordSubrogation,
)
from domain.claim import ClaimPhase
from domain.findings import FindingStatus, Severity
from domain.loss import LossItem
from storage.models import (
    ClaimPhaseRow,
    ClaimRow,
    FindingResolutionRow,
    FindingRow,
    LossItemRow,
    LossStatementRow,
    PayoutRow,
    SubrogationRow,
)

# A finding still unremediated: open, or fixed by the insured's word but not yet verified.
UNREMEDIATED = [status.value for status in FindingStatus if not status.is_closed]


class ClaimRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def exists(self, claim_id: str) -> bool:
        return bool(await self._session.scalar(select(exists().where(ClaimRow.claim_id == claim_id))))

    async def add(self, command: RecordClaim, *, phase: ClaimPhase) -> None:
        statement = insert(ClaimRow).values(
            claim_id=command.claim_id,
            incident_id=command.incident_id,
            policy_id=command.policy_id,
            claimant=command.claimant.value,
            third_party=command.third_party,
            phase=phase.value,
            opened_at=command.opened_at,
            updated_at=command.opened_at,
        )
        await self._session.execute(statement.on_conflict_do_nothing(index_elements=["claim_id"]))

    async def add_phase(self, command: RecordClaimPhase) -> None:
        """Append to the history and mirror the phase on the claim, unless a later phase is already there."""
        claim_id, phase, at = command.claim_id, command.phase.value, command.at
        statement = insert(ClaimPhaseRow).values(claim_id=claim_id, phase=phase, at=at, reason=command.reason)
        await self._session.execute(
            statement.on_conflict_do_nothing(index_elements=["claim_id", "phase", "at"])
        )
        await self._session.execute(
            update(ClaimRow)
            .where(ClaimRow.claim_id == claim_id, ClaimRow.updated_at <= at)
            .values(phase=phase, updated_at=at)
        )

    async def save_loss_items(self, command: RecordLossItems) -> None:
        """Insert each item, or replace the stored version of it: adjusters correct items by re-sending them.

        A version recorded earlier never replaces one recorded later, so a late retry changes nothing.
        """
        latest = {item.item_id: item for item in command.items}  # within one batch, the last version wins
        if not latest:
            return
        new = insert(LossItemRow).values(
            [
                {
                    "claim_id": command.claim_id,
                    "item_id": item.item_id,
                    "head": item.head.value,
                    "amount_fen": None if item.amount is None else item.amount.fen,
                    "currency": _currency(item),
                    "item": item.model_dump(mode="json"),
                    "recorded_at": command.at,
                }
                for item in latest.values()
            ]
        )
        replaced = ("head", "amount_fen", "currency", "item", "recorded_at")
        await self._session.execute(
            new.on_conflict_do_update(
                index_elements=["claim_id", "item_id"],
                set_={column: new.excluded[column] for column in replaced},
                where=LossItemRow.recorded_at <= new.excluded.recorded_at,
            )
        )

    async def loss_items(self, claim_id: str) -> list[LossItem]:
        items = await self._session.scalars(
            select(LossItemRow.item).where(LossItemRow.claim_id == claim_id).order_by(LossItemRow.id)
        )
        return [LossItem.model_validate(item) for item in items]

    async def add_loss_statement(self, command: RecordLossStatement) -> None:
        total_payable = command.statement.total_payable
        new = insert(LossStatementRow).values(
            claim_id=command.claim_id,
            determination=command.determination,
            total_payable_fen=total_payable.fen,
            currency=total_payable.currency,
            statement=command.statement.model_dump(mode="json"),
            at=command.at,
        )
        await self._session.execute(new.on_conflict_do_nothing(index_elements=["claim_id", "determination"]))

    async def save_subrogation(self, command: RecordSubrogation) -> None:
        """One row per liable party; a later version replaces an earlier one, never the reverse."""
        new = insert(SubrogationRow).values(
            claim_id=command.claim_id,
            liable_party=command.liable_party,
            basis=command.basis,
            amount_sought_fen=command.amount_sought.fen,
            currency=command.amount_sought.currency,
            at=command.at,
        )
        await self._session.execute(
            new.on_conflict_do_update(
                index_elements=["claim_id", "liable_party"],
                set_={k: new.excluded[k] for k in ("basis", "amount_sought_fen", "currency", "at")},
                where=SubrogationRow.at <= new.excluded.at,
            )
        )

    async def overdue_critical_on(self, *, policy_id: str, assets: list[str], at: datetime) -> bool:
        """Was a critical finding on one of these assets past its deadline and unremediated at `at`?

        A finding's status at `at` is the one its history had then: a finding fixed (or shown a
        false positive) before `at` no longer counts, though it went overdue before.
        """
        if not assets:
            return False
        status_then = (
            select(FindingResolutionRow.to_status)
            .where(FindingResolutionRow.finding_id == FindingRow.id, FindingResolutionRow.at <= at)
            .order_by(FindingResolutionRow.sequence.desc())
            .limit(1)
            .correlate(FindingRow)
            .scalar_subquery()
        )
        overdue = select(FindingRow.id).where(
            FindingRow.policy_id == policy_id,
            FindingRow.severity == Severity.CRITICAL.value,
            FindingRow.asset.in_(assets),
            FindingRow.overdue_at.is_not(None),
            FindingRow.overdue_at <= at,
            func.coalesce(status_then, literal(FindingStatus.OPEN.value)).in_(UNREMEDIATED),
        )
        return bool(await self._session.scalar(select(exists(overdue))))


class PayoutRepository:
    """The payment side: a row is a payment made, and its idempotency key is paid at most once."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def pay(self, instruction: PayoutInstruction, *, payment_reference: str) -> PayoutRow | None:
        """The payment made now, or None (and nothing written) when the key was already paid."""
        statement = (
            insert(PayoutRow)
            .values(
                idempotency_key=instruction.idempotency_key,
                claim_id=instruction.claim_id,
                sequence=instruction.sequence,
                amount_fen=instruction.amount.fen,
                currency=instruction.amount.currency,
                head=None if instruction.head is None else instruction.head.value,
                interim=instruction.interim,
                payment_reference=payment_reference,
                requested_at=instruction.requested_at,
                paid_at=func.now(),
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(PayoutRow)
        )
        return (await self._session.scalars(statement)).first()

    async def get(self, idempotency_key: str) -> PayoutRow | None:
        return await self._session.scalar(
            select(PayoutRow).where(PayoutRow.idempotency_key == idempotency_key)
        )


def _currency(item: LossItem) -> str:
    if item.amount is not None:
        return item.amount.currency
    if item.business_interruption is not None:
        return item.business_interruption.net_profit_per_hour.currency
    return "CNY"
