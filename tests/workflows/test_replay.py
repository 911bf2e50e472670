"""Recorded histories of the policy workflow replay without non-determinism.

Committed histories guard against workflow changes that would break running policies; regenerate
them only for a deliberate, patched change: CYBERINS_RECORD_HISTORIES=1 pytest tests/workflows/test_replay.py
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from contracts.policy import (
    AssessmentSubmission,
    CancellationRequest,
    EndorsementRequest,
    FindingResolutionRequest,
    FixVerification,
    MonitoringBatch,
    PrebindRemediationVerified,
    QuoteAcceptance,
    UnderwriterDecision,
)
from domain.coverage import CoverageHead
from domain.findings import Resolution, Severity
from domain.money import Money
from domain.policy import CancellingParty
from domain.rating import Decision
from tests.builders import assessment, monitoring_finding, risky_assessment, scan_finding
from tests.workflows.support import eventually, running_worker, start_policy
from workflows.claim import ClaimWorkflow
from workflows.incident import IncidentWorkflow
from workflows.policy import PolicyWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def drive_every_phase(env, handle: WorkflowHandle) -> None:
    """Referral, binding conditions, monitoring, endorsement, renewal, continue-as-new, cancellation."""
    risky = risky_assessment().model_copy(update={"scan_findings": [scan_finding()]})
    await handle.execute_update(PolicyWorkflow.submit_assessment, AssessmentSubmission(report=risky))
    await handle.execute_update(
        PolicyWorkflow.decide_referral,
        UnderwriterDecision(underwriter_id="uw-1", decision=Decision.ACCEPT, reason="agreed plan"),
    )
    quote = (await eventually(handle, lambda s: s.quote is not None)).quote
    await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=quote.quote_id))
    await handle.execute_update(
        PolicyWorkflow.verify_prebind_remediation, PrebindRemediationVerified(vendor_id="vendor-a", code="scan-1")
    )
    await eventually(handle, lambda s: s.phase.value == "in_force")
    findings = [
        monitoring_finding("f-1", Severity.HIGH),
        monitoring_finding("f-2", Severity.CRITICAL),
        monitoring_finding("f-3", Severity.CRITICAL, active_compromise=True),
    ]
    await handle.signal(PolicyWorkflow.report_findings, MonitoringBatch(vendor_id="vendor-a", findings=findings))
    await eventually(handle, lambda s: s.findings.total == 3)
    await handle.execute_update(
        PolicyWorkflow.resolve_finding, FindingResolutionRequest(vendor_event_id="f-1", resolution=Resolution.FIXED)
    )
    await handle.execute_update(
        PolicyWorkflow.verify_fix, FixVerification(vendor_id="vendor-a", vendor_event_id="f-1", fix_confirmed=True)
    )
    await handle.execute_update(
        PolicyWorkflow.endorse,
        EndorsementRequest(request_id="e-1", head=CoverageHead.DATA_BREACH_LIABILITY, new_sublimit=Money.yuan(4_000_000)),
    )
    await env.sleep(timedelta(days=306))
    await eventually(handle, lambda s: s.phase.value == "renewing")
    await handle.execute_update(PolicyWorkflow.submit_assessment, AssessmentSubmission(report=assessment()))
    renewal = (await eventually(handle, lambda s: s.quote is not None and s.quote.term_number == 2)).quote
    await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=renewal.quote_id))
    await env.sleep(timedelta(days=61))
    await eventually(handle, lambda s: s.term_number == 2)
    await handle.execute_update(
        PolicyWorkflow.cancel, CancellationRequest(cancelled_by=CancellingParty.INSURER, reason="non-payment")
    )
    await handle.result()


async def histories_of(client, handle: WorkflowHandle):
    """Every run of the workflow, following continue-as-new from the first run."""
    histories, run_id = [], handle.first_execution_run_id
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.HasField("workflow_execution_continued_as_new_event_attributes")
            else None
        )
    return histories


async def test_a_fresh_history_of_every_phase_replays(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await drive_every_phase(time_skipping_env, handle)
    histories = await histories_of(client, handle)
    assert len(histories) == 2  # the first term and, after continue-as-new, the second
    for history in histories:
        await replayer().replay_workflow(history)
    if os.environ.get("CYBERINS_RECORD_HISTORIES"):
        HISTORIES.mkdir(exist_ok=True)
        for index, history in enumerate(histories):
            (HISTORIES / f"policy_every_phase_run{index}.json").write_text(history.to_json())


async def test_fresh_incident_and_claim_histories_replay(time_skipping_env, session_factory, task_queue):
    from tests.workflows.test_ransomware_claim import ransomware_story

    _, incident, claim = await ransomware_story(time_skipping_env, session_factory, task_queue)
    histories = {"incident_ransomware": await incident.fetch_history(), "claim_ransomware": await claim.fetch_history()}
    for history in histories.values():
        await replayer().replay_workflow(history)
    if os.environ.get("CYBERINS_RECORD_HISTORIES"):
        for name, history in histories.items():
            (HISTORIES / f"{name}.json").write_text(history.to_json())


async def test_a_reopened_claim_history_replays(time_skipping_env, session_factory, task_queue):
    """Determined, closed, reopened, closed again. `claim_reopened.json` carries the
    `reopen-needs-determination` marker (the claim went back to gathering); without the patch call
    it fails to replay. `claim_reopened_before_patch.json` was recorded by the code before the patch
    (back to review): a claim reopened then must go on as it started."""
    from contracts.claim import ClaimClosure, LossItemsSubmission
    from domain.claim import ClaimRules
    from tests.properties.claim_stage import open_claim
    from tests.properties.test_claim_regressions import RESPONDER_BILL

    async with running_worker(time_skipping_env.client, session_factory, task_queue):
        stage = await open_claim(time_skipping_env, session_factory, task_queue, notice="on_time", rules=ClaimRules())
        claim = stage.claim
        await claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[RESPONDER_BILL]))
        await claim.execute_update(ClaimWorkflow.determine)
        await claim.execute_update(ClaimWorkflow.close, ClaimClosure(reason="closed before paying"))
        reopened = await claim.execute_update(ClaimWorkflow.reopen, ClaimClosure(reason="more evidence"))
        await claim.execute_update(ClaimWorkflow.close, ClaimClosure(reason="nothing new after all"))
    history = await claim.fetch_history()
    await replayer().replay_workflow(history)
    assert reopened.phase.value == "gathering_loss"
    if os.environ.get("CYBERINS_RECORD_HISTORIES"):
        (HISTORIES / "claim_reopened.json").write_text(history.to_json())


async def test_fresh_qualification_and_pilot_deadline_histories_replay(time_skipping_env, session_factory, task_queue):
    """An MLPS-path qualification (reviewed, refused once, qualified, reminded, suspended at expiry)
    and a pilot deadline (reminded, overdue, filed late)."""
    from contracts.qualification import CertificateSubmission, PlatformContact, PlatformDecision
    from domain.pilot import PilotDeadline, Programme, ReportKind
    from domain.policy import local_date
    from domain.qualification import MlpsCertificate, ProofPath, QualificationApplication
    from tests.builders import VALID_USCC
    from workflows.pilot_deadline import PilotDeadlineWorkflow, ReportFiled
    from workflows.qualification import QualificationWorkflow
    from workflows.starting import apply_for_qualification, track_pilot_deadline

    env = time_skipping_env
    async with running_worker(env.client, session_factory, task_queue):
        application = QualificationApplication(provider_id="prov-replay", unified_social_credit_code=VALID_USCC,
                                               proof_path=ProofPath.MLPS_CERTIFICATE)
        _, qualification = await apply_for_qualification(env.client, task_queue, application, "replay")
        await eventually(qualification, lambda s: s.platform_contact is not None, query=QualificationWorkflow.status)
        await qualification.execute_update(QualificationWorkflow.platform_contacted, PlatformContact(operator_id="ops"))
        await qualification.execute_update(
            QualificationWorkflow.platform_decide, PlatformDecision(operator_id="ops", approve=True, reason="ok")
        )
        today = local_date(await env.get_current_time())
        certificate = MlpsCertificate(certificate_number="C-1", system_name="portal", level=1,
                                      issued_on=today - timedelta(days=100), valid_until=today + timedelta(days=40))
        await qualification.execute_update(QualificationWorkflow.submit_mlps_certificate,
                                           CertificateSubmission(certificate=certificate))
        await qualification.execute_update(QualificationWorkflow.submit_mlps_certificate,
                                           CertificateSubmission(certificate=certificate.model_copy(update={"level": 3})))
        deadline = PilotDeadline(programme=Programme.HEBEI, kind=ReportKind.PROGRESS, due=today + timedelta(days=20))
        pilot = await track_pilot_deadline(env.client, task_queue, deadline)
        await env.sleep(timedelta(days=45))
        await eventually(qualification, lambda s: s.phase.value == "suspended", query=QualificationWorkflow.status)
        await pilot.execute_update(PilotDeadlineWorkflow.file_report, ReportFiled(reference="HB-late"))
        await pilot.result()
    histories = {"qualification_mlps": await qualification.fetch_history(), "pilot_deadline": await pilot.fetch_history()}
    for history in histories.values():
        await replayer().replay_workflow(history)
    if os.environ.get("CYBERINS_RECORD_HISTORIES"):
        for name, history in histories.items():
            (HISTORIES / f"{name}.json").write_text(history.to_json())


def replayer() -> Replayer:
    from workflows.pilot_deadline import PilotDeadlineWorkflow
    from workflows.qualification import QualificationWorkflow

    return Replayer(
        workflows=[PolicyWorkflow, IncidentWorkflow, ClaimWorkflow, QualificationWorkflow, PilotDeadlineWorkflow],
        data_converter=pydantic_data_converter,
    )


def committed_histories() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", committed_histories(), ids=lambda p: p.stem)
async def test_committed_histories_replay(path: Path):
    from temporalio.client import WorkflowHistory

    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await replayer().replay_workflow(history)


def test_histories_are_committed():
    names = {path.stem for path in committed_histories()}
    # incident_ransomware_times_checked carries the `response-times-checked` marker (progress is checked
    # against the workflow's clock); incident_ransomware*.json before it take progress as it comes.
    expected = {"policy_every_phase_run0", "incident_ransomware", "incident_ransomware_before_local_records",
                "incident_ransomware_times_checked", "claim_ransomware", "claim_reopened",
                "claim_reopened_before_patch", "qualification_mlps", "pilot_deadline"}
    assert expected <= names, (
        "record them with CYBERINS_RECORD_HISTORIES=1"
    )
