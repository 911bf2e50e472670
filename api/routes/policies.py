"""Policies: the insured applies and accepts; the vendor assesses and reports findings; the insurer decides."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from temporalio.exceptions import WorkflowAlreadyStartedError

from api import temporal_calls
from api.context import (
    Call,
    InsuredCall,
    InsuredOrInsurerCall,
    InsurerCall,
    ObjectKind,
    PartyKind,
    Reader,
    VendorBulkCall,
    VendorCall,
)
from api.problems import Problem, describe_errors, not_found
from api.routes.common import (
    After,
    EventIdPath,
    HistoryLimit,
    Limit,
    PolicyIdPath,
    history_of,
    new_object_id,
    page_of,
)
from api.schemas import (
    CancellationBody,
    Created,
    DeliveredGroup,
    FindingResolutionBody,
    FindingsAccepted,
    FindingsBatch,
    FixVerificationBody,
    History,
    PageOfIds,
    PolicyApplicationRequest,
    PolicyFinding,
    PrebindRemediationBody,
)
from contracts.claim_activities import LedgerPosition
from contracts.policy import (
    AssessmentReceipt,
    AssessmentSubmission,
    CancellationReceipt,
    CancellationRequest,
    FindingResolutionReceipt,
    FindingResolutionRequest,
    FixVerification,
    PolicyStatus,
    PolicyWorkflowInput,
    PrebindRemediationReceipt,
    PrebindRemediationVerified,
    QuoteAcceptance,
    QuoteAcceptanceReceipt,
    StoredBatch,
    StoredFindings,
    UnderwriterDecision,
    UnderwriterDecisionReceipt,
    policy_workflow_id,
)
from domain.assessment import AssessmentReport
from domain.policy import CancellingParty
from storage.repositories.finding_batches import IncomingBatch
from storage.unit_of_work import UnitOfWork
from workflows.starting import start_policy

router = APIRouter(prefix="/v1", tags=["policies"])
STORED_BATCH = 5_000  # findings per row of finding_batches
PARALLEL_SIGNALS = 16  # policies signalled at once; one policy's signals stay in order


async def _update(call: Call, policy_id: str, name: str, body, result_type):
    await call.require(ObjectKind.POLICY, policy_id)

    async def action():
        return await temporal_calls.update(
            call.temporal, policy_workflow_id(policy_id), name, body, result_type, what=f"policy {policy_id}",
            update_id=call.update_id(name),
        )

    return await call.replayable(action)


@router.post("/policies", status_code=status.HTTP_201_CREATED, response_model=Created, summary="Apply for cover (insured)")
async def apply(body: PolicyApplicationRequest, call: InsuredCall) -> JSONResponse:
    """Starts the policy workflow. The insured, the named insurer and the application's vendors may see it."""

    async def action() -> Created:
        policy_id = new_object_id("pol", call)
        try:
            workflow_input = PolicyWorkflowInput(policy_id=policy_id, application=body.application)
        except ValidationError as error:
            raise Problem(422, "invalid_request", "the application is not valid", errors=describe_errors(error.errors())) from None
        application = body.application
        parties = {
            call.caller.party,
            (PartyKind.INSURER.value, body.insurer_id),
            (PartyKind.VENDOR.value, application.assessing_vendor_id),
            *((PartyKind.VENDOR.value, vendor) for vendor in application.alternative_vendor_ids),
        }
        # Granted first: a grant on a policy that failed to start shows nothing, while a policy
        # without grants would be lost to its owner.
        await call.grant(ObjectKind.POLICY, policy_id, parties)
        try:
            async with temporal_calls.temporal_errors(f"policy {policy_id}"):
                await start_policy(call.temporal, call.services.task_queue, workflow_input)
        except WorkflowAlreadyStartedError:
            pass  # a retry after a lost answer: the first attempt started it
        return Created(id=policy_id, workflow_id=policy_workflow_id(policy_id))

    return await call.replayable(action, status_code=status.HTTP_201_CREATED)


@router.get("/policies", response_model=PageOfIds, summary="The policies you may see")
async def list_policies(call: Reader, after: After = None, limit: Limit = 100) -> PageOfIds:
    return await page_of(call, ObjectKind.POLICY, after, limit)


@router.get("/policies/{policy_id}", response_model=PolicyStatus, summary="A policy's status")
async def get_policy(policy_id: PolicyIdPath, call: Reader) -> PolicyStatus:
    await call.require(ObjectKind.POLICY, policy_id)
    return await temporal_calls.query(
        call.temporal, policy_workflow_id(policy_id), "status", PolicyStatus, what=f"policy {policy_id}"
    )


