"""The intake queue of findings: batches stored by the API, recorded later by their policy workflow."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import TypeAdapter

from sqlalchemy import any_, func, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.findings import FindingStatus, MonitoringFinding, Severity, remediation_deadline, reminder_time
from domain.rules import RemediationRules
from storage.models import FindingBatchRow


@dataclass(frozen=True)
class IncomingBatch:
    """A policy's share of what a vendor posted; `findings` is its JSON array, as sent on."""

    batch_id: str
    policy_id: str
    vendor_id: str
    finding_count: int
    findings: bytes

    @classmethod
    def of(cls, policy_id: str, vendor_id: str, findings: list[MonitoringFinding]) -> IncomingBatch:
        """Serialised as `MonitoringFinding`s: a subclass's extra fields (the API's `policy_id`) are left out."""
        return cls(batch_id=f"fb_{uuid.uuid4().hex}", policy_id=policy_id, vendor_id=vendor_id,
                   finding_count=len(findings), findings=_AS_JSON.dump_json(findings))


_AS_JSON = TypeAdapter(list[MonitoringFinding])

_STORE = text(
    "INSERT INTO finding_batches (batch_id, policy_id, vendor_id, finding_count, findings, stored_at) "
    "VALUES (:batch_id, :policy_id, :vendor_id, :finding_count, CAST(:findings AS jsonb), now()) "
    "ON CONFLICT (batch_id) DO NOTHING"
)
_WANTED = """
    wanted AS (
        SELECT b.batch_id, b.findings, w.received_at, w.position
        FROM unnest(CAST(:ids AS text[]), CAST(:received AS timestamptz[])) WITH ORDINALITY AS w(batch_id, received_at, position)
        JOIN finding_batches AS b ON b.batch_id = w.batch_id AND b.policy_id = :policy_id
    )"""
# The API validated every finding before storing it; PostgreSQL expands the batches, keeps the first
# of each vendor event id, and dates the deadlines with offsets the domain's rules computed.
_RECORD = text(f"""
    WITH {_WANTED},
    expanded AS MATERIALIZED (
        SELECT DISTINCT ON (a.item ->> 'vendor_event_id')
               a.item ->> 'vendor_event_id' AS vendor_event_id, a.item ->> 'kind' AS kind,
               a.item ->> 'severity' AS severity, a.item ->> 'asset' AS asset, a.item ->> 'title' AS title,
               (a.item ->> 'observed_at')::timestamptz AS observed_at,
               coalesce((a.item ->> 'active_compromise')::boolean, false) AS active_compromise, wanted.received_at
        FROM wanted, jsonb_array_elements(wanted.findings) WITH ORDINALITY AS a(item, n)
        ORDER BY a.item ->> 'vendor_event_id', wanted.position, a.n
    ),
    offsets AS (
        SELECT * FROM unnest(CAST(:severities AS text[]), CAST(:deadline_s AS float8[]), CAST(:remind_s AS float8[]))
            AS o(severity, deadline_s, remind_s)
    ),
    inserted AS (
    INSERT INTO findings (policy_id, term_number, status, vendor_event_id, kind, severity, asset, title,
                          observed_at, received_at, deadline_at, remind_at, active_compromise)
    SELECT :policy_id, :term_number, :status, e.vendor_event_id, e.kind, e.severity, e.asset, e.title,
           e.observed_at, e.received_at, e.received_at + make_interval(secs => o.deadline_s),
           e.received_at + make_interval(secs => o.remind_s), e.active_compromise
    FROM expanded AS e LEFT JOIN offsets AS o USING (severity)
    ON CONFLICT (policy_id, vendor_event_id) DO NOTHING
    RETURNING id
    )
    SELECT coalesce((SELECT array_agg(id) FROM inserted), '{{}}'),
           coalesce((SELECT array_agg(vendor_event_id) FROM expanded WHERE active_compromise), '{{}}')
""")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WaitingBatch:
    batch_id: str
    received_at: datetime


class FindingBatchRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def store(self, batches: list[IncomingBatch]) -> None:
        if batches:
            await self._session.execute(_STORE, [
                {"batch_id": b.batch_id, "policy_id": b.policy_id, "vendor_id": b.vendor_id,
                 "finding_count": b.finding_count, "findings": b.findings.decode()}
                for b in batches
            ])

    async def record(self, policy_id: str, term_number: int, batches: list[WaitingBatch],
                     rules: RemediationRules) -> tuple[list[int], list[str]]:
        """Findings of these batches not stored yet, as findings, in one statement that expands the batches
        once. Returns the ids inserted now and the vendor event ids of the batches' findings that report
        an active compromise (inserted now or before). A finding received twice keeps the first
        batch's, as `FindingRepository.add_batch` does."""
        severities = list(Severity)
        deadlines = {s: remediation_deadline(s, _EPOCH, rules.deadline_minutes) for s in severities}
        reminders = {s: reminder_time(deadlines[s], rules.reminder_lead_minutes.get(s, 0)) for s in severities}
        rows = await self._session.execute(_RECORD, {
            **_wanted(policy_id, batches), "term_number": term_number, "status": FindingStatus.OPEN.value,
            "severities": [s.value for s in severities],
            "deadline_s": [_offset(deadlines[s]) for s in severities],
            "remind_s": [_offset(reminders[s]) for s in severities],
        })
        inserted, compromised = rows.one()
        return list(inserted), list(compromised)

    async def mark_recorded(self, policy_id: str, batch_ids: list[str]) -> None:
        await self._session.execute(
            update(FindingBatchRow)
            .where(FindingBatchRow.policy_id == policy_id, FindingBatchRow.batch_id == any_(batch_ids),
                   FindingBatchRow.recorded_at.is_(None))
            .values(recorded_at=func.now())
        )


def _wanted(policy_id: str, batches: list[WaitingBatch]) -> dict[str, object]:
    return {"policy_id": policy_id, "ids": [b.batch_id for b in batches], "received": [b.received_at for b in batches]}


def _offset(moment: datetime | None) -> float | None:
    return None if moment is None else (moment - _EPOCH).total_seconds()
