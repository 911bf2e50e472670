"""How long an acceptance sent while the case is being rated waits for the quote: a figure of the
policy's rules, a minute unless set, and a minute for policies whose rules were given before it was one."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from pydantic import ValidationError
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateStage

from contracts.policy import AssessmentSubmission, QuoteAcceptance
from contracts.policy_activities import RecordAssessment
from domain.rules import DAY, PolicyRules, ProcessRules
from tests.builders import assessment
from tests.workflows.support import start_policy
from worker import activities_for, build_worker
from workflows.policy import PolicyWorkflow


def test_the_quote_wait_is_a_minute_unless_set_and_rules_given_without_it_get_the_minute():
    assert ProcessRules().quote_wait_minutes == 1
    older = PolicyRules().model_dump_json(exclude={"process": {"quote_wait_minutes"}})
    assert "quote_wait_minutes" not in older
    assert PolicyRules.model_validate_json(older).process.quote_wait_minutes == 1


@pytest.mark.parametrize("minutes", [0, -1, DAY + 1])
def test_the_quote_wait_is_positive_and_at_most_a_day(minutes):
    with pytest.raises(ValidationError):
        ProcessRules(quote_wait_minutes=minutes)
    assert ProcessRules(quote_wait_minutes=DAY).quote_wait_minutes == DAY


@asynccontextmanager
async def worker_rating_slowly(client, session_factory, task_queue, reached: asyncio.Event, opened: asyncio.Event):
    """The assessment's record is held until the test opens it: the case stays in rating meanwhile."""
    activities = activities_for(client, session_factory, task_queue=task_queue)
    real = next(a for a in activities if a.__name__ == "record_assessment")

    @activity.defn(name="record_assessment")
    async def record_assessment(command: RecordAssessment) -> None:
        reached.set()
        await opened.wait()
        await real(command)

    replaced = [record_assessment if a.__name__ == "record_assessment" else a for a in activities]
    async with build_worker(client, session_factory, task_queue, activities=replaced):
        yield


async def quote_wait_timer(handle) -> timedelta | None:
    """The timer an acceptance waiting for the quote started, as its history records it."""
    history = await handle.fetch_history()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED and "quote for an acceptance" in str(event.user_metadata):
            return event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
    return None


@pytest.mark.parametrize("minutes", [None, 5])
async def test_an_acceptance_waits_for_the_quote_as_long_as_the_rules_say_and_binds_when_it_comes(
    time_skipping_env, session_factory, task_queue, minutes
):
    rules = PolicyRules() if minutes is None else PolicyRules(process=ProcessRules(quote_wait_minutes=minutes))
    client, reached, opened = time_skipping_env.client, asyncio.Event(), asyncio.Event()
    async with worker_rating_slowly(client, session_factory, task_queue, reached, opened):
        handle = await start_policy(client, task_queue, rules=rules)
        submitted = await handle.start_update(
            PolicyWorkflow.submit_assessment, AssessmentSubmission(report=assessment()),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        try:
            # Held well within the record's own timeout (gateway.DATABASE_TIMEOUT): time does not skip
            # while an activity runs, so the wait itself is read from the history, not sat out.
            await asyncio.wait_for(reached.wait(), 10)
            quote_id = f"{handle.id.removeprefix('policy-')}-t1"
            accepting = await handle.start_update(
                PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=quote_id),
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            )
            deadline = asyncio.get_running_loop().time() + 10
            while (timer := await quote_wait_timer(handle)) is None and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
        finally:
            opened.set()
        assert timer == timedelta(minutes=minutes or 1)
        assert (await submitted.result()).decision.value == "accept"
        assert (await accepting.result()).policy_number is not None
