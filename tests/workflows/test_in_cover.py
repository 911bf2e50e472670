"""In cover: findings and their deadlines, resolutions, endorsements and cancellation."""

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from contracts.policy import (
    CancellationRequest,
    EndorsementRequest,
    FindingResolutionRequest,
    FixVerification,
    MonitoringBatch,
)
from domain.coverage import CoverageHead
from domain.findings import FindingStatus, Resolution, Severity
from domain.money import Money
from domain.policy import CancellingParty
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


def policy_id_of(handle) -> str:
    return handle.id.removeprefix("policy-")


async def report(handle, *findings, vendor_id="vendor-a"):
    await handle.signal(PolicyWorkflow.report_findings, MonitoringBatch(vendor_id=vendor_id, findings=list(findings)))


async def test_cancellation_returns_the_unexpired_premium(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        bound = await bind(handle, assessment())
        await time_skipping_env.sleep((bound.term_end - bound.term_start) / 2)
        receipt = await handle.execute_update(
            PolicyWorkflow.cancel, CancellationRequest(cancelled_by=CancellingParty.INSURED, reason="business sold")
        )
        charged = bound.premium_charged.fen
        # Half the term remains, give or take the minutes the test itself takes.
        assert abs(receipt.return_premium.fen - charged // 2) <= charged // 1000
        outcome = await handle.result()
        assert outcome.phase.value == "cancelled" and "business sold" in outcome.reason
        stored = await scalar(
            session_factory, "SELECT return_premium_fen FROM cancellations WHERE policy_id = :p", p=policy_id_of(handle)
        )
        assert stored == receipt.return_premium.fen


async def test_an_endorsement_raises_a_limit_for_additional_premium_once(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        bound = await bind(handle, assessment())
        request = EndorsementRequest(
            request_id="end-1", head=CoverageHead.BUSINESS_INTERRUPTION, new_sublimit=Money.yuan(3_000_000)
        )
        receipt = await handle.execute_update(PolicyWorkflow.endorse, request)
        assert receipt.additional_premium.fen > 0
        after = await status(handle)
        assert after.premium_charged.fen == bound.premium_charged.fen + receipt.additional_premium.fen
        assert after.endorsements == 1
        with pytest.raises(WorkflowUpdateFailedError) as again:
            await handle.execute_update(PolicyWorkflow.endorse, request)
        assert "already been applied" in str(again.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as uncovered:
            await handle.execute_update(
                PolicyWorkflow.endorse,
                EndorsementRequest(request_id="end-2", head=CoverageHead.MEDIA_INFRINGEMENT, new_sublimit=Money.yuan(1)),
            )
        assert "not on this policy's schedule" in str(uncovered.value.cause)
        assert (await status(handle)).premium_charged == after.premium_charged


async def test_the_same_vendor_event_is_applied_once(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await bind(handle, assessment())
        await report(handle, monitoring_finding("ev-1"), monitoring_finding("ev-2"))
        await report(handle, monitoring_finding("ev-1"))
        await report(handle, monitoring_finding("ev-3"), vendor_id="vendor-not-assigned")
        current = await eventually(handle, lambda s: s.pending_findings == 0 and s.findings_ignored == 1)
        assert current.findings.total == 2
        assert await scalar(session_factory, "SELECT count(*) FROM findings WHERE policy_id = :p", p=policy_id_of(handle)) == 2


async def test_remediation_reminds_before_the_deadline_and_marks_overdue_after(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        bound = await bind(handle, assessment())
        await report(handle, monitoring_finding("crit-1", Severity.CRITICAL))
        opened = await eventually(handle, lambda s: s.findings.open_count(Severity.CRITICAL) == 1)
        assert opened.risk_score > bound.risk_score

        await time_skipping_env.sleep(timedelta(days=5, hours=1))  # reminder lead: 2 days before day 7
        await until_notified(session_factory, policy_id_of(handle), "remediation_reminder")
        assert (await status(handle)).findings.overdue_count(Severity.CRITICAL) == 0

        await time_skipping_env.sleep(timedelta(days=2))
        overdue = await eventually(handle, lambda s: s.findings.overdue_count(Severity.CRITICAL) == 1)
        assert overdue.risk_score > opened.risk_score
        await until_notified(session_factory, policy_id_of(handle), "remediation_overdue")


async def test_fixed_findings_close_only_when_the_vendor_verifies(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await bind(handle, assessment())
        await report(handle, monitoring_finding("ev-9", Severity.HIGH))
        await eventually(handle, lambda s: s.findings.total == 1)
        fixed = await handle.execute_update(
            PolicyWorkflow.resolve_finding, FindingResolutionRequest(vendor_event_id="ev-9", resolution=Resolution.FIXED)
        )
        assert fixed.status is FindingStatus.AWAITING_VERIFICATION
        reopened = await handle.execute_update(
            PolicyWorkflow.verify_fix, FixVerification(vendor_id="vendor-a", vendor_event_id="ev-9", fix_confirmed=False)
        )
        assert reopened.status is FindingStatus.OPEN
        await handle.execute_update(
            PolicyWorkflow.resolve_finding, FindingResolutionRequest(vendor_event_id="ev-9", resolution=Resolution.FIXED)
        )
        closed = await handle.execute_update(
            PolicyWorkflow.verify_fix, FixVerification(vendor_id="vendor-a", vendor_event_id="ev-9", fix_confirmed=True)
        )
        assert closed.status is FindingStatus.FIXED
        assert (await status(handle)).findings.closed == 1


async def test_bad_resolutions_are_refused_and_change_nothing(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await bind(handle, assessment())
        await report(handle, monitoring_finding("crit-7", Severity.CRITICAL))
        before = await eventually(handle, lambda s: s.findings.total == 1)

        with pytest.raises(WorkflowUpdateFailedError) as unknown:
            await handle.execute_update(
                PolicyWorkflow.resolve_finding,
                FindingResolutionRequest(vendor_event_id="no-such-event", resolution=Resolution.FALSE_POSITIVE),
            )
        assert unknown.value.cause.type == "unknown_finding"
        assert "no-such-event" in str(unknown.value.cause)

        with pytest.raises(WorkflowUpdateFailedError) as critical:
            await handle.execute_update(
                PolicyWorkflow.resolve_finding,
                FindingResolutionRequest(vendor_event_id="crit-7", resolution=Resolution.ACCEPTED_RISK),
            )
        assert critical.value.cause.type == "critical_risk_not_acceptable"

        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                PolicyWorkflow.verify_fix, FixVerification(vendor_id="vendor-a", vendor_event_id="crit-7", fix_confirmed=True)
            )
        after = await status(handle)
        assert after.findings == before.findings and after.phase.value == "in_force"
        assert await scalar(
            session_factory, "SELECT status FROM findings WHERE vendor_event_id = 'crit-7' AND policy_id = :p",
            p=policy_id_of(handle),
        ) == "open"


async def test_active_compromise_is_escalated_for_incident_response(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await bind(handle, assessment())
        await report(handle, monitoring_finding("ioc-1", Severity.CRITICAL, active_compromise=True))
        current = await eventually(handle, lambda s: s.findings.escalations == 1)
        assert current.findings.total == 1
        kinds = await until_notified(session_factory, policy_id_of(handle), "active_compromise", times=2)
        assert kinds.count("active_compromise") == 2  # insurer and vendor, once each
        assert await scalar(
            session_factory, "SELECT count(*) FROM incident_escalations WHERE policy_id = :p", p=policy_id_of(handle)
        ) == 1