@router.get("/policies/{policy_id}/history", response_model=History, summary="What happened to a policy")
async def policy_history(policy_id: PolicyIdPath, call: Reader, limit: HistoryLimit = 500) -> History:
    return await history_of(call, ObjectKind.POLICY, policy_id, policy_workflow_id(policy_id), limit)


@router.get("/policies/{policy_id}/limits", response_model=list[LedgerPosition], summary="Limits used and left, per term")
async def get_limits(policy_id: PolicyIdPath, call: Reader) -> list[LedgerPosition]:
    if call.caller.kind is PartyKind.VENDOR:
        raise not_found("policy", policy_id)  # vendors see findings, not money
    await call.require(ObjectKind.POLICY, policy_id)
    return await temporal_calls.query(
        call.temporal, policy_workflow_id(policy_id), "limits", list[LedgerPosition], what=f"policy {policy_id}"
    )


@router.post("/policies/{policy_id}/assessment", response_model=AssessmentReceipt, summary="Submit the assessment (vendor)")
async def submit_assessment(policy_id: PolicyIdPath, body: AssessmentReport, call: VendorCall) -> JSONResponse:
    if body.vendor_id != call.caller.party_id:
        raise Problem(422, "not_your_report", f"vendor_id must be your own vendor id, {call.caller.party_id}")
    return await _update(call, policy_id, "submit_assessment", AssessmentSubmission(report=body), AssessmentReceipt)


@router.post(
    "/policies/{policy_id}/prebind-remediations", response_model=PrebindRemediationReceipt,
    summary="Confirm a condition of binding is fixed (vendor)",
)
async def verify_prebind(policy_id: PolicyIdPath, body: PrebindRemediationBody, call: VendorCall) -> JSONResponse:
    message = PrebindRemediationVerified(vendor_id=call.caller.party_id, code=body.code)
    return await _update(call, policy_id, "verify_prebind_remediation", message, PrebindRemediationReceipt)


@router.post(
    "/policies/{policy_id}/underwriting-decision", response_model=UnderwriterDecisionReceipt,
    summary="Decide a referral (insurer)",
)
async def decide_referral(policy_id: PolicyIdPath, body: UnderwriterDecision, call: InsurerCall) -> JSONResponse:
    return await _update(call, policy_id, "decide_referral", body, UnderwriterDecisionReceipt)


@router.post("/policies/{policy_id}/quote-acceptance", response_model=QuoteAcceptanceReceipt, summary="Accept the quote (insured)")
async def accept_quote(policy_id: PolicyIdPath, body: QuoteAcceptance, call: InsuredCall) -> JSONResponse:
    return await _update(call, policy_id, "accept_quote", body, QuoteAcceptanceReceipt)


@router.post(
    "/policies/{policy_id}/findings/{vendor_event_id}/resolution", response_model=FindingResolutionReceipt,
    summary="Resolve a monitoring finding (insured)",
)
async def resolve_finding(
    policy_id: PolicyIdPath, vendor_event_id: EventIdPath, body: FindingResolutionBody, call: InsuredCall
) -> JSONResponse:
    message = FindingResolutionRequest(vendor_event_id=vendor_event_id, resolution=body.resolution, note=body.note)
    return await _update(call, policy_id, "resolve_finding", message, FindingResolutionReceipt)


@router.post(
    "/policies/{policy_id}/findings/{vendor_event_id}/verification", response_model=FindingResolutionReceipt,
    summary="Confirm or refute a fix after a rescan (vendor)",
)
async def verify_fix(
    policy_id: PolicyIdPath, vendor_event_id: EventIdPath, body: FixVerificationBody, call: VendorCall
) -> JSONResponse:
    message = FixVerification(vendor_id=call.caller.party_id, vendor_event_id=vendor_event_id, fix_confirmed=body.fix_confirmed)
    return await _update(call, policy_id, "verify_fix", message, FindingResolutionReceipt)


@router.post("/policies/{policy_id}/cancellation", response_model=CancellationReceipt, summary="Cancel the policy")
async def cancel(policy_id: PolicyIdPath, body: CancellationBody, call: InsuredOrInsurerCall) -> JSONResponse:
    by = CancellingParty.INSURED if call.caller.kind is PartyKind.INSURED else CancellingParty.INSURER
    return await _update(call, policy_id, "cancel", CancellationRequest(cancelled_by=by, reason=body.reason), CancellationReceipt)


