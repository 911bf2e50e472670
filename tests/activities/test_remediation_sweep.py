"""The remediation sweep: reminders and overdue notices once each, overdue counted for the term."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.policy import PolicyActivities
from contracts.policy_activities import ResolveFinding, SweepRemediation
from domain.findings import Resolution, Severity
from storage.models import OutboxNotificationRow
from tests.activities import builders
from tests.activities.builders import T0, finding, record_findings

Sessions = async_sessionmaker[AsyncSession]
DAYS = timedelta(days=1)


@pytest.fixture
async def policy(activities: PolicyActivities) -> str:
    """A critical (due in 7 days, reminder at 5) and a high (due in 30 days, reminder at 23)."""
    policy = builders.policy_id()
    await activities.record_findings(
        record_findings(policy, [finding("crit", Severity.CRITICAL), finding("high", Severity.HIGH)])
    )
    return policy


async def outbox(sessions: Sessions) -> list[tuple[str, str]]:
    async with sessions() as session:
        rows = (await session.scalars(select(OutboxNotificationRow).order_by(OutboxNotificationRow.id))).all()
    return [(r.kind, r.recipient) for r in rows]


def sweep(policy: str, now, term_number: int = 1) -> SweepRemediation:
    return SweepRemediation(policy_id=policy, term_number=term_number, now=now)


async def test_a_sweep_before_anything_is_due_does_nothing(
    activities: PolicyActivities, session_factory: Sessions, policy: str
) -> None:
    result = await activities.sweep_remediation(sweep(policy, T0 + 1 * DAYS))

    assert (result.reminders_sent, result.newly_overdue) == (0, 0)
    assert result.next_due_at == T0 + 5 * DAYS
    assert await outbox(session_factory) == []


async def test_reminders_are_sent_once_even_when_the_sweep_is_retried(
    activities: PolicyActivities, session_factory: Sessions, policy: str
) -> None:
    now = T0 + 5 * DAYS + timedelta(minutes=1)

    first = await activities.sweep_remediation(sweep(policy, now))
    retried = await activities.sweep_remediation(sweep(policy, now))

    assert (first.reminders_sent, first.newly_overdue) == (1, 0)
    assert retried == first
    assert first.next_due_at == T0 + 7 * DAYS
    assert await outbox(session_factory) == [("remediation_reminder", "insured")]


async def test_overdue_critical_is_marked_once_told_to_insured_and_insurer_and_counted_for_the_term(
    activities: PolicyActivities, session_factory: Sessions, policy: str
) -> None:
    await activities.sweep_remediation(sweep(policy, T0 + 5 * DAYS))
    now = T0 + 8 * DAYS

    first = await activities.sweep_remediation(sweep(policy, now))
    retried = await activities.sweep_remediation(sweep(policy, now))

    assert (first.reminders_sent, first.newly_overdue) == (0, 1)
    assert retried == first
    assert first.summary.overdue_by_severity == {Severity.CRITICAL: 1}
    assert first.summary.ever_overdue_by_severity == {Severity.CRITICAL: 1}
    assert first.next_due_at == T0 + 23 * DAYS
    assert await outbox(session_factory) == [
        ("remediation_reminder", "insured"),
        ("remediation_overdue", "insured"),
        ("remediation_overdue", "insurer"),
    ]


async def test_an_overdue_high_finding_is_told_to_the_insured_only(
    activities: PolicyActivities, session_factory: Sessions, policy: str
) -> None:
    result = await activities.sweep_remediation(sweep(policy, T0 + 31 * DAYS))

    assert (result.reminders_sent, result.newly_overdue) == (2, 2)
    assert result.next_due_at is None
    notices = await outbox(session_factory)
    assert notices.count(("remediation_overdue", "insured")) == 2
    assert notices.count(("remediation_overdue", "insurer")) == 1


async def test_a_finding_resolved_after_going_overdue_still_counts_as_ever_overdue_in_its_term(
    activities: PolicyActivities, policy: str
) -> None:
    await activities.sweep_remediation(sweep(policy, T0 + 8 * DAYS))

    changed = await activities.resolve_finding(
        ResolveFinding(
            term_number=1, policy_id=policy, vendor_event_id="crit", resolution=Resolution.FALSE_POSITIVE, at=T0 + 9 * DAYS
        )
    )
    next_term = await activities.sweep_remediation(sweep(policy, T0 + 9 * DAYS, term_number=2))

    assert changed.summary.overdue_by_severity == {}
    assert changed.summary.ever_overdue_by_severity == {Severity.CRITICAL: 1}
    assert next_term.summary.ever_overdue_by_severity == {}


async def test_resolved_findings_are_never_reminded(
    activities: PolicyActivities, session_factory: Sessions, policy: str
) -> None:
    await activities.resolve_finding(
        ResolveFinding(term_number=1, policy_id=policy, vendor_event_id="crit", resolution=Resolution.FIXED, at=T0 + DAYS)
    )

    result = await activities.sweep_remediation(sweep(policy, T0 + 6 * DAYS))

    assert result.reminders_sent == 0
    assert await outbox(session_factory) == []
