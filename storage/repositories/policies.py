"""Bound terms, their coverage heads, endorsements, cancellations and phase history.

A write takes the activity's command as it came and maps it to columns here, once.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.policy_activities import RecordCancellation, RecordEndorsement, RecordPolicyPhase
from domain.money import Money
from domain.policy import BoundPolicy
from domain.schedule import CoverageSchedule
from storage.models import (
    POLICY_NUMBER_SEQUENCE,
    CancellationRow,
    CoverageHeadRow,
    EndorsementRow,
    PolicyPhaseRow,
    PolicyRow,
)


def bound_policy_from_row(row: PolicyRow) -> BoundPolicy:
    return BoundPolicy(
        policy_number=row.policy_number,
        term_number=row.term_number,
        term_start=row.term_start,
        term_end=row.term_end,
        annual_premium=Money.model_validate({"fen": row.annual_premium_fen, "currency": row.currency}),
        schedule=CoverageSchedule.model_validate(row.schedule),
        risk_score=row.risk_score,
    )


class PolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_term(self, policy_id: str, term_number: int) -> BoundPolicy | None:
        row = await self._session.scalar(
            select(PolicyRow).where(PolicyRow.policy_id == policy_id, PolicyRow.term_number == term_number)
        )
        return None if row is None else bound_policy_from_row(row)

    async def latest_term_number(self, policy_id: str) -> int | None:
        return await self._session.scalar(
            select(func.max(PolicyRow.term_number)).where(PolicyRow.policy_id == policy_id)
        )

    async def next_policy_serial(self) -> int:
        serial = await self._session.scalar(select(POLICY_NUMBER_SEQUENCE.next_value()))
        assert serial is not None
        return int(serial)

    async def add_term(self, *, policy_id: str, quote_id: str, policy: BoundPolicy, phase: str) -> bool:
        """Store a bound term and its heads; False (and nothing written) if the term is already bound."""
        statement = insert(PolicyRow).values(
            policy_id=policy_id,
            term_number=policy.term_number,
            policy_number=policy.policy_number,
            quote_id=quote_id,
            phase=phase,
            term_start=policy.term_start,
            term_end=policy.term_end,
            annual_premium_fen=policy.annual_premium.fen,
            currency=policy.annual_premium.currency,
            risk_score=policy.risk_score,
            schedule=policy.schedule.model_dump(mode="json"),
        )
        statement = statement.on_conflict_do_nothing(index_elements=["policy_id", "term_number"])
        inserted = (await self._session.execute(statement.returning(PolicyRow.policy_id))).first()
        if inserted is None:
            return False
        heads = [
            {
                "policy_id": policy_id,
                "term_number": policy.term_number,
                "head": terms.head.value,
                "sublimit_fen": terms.sublimit.fen,
                "retention_fen": terms.retention.fen,
                "currency": terms.sublimit.currency,
                "coinsurance_bps": terms.coinsurance_bps,
            }
            for terms in policy.schedule.heads
        ]
        await self._session.execute(insert(CoverageHeadRow).values(heads).on_conflict_do_nothing())
        return True

    async def set_phase(self, *, policy_id: str, term_number: int, phase: str) -> None:
        """Mirror the workflow's phase on the term's row, if the term has been bound."""
        await self._session.execute(
            update(PolicyRow)
            .where(PolicyRow.policy_id == policy_id, PolicyRow.term_number == term_number)
            .values(phase=phase, updated_at=func.now())
        )

    async def add_phase(self, command: RecordPolicyPhase) -> None:
        statement = insert(PolicyPhaseRow).values(
            policy_id=command.policy_id,
            term_number=command.term_number,
            phase=command.phase.value,
            at=command.at,
            reason=command.reason,
        )
        await self._session.execute(
            statement.on_conflict_do_nothing(index_elements=["policy_id", "term_number", "phase"])
        )

    async def add_endorsement(self, command: RecordEndorsement) -> bool:
        """Store the endorsement once per request id and move the head's current sublimit.

        The term's `schedule` document stays as bound; `coverage_heads` carries the limits now.
        """
        statement = insert(EndorsementRow).values(
            policy_id=command.policy_id,
            request_id=command.request_id,
            policy_number=command.policy_number,
            term_number=command.term_number,
            head=command.head.value,
            previous_sublimit_fen=command.previous_sublimit.fen,
            new_sublimit_fen=command.new_sublimit.fen,
            additional_premium_fen=command.additional_premium.fen,
            return_premium_fen=command.return_premium.fen,
            currency=command.new_sublimit.currency,
            effective_at=command.effective_at,
        )
        statement = statement.on_conflict_do_nothing(index_elements=["policy_id", "request_id"])
        if (await self._session.execute(statement.returning(EndorsementRow.id))).first() is None:
            return False
        await self._session.execute(
            update(CoverageHeadRow)
            .where(
                CoverageHeadRow.policy_id == command.policy_id,
                CoverageHeadRow.term_number == command.term_number,
                CoverageHeadRow.head == command.head.value,
            )
            .values(sublimit_fen=command.new_sublimit.fen)
        )
        return True

    async def add_cancellation(self, command: RecordCancellation) -> None:
        statement = insert(CancellationRow).values(
            policy_id=command.policy_id,
            term_number=command.term_number,
            policy_number=command.policy_number,
            cancelled_by=command.cancelled_by.value,
            reason=command.reason,
            effective_at=command.effective_at,
            return_premium_fen=command.return_premium.fen,
            currency=command.return_premium.currency,
        )
        await self._session.execute(
            statement.on_conflict_do_nothing(index_elements=["policy_id", "term_number"])
        )
