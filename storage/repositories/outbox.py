"""Notifications waiting to be delivered; the dedupe key makes enqueueing idempotent."""

from __future__ import annotations

from typing import Any, Required, TypedDict

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.findings import Severity
from storage.models import OutboxNotificationRow
from storage.repositories.findings import DueFinding


class OutboxEntry(TypedDict, total=False):
    dedupe_key: Required[str]
    policy_id: Required[str | None]
    qualification_id: str | None
    recipient: Required[str]
    recipient_id: Required[str | None]
    kind: Required[str]
    payload: Required[dict[str, Any]]


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def enqueue(self, entries: list[OutboxEntry]) -> None:
        """Store each entry unless one with the same dedupe key is already stored."""
        if not entries:
            return
        statement = insert(OutboxNotificationRow).on_conflict_do_nothing(index_elements=["dedupe_key"])
        # Passed as parameter sets, SQLAlchemy pages the rows within PostgreSQL's bind limit.
        await self._session.execute(statement, list(entries))


def remediation_notices(
    policy_id: str, reminders: list[DueFinding], overdue: list[DueFinding]
) -> list[OutboxEntry]:
    """A reminder to the insured per finding coming due; an overdue notice per finding past due.

    The insurer also hears of overdue criticals: they raise the retention at claim time.
    Keyed by finding, kind and recipient, so a repeated sweep enqueues nothing new.
    """
    notices = [(f, "remediation_reminder", "insured") for f in reminders]
    for finding in overdue:
        notices.append((finding, "remediation_overdue", "insured"))
        if finding.severity == Severity.CRITICAL.value:
            notices.append((finding, "remediation_overdue", "insurer"))
    return [
        OutboxEntry(
            dedupe_key=f"finding:{finding.id}:{kind}:{recipient}",
            policy_id=policy_id,
            recipient=recipient,
            recipient_id=None,
            kind=kind,
            payload={
                "vendor_event_id": finding.vendor_event_id,
                "severity": finding.severity,
                "asset": finding.asset,
                "title": finding.title,
                "deadline_at": finding.deadline_at.isoformat() if finding.deadline_at else None,
            },
        )
        for finding, kind, recipient in notices
    ]
