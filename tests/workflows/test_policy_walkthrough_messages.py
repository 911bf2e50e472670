"""The walkthrough's messages in the order a person pastes them: none races the policy's own steps.

An acceptance sent while the assessment is still being rated waits for the quote; a refusal says
whether sending again can ever succeed; findings the policy drops are shown in its status, with why.
"""

import pytest
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage

from contracts.policy import (
    AssessmentSubmission,
    CancellationRequest,
    EndorsementRequest,
    MonitoringBatch,
    QuoteAcceptance,
)
from domain.coverage import CoverageHead
from domain.money import Money
from domain.policy import CancellingParty
from tests.builders import assessment, controls, monitoring_finding, risky_assessment, scan_finding
from tests.workflows.support import bind, eventually, running_worker, start_policy, status
from workflows.policy import PolicyWorkflow


def quote_id_of(handle) -> str:
    return f"{handle.id.removeprefix('policy-')}-t1"


async def test_acceptance_sent_right_after_the_assessment_is_taken_and_binds(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await handle.execute_update(PolicyWorkflow.submit_assessment, AssessmentSubmission(report=assessment()))
        receipt = await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=quote_id_of(handle)))
        assert receipt.policy_number is not None and receipt.policy_number.startswith("CY-")
        assert (await status(handle)).phase.value == "in_force"


async def test_acceptance_sent_while_the_assessment_is_rated_waits_for_the_quote(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        submitted = await handle.start_update(
            PolicyWorkflow.submit_assessment, AssessmentSubmission(report=assessment()),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        assert (await status(handle)).quote is None
        accepted = await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=quote_id_of(handle)))
        assert (await submitted.result()).decision.value == "accept"
        assert accepted.quote_id == quote_id_of(handle) and accepted.policy_number is not None


async def test_a_wrong_quote_is_refused_for_good_and_the_right_one_still_accepted(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await handle.execute_update(PolicyWorkflow.submit_assessment, AssessmentSubmission(report=assessment()))
        with pytest.raises(WorkflowUpdateFailedError) as wrong:
            await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id="other-quote"))
        cause = wrong.value.cause
        assert cause.type == "unknown_quote" and cause.non_retryable
        assert "unknown quote other-quote" in cause.message
        receipt = await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=quote_id_of(handle)))
        assert receipt.policy_number is not None


async def test_acceptance_of_a_referred_case_is_refused_as_worth_sending_again_after_the_decision(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        receipt = await handle.execute_update(
            PolicyWorkflow.submit_assessment, AssessmentSubmission(report=risky_assessment())
        )
        assert receipt.decision.value == "refer"
        with pytest.raises(WorkflowUpdateFailedError) as referred:
            await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=quote_id_of(handle)))
        cause = referred.value.cause
        assert cause.type == "referred" and not cause.non_retryable
        assert "underwriter" in cause.message


async def test_acceptance_sent_while_a_declined_risk_is_rated_is_refused_for_good(
    time_skipping_env, session_factory, task_queue
):
    hopeless = assessment(
        controls=controls(mfa=False, offline_backups=False, edr=False, incident_response_plan=False, security_staff=0,
                          patch_cadence_days=200),
        scan_findings=[scan_finding()] * 3,
    )
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        submitted = await handle.start_update(
            PolicyWorkflow.submit_assessment, AssessmentSubmission(report=hopeless),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        with pytest.raises(WorkflowUpdateFailedError) as declined:
            await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=quote_id_of(handle)))
        cause = declined.value.cause
        # Refused while it waited for the quote, or, if the decline came first, by the closed case.
        assert cause.type in ("not_quoted", "not_expected_now") and cause.non_retryable
        assert "risk score" in cause.message
        assert (await submitted.result()).decision.value == "decline"
        assert (await handle.result()).phase.value == "declined"


async def test_an_acceptance_before_any_assessment_is_refused_as_not_yet(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        with pytest.raises(WorkflowUpdateFailedError) as early:
            await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=quote_id_of(handle)))
        cause = early.value.cause
        assert cause.type == "no_quote_yet" and not cause.non_retryable


async def test_findings_before_cover_are_dropped_and_the_status_says_how_many_and_why(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await handle.signal(
            PolicyWorkflow.report_findings,
            MonitoringBatch(vendor_id="vendor-a", findings=[monitoring_finding("early-1"), monitoring_finding("early-2")]),
        )
        dropped = await eventually(handle, lambda s: s.findings_ignored == 2)
        [notice] = dropped.dropped_findings
        assert notice.count == 2 and notice.vendor_id == "vendor-a"
        assert "awaiting_assessment" in notice.reason and "not in force" in notice.reason

        await bind(handle, assessment())
        await handle.signal(
            PolicyWorkflow.report_findings, MonitoringBatch(vendor_id="vendor-z", findings=[monitoring_finding("stray")])
        )
        stray = await eventually(handle, lambda s: len(s.dropped_findings) == 2)
        assert "vendor vendor-z does not monitor this policy" in stray.dropped_findings[-1].reason
        assert stray.findings_ignored == 3 and stray.findings.total == 0


async def test_a_cancelled_policy_refuses_changes_for_good(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await bind(handle, assessment())
        await handle.execute_update(
            PolicyWorkflow.cancel, CancellationRequest(cancelled_by=CancellingParty.INSURER, reason="non-payment")
        )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                PolicyWorkflow.endorse,
                EndorsementRequest(
                    request_id="end-1", head=CoverageHead.BUSINESS_INTERRUPTION, new_sublimit=Money.yuan(3_000_000)
                ),
            )
        cause = refused.value.cause
        assert cause.type == "not_in_force" and cause.non_retryable and "cancelled" in cause.message
