"""Monitoring findings: bulk intake, locked status changes, and the remediation sweep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    String,
    and_,
    any_,
    bindparam,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine

from domain.findings import FindingStatus, MonitoringFinding, remediation_deadline, reminder_time
from domain.rules import RemediationRules
from storage.models import FindingResolutionRow, FindingRow, IncidentEscalationRow

OPEN = FindingStatus.OPEN.value


@dataclass(frozen=True)
class NewFinding:
    vendor_event_id: str
    kind: str
    severity: str
    asset: str
    title: str
    observed_at: datetime
    received_at: datetime
    deadline_at: datetime | None
    remind_at: datetime | None
    active_compromise: bool

    @classmethod
    def received(
        cls, finding: MonitoringFinding, received_at: datetime, rules: RemediationRules
    ) -> NewFinding:
        """The finding as it will be stored, its deadline counted from when we received it."""
        deadline = remediation_deadline(finding.severity, received_at, rules.deadline_minutes)
        return cls(
            vendor_event_id=finding.vendor_event_id,
            kind=finding.kind.value,
            severity=finding.severity.value,
            asset=finding.asset,
            title=finding.title,
            observed_at=finding.observed_at,
            received_at=received_at,
            deadline_at=deadline,
            remind_at=reminder_time(deadline, rules.reminder_lead_minutes.get(finding.severity, 0)),
            active_compromise=finding.active_compromise,
        )


@dataclass(frozen=True)
class EscalatedFinding:
    vendor_event_id: str
    asset: str
    detected_at: datetime


@dataclass(frozen=True)
class DueFinding:
    """A finding the sweep has just marked, with what the notification needs to say."""

    id: int
    vendor_event_id: str
    severity: str
    asset: str
    title: str
    deadline_at: datetime | None


# A batch travels as one array per column and is unnested server-side: one statement and one
# round trip for thousands of findings, well within PostgreSQL's limit on bind parameters.
_TIMESTAMP = DateTime(timezone=True)
_BATCH_COLUMNS: dict[str, TypeEngine[Any]] = {
    "vendor_event_id": String(),
    "kind": String(),
    "severity": String(),
    "asset": String(),
    "title": String(),
    "observed_at": _TIMESTAMP,
    "received_at": _TIMESTAMP,
    "deadline_at": _TIMESTAMP,
    "remind_at": _TIMESTAMP,
    "active_compromise": Boolean(),
}


def _array(name: str, values: list[Any], element_type: TypeEngine[Any]) -> BindParameter[Any]:
    return bindparam(f"batch_{name}", values, type_=ARRAY(element_type))


class FindingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_batch(self, *, policy_id: str, term_number: int, findings: list[NewFinding]) -> list[int]:
        """Insert the findings not stored yet; returns the ids of those inserted now."""
        if not findings:
            return []
        arrays = [
            _array(name, [getattr(f, name) for f in findings], element_type)
            for name, element_type in _BATCH_COLUMNS.items()
        ]
        batch = func.unnest(*arrays).table_valued(*_BATCH_COLUMNS).render_derived()
        rows = select(
            literal(policy_id, String()),
            literal(term_number, Integer()),
            literal(OPEN, String()),
            *(batch.c[name] for name in _BATCH_COLUMNS),
        )
        statement = (
            insert(FindingRow)
            .from_select(["policy_id", "term_number", "status", *_BATCH_COLUMNS], rows)
            .on_conflict_do_nothing(index_elements=["policy_id", "vendor_event_id"])
            .returning(FindingRow.id)
        )
        return list((await self._session.scalars(statement)).all())

    async def escalate(self, finding_ids: list[int]) -> None:
        """Open an escalation for each of these findings that shows active compromise."""
        if not finding_ids:
            return
        compromised = select(
            FindingRow.policy_id,
            FindingRow.vendor_event_id,
            FindingRow.id,
            FindingRow.asset,
            FindingRow.received_at,
        ).where(FindingRow.id == any_(_array("ids", finding_ids, Integer())), FindingRow.active_compromise)
        statement = (
            insert(IncidentEscalationRow)
            .from_select(["policy_id", "vendor_event_id", "finding_id", "asset", "detected_at"], compromised)
            .on_conflict_do_nothing(index_elements=["policy_id", "vendor_event_id"])
        )
        await self._session.execute(statement)

    async def escalations_for(self, policy_id: str, vendor_event_ids: list[str]) -> list[EscalatedFinding]:
        rows = await self._session.execute(
            select(
                IncidentEscalationRow.vendor_event_id,
                IncidentEscalationRow.asset,
                IncidentEscalationRow.detected_at,
            )
            .where(
                IncidentEscalationRow.policy_id == policy_id,
                IncidentEscalationRow.vendor_event_id
                == any_(_array("event_ids", vendor_event_ids, String())),
            )
            .order_by(IncidentEscalationRow.id)
        )
        return [EscalatedFinding(*row) for row in rows]

    async def lock(self, policy_id: str, vendor_event_id: str) -> FindingRow | None:
        """The finding, locked until the transaction ends so that changes to it happen one at a time."""
        return await self._session.scalar(
            select(FindingRow)
            .where(FindingRow.policy_id == policy_id, FindingRow.vendor_event_id == vendor_event_id)
            .with_for_update()
        )

    async def last_change(self, finding_id: int) -> FindingResolutionRow | None:
        return await self._session.scalar(
            select(FindingResolutionRow)
            .where(FindingResolutionRow.finding_id == finding_id)
            .order_by(FindingResolutionRow.sequence.desc())
            .limit(1)
        )

    async def change_status(self, finding: FindingRow, change: FindingResolutionRow) -> None:
        """Move a locked finding to `change.to_status` and append the change to its history."""
        last = await self.last_change(finding.id)
        change.finding_id = finding.id
        change.sequence = 1 if last is None else last.sequence + 1
        change.from_status = finding.status
        finding.status = change.to_status
        self._session.add(change)
        await self._session.flush()

    async def mark_reminders_due(self, policy_id: str, now: datetime) -> list[DueFinding]:
        """Stamp open findings whose reminder time has come and that were not reminded yet."""
        return await self._mark(
            and_(FindingRow.remind_at <= now, FindingRow.reminded_at.is_(None)),
            policy_id,
            reminded_at=now,
        )

    async def mark_overdue(self, policy_id: str, term_number: int, now: datetime) -> list[DueFinding]:
        """Stamp open findings past their deadline, with the term in which they went overdue."""
        return await self._mark(
            and_(FindingRow.deadline_at <= now, FindingRow.overdue_at.is_(None)),
            policy_id,
            overdue_at=now,
            overdue_term=term_number,
        )

    async def marked_at(self, policy_id: str, now: datetime) -> tuple[int, int]:
        """How many findings a sweep at `now` reminded and marked overdue, counted from the rows."""
        reminded, overdue = (
            await self._session.execute(
                select(
                    func.count().filter(FindingRow.reminded_at == now),
                    func.count().filter(FindingRow.overdue_at == now),
                ).where(FindingRow.policy_id == policy_id)
            )
        ).one()
        return reminded, overdue

    async def _mark(self, due, policy_id: str, **stamps: object) -> list[DueFinding]:
        statement = (
            update(FindingRow)
            .where(FindingRow.policy_id == policy_id, FindingRow.status == OPEN, due)
            .values(**stamps)
            .returning(
                FindingRow.id,
                FindingRow.vendor_event_id,
                FindingRow.severity,
                FindingRow.asset,
                FindingRow.title,
                FindingRow.deadline_at,
            )
        )
        rows = await self._session.execute(statement, execution_options={"synchronize_session": False})
        return sorted((DueFinding(*row) for row in rows), key=lambda f: f.id)
