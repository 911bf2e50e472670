"""Incident records: the cover at discovery, the report, timeline, evidence, custody and forensics,
each write safe to retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from activities.incident import IncidentActivities
from activities.policy import PolicyActivities
from contracts.incident_activities import (
    IncidentEventKind,
    LoadIncidentCover,
    RecordCustody,
    RecordForensics,
    RecordIncidentEvent,
    RegisterEvidence,
)
from contracts.policy_activities import RecordCancellation
from domain.coverage import Industry
from domain.incident import CustodyAction, OperatorType
from domain.money import Money
from domain.policy import BoundPolicy, CancellingParty
from storage.models import (
    EvidenceCustodyRow,
    EvidenceRow,
    ForensicsReportRow,
    IncidentEventRow,
    IncidentRow,
)
from tests.activities import builders
from tests.activities.builders import DAY, T0, YEAR

Sessions = async_sessionmaker[AsyncSession]
HOUR = timedelta(hours=1)


@pytest.fixture
def incidents(session_factory: Sessions) -> IncidentActivities:
    return IncidentActivities(session_factory)


async def count(sessions: Sessions, model: type) -> int:
    async with sessions() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def bound_policy(activities: PolicyActivities, **organisation: object) -> tuple[str, BoundPolicy]:
    policy = builders.policy_id()
    await activities.record_application(builders.record_application(policy, **organisation))
    return policy, await activities.bind_policy(builders.bind_policy(policy))


@pytest.fixture
async def incident(activities: PolicyActivities, incidents: IncidentActivities) -> str:
    """An incident reported under a bound term."""
    policy, bound = await bound_policy(activities)
    await incidents.record_incident(
        builders.record_incident("inc-1", builders.incident_report(policy), bound)
    )
    return "inc-1"


async def test_the_cover_is_the_term_in_force_at_discovery_with_the_operator_from_the_application(
    activities: PolicyActivities, incidents: IncidentActivities
) -> None:
    policy, first = await bound_policy(activities, operates_critical_infrastructure=True)
    renewal = builders.bind_policy(policy, term_number=2).model_copy(
        update={"previous_policy_number": first.policy_number}
    )
    second = await activities.bind_policy(renewal)

    in_first = await incidents.load_incident_cover(
        LoadIncidentCover(policy_id=policy, discovered_at=T0 + 10 * DAY)
    )
    in_second = await incidents.load_incident_cover(
        LoadIncidentCover(policy_id=policy, discovered_at=T0 + YEAR + 10 * DAY)
    )
    at_the_boundary = await incidents.load_incident_cover(
        LoadIncidentCover(policy_id=policy, discovered_at=T0 + YEAR)
    )

    assert in_first.policy == first and in_second.policy == second
    assert at_the_boundary.policy is not None and at_the_boundary.policy.term_number == 2
    assert in_first.cancelled_at is None
    assert in_first.operator_type is OperatorType.CRITICAL_INFRASTRUCTURE
    assert in_first.industry is Industry.INDUSTRIAL_INTERNET


async def test_outside_every_term_there_is_no_policy_but_the_operator_is_still_known(
    activities: PolicyActivities, incidents: IncidentActivities
) -> None:
    policy, _ = await bound_policy(activities, is_state_organ=True, industry=Industry.HEALTHCARE)

    before = await incidents.load_incident_cover(LoadIncidentCover(policy_id=policy, discovered_at=T0 - HOUR))
    after = await incidents.load_incident_cover(LoadIncidentCover(policy_id=policy, discovered_at=T0 + YEAR))

    assert before.policy is None and after.policy is None
    assert (before.operator_type, before.industry) == (OperatorType.STATE_ORGAN, Industry.HEALTHCARE)


async def test_the_cover_carries_the_cancellation_of_its_term(
    activities: PolicyActivities, incidents: IncidentActivities
) -> None:
    policy, bound = await bound_policy(activities)
    await activities.record_cancellation(
        RecordCancellation(
            policy_id=policy,
            policy_number=bound.policy_number,
            term_number=1,
            cancelled_by=CancellingParty.INSURED,
            reason="business sold",
            effective_at=T0 + 100 * DAY,
            return_premium=Money.yuan(2_000),
        )
    )

    cover = await incidents.load_incident_cover(
        LoadIncidentCover(policy_id=policy, discovered_at=T0 + 10 * DAY)
    )

    assert cover.cancelled_at == T0 + 100 * DAY
    assert cover.operator_type is OperatorType.OTHER


async def test_a_policy_without_an_application_is_unknown(incidents: IncidentActivities) -> None:
    with pytest.raises(ApplicationError) as raised:
        await incidents.load_incident_cover(LoadIncidentCover(policy_id="policy-nobody", discovered_at=T0))

    assert raised.value.type == "unknown_policy" and raised.value.non_retryable
    assert "policy-nobody" in raised.value.message


async def test_an_incident_reported_twice_is_stored_once_even_under_another_id(
    activities: PolicyActivities, incidents: IncidentActivities, session_factory: Sessions
) -> None:
    policy, bound = await bound_policy(activities)
    report = builders.incident_report(policy)

    await incidents.record_incident(builders.record_incident("inc-1", report, bound))
    await incidents.record_incident(builders.record_incident("inc-1", report, bound))
    await incidents.record_incident(builders.record_incident("inc-other", report, bound))

    async with session_factory() as session:
        stored = (await session.scalars(select(IncidentRow))).all()
    assert [(i.incident_id, i.term_number, i.in_force, i.late_notice) for i in stored] == [
        ("inc-1", 1, True, False)
    ]
    assert stored[0].coverage["notice_minutes"] == 120
    assert stored[0].affected_systems == ["MES"]


async def test_an_incident_outside_cover_is_recorded_without_a_term(
    activities: PolicyActivities, incidents: IncidentActivities, session_factory: Sessions
) -> None:
    policy, _ = await bound_policy(activities)

    await incidents.record_incident(
        builders.record_incident("inc-1", builders.incident_report(policy, discovered_at=T0 - DAY))
    )

    async with session_factory() as session:
        stored = await session.get(IncidentRow, "inc-1")
    assert stored is not None and (stored.term_number, stored.in_force) == (None, False)


async def test_an_incident_event_twice_is_one_entry_on_the_timeline(
    incidents: IncidentActivities, session_factory: Sessions, incident: str
) -> None:
    event = RecordIncidentEvent(
        incident_id=incident,
        event_key="regulatory_report_filed:1",
        kind=IncidentEventKind.REGULATORY_REPORT_FILED,
        at=T0 + 10 * DAY + HOUR,
        actor="insured-ciso",
        details={"authority": "cac-shanghai", "partial": True},
    )

    await incidents.record_incident_event(event)
    await incidents.record_incident_event(event)

    async with session_factory() as session:
        stored = (await session.scalars(select(IncidentEventRow))).all()
    assert [(e.kind, e.details) for e in stored] == [
        ("regulatory_report_filed", {"authority": "cac-shanghai", "partial": True})
    ]


async def test_an_event_of_an_unknown_incident_is_refused(incidents: IncidentActivities) -> None:
    event = RecordIncidentEvent(
        incident_id="inc-none", event_key="closed", kind=IncidentEventKind.CLOSED, at=T0
    )
    with pytest.raises(ApplicationError) as raised:
        await incidents.record_incident_event(event)
    assert raised.value.type == "unknown_incident" and raised.value.non_retryable


async def test_evidence_registered_twice_is_one_item_with_one_custody_entry(
    incidents: IncidentActivities, session_factory: Sessions, incident: str
) -> None:
    command = RegisterEvidence(incident_id=incident, evidence=builders.evidence())

    first = await incidents.register_evidence(command)
    retried = await incidents.register_evidence(command)

    assert first == retried and first.custody_entries == 1
    assert await count(session_factory, EvidenceRow) == 1
    async with session_factory() as session:
        custody = (await session.scalars(select(EvidenceCustodyRow))).all()
    assert [(c.sequence, c.action, c.by, c.at) for c in custody] == [
        (1, "collected", command.evidence.collected_by, command.evidence.collected_at)
    ]


async def test_the_same_evidence_id_with_other_content_is_refused_and_nothing_changes(
    incidents: IncidentActivities, session_factory: Sessions, incident: str
) -> None:
    await incidents.register_evidence(RegisterEvidence(incident_id=incident, evidence=builders.evidence()))
    tampered = builders.evidence(sha256="0" * 64)

    with pytest.raises(ApplicationError) as raised:
        await incidents.register_evidence(RegisterEvidence(incident_id=incident, evidence=tampered))

    assert raised.value.type == "evidence_conflict" and raised.value.non_retryable
    assert "ev-1" in raised.value.message and "sha256" in raised.value.message
    async with session_factory() as session:
        stored = (await session.scalars(select(EvidenceRow))).all()
    assert [e.sha256 for e in stored] == [builders.SHA256]
    assert await count(session_factory, EvidenceCustodyRow) == 1


async def test_evidence_of_an_unknown_incident_is_refused(incidents: IncidentActivities) -> None:
    with pytest.raises(ApplicationError) as raised:
        await incidents.register_evidence(
            RegisterEvidence(incident_id="inc-none", evidence=builders.evidence())
        )
    assert raised.value.type == "unknown_incident" and raised.value.non_retryable


async def test_custody_appends_in_sequence_and_a_retried_entry_lands_once(
    incidents: IncidentActivities, session_factory: Sessions, incident: str
) -> None:
    await incidents.register_evidence(RegisterEvidence(incident_id=incident, evidence=builders.evidence()))
    handed_over = RecordCustody(
        incident_id=incident,
        evidence_id="ev-1",
        action=CustodyAction.TRANSFERRED,
        by="panel-ir-01:courier-2",
        at=T0 + 11 * DAY,
        note="sealed bag 0042",
    )
    analysed = handed_over.model_copy(
        update={"action": CustodyAction.ANALYSED, "by": "lab-3", "at": T0 + 12 * DAY}
    )

    assert (await incidents.record_custody(handed_over)).custody_entries == 2
    assert (await incidents.record_custody(handed_over)).custody_entries == 2
    assert (await incidents.record_custody(analysed)).custody_entries == 3

    async with session_factory() as session:
        chain = (
            await session.scalars(select(EvidenceCustodyRow).order_by(EvidenceCustodyRow.sequence))
        ).all()
    assert [(c.sequence, c.action, c.by) for c in chain] == [
        (1, "collected", "panel-ir-01:analyst-7"),
        (2, "transferred", "panel-ir-01:courier-2"),
        (3, "analysed", "lab-3"),
    ]
    assert chain[1].note == "sealed bag 0042"


async def test_custody_of_unknown_evidence_is_refused(incidents: IncidentActivities, incident: str) -> None:
    command = RecordCustody(
        incident_id=incident, evidence_id="ev-none", action=CustodyAction.ANALYSED, by="lab-3", at=T0
    )
    with pytest.raises(ApplicationError) as raised:
        await incidents.record_custody(command)
    assert raised.value.type == "unknown_evidence" and raised.value.non_retryable


async def test_a_later_forensics_report_replaces_the_earlier_and_an_old_retry_does_not(
    incidents: IncidentActivities, session_factory: Sessions, incident: str
) -> None:
    first = RecordForensics(incident_id=incident, report=builders.forensics("vpn"), received_at=T0 + 15 * DAY)
    revised = RecordForensics(
        incident_id=incident,
        report=builders.forensics("vpn", "mes-fs-01", state_backed=True),
        received_at=T0 + 20 * DAY,
    )

    await incidents.record_forensics(first)
    await incidents.record_forensics(first)
    await incidents.record_forensics(revised)
    await incidents.record_forensics(first)  # a late retry of the first attempt

    async with session_factory() as session:
        stored = (await session.scalars(select(ForensicsReportRow))).all()
    assert len(stored) == 1
    assert (stored[0].state_backed, stored[0].received_at) == (True, T0 + 20 * DAY)
    assert stored[0].report["exploited_assets"] == ["vpn", "mes-fs-01"]
    assert stored[0].personal_data_records_affected == 1_200
