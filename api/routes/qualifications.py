"""Platform qualification by insurance (docs/domain.md): the provider (an insured's key) applies and
submits its proofs; the platform's operations team contacts and decides; the insurer the intent
form names records its contact."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import Field

from api import temporal_calls
from api.context import (
    Call,
    InsuredCall,
    InsurerCall,
    ObjectKind,
    PartyKind,
    PlatformCall,
    PlatformOrInsurerCall,
    Reader,
)
from api.problems import Problem
from api.routes.common import After, HistoryLimit, Limit, QualificationIdPath, history_of, page_of
from api.schemas import Accepted, Created, History, PageOfIds, _Body
from contracts.qualification import (
    CertificateSubmission,
    InsurerContact,
    PlatformContact,
    PlatformDecision,
    PolicyProofSubmission,
    QualificationStatus,
    Withdrawal,
    qualification_id_for,
    qualification_workflow_id,
)
from domain.application import UnifiedSocialCreditCode
from domain.money import Money
from domain.qualification import MlpsCertificate, PolicyProofs, ProofPath, QualificationApplication
from workflows.starting import apply_for_qualification

router = APIRouter(prefix="/v1", tags=["qualifications"])
PARTY_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class QualificationRequest(_Body):
    reference: str = Field(min_length=1, max_length=128, description="your own reference: sending it again finds the same application")
    platform_id: str = Field(min_length=1, max_length=64, pattern=PARTY_ID, description="the open platform applied to")
    unified_social_credit_code: UnifiedSocialCreditCode
    proof_path: ProofPath = ProofPath.CYBER_LIABILITY_POLICY
    insurer_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=PARTY_ID,
                                   description="the insurer chosen; the intent form goes to it")
    requested_limit: Money | None = None
    existing_provider: bool = False


class ContactBody(_Body):
    note: str | None = Field(default=None, max_length=2000)


class DecisionBody(_Body):
    approve: bool
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/qualifications", status_code=status.HTTP_201_CREATED, response_model=Created,
             summary="Apply for platform qualification (provider, with its insured key)")
async def apply(body: QualificationRequest, call: InsuredCall) -> JSONResponse:
    """Proving security by a cyber liability policy (or by an MLPS certificate). The same
    reference is the same application. The platform named and the insurer chosen may see it."""
    if body.proof_path is ProofPath.CYBER_LIABILITY_POLICY and body.insurer_id is None:
        raise Problem(422, "insurer_required", "the policy path names the insurer the intent form goes to")
    application = QualificationApplication(
        provider_id=call.caller.party_id, unified_social_credit_code=body.unified_social_credit_code,
        proof_path=body.proof_path, insurer_id=body.insurer_id, requested_limit=body.requested_limit,
        existing_provider=body.existing_provider,
    )
    qualification_id = qualification_id_for(call.caller.party_id, body.reference)

    async def action() -> Created:
        parties = {call.caller.party, (PartyKind.PLATFORM.value, body.platform_id)}
        if body.insurer_id:
            parties.add((PartyKind.INSURER.value, body.insurer_id))
        await call.grant(ObjectKind.QUALIFICATION, qualification_id, parties)
        async with temporal_calls.temporal_errors(f"qualification {qualification_id}"):
            await apply_for_qualification(call.temporal, call.services.task_queue, application, body.reference)
        return Created(id=qualification_id, workflow_id=qualification_workflow_id(qualification_id))

    return await call.replayable(action, status_code=status.HTTP_201_CREATED)


@router.get("/qualifications", response_model=PageOfIds, summary="The qualifications you may see")
async def list_qualifications(call: Reader, after: After = None, limit: Limit = 100) -> PageOfIds:
    return await page_of(call, ObjectKind.QUALIFICATION, after, limit)


@router.get("/qualifications/{qualification_id}", response_model=QualificationStatus, summary="A qualification's status")
async def get_qualification(qualification_id: QualificationIdPath, call: Reader) -> QualificationStatus:
    await call.require(ObjectKind.QUALIFICATION, qualification_id)
    return await temporal_calls.query(
        call.temporal, qualification_workflow_id(qualification_id), "status", QualificationStatus,
        what=f"qualification {qualification_id}",
    )


@router.get("/qualifications/{qualification_id}/history", response_model=History, summary="What happened in a qualification")
async def qualification_history(qualification_id: QualificationIdPath, call: Reader, limit: HistoryLimit = 500) -> History:
    return await history_of(
        call, ObjectKind.QUALIFICATION, qualification_id, qualification_workflow_id(qualification_id), limit
    )


@router.post("/qualifications/{qualification_id}/platform-contact", response_model=QualificationStatus,
             summary="Record the platform's contact with the provider (platform)")
async def platform_contact(qualification_id: QualificationIdPath, body: ContactBody, call: PlatformCall) -> JSONResponse:
    contact = PlatformContact(operator_id=call.caller.party_id, note=body.note)
    return await _update(call, qualification_id, "platform_contacted", contact)


@router.post("/qualifications/{qualification_id}/platform-decision", response_model=QualificationStatus,
             summary="Approve or reject the application (platform)")
async def platform_decision(qualification_id: QualificationIdPath, body: DecisionBody, call: PlatformCall) -> JSONResponse:
    decision = PlatformDecision(operator_id=call.caller.party_id, approve=body.approve, reason=body.reason)
    return await _update(call, qualification_id, "platform_decide", decision)


@router.post("/qualifications/{qualification_id}/insurer-contact", response_model=QualificationStatus,
             summary="Record the insurer's contact with the provider (the intent form's insurer)")
async def insurer_contact(qualification_id: QualificationIdPath, body: ContactBody, call: InsurerCall) -> JSONResponse:
    return await _update(call, qualification_id, "insurer_contacted",
                         InsurerContact(insurer_id=call.caller.party_id, note=body.note))


@router.post("/qualifications/{qualification_id}/policy-proofs", response_model=QualificationStatus,
             summary="Submit the four proofs of the bound policy (provider)")
async def policy_proofs(qualification_id: QualificationIdPath, body: PolicyProofs, call: InsuredCall) -> JSONResponse:
    return await _update(call, qualification_id, "submit_policy_proofs", PolicyProofSubmission(proofs=body))


@router.post("/qualifications/{qualification_id}/mlps-certificate", response_model=QualificationStatus,
             summary="Submit an MLPS certificate instead (provider)")
async def mlps_certificate(qualification_id: QualificationIdPath, body: MlpsCertificate, call: InsuredCall) -> JSONResponse:
    return await _update(call, qualification_id, "submit_mlps_certificate", CertificateSubmission(certificate=body))


@router.post("/qualifications/{qualification_id}/withdrawal", response_model=QualificationStatus,
             summary="Withdraw the application (provider)")
async def withdraw(qualification_id: QualificationIdPath, body: Withdrawal, call: InsuredCall) -> JSONResponse:
    return await _update(call, qualification_id, "withdraw", body)


@router.post("/qualifications/{qualification_id}/recheck", response_model=Accepted, status_code=status.HTTP_202_ACCEPTED,
             summary="Ask for the qualifying policy to be checked now (platform or insurer)")
async def recheck(qualification_id: QualificationIdPath, call: PlatformOrInsurerCall) -> JSONResponse:
    await call.require(ObjectKind.QUALIFICATION, qualification_id)

    async def action() -> Accepted:
        async with temporal_calls.temporal_errors(f"qualification {qualification_id}"):
            handle = call.temporal.get_workflow_handle(qualification_workflow_id(qualification_id))
            await handle.signal("policy_changed", rpc_timeout=temporal_calls.RPC_TIMEOUT)
        return Accepted(detail="the qualifying policy will be checked now")

    return await call.replayable(action, status_code=status.HTTP_202_ACCEPTED)


async def _update(call: Call, qualification_id: str, name: str, body) -> JSONResponse:
    await call.require(ObjectKind.QUALIFICATION, qualification_id)

    async def action():
        return await temporal_calls.update(
            call.temporal, qualification_workflow_id(qualification_id), name, body, QualificationStatus,
            what=f"qualification {qualification_id}", update_id=call.update_id(name),
        )

    return await call.replayable(action)
