"""Incidents: the report, its timeline, evidence and chain of custody, forensics; and the cover
an incident is judged against (the term in force, its cancellation, the operator's type).

A write takes the activity's command as it came and maps it to columns here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.incident_activities import RecordCustody, RecordForensics, RecordIncident, RecordIncidentEvent
from domain.coverage import CoverageHead, Industry
from domain.incident import (
    CustodyAction,
    Evidence,
    ForensicsReport,
    OperatorType,
    operator_type,
)
from domain.money import Money
from domain.policy import BoundPolicy
from storage.models import (
    ApplicationRow,
    CancellationRow,
    CoverageHeadRow,
    EvidenceCustodyRow,
    EvidenceRow,
    ForensicsReportRow,
    IncidentEventRow,
    IncidentRow,
    PolicyRow,
)
from storage.repositories.policies import bound_policy_from_row


@dataclass(frozen=True)
class Operator:
    """What the reporting clock needs to know about the insured, from its application."""

    operator_type: OperatorType
    industry: Industry


@dataclass(frozen=True)
class CustodyEntry:
    action: str
    by: str
    at: datetime
    note: str | None


def evidence_from_row(row: EvidenceRow) -> Evidence:
    return Evidence(
        evidence_id=row.evidence_id,
        name=row.name,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        collected_by=row.collected_by,
        collected_at=row.collected_at,
    )


class CoverQuery:
    """Reads over the policy tables, as an incident or a claim sees them."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def term_at(self, policy_id: str, moment: datetime) -> BoundPolicy | None:
        """The bound term whose [term_start, term_end) holds `moment`, with its current limits."""
        row = await self._session.scalar(
            select(PolicyRow)
            .where(
                PolicyRow.policy_id == policy_id, PolicyRow.term_start <= moment, PolicyRow.term_end > moment
            )
            .order_by(PolicyRow.term_number.desc())
            .limit(1)
        )
        return None if row is None else await self._with_current_limits(row)

    async def term(self, policy_id: str, term_number: int) -> BoundPolicy | None:
        row = await self._session.scalar(
            select(PolicyRow).where(PolicyRow.policy_id == policy_id, PolicyRow.term_number == term_number)
        )
        return None if row is None else await self._with_current_limits(row)

    async def _with_current_limits(self, row: PolicyRow) -> BoundPolicy:
        """The term as bound, with each head's sublimit as endorsements have since set it.

        `policies.schedule` keeps the schedule as bound; `coverage_heads` carries the limits now.
        """
        policy = bound_policy_from_row(row)
        heads = await self._session.scalars(
            select(CoverageHeadRow).where(
                CoverageHeadRow.policy_id == row.policy_id, CoverageHeadRow.term_number == row.term_number
            )
        )
        schedule = policy.schedule
        for head in heads:
            schedule = schedule.with_head_limit(
                CoverageHead(head.head),
                Money.model_validate({"fen": head.sublimit_fen, "currency": head.currency}),
            )
        return policy.model_copy(update={"schedule": schedule})

    async def cancelled_at(self, policy_id: str, term_number: int) -> datetime | None:
        return await self._session.scalar(
            select(CancellationRow.effective_at).where(
                CancellationRow.policy_id == policy_id, CancellationRow.term_number == term_number
            )
        )

    async def operator(self, policy_id: str) -> Operator | None:
        """From the application document as filed; None when the policy has no application."""
        organisation = ApplicationRow.application["organisation"]
        row = (
            await self._session.execute(
                select(
                    organisation["operates_critical_infrastructure"].as_boolean(),
                    organisation["is_state_organ"].as_boolean(),
                    organisation["industry"].as_string(),
                ).where(ApplicationRow.policy_id == policy_id)
            )
        ).first()
        if row is None:
            return None
        critical, state_organ, industry = row
        return Operator(
            operator_type=operator_type(
                operates_critical_infrastructure=bool(critical), is_state_organ=bool(state_organ)
            ),
            industry=Industry(industry),
        )


class IncidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, command: RecordIncident) -> None:
        """Store the incident unless its id, or its policy and reference, are already stored."""
        report, coverage = command.report, command.coverage
        statement = insert(IncidentRow).values(
            incident_id=command.incident_id,
            policy_id=report.policy_id,
            term_number=command.term_number,
            reported_by=report.reported_by.value,
            reporter_id=report.reporter_id,
            reference=report.reference,
            discovered_at=report.discovered_at,
            received_at=command.received_at,
            grade=report.grade.value,
            category=report.category.value,
            summary=report.summary,
            affected_systems=list(report.affected_systems),
            region=report.region,
            coverage=coverage.model_dump(mode="json"),
            in_force=coverage.in_force_at_discovery,
            late_notice=coverage.late_notice,
        )
        # No conflict target: a clash on the id or on (policy_id, reference) both mean "already told".
        await self._session.execute(statement.on_conflict_do_nothing())

    async def get(self, incident_id: str) -> IncidentRow | None:
        return await self._session.get(IncidentRow, incident_id)

    async def exists(self, incident_id: str) -> bool:
        return bool(
            await self._session.scalar(select(exists().where(IncidentRow.incident_id == incident_id)))
        )

    async def add_event(self, command: RecordIncidentEvent) -> None:
        statement = insert(IncidentEventRow).values(
            incident_id=command.incident_id,
            event_key=command.event_key,
            kind=command.kind.value,
            at=command.at,
            actor=command.actor,
            details=dict(command.details),
        )
        await self._session.execute(
            statement.on_conflict_do_nothing(index_elements=["incident_id", "event_key"])
        )

    async def add_evidence(self, incident_id: str, evidence: Evidence) -> bool:
        """Store the evidence and its first custody entry; False (nothing written) if the id is taken."""
        statement = insert(EvidenceRow).values(
            incident_id=incident_id,
            evidence_id=evidence.evidence_id,
            name=evidence.name,
            sha256=evidence.sha256,
            size_bytes=evidence.size_bytes,
            collected_by=evidence.collected_by,
            collected_at=evidence.collected_at,
        )
        statement = statement.on_conflict_do_nothing(index_elements=["incident_id", "evidence_id"])
        if (await self._session.execute(statement.returning(EvidenceRow.id))).first() is None:
            return False
        self._session.add(
            EvidenceCustodyRow(
                incident_id=incident_id,
                evidence_id=evidence.evidence_id,
                sequence=1,
                action=CustodyAction.COLLECTED.value,
                by=evidence.collected_by,
                at=evidence.collected_at,
            )
        )
        await self._session.flush()
        return True

    async def lock_evidence(self, incident_id: str, evidence_id: str) -> EvidenceRow | None:
        """The evidence, locked until the transaction ends so that custody entries append one at a time."""
        return await self._session.scalar(
            select(EvidenceRow)
            .where(EvidenceRow.incident_id == incident_id, EvidenceRow.evidence_id == evidence_id)
            .with_for_update()
        )

    async def custody(self, incident_id: str, evidence_id: str) -> list[CustodyEntry]:
        """The chain of custody in sequence."""
        rows = await self._session.execute(
            select(
                EvidenceCustodyRow.action,
                EvidenceCustodyRow.by,
                EvidenceCustodyRow.at,
                EvidenceCustodyRow.note,
            )
            .where(
                EvidenceCustodyRow.incident_id == incident_id, EvidenceCustodyRow.evidence_id == evidence_id
            )
            .order_by(EvidenceCustodyRow.sequence)
        )
        return [CustodyEntry(*row) for row in rows]

    async def custody_count(self, incident_id: str, evidence_id: str) -> int:
        count = await self._session.scalar(
            select(func.count()).where(
                EvidenceCustodyRow.incident_id == incident_id, EvidenceCustodyRow.evidence_id == evidence_id
            )
        )
        return count or 0

    async def append_custody(self, command: RecordCustody) -> int:
        """Append after the last entry; the caller holds the evidence's lock. Returns the new count."""
        sequence = await self.custody_count(command.incident_id, command.evidence_id) + 1
        self._session.add(
            EvidenceCustodyRow(
                incident_id=command.incident_id,
                evidence_id=command.evidence_id,
                sequence=sequence,
                action=command.action.value,
                by=command.by,
                at=command.at,
                note=command.note,
            )
        )
        await self._session.flush()
        return sequence

    async def save_forensics(self, command: RecordForensics) -> None:
        """Store the report, replacing an earlier one; a report received earlier never replaces a later one."""
        report = command.report
        values = {
            "incident_id": command.incident_id,
            "vendor_id": report.vendor_id,
            "report": report.model_dump(mode="json"),
            "received_at": command.received_at,
            "state_backed": report.state_backed,
            "first_intrusion_at": report.first_intrusion_at,
            "personal_data_records_affected": report.personal_data_records_affected,
        }
        new = insert(ForensicsReportRow).values(values)
        await self._session.execute(
            new.on_conflict_do_update(
                index_elements=["incident_id"],
                set_={k: new.excluded[k] for k in values if k != "incident_id"},
                where=ForensicsReportRow.received_at <= new.excluded.received_at,
            )
        )

    async def forensics(self, incident_id: str) -> ForensicsReport | None:
        report = await self._session.scalar(
            select(ForensicsReportRow.report).where(ForensicsReportRow.incident_id == incident_id)
        )
        return None if report is None else ForensicsReport.model_validate(report)
