"""Activities of the incident workflow: the cover it is judged on, its records, evidence, forensics.

Each activity is one unit of work and safe to retry: rows have natural keys (the reporter's
reference, the event key, the evidence id), so a retry after a committed attempt writes nothing
new and returns what the first attempt returned.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.log_context import activity_log
from activities.notifying import Notifier
from contracts.incident_activities import (
    EvidenceRegistered,
    IncidentCover,
    LoadIncidentCover,
    RecordCustody,
    RecordForensics,
    RecordIncident,
    RecordIncidentEvent,
    RegisterEvidence,
)
from domain.incident import Evidence
from storage.repositories.incidents import evidence_from_row
from storage.unit_of_work import UnitOfWork


def unknown_incident(incident_id: str) -> ApplicationError:
    return ApplicationError(f"no incident {incident_id}", type="unknown_incident", non_retryable=True)


async def _require_incident(uow: UnitOfWork, incident_id: str) -> None:
    if not await uow.incidents.exists(incident_id):
        raise unknown_incident(incident_id)


class IncidentActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], notifier: Notifier | None = None) -> None:
        self._sessions = sessions
        self._notifier = notifier or Notifier(None, "")

    @activity.defn
    async def load_incident_cover(self, query: LoadIncidentCover) -> IncidentCover:
        async with UnitOfWork(self._sessions) as uow:
            operator = await uow.cover.operator(query.policy_id)
            if operator is None:
                raise ApplicationError(
                    f"no application for policy {query.policy_id}", type="unknown_policy", non_retryable=True
                )
            policy = await uow.cover.term_at(query.policy_id, query.discovered_at)
            cancelled_at = (
                None if policy is None else await uow.cover.cancelled_at(query.policy_id, policy.term_number)
            )
        activity_log(policy_id=query.policy_id).info(
            "incident cover loaded",
            term_number=None if policy is None else policy.term_number,
            operator_type=operator.operator_type.value,
        )
        return IncidentCover(
            policy=policy,
            cancelled_at=cancelled_at,
            operator_type=operator.operator_type,
            industry=operator.industry,
        )

    @activity.defn
    async def record_incident(self, command: RecordIncident) -> None:
        report = command.report
        async with UnitOfWork(self._sessions) as uow:
            await uow.incidents.add(command)
        activity_log(incident_id=command.incident_id, policy_id=report.policy_id).info(
            "incident recorded", grade=report.grade.value, in_force=command.coverage.in_force_at_discovery
        )

    @activity.defn
    async def record_incident_event(self, command: RecordIncidentEvent) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await _require_incident(uow, command.incident_id)
            await uow.incidents.add_event(command)
            started = await self._notifier.emit(uow, command.notifications)
        await self._notifier.deliver(started)
        activity_log(incident_id=command.incident_id).info("incident event recorded", kind=command.kind.value)

    @activity.defn
    async def register_evidence(self, command: RegisterEvidence) -> EvidenceRegistered:
        evidence = command.evidence
        async with UnitOfWork(self._sessions) as uow:
            await _require_incident(uow, command.incident_id)
            if not await uow.incidents.add_evidence(command.incident_id, evidence):
                stored = await uow.incidents.lock_evidence(command.incident_id, evidence.evidence_id)
                assert stored is not None
                _refuse_other_content(evidence_from_row(stored), evidence)
            count = await uow.incidents.custody_count(command.incident_id, evidence.evidence_id)
        activity_log(incident_id=command.incident_id).info(
            "evidence registered", evidence_id=evidence.evidence_id, custody_entries=count
        )
        return EvidenceRegistered(evidence_id=evidence.evidence_id, custody_entries=count)

    @activity.defn
    async def record_custody(self, command: RecordCustody) -> EvidenceRegistered:
        async with UnitOfWork(self._sessions) as uow:
            if await uow.incidents.lock_evidence(command.incident_id, command.evidence_id) is None:
                raise ApplicationError(
                    f"incident {command.incident_id} has no evidence {command.evidence_id}",
                    type="unknown_evidence",
                    non_retryable=True,
                )
            chain = await uow.incidents.custody(command.incident_id, command.evidence_id)
            if any((e.action, e.by, e.at) == (command.action.value, command.by, command.at) for e in chain):
                count = len(chain)
            else:
                count = await uow.incidents.append_custody(command)
        activity_log(incident_id=command.incident_id).info(
            "custody recorded",
            evidence_id=command.evidence_id,
            action=command.action.value,
            custody_entries=count,
        )
        return EvidenceRegistered(evidence_id=command.evidence_id, custody_entries=count)

    @activity.defn
    async def record_forensics(self, command: RecordForensics) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await _require_incident(uow, command.incident_id)
            await uow.incidents.save_forensics(command)
        activity_log(incident_id=command.incident_id).info(
            "forensics recorded", vendor_id=command.report.vendor_id, state_backed=command.report.state_backed
        )


def _refuse_other_content(stored: Evidence, sent: Evidence) -> None:
    """Evidence is fixed by its hash: the same id with other content is a different item, refused."""
    if stored == sent:
        return
    differing = sorted(name for name in Evidence.model_fields if getattr(stored, name) != getattr(sent, name))
    raise ApplicationError(
        f"evidence {sent.evidence_id} is already registered with another {', '.join(differing)}",
        type="evidence_conflict",
        non_retryable=True,
    )
