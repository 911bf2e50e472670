"""Authoritative counts over a policy's findings, computed by SQL so that a retry sees the same."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.findings import FindingStatus, FindingSummary, Severity
from storage.models import FindingRow, IncidentEscalationRow

OPEN = FindingStatus.OPEN.value


class FindingSummaryQuery:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def summary(self, policy_id: str, term_number: int) -> FindingSummary:
        """Counts over every finding of the policy; `ever_overdue` is for the given term only."""
        rows = await self._session.execute(
            select(
                FindingRow.severity,
                FindingRow.status,
                func.count(),
                func.count().filter(FindingRow.overdue_at.is_not(None)),
                func.count().filter(FindingRow.overdue_term == term_number),
            )
            .where(FindingRow.policy_id == policy_id)
            .group_by(FindingRow.severity, FindingRow.status)
        )
        total = awaiting = closed = 0
        open_, overdue, ever_overdue = Counter[Severity](), Counter[Severity](), Counter[Severity]()
        for severity_value, status_value, count, overdue_count, ever_overdue_count in rows:
            severity, status = Severity(severity_value), FindingStatus(status_value)
            total += count
            ever_overdue[severity] += ever_overdue_count
            if status is FindingStatus.OPEN:
                open_[severity] += count
                overdue[severity] += overdue_count
            elif status is FindingStatus.AWAITING_VERIFICATION:
                awaiting += count
            else:
                closed += count
        escalations = await self._session.scalar(
            select(func.count())
            .select_from(IncidentEscalationRow)
            .where(IncidentEscalationRow.policy_id == policy_id)
        )
        return FindingSummary(
            total=total,
            open_by_severity=_nonzero(open_),
            overdue_by_severity=_nonzero(overdue),
            ever_overdue_by_severity=_nonzero(ever_overdue),
            awaiting_verification=awaiting,
            closed=closed,
            escalations=escalations or 0,
        )

    async def next_due_at(self, policy_id: str) -> datetime | None:
        """The next moment a sweep has work: an unsent reminder or a deadline not yet marked overdue."""
        return await self._session.scalar(
            select(
                func.least(
                    func.min(FindingRow.remind_at).filter(FindingRow.reminded_at.is_(None)),
                    func.min(FindingRow.deadline_at).filter(FindingRow.overdue_at.is_(None)),
                )
            ).where(FindingRow.policy_id == policy_id, FindingRow.status == OPEN)
        )


def _nonzero(counts: Counter[Severity]) -> dict[Severity, int]:
    # Severity order, so that equal summaries also serialise identically.
    return {severity: counts[severity] for severity in Severity if counts[severity]}
