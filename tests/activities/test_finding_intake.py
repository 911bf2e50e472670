"""Findings arrive in batches: each vendor event lands once, escalations once, summaries from SQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.policy import PolicyActivities
from domain.findings import Severity
from storage.models import FindingRow, IncidentEscalationRow
from tests.activities import builders
from tests.activities.builders import T0, finding, record_findings

Sessions = async_sessionmaker[AsyncSession]


async def rows(sessions: Sessions, model: type) -> list:
    async with sessions() as session:
        return list((await session.scalars(select(model))).all())


async def test_duplicates_within_a_batch_and_across_batches_are_counted_exactly(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    policy = builders.policy_id()

    first = await activities.record_findings(
        record_findings(policy, [finding("a"), finding("b"), finding("a")])
    )
    second = await activities.record_findings(record_findings(policy, [finding("b"), finding("c")]))

    assert (first.inserted, first.duplicates) == (2, 1)
    assert (second.inserted, second.duplicates) == (1, 1)
    assert sorted(f.vendor_event_id for f in await rows(session_factory, FindingRow)) == ["a", "b", "c"]
    assert second.summary.total == 3


async def test_the_same_event_id_on_another_policy_is_another_finding(activities: PolicyActivities) -> None:
    for policy in (builders.policy_id(), builders.policy_id()):
        intake = await activities.record_findings(record_findings(policy, [finding("shared")]))
        assert intake.inserted == 1


async def test_deadlines_and_reminders_follow_the_remediation_rules(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    policy = builders.policy_id()
    batch = [
        finding("crit", Severity.CRITICAL),
        finding("high", Severity.HIGH),
        finding("info", Severity.INFO),
    ]

    intake = await activities.record_findings(record_findings(policy, batch))

    stored = {f.vendor_event_id: f for f in await rows(session_factory, FindingRow)}
    assert (stored["crit"].deadline_at, stored["crit"].remind_at) == (
        T0 + timedelta(days=7),
        T0 + timedelta(days=5),
    )
    assert (stored["high"].deadline_at, stored["high"].remind_at) == (
        T0 + timedelta(days=30),
        T0 + timedelta(days=23),
    )
    assert (stored["info"].deadline_at, stored["info"].remind_at) == (None, None)
    assert {f.status for f in stored.values()} == {"open"}
    assert intake.next_due_at == T0 + timedelta(days=5)
    assert intake.summary.open_by_severity == {Severity.CRITICAL: 1, Severity.HIGH: 1, Severity.INFO: 1}
    assert intake.summary.overdue_by_severity == {}


async def test_active_compromise_is_escalated_once_and_a_retry_still_returns_it(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    policy = builders.policy_id()
    command = record_findings(
        policy, [finding("ioc-1", Severity.CRITICAL, active_compromise=True, asset="db01"), finding("plain")]
    )

    first = await activities.record_findings(command)
    retried = await activities.record_findings(command)

    assert [(e.vendor_event_id, e.asset, e.detected_at) for e in first.escalations] == [("ioc-1", "db01", T0)]
    assert retried.escalations == first.escalations
    assert retried.summary == first.summary
    assert (retried.inserted, retried.duplicates) == (0, 2)
    escalations = await rows(session_factory, IncidentEscalationRow)
    assert [(e.vendor_event_id, e.status) for e in escalations] == [("ioc-1", "awaiting_incident_workflow")]
    assert first.summary.escalations == 1


async def test_a_resent_event_that_now_claims_compromise_does_not_escalate(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    policy = builders.policy_id()
    await activities.record_findings(record_findings(policy, [finding("x")]))

    resent = await activities.record_findings(record_findings(policy, [finding("x", active_compromise=True)]))

    assert resent.escalations == []
    assert await rows(session_factory, IncidentEscalationRow) == []


async def test_a_batch_of_five_thousand_findings_is_one_insert(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    policy = builders.policy_id()
    severities = list(Severity)
    batch = [
        finding(f"e{n}", severities[n % len(severities)], active_compromise=n % 1000 == 0)
        for n in range(5_000)
    ]
    finding_inserts: list[str] = []

    def count_finding_inserts(conn, cursor, statement: str, *args) -> None:
        if statement.startswith("INSERT INTO findings"):
            finding_inserts.append(statement)

    engine = session_factory.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", count_finding_inserts)
    try:
        intake = await activities.record_findings(record_findings(policy, batch))
    finally:
        event.remove(engine, "before_cursor_execute", count_finding_inserts)

    assert len(finding_inserts) == 1

    assert (intake.inserted, intake.duplicates, intake.summary.total) == (5_000, 0, 5_000)
    assert len(intake.escalations) == 5
    assert sum(intake.summary.open_by_severity.values()) == 5_000
