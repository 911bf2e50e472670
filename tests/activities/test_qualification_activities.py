"""Qualification and pilot records: each write, retried, leaves one row; an older write never undoes
a newer one."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.pilot import PilotActivities, RecordPilotDeadline
from activities.qualification import QualificationActivities, intent_id_for
from contracts.qualification_activities import (
    IssueIntentForm,
    QualificationEventKind,
    RecordQualification,
    RecordQualificationEvent,
)
from domain.money import Money
from domain.pilot import PilotDeadline, Programme, ReportKind
from domain.qualification import ProofPath, QualificationApplication, QualificationPhase
from storage.models import IntentFormRow, PilotDeadlineRow, QualificationEventRow, QualificationRow
from tests.activities.builders import DAY, T0
from tests.builders import VALID_USCC

Sessions = async_sessionmaker[AsyncSession]
QUALIFICATION = "qual-0001"


def application(requested_limit: Money | None = None) -> QualificationApplication:
    return QualificationApplication(
        provider_id="prov-0001", unified_social_credit_code=VALID_USCC,
        proof_path=ProofPath.CYBER_LIABILITY_POLICY, insurer_id="ins-pingan-sz",
        requested_limit=requested_limit,
    )


def event(
    key: str, phase: QualificationPhase, *, days: int, policy_id: str | None = None
) -> RecordQualificationEvent:
    return RecordQualificationEvent(
        qualification_id=QUALIFICATION, event_key=key, kind=QualificationEventKind.APPROVED,
        at=T0 + days * DAY, actor="platform-ops", details={"note": key}, phase=phase, policy_id=policy_id,
    )


async def test_a_qualification_recorded_twice_is_one_row_in_platform_review(
    session_factory: Sessions,
) -> None:
    activities = QualificationActivities(session_factory)
    command = RecordQualification(qualification_id=QUALIFICATION, application=application(), at=T0)

    await activities.record_qualification(command)
    await activities.record_qualification(command)

    async with session_factory() as session:
        rows = (await session.scalars(select(QualificationRow))).all()
    assert [
        (r.qualification_id, r.provider_id, r.unified_social_credit_code, r.proof_path, r.insurer_id)
        for r in rows
    ] == [(QUALIFICATION, "prov-0001", VALID_USCC, "cyber_liability_policy", "ins-pingan-sz")]
    assert (rows[0].phase, rows[0].applied_at, rows[0].updated_at) == ("platform_review", T0, T0)
    assert rows[0].existing_provider is False


async def test_an_event_is_kept_once_and_an_older_one_does_not_move_the_phase_back(
    session_factory: Sessions,
) -> None:
    activities = QualificationActivities(session_factory)
    await activities.record_qualification(
        RecordQualification(qualification_id=QUALIFICATION, application=application(), at=T0)
    )
    newer = event("qualified", QualificationPhase.QUALIFIED, days=2, policy_id="pol-1")
    older = event("approved", QualificationPhase.INSURER_CONTACT, days=1)

    await activities.record_qualification_event(newer)
    await activities.record_qualification_event(newer)
    await activities.record_qualification_event(older)  # a late retry of an earlier step

    async with session_factory() as session:
        events = (await session.execute(
            select(QualificationEventRow.event_key, QualificationEventRow.kind, QualificationEventRow.actor,
                   QualificationEventRow.details).order_by(QualificationEventRow.id)
        )).all()
        row = await session.get(QualificationRow, QUALIFICATION)
    assert [tuple(e) for e in events] == [
        ("qualified", "approved", "platform-ops", {"note": "qualified"}),
        ("approved", "approved", "platform-ops", {"note": "approved"}),
    ]
    assert row is not None
    assert (row.phase, row.policy_id, row.updated_at) == ("qualified", "pol-1", T0 + 2 * DAY)


async def test_an_intent_form_issued_twice_is_one_form_with_the_requested_limit(
    session_factory: Sessions,
) -> None:
    activities = QualificationActivities(session_factory)
    await activities.record_qualification(
        RecordQualification(qualification_id=QUALIFICATION, application=application(), at=T0)
    )
    command = IssueIntentForm(
        qualification_id=QUALIFICATION, application=application(Money.yuan(5_000_000)), at=T0 + DAY
    )

    first = await activities.issue_intent_form(command)
    again = await activities.issue_intent_form(command)

    async with session_factory() as session:
        forms = (await session.scalars(select(IntentFormRow))).all()
    assert first == again
    assert first.intent_id == intent_id_for(QUALIFICATION)
    assert [
        (f.intent_id, f.provider_id, f.insurer_id, f.requested_limit_fen, f.currency, f.generated_at)
        for f in forms
    ] == [(first.intent_id, "prov-0001", "ins-pingan-sz", 500_000_000, "CNY", T0 + DAY)]


async def test_a_pilot_deadline_keeps_its_latest_state_whatever_order_the_writes_arrive_in(
    session_factory: Sessions,
) -> None:
    activities = PilotActivities(session_factory)
    deadline = PilotDeadline(
        programme=Programme.SHANGHAI, kind=ReportKind.ANNUAL_SUMMARY, due=date(2026, 10, 31)
    )
    filed = RecordPilotDeadline(
        deadline=deadline, reminders_sent=2, overdue=False, filed_at=T0 + 2 * DAY,
        filed_reference="SH-2026-07", at=T0 + 2 * DAY,
    )
    reminded = RecordPilotDeadline(deadline=deadline, reminders_sent=1, overdue=False, at=T0 + DAY)

    await activities.record_pilot_deadline(filed)
    await activities.record_pilot_deadline(reminded)  # older: changes nothing

    async with session_factory() as session:
        row = await session.get(PilotDeadlineRow, deadline.key)
    assert row is not None
    assert (row.programme, row.kind, row.due_on) == ("shanghai", "annual_summary", date(2026, 10, 31))
    assert (row.reminders_sent, row.filed_reference, row.updated_at) == (2, "SH-2026-07", T0 + 2 * DAY)
