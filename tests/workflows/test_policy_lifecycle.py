"""A policy's whole life under time skipping: a one-year term runs in seconds."""

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from contracts.policy import AssessmentSubmission, MonitoringBatch, QuoteAcceptance
from domain.findings import Severity
from tests.builders import assessment, monitoring_finding
from tests.workflows.support import (
    bind,
    eventually,
    running_worker,
    scalar,
    start_policy,
    status,
    until_notified,
)
from workflows.policy import PolicyWorkflow

DAY = timedelta(days=1)


async def test_full_life_from_application_to_the_second_term(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        policy_id = handle.id.removeprefix("policy-")
        assert (await status(handle)).phase.value == "awaiting_assessment"

        first = await bind(handle, assessment())
        assert first.term_number == 1 and first.policy_number.startswith("CY-")
        assert first.term_end - first.term_start >= timedelta(days=365)

        await handle.signal(
            PolicyWorkflow.report_findings,
            MonitoringBatch(vendor_id="vendor-a", findings=[monitoring_finding("ev-1", Severity.MEDIUM)]),
        )
        await eventually(handle, lambda s: s.findings.total == 1)

        # Into the renewal window (60 days before the term ends): a re-assessment is requested.
        await time_skipping_env.sleep(timedelta(days=306))
        renewing = await eventually(handle, lambda s: s.phase.value == "renewing")
        assert renewing.term_number == 1
        receipt = await handle.execute_update(
            PolicyWorkflow.submit_assessment, AssessmentSubmission(report=assessment())
        )
        assert receipt.term_number == 2
        renewal = await eventually(handle, lambda s: s.quote is not None and s.quote.term_number == 2)
        await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=renewal.quote.quote_id))

        # The term ends: the renewal binds and the workflow continues as new into term 2.
        await time_skipping_env.sleep(timedelta(days=61))
        second = await eventually(handle, lambda s: s.term_number == 2 and s.phase.value == "in_force")
        assert second.policy_number == first.policy_number
        assert second.term_start == first.term_end
        assert second.runs >= 2
        assert second.findings.total == 1  # carried by the database, not lost at the term boundary

        terms = await scalar(
            session_factory, "SELECT count(DISTINCT term_number) FROM policies WHERE policy_id = :p", p=policy_id
        )
        assert terms == 2
        kinds = await until_notified(session_factory, policy_id, "policy_bound", times=2)
        assert kinds.count("policy_bound") == 2
        assert "assessment_requested" in kinds and "quote_issued" in kinds


async def test_a_policy_without_renewal_lapses_at_term_end(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await bind(handle, assessment())
        outcome = await handle.result()  # time skips through the year; nobody renews
        assert outcome.phase.value == "expired"
        assert outcome.terms_completed == 1
        assert "renewal" in outcome.reason or "assessment" in outcome.reason


async def test_overdue_criticals_in_the_term_decline_the_renewal(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await bind(handle, assessment())
        criticals = [monitoring_finding(f"crit-{i}", Severity.CRITICAL) for i in range(4)]
        await handle.signal(PolicyWorkflow.report_findings, MonitoringBatch(vendor_id="vendor-a", findings=criticals))
        await eventually(handle, lambda s: s.findings.total == 4)
        await time_skipping_env.sleep(timedelta(days=8))
        overdue = await eventually(handle, lambda s: s.findings.overdue_count(Severity.CRITICAL) == 4)
        assert overdue.risk_score > 0
        await time_skipping_env.sleep(timedelta(days=300))
        await eventually(handle, lambda s: s.phase.value == "renewing")
        receipt = await handle.execute_update(PolicyWorkflow.submit_assessment, AssessmentSubmission(report=assessment()))
        assert receipt.decision.value == "decline"
        outcome = await handle.result()
        assert outcome.phase.value == "expired"
        assert "overdue critical" in outcome.reason


async def test_findings_before_cover_are_counted_as_ignored_not_applied(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await handle.signal(
            PolicyWorkflow.report_findings, MonitoringBatch(vendor_id="vendor-a", findings=[monitoring_finding("early")])
        )
        current = await eventually(handle, lambda s: s.findings_ignored == 1)
        assert current.findings.total == 0
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id="nope"))


async def test_acceptance_answers_once_bound_so_findings_sent_next_are_applied(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await handle.execute_update(PolicyWorkflow.submit_assessment, AssessmentSubmission(report=assessment()))
        quote = (await eventually(handle, lambda s: s.quote is not None)).quote
        receipt = await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=quote.quote_id))
        assert receipt.policy_number is not None and receipt.policy_number.startswith("CY-")
        await handle.signal(
            PolicyWorkflow.report_findings, MonitoringBatch(vendor_id="vendor-a", findings=[monitoring_finding("at-once")])
        )
        applied = await eventually(handle, lambda s: s.findings.total == 1)
        assert applied.findings_ignored == 0 and applied.policy_number == receipt.policy_number
