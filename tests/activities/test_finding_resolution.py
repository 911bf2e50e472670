"""Resolving and verifying findings: rules enforced, nothing changed on failure, retries land once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from activities.policy import PolicyActivities
from contracts.policy_activities import ResolveFinding, VerifyFix
from domain.findings import FindingStatus, Resolution, Severity
from storage.models import FindingResolutionRow, FindingRow
from tests.activities import builders
from tests.activities.builders import T0, finding, record_findings

Sessions = async_sessionmaker[AsyncSession]
LATER = T0 + timedelta(days=2)


@pytest.fixture
async def policy(activities: PolicyActivities) -> str:
    policy = builders.policy_id()
    await activities.record_findings(
        record_findings(policy, [finding("crit", Severity.CRITICAL), finding("high", Severity.HIGH)])
    )
    return policy


async def stored(sessions: Sessions, event_id: str) -> tuple[FindingRow, list[FindingResolutionRow]]:
    async with sessions() as session:
        row = (await session.scalars(select(FindingRow).where(FindingRow.vendor_event_id == event_id))).one()
        history = (
            await session.scalars(
                select(FindingResolutionRow)
                .where(FindingResolutionRow.finding_id == row.id)
                .order_by(FindingResolutionRow.sequence)
            )
        ).all()
    return row, list(history)


def resolve(policy: str, event_id: str, resolution: Resolution, at=LATER) -> ResolveFinding:
    return ResolveFinding(
        term_number=1, policy_id=policy, vendor_event_id=event_id, resolution=resolution, note="patched", at=at
    )


def verify(policy: str, event_id: str, confirmed: bool, at=LATER + timedelta(days=1)) -> VerifyFix:
    return VerifyFix(
        term_number=1, policy_id=policy, vendor_event_id=event_id, vendor_id="vendor-a", fix_confirmed=confirmed, at=at
    )


async def test_resolving_an_unknown_finding_is_rejected(activities: PolicyActivities, policy: str) -> None:
    with pytest.raises(ApplicationError) as raised:
        await activities.resolve_finding(resolve(policy, "no-such-event", Resolution.FIXED))

    assert raised.value.type == "unknown_finding"
    assert raised.value.non_retryable
    assert "no-such-event" in raised.value.message


async def test_the_insured_cannot_accept_a_critical_finding_and_nothing_changes(
    activities: PolicyActivities, session_factory: Sessions, policy: str
) -> None:
    with pytest.raises(ApplicationError) as raised:
        await activities.resolve_finding(resolve(policy, "crit", Resolution.ACCEPTED_RISK))

    assert raised.value.type == "critical_risk_not_acceptable"
    assert raised.value.non_retryable
    row, history = await stored(session_factory, "crit")
    assert (row.status, history) == ("open", [])


async def test_fixed_then_confirmed_closes_the_finding_and_retries_append_nothing(
    activities: PolicyActivities, session_factory: Sessions, policy: str
) -> None:
    marked = await activities.resolve_finding(resolve(policy, "crit", Resolution.FIXED))
    marked_again = await activities.resolve_finding(resolve(policy, "crit", Resolution.FIXED))
    confirmed = await activities.verify_fix(verify(policy, "crit", confirmed=True))
    confirmed_again = await activities.verify_fix(verify(policy, "crit", confirmed=True))

    assert (marked.previous_status, marked.status) == (
        FindingStatus.OPEN,
        FindingStatus.AWAITING_VERIFICATION,
    )
    assert marked_again == marked
    assert marked.summary.awaiting_verification == 1
    assert (confirmed.previous_status, confirmed.status) == (
        FindingStatus.AWAITING_VERIFICATION,
        FindingStatus.FIXED,
    )
    assert confirmed_again == confirmed
    assert confirmed.summary.closed == 1
    assert confirmed.summary.open_by_severity == {Severity.HIGH: 1}
    row, history = await stored(session_factory, "crit")
    assert row.status == "fixed"
    assert [(h.sequence, h.from_status, h.to_status, h.actor) for h in history] == [
        (1, "open", "awaiting_verification", "insured"),
        (2, "awaiting_verification", "fixed", "vendor"),
    ]


async def test_a_fix_not_confirmed_reopens_the_finding_with_its_original_deadline(
    activities: PolicyActivities, session_factory: Sessions, policy: str
) -> None:
    before, _ = await stored(session_factory, "crit")
    await activities.resolve_finding(resolve(policy, "crit", Resolution.FIXED))

    reopened = await activities.verify_fix(verify(policy, "crit", confirmed=False))

    assert (reopened.previous_status, reopened.status) == (
        FindingStatus.AWAITING_VERIFICATION,
        FindingStatus.OPEN,
    )
    assert reopened.summary.open_by_severity == {Severity.CRITICAL: 1, Severity.HIGH: 1}
    assert reopened.next_due_at == before.remind_at
    after, history = await stored(session_factory, "crit")
    assert (after.status, after.deadline_at) == ("open", before.deadline_at)
    assert history[-1].fix_confirmed is False


async def test_a_reopened_finding_can_be_resolved_again(
    activities: PolicyActivities, session_factory: Sessions, policy: str
) -> None:
    await activities.resolve_finding(resolve(policy, "high", Resolution.FIXED))
    await activities.verify_fix(verify(policy, "high", confirmed=False))

    again = await activities.resolve_finding(
        resolve(policy, "high", Resolution.FIXED, at=LATER + timedelta(days=3))
    )

    assert again.status is FindingStatus.AWAITING_VERIFICATION
    _, history = await stored(session_factory, "high")
    assert [h.sequence for h in history] == [1, 2, 3]


async def test_verifying_a_finding_nobody_marked_fixed_is_rejected(
    activities: PolicyActivities, session_factory: Sessions, policy: str
) -> None:
    with pytest.raises(ApplicationError) as raised:
        await activities.verify_fix(verify(policy, "high", confirmed=True))

    assert raised.value.type == "not_awaiting_verification"
    row, history = await stored(session_factory, "high")
    assert (row.status, history) == ("open", [])


async def test_other_resolutions_close_the_finding_and_a_closed_finding_stays_closed(
    activities: PolicyActivities, policy: str
) -> None:
    accepted = await activities.resolve_finding(resolve(policy, "high", Resolution.ACCEPTED_RISK))

    with pytest.raises(ApplicationError) as raised:
        await activities.resolve_finding(
            resolve(policy, "high", Resolution.FALSE_POSITIVE, at=LATER + timedelta(1))
        )

    assert accepted.status is FindingStatus.ACCEPTED_RISK
    assert accepted.summary.closed == 1
    assert raised.value.type == "finding_closed"
