"""Findings stored by the API and recorded by their policy's workflow: the same findings, deadlines
and escalations as findings that come in a signal, with PostgreSQL doing the expansion."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.policy import PolicyActivities
from contracts.policy_activities import ReceivedBatch, RecordFindingBatches
from domain.findings import MonitoringFinding, Severity
from domain.rules import RemediationRules
from storage.models import FindingBatchRow, FindingRow, IncidentEscalationRow
from storage.repositories.finding_batches import IncomingBatch
from storage.unit_of_work import UnitOfWork
from tests.activities import builders
from tests.activities.builders import T0, finding, record_findings

Sessions = async_sessionmaker[AsyncSession]


async def store(sessions: Sessions, policy: str, findings: list[MonitoringFinding]) -> str:
    """What the API does with a vendor's post: one row per batch, the findings as JSON."""
    batch = IncomingBatch.of(policy, "vendor-a", findings)
    async with UnitOfWork(sessions) as uow:
        await uow.finding_batches.store([batch])
    return batch.batch_id


def record(policy: str, *batches: tuple[str, int], received_at=T0, rules=None) -> RecordFindingBatches:
    return RecordFindingBatches(
        policy_id=policy, term_number=1, rules=rules or RemediationRules(),
        batches=[ReceivedBatch(batch_id=b, findings=n, received_at=received_at) for b, n in batches],
    )


async def stored(sessions: Sessions, policy: str) -> dict[str, FindingRow]:
    async with sessions() as session:
        found = await session.scalars(select(FindingRow).where(FindingRow.policy_id == policy))
        return {f.vendor_event_id: f for f in found}


async def test_duplicates_within_and_across_batches_and_signals_are_counted_exactly(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    policy = builders.policy_id()
    await activities.record_findings(record_findings(policy, [finding("a")]))  # came in a signal earlier
    one = await store(session_factory, policy, [finding("a"), finding("b"), finding("b")])
    two = await store(session_factory, policy, [finding("b"), finding("c")])

    intake = await activities.record_finding_batches(record(policy, (one, 3), (two, 2)))

    assert (intake.inserted, intake.duplicates) == (2, 3)
    assert sorted(await stored(session_factory, policy)) == ["a", "b", "c"]
    assert intake.summary.total == 3


async def test_deadlines_match_those_of_findings_that_come_in_a_signal(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    by_signal, by_batch = builders.policy_id(), builders.policy_id()
    rules = RemediationRules(reminder_lead_minutes={Severity.CRITICAL: 90})  # no lead for the others
    findings = [finding(f"e-{s.value}", s) for s in Severity]
    batch = await store(session_factory, by_batch, findings)

    signalled = await activities.record_findings(record_findings(by_signal, findings).model_copy(update={"rules": rules}))
    recorded = await activities.record_finding_batches(record(by_batch, (batch, len(findings)), rules=rules))

    expected, actual = await stored(session_factory, by_signal), await stored(session_factory, by_batch)
    for event_id, row in expected.items():
        assert (actual[event_id].deadline_at, actual[event_id].remind_at, actual[event_id].received_at) == (
            row.deadline_at, row.remind_at, row.received_at), event_id
    critical = actual["e-critical"]
    assert (critical.deadline_at, critical.remind_at) == (T0 + timedelta(days=7), T0 + timedelta(days=7, minutes=-90))
    assert actual["e-info"].deadline_at is None and actual["e-info"].remind_at is None
    assert actual["e-high"].remind_at == T0 + timedelta(days=30)  # no lead: reminded at the deadline
    assert recorded.summary == signalled.summary and recorded.next_due_at == signalled.next_due_at


async def test_the_first_batch_of_a_resent_event_wins(activities: PolicyActivities, session_factory: Sessions) -> None:
    policy = builders.policy_id()
    first = await store(session_factory, policy, [finding("x", Severity.LOW, asset="first")])
    second = await store(session_factory, policy, [finding("x", Severity.CRITICAL, asset="second")])

    await activities.record_finding_batches(record(policy, (first, 1), (second, 1)))

    assert (await stored(session_factory, policy))["x"].asset == "first"


async def test_another_policys_batch_is_not_recorded(activities: PolicyActivities, session_factory: Sessions) -> None:
    owner, other = builders.policy_id(), builders.policy_id()
    batch = await store(session_factory, owner, [finding("secret")])

    intake = await activities.record_finding_batches(record(other, (batch, 1)))

    assert intake.inserted == 0 and await stored(session_factory, other) == {}
    async with session_factory() as session:
        row = await session.get(FindingBatchRow, batch)
    assert row is not None and row.recorded_at is None


async def test_compromise_is_escalated_once_a_retry_returns_it_and_the_batch_is_marked(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    policy = builders.policy_id()
    batch = await store(session_factory, policy, [
        finding("ioc-1", Severity.CRITICAL, active_compromise=True, asset="db01"), finding("plain"),
    ])
    command = record(policy, (batch, 2))

    first = await activities.record_finding_batches(command)
    retried = await activities.record_finding_batches(command)

    assert [(e.vendor_event_id, e.asset, e.detected_at) for e in first.escalations] == [("ioc-1", "db01", T0)]
    assert retried.escalations == first.escalations and retried.summary == first.summary
    assert (retried.inserted, retried.duplicates) == (0, 2)
    async with session_factory() as session:
        escalations = (await session.scalars(select(IncidentEscalationRow))).all()
        row = await session.get(FindingBatchRow, batch)
    assert [e.vendor_event_id for e in escalations if e.policy_id == policy] == ["ioc-1"]
    assert row is not None and row.recorded_at is not None
