"""Pre-cover paths: referral to an underwriter, quote expiry, assessment SLA, binding conditions."""

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from contracts.policy import (
    AssessmentSubmission,
    PrebindRemediationVerified,
    QuoteAcceptance,
    UnderwriterDecision,
)
from domain.money import Money
from domain.rating import Decision
from domain.rules import AssessmentTimeoutAction, PolicyRules, ProcessRules
from tests.builders import application, assessment, risky_assessment, scan_finding
from tests.workflows.support import (
    eventually,
    outbox_kinds,
    running_worker,
    scalar,
    start_policy,
    status,
    until_notified,
)
from workflows.policy import PolicyWorkflow


def policy_id_of(handle) -> str:
    return handle.id.removeprefix("policy-")


async def test_a_referral_waits_for_the_underwriter_who_can_set_the_premium(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        receipt = await handle.execute_update(
            PolicyWorkflow.submit_assessment, AssessmentSubmission(report=risky_assessment())
        )
        assert receipt.decision is Decision.REFER
        referred = await eventually(handle, lambda s: s.phase.value == "referred")
        assert referred.quote is None

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                PolicyWorkflow.decide_referral,
                UnderwriterDecision(underwriter_id="uw-7", decision=Decision.REFER, reason="again"),
            )
        assert "accept or decline" in str(refused.value.cause)

        decided = await handle.execute_update(
            PolicyWorkflow.decide_referral,
            UnderwriterDecision(
                underwriter_id="uw-7", decision=Decision.ACCEPT, reason="controls plan agreed",
                premium_override=Money.yuan(150_000),
            ),
        )
        assert decided.decision is Decision.ACCEPT and decided.premium.fen == 150_000_00
        quoted = await eventually(handle, lambda s: s.phase.value == "quoted")
        assert quoted.quote.premium.fen == 150_000_00
        stages = await scalar(
            session_factory, "SELECT count(*) FROM underwriting_decisions WHERE policy_id = :p", p=policy_id_of(handle)
        )
        assert stages == 2
        assert "referral" in await outbox_kinds(session_factory, policy_id_of(handle))


async def test_an_unanswered_quote_expires_and_cannot_be_accepted_after(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await handle.execute_update(PolicyWorkflow.submit_assessment, AssessmentSubmission(report=assessment()))
        quote = (await eventually(handle, lambda s: s.quote is not None)).quote

        with pytest.raises(WorkflowUpdateFailedError) as wrong:
            await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id="other-quote"))
        assert "unknown quote other-quote" in str(wrong.value.cause)

        outcome = await handle.result()
        assert outcome.phase.value == "quote_expired"
        assert quote.quote_id in outcome.reason
        with pytest.raises(Exception):
            await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=quote.quote_id))
        recorded = await scalar(session_factory, "SELECT status FROM quotes WHERE quote_id = :q", q=quote.quote_id)
        assert recorded == "expired"


async def test_assessment_sla_reminds_then_reassigns_to_the_next_vendor(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await time_skipping_env.sleep(timedelta(days=10, hours=1))
        assert (await status(handle)).vendor_id == "vendor-a"
        kinds = await until_notified(session_factory, policy_id_of(handle), "assessment_overdue", times=2)
        assert kinds.count("assessment_overdue") == 2  # the vendor and the insurer

        await time_skipping_env.sleep(timedelta(days=10))
        reassigned = await eventually(handle, lambda s: s.vendor_id == "vendor-b")
        assert reassigned.phase.value == "awaiting_assessment"
        with pytest.raises(WorkflowUpdateFailedError) as stale:
            await handle.execute_update(
                PolicyWorkflow.submit_assessment, AssessmentSubmission(report=assessment("vendor-a"))
            )
        assert "not the assigned assessing vendor" in str(stale.value.cause)
        receipt = await handle.execute_update(
            PolicyWorkflow.submit_assessment, AssessmentSubmission(report=assessment("vendor-b"))
        )
        assert receipt.decision is Decision.ACCEPT


async def test_assessment_sla_declines_when_configured_to(time_skipping_env, session_factory, task_queue):
    rules = PolicyRules(process=ProcessRules(assessment_second_timeout=AssessmentTimeoutAction.DECLINE))
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue, rules=rules)
        outcome = await handle.result()
        assert outcome.phase.value == "declined"
        assert "no assessment report" in outcome.reason


async def test_binding_waits_for_required_remediations_verified_by_the_vendor(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        report = assessment(scan_findings=[scan_finding()])
        await handle.execute_update(PolicyWorkflow.submit_assessment, AssessmentSubmission(report=report))
        quote = (await eventually(handle, lambda s: s.quote is not None)).quote
        assert [r.code for r in quote.required_remediations] == ["scan-1"]
        accepted = await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=quote.quote_id))
        assert accepted.outstanding_remediations == ["scan-1"]
        await eventually(handle, lambda s: s.phase.value == "awaiting_prebind_remediation")

        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                PolicyWorkflow.verify_prebind_remediation, PrebindRemediationVerified(vendor_id="vendor-x", code="scan-1")
            )
        await handle.execute_update(
            PolicyWorkflow.verify_prebind_remediation, PrebindRemediationVerified(vendor_id="vendor-a", code="scan-1")
        )
        bound = await eventually(handle, lambda s: s.phase.value == "in_force")
        assert bound.policy_number is not None


async def test_a_declined_risk_ends_the_workflow_with_reasons(time_skipping_env, session_factory, task_queue):
    from tests.builders import controls

    hopeless = assessment(
        controls=controls(mfa=False, offline_backups=False, edr=False, incident_response_plan=False, security_staff=0,
                          patch_cadence_days=200),
        scan_findings=[scan_finding()] * 3,
    )
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue, app=application())
        receipt = await handle.execute_update(PolicyWorkflow.submit_assessment, AssessmentSubmission(report=hopeless))
        assert receipt.decision is Decision.DECLINE
        outcome = await handle.result()
        assert outcome.phase.value == "declined" and "risk score" in outcome.reason
