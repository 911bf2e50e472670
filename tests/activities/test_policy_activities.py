"""Binding, renewal, endorsement, cancellation and phase history: idempotent under retry."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.policy import PolicyActivities
from contracts.policy_activities import BindPolicy, RecordCancellation, RecordEndorsement, RecordPolicyPhase
from domain.coverage import CoverageHead
from domain.money import Money
from domain.policy import CancellingParty, PolicyPhase
from storage.models import (
    CancellationRow,
    CoverageHeadRow,
    EndorsementRow,
    PolicyPhaseRow,
    PolicyRow,
)
from tests.activities import builders
from tests.activities.builders import DAY, T0

Sessions = async_sessionmaker[AsyncSession]
YEAR = 365 * DAY


async def rows(sessions: Sessions, model: type) -> list:
    async with sessions() as session:
        return list((await session.scalars(select(model))).all())


def bind(policy: str, term_number: int = 1, previous: str | None = None) -> BindPolicy:
    start = T0 + (term_number - 1) * YEAR
    return BindPolicy(
        policy_id=policy,
        quote=builders.quote(term_number=term_number, quote_id=f"{policy}-q{term_number}"),
        term_start=start,
        term_end=start + YEAR,
        previous_policy_number=previous,
    )


async def test_bind_policy_retried_returns_the_same_policy_and_writes_once(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    command = bind(builders.policy_id())

    first = await activities.bind_policy(command)
    retried = await activities.bind_policy(command)

    assert retried == first
    assert first.policy_number.startswith("CY-2026-") and len(first.policy_number) == len("CY-2026-00000042")
    assert first.annual_premium == command.quote.premium
    assert first.schedule == command.quote.schedule
    assert first.risk_score == command.quote.risk_score
    assert len(await rows(session_factory, PolicyRow)) == 1
    heads = await rows(session_factory, CoverageHeadRow)
    assert {h.head for h in heads} == {t.head.value for t in command.quote.schedule.heads}


async def test_two_policies_get_different_numbers(activities: PolicyActivities) -> None:
    one = await activities.bind_policy(bind(builders.policy_id()))
    other = await activities.bind_policy(bind(builders.policy_id()))

    assert one.policy_number != other.policy_number


async def test_renewal_keeps_the_policy_number(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    policy = builders.policy_id()
    first_term = await activities.bind_policy(bind(policy))

    renewal = bind(policy, term_number=2, previous=first_term.policy_number)
    second_term = await activities.bind_policy(renewal)
    retried = await activities.bind_policy(renewal)

    assert second_term.policy_number == first_term.policy_number
    assert (second_term.term_number, retried) == (2, second_term)
    stored = await rows(session_factory, PolicyRow)
    assert sorted((r.term_number, r.policy_number) for r in stored) == [
        (1, first_term.policy_number),
        (2, first_term.policy_number),
    ]


async def test_endorsement_twice_is_stored_once_and_moves_the_head_limit(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    policy = builders.policy_id()
    bound = await activities.bind_policy(bind(policy))
    head = CoverageHead.DATA_BREACH_LIABILITY
    assert bound.schedule.terms_for(head) is not None
    command = RecordEndorsement(
        policy_id=policy,
        policy_number=bound.policy_number,
        term_number=1,
        request_id="req-1",
        head=head,
        previous_sublimit=Money.yuan(3_000_000),
        new_sublimit=Money.yuan(4_000_000),
        additional_premium=Money.yuan(3_000),
        return_premium=Money(fen=0),
        effective_at=T0 + 30 * DAY,
    )

    await activities.record_endorsement(command)
    await activities.record_endorsement(command)

    assert len(await rows(session_factory, EndorsementRow)) == 1
    limits = {h.head: h.sublimit_fen for h in await rows(session_factory, CoverageHeadRow)}
    assert limits[head.value] == Money.yuan(4_000_000).fen


async def test_cancellation_twice_is_stored_once_and_marks_the_policy_cancelled(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    policy = builders.policy_id()
    bound = await activities.bind_policy(bind(policy))
    command = RecordCancellation(
        policy_id=policy,
        policy_number=bound.policy_number,
        term_number=1,
        cancelled_by=CancellingParty.INSURED,
        reason="business sold",
        effective_at=T0 + 100 * DAY,
        return_premium=Money.yuan(2_000),
    )

    await activities.record_cancellation(command)
    await activities.record_cancellation(command)

    cancellations = await rows(session_factory, CancellationRow)
    assert [(c.return_premium_fen, c.currency) for c in cancellations] == [(200_000, "CNY")]
    assert [p.phase for p in await rows(session_factory, PolicyRow)] == [PolicyPhase.CANCELLED.value]


async def test_policy_phase_twice_appends_once_and_mirrors_the_phase_on_the_policy(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    policy = builders.policy_id()
    quoted = RecordPolicyPhase(policy_id=policy, term_number=1, phase=PolicyPhase.QUOTED, at=T0)
    await activities.record_policy_phase(quoted)  # no policy row yet: history only
    await activities.bind_policy(bind(policy))
    renewing = RecordPolicyPhase(
        policy_id=policy, term_number=1, phase=PolicyPhase.RENEWING, at=T0 + 300 * DAY
    )

    await activities.record_policy_phase(renewing)
    await activities.record_policy_phase(renewing)

    history = await rows(session_factory, PolicyPhaseRow)
    assert sorted(h.phase for h in history) == ["quoted", "renewing"]
    assert [p.phase for p in await rows(session_factory, PolicyRow)] == ["renewing"]


async def test_the_policy_number_carries_the_year_the_term_starts_in_china(
    activities: PolicyActivities,
) -> None:
    # 17:00 UTC on 31 December is already 1 January in Beijing.
    new_year_in_beijing = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    command = bind(builders.policy_id()).model_copy(
        update={"term_start": new_year_in_beijing, "term_end": new_year_in_beijing + YEAR}
    )

    bound = await activities.bind_policy(command)

    assert bound.policy_number.startswith("CY-2027-")