@router.post(
    "/findings", response_model=FindingsAccepted, status_code=status.HTTP_202_ACCEPTED,
    summary="Report monitoring findings, one or thousands, across your policies (vendor)",
)
async def report_findings(body: FindingsBatch, call: VendorBulkCall) -> JSONResponse:
    """Grouped per policy and stored in PostgreSQL, 5,000 findings to a stored batch; each policy then
    gets one signal naming its batches, so intake is bound neither by one Temporal signal per finding
    nor by payload sizes. A policy you are not assigned to fails the whole batch with 404 before
    anything is stored, and so, with 409, does a policy that would drop the findings: one not in
    force, or monitored by another vendor. Each vendor event id applies once, so a retry is safe."""
    groups: dict[str, list[PolicyFinding]] = defaultdict(list)
    for finding in body.findings:
        groups[finding.policy_id].append(finding)
    async with UnitOfWork(call.services.sessions) as uow:
        granted = await uow.api.granted(call.caller.kind.value, call.caller.party_id, ObjectKind.POLICY.value, set(groups))
    unknown = sorted(set(groups) - granted)
    if unknown:
        raise not_found("policy", unknown[0])
    vendor_id = call.caller.party_id
    parallel = asyncio.Semaphore(PARALLEL_SIGNALS)

    async def deliver(policy_id: str, batches: list[IncomingBatch]) -> DeliveredGroup:
        stored = StoredFindings(
            vendor_id=vendor_id,
            batches=[StoredBatch(batch_id=b.batch_id, findings=b.finding_count) for b in batches],
        )
        async with parallel:
            await temporal_calls.signal(
                call.temporal, policy_workflow_id(policy_id), "findings_stored", stored, what=f"policy {policy_id}"
            )
        return DeliveredGroup(policy_id=policy_id, findings=stored.total, signals=1)

    async def action() -> FindingsAccepted:
        await _refuse_what_would_be_dropped(call, vendor_id, sorted(groups))
        batches = {policy_id: _batches(policy_id, vendor_id, findings) for policy_id, findings in groups.items()}
        async with UnitOfWork(call.services.sessions) as uow:
            await uow.finding_batches.store([batch for group in batches.values() for batch in group])
        outcomes = await asyncio.gather(*(deliver(p, b) for p, b in batches.items()), return_exceptions=True)
        delivered = [o for o in outcomes if isinstance(o, DeliveredGroup)]
        failures = [o for o in outcomes if not isinstance(o, DeliveredGroup)]
        if failures:
            first = failures[0]
            if not isinstance(first, Problem):
                raise first
            first.extensions["delivered"] = [group.model_dump() for group in delivered]
            first.detail += " (the groups listed under `delivered` were applied; resending the batch is safe)"
            raise first
        return FindingsAccepted(
            findings=len(body.findings), policies=len(delivered), signals=sum(g.signals for g in delivered),
            delivered=delivered,
        )

    return await call.replayable(action, status_code=status.HTTP_202_ACCEPTED)


async def _refuse_what_would_be_dropped(call: Call, vendor_id: str, policy_ids: list[str]) -> None:
    """A policy takes findings only in force and from the vendor monitoring it; it drops any other batch
    (a signal cannot be refused). Asked first, so that such a batch is refused here, naming the policy
    and why, and nothing is stored. A term that ends between the question and the signal still drops
    them: the policy's status then says so (`dropped_findings`)."""
    parallel = asyncio.Semaphore(PARALLEL_SIGNALS)

    async def status_of(policy_id: str) -> PolicyStatus:
        async with parallel:
            return await temporal_calls.query(
                call.temporal, policy_workflow_id(policy_id), "status", PolicyStatus, what=f"policy {policy_id}"
            )

    for policy_id, current in zip(policy_ids, await asyncio.gather(*(status_of(p) for p in policy_ids)), strict=True):
        if not current.phase.is_covered:
            raise Problem(
                409, "refused",
                f"policy {policy_id} refused this: it is {current.phase.value}, not in force, and takes findings "
                "only in cover; nothing was stored",
                reason="not_in_force",
            )
        if current.vendor_id != vendor_id:
            raise Problem(
                409, "refused",
                f"policy {policy_id} refused this: it is monitored by another vendor; nothing was stored",
                reason="not_monitoring_vendor",
            )


def _batches(policy_id: str, vendor_id: str, findings: list[PolicyFinding]) -> list[IncomingBatch]:
    """A policy's findings as stored batches; the policy id is the row's, not repeated per finding."""
    return [
        IncomingBatch.of(policy_id, vendor_id, findings[i : i + STORED_BATCH])
        for i in range(0, len(findings), STORED_BATCH)
    ]
