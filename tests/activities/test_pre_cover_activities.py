"""Pre-cover records: each write, retried with the same input, leaves one row."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.policy import PolicyActivities
from contracts.parties import Notification, Party
from contracts.policy_activities import (
    QuoteStatus,
    RecordApplication,
    RecordAssessment,
    RecordQuote,
    RecordQuoteStatus,
    RecordUnderwriting,
    UnderwritingStage,
)
from storage.models import (
    ApplicationRow,
    AssessmentRow,
    OrganisationRow,
    OutboxNotificationRow,
    QuoteRow,
    UnderwritingDecisionRow,
)
from tests.activities import builders
from tests.activities.builders import DAY, T0
from tests.builders import uscc

Sessions = async_sessionmaker[AsyncSession]


async def count(sessions: Sessions, model: type) -> int:
    async with sessions() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_record_application_twice_stores_one_organisation_and_one_application(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    command = RecordApplication(
        policy_id=builders.policy_id(), application=builders.application(), received_at=T0
    )

    await activities.record_application(command)
    await activities.record_application(command)

    assert await count(session_factory, OrganisationRow) == 1
    assert await count(session_factory, ApplicationRow) == 1


async def test_a_second_application_of_the_same_organisation_shares_its_row_and_updates_it(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    code = uscc(42)
    first = RecordApplication(
        policy_id=builders.policy_id(), application=builders.application(code, name="旧名称"), received_at=T0
    )
    second = RecordApplication(
        policy_id=builders.policy_id(),
        application=builders.application(code, name="新名称"),
        received_at=T0 + DAY,
    )

    await activities.record_application(second)
    await activities.record_application(first)  # arrives late: must not overwrite the newer name

    async with session_factory() as session:
        names = (await session.scalars(select(OrganisationRow.name))).all()
        owners = set((await session.scalars(select(ApplicationRow.organisation_id))).all())
    assert names == ["新名称"]
    assert len(owners) == 1
    assert await count(session_factory, ApplicationRow) == 2


async def test_enqueue_notification_twice_stores_it_once(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    notification = Notification(
        dedupe_key="quote-issued:p1",
        policy_id="p1",
        recipient=Party.INSURED,
        kind="quote_issued",
        payload={"quote_id": "q1"},
    )

    # Through the activity environment once, to show the method runs as a Temporal activity.
    await ActivityEnvironment().run(activities.enqueue_notification, notification)
    await activities.enqueue_notification(notification)

    async with session_factory() as session:
        rows = (await session.scalars(select(OutboxNotificationRow))).all()
    assert [(r.dedupe_key, r.payload, r.sent_at) for r in rows] == [
        ("quote-issued:p1", {"quote_id": "q1"}, None)
    ]


async def test_record_assessment_and_underwriting_twice_store_one_row_each(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    policy = builders.policy_id()
    assessment = RecordAssessment(
        policy_id=policy, term_number=1, report=builders.assessment(), received_at=T0
    )
    decision = RecordUnderwriting(
        policy_id=policy,
        term_number=1,
        stage=UnderwritingStage.AUTOMATIC,
        result=builders.underwriting_result(),
        decided_at=T0,
    )

    for _ in range(2):
        await activities.record_assessment(assessment)
        await activities.record_underwriting(decision)

    assert await count(session_factory, AssessmentRow) == 1
    async with session_factory() as session:
        row = (await session.scalars(select(UnderwritingDecisionRow))).one()
    assert (row.premium_fen, row.currency) == (decision.result.premium.fen, "CNY")
    assert row.decision == decision.result.decision.value


async def test_record_quote_twice_stores_it_once_and_its_status_moves(
    activities: PolicyActivities, session_factory: Sessions
) -> None:
    policy, quote = builders.policy_id(), builders.quote()
    accepted = RecordQuoteStatus(
        policy_id=policy, quote_id=quote.quote_id, status=QuoteStatus.ACCEPTED, at=T0 + DAY
    )

    for _ in range(2):
        await activities.record_quote(RecordQuote(policy_id=policy, quote=quote))
    for _ in range(2):
        await activities.record_quote_status(accepted)

    async with session_factory() as session:
        row = (await session.scalars(select(QuoteRow))).one()
    assert (row.status, row.status_changed_at, row.premium_fen) == ("accepted", T0 + DAY, quote.premium.fen)


async def test_record_quote_status_of_an_unknown_quote_is_rejected(activities: PolicyActivities) -> None:
    command = RecordQuoteStatus(policy_id="p1", quote_id="missing", status=QuoteStatus.EXPIRED, at=T0)

    with pytest.raises(ApplicationError) as raised:
        await activities.record_quote_status(command)

    assert raised.value.type == "unknown_quote"
    assert raised.value.non_retryable
