"""Claims: phases, loss items, loss statements, subrogation; and payouts, the bank's side."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.findings import FindingStatus, Severity
from domain.loss import LossItem
from domain.loss_statement import LossStatement
from domain.money import Money
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

    async def add(
        self,
        *,
        claim_id: str,
        incident_id: str,
        policy_id: str,
        claimant: str,
        third_party: str | None,
        phase: str,
        opened_at: datetime,
    ) -> None:
        statement = insert(ClaimRow).values(
            claim_id=claim_id,
            incident_id=incident_id,
            policy_id=policy_id,
            claimant=claimant,
            third_party=third_party,
            phase=phase,
            opened_at=opened_at,
            updated_at=opened_at,
        )
        await self._session.execute(statement.on_conflict_do_nothing(index_elements=["claim_id"]))

    async def add_phase(self, *, claim_id: str, phase: str, at: datetime, reason: str | None) -> None:
        """Append to the history and mirror the phase on the claim, unless a later phase is already there."""
        statement = insert(ClaimPhaseRow).values(claim_id=claim_id, phase=phase, at=at, reason=reason)
        await self._session.execute(
            statement.on_conflict_do_nothing(index_elements=["claim_id", "phase", "at"])
        )
        await self._session.execute(
            update(ClaimRow)
            .where(ClaimRow.claim_id == claim_id, ClaimRow.updated_at <= at)
            .values(phase=phase, updated_at=at)
        )

    async def save_loss_items(self, *, claim_id: str, items: list[LossItem], at: datetime) -> None:
        """Insert each item, or replace the stored version of it: adjusters correct items by re-sending them.

        A version recorded earlier never replaces one recorded later, so a late retry changes nothing.
        """
        latest = {item.item_id: item for item in items}  # within one batch, the last version wins
        if not latest:
            return
        new = insert(LossItemRow).values(
            [
                {
                    "claim_id": claim_id,
                    "item_id": item.item_id,
                    "head": item.head.value,
                    "amount_fen": None if item.amount is None else item.amount.fen,
                    "currency": _currency(item),
                    "item": item.model_dump(mode="json"),
                    "recorded_at": at,
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

    async def add_loss_statement(
        self, *, claim_id: str, determination: int, statement: LossStatement, at: datetime
    ) -> None:
        new = insert(LossStatementRow).values(
            claim_id=claim_id,
            determination=determination,
            total_payable_fen=statement.total_payable.fen,
            currency=statement.total_payable.currency,
            statement=statement.model_dump(mode="json"),
            at=at,
        )
        await self._session.execute(new.on_conflict_do_nothing(index_elements=["claim_id", "determination"]))

    async def save_subrogation(
        self, *, claim_id: str, liable_party: str, basis: str, amount_sought: Money, at: datetime
    ) -> None:
        """One row per liable party; a later version replaces an earlier one, never the reverse."""
        values = {
            "claim_id": claim_id,
            "liable_party": liable_party,
            "basis": basis,
            "amount_sought_fen": amount_sought.fen,
            "currency": amount_sought.currency,
            "at": at,
        }
        new = insert(SubrogationRow).values(values)
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

    async def pay(
        self,
        *,
        idempotency_key: str,
        claim_id: str,
        sequence: int,
        amount: Money,
        head: str | None,
        interim: bool,
        payment_reference: str,
        requested_at: datetime,
    ) -> PayoutRow | None:
        """The payment made now, or None (and nothing written) when the key was already paid."""
        statement = (
            insert(PayoutRow)
            .values(
                idempotency_key=idempotency_key,
                claim_id=claim_id,
                sequence=sequence,
                amount_fen=amount.fen,
                currency=amount.currency,
                head=head,
                interim=interim,
                payment_reference=payment_reference,
                requested_at=requested_at,
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
