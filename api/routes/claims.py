"""Claims: started and worked by the insurer; the insured answers the offer."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from temporalio.exceptions import WorkflowAlreadyStartedError

from api import temporal_calls
from api.context import Call, InsuredCall, InsurerCall, ObjectKind, PartyKind, Reader
from api.problems import Problem, describe_errors
from api.routes.common import After, ClaimIdPath, HistoryLimit, Limit, history_of, new_object_id, page_of
from api.schemas import ClaimRequest, Created, History, PageOfIds
from contracts.claim import (
    Approval,
    ClaimClosure,
    ClaimStatus,
    ClaimWorkflowInput,
    ConditionsUpdate,
    Denial,
    InterimPaymentRequest,
    LossItemsSubmission,
    OfferAnswer,
    claim_workflow_id,
)
from contracts.parties import ActingParty
from domain.claim import ClaimantKind
from domain.loss_statement import LossStatement
from storage.unit_of_work import UnitOfWork
from workflows.starting import start_claim

router = APIRouter(prefix="/v1", tags=["claims"])


def _acting(call: Call, body):
    """The decision as the caller's: who made it comes from the key that signed the request, never
    from the body (a body naming it is refused), so the audit trail can say who approved a payout."""
    if "on_behalf_of" in body.model_fields_set:
        message = "is set by the service from the key that signed the request; leave it out"
        raise Problem(422, "invalid_request", f"body.on_behalf_of: {message}",
                      errors=[{"field": "body.on_behalf_of", "message": message}])
    caller = call.caller
    acting = ActingParty(party_kind=caller.kind.value, party_id=caller.party_id, key_id=caller.key_id)
    return body.model_copy(update={"on_behalf_of": acting})


async def _update(call: Call, claim_id: str, name: str, body, result_type=ClaimStatus) -> JSONResponse:
    await call.require(ObjectKind.CLAIM, claim_id)
    if body is not None and "on_behalf_of" in type(body).model_fields:
        body = _acting(call, body)

    async def action():
        return await temporal_calls.update(
            call.temporal, claim_workflow_id(claim_id), name, body, result_type, what=f"claim {claim_id}",
            update_id=call.update_id(name),
        )

    return await call.replayable(action)


@router.post("/claims", status_code=status.HTTP_201_CREATED, response_model=Created, summary="Start a claim on an incident (insurer)")
async def start(body: ClaimRequest, call: InsurerCall) -> JSONResponse:
    """The insurer and the insured of the incident may see the claim."""
    await call.require(ObjectKind.INCIDENT, body.incident_id)

    async def action() -> Created:
        claim_id = new_object_id("clm", call)
        try:
            workflow_input = ClaimWorkflowInput(
                claim_id=claim_id, incident_id=body.incident_id, third_party=body.third_party,
                claimant=ClaimantKind.THIRD_PARTY if body.third_party else ClaimantKind.FIRST_PARTY,
            )
        except ValidationError as error:
            raise Problem(422, "invalid_request", "the claim is not valid", errors=describe_errors(error.errors())) from None
        async with UnitOfWork(call.services.sessions) as uow:
            insureds = {
                party for party in await uow.api.grantees(ObjectKind.INCIDENT.value, body.incident_id)
                if party[0] == PartyKind.INSURED.value
            }
        await call.grant(ObjectKind.CLAIM, claim_id, {call.caller.party, *insureds})
        try:
            async with temporal_calls.temporal_errors(f"claim {claim_id}"):
                await start_claim(call.temporal, call.services.task_queue, workflow_input)
        except WorkflowAlreadyStartedError:
            pass  # a retry after a lost answer: the first attempt started it
        return Created(id=claim_id, workflow_id=claim_workflow_id(claim_id))

    return await call.replayable(action, status_code=status.HTTP_201_CREATED)


@router.get("/claims", response_model=PageOfIds, summary="The claims you may see")
async def list_claims(call: Reader, after: After = None, limit: Limit = 100) -> PageOfIds:
    return await page_of(call, ObjectKind.CLAIM, after, limit)


@router.get("/claims/{claim_id}", response_model=ClaimStatus, summary="A claim's status, statement and payments")
async def get_claim(claim_id: ClaimIdPath, call: Reader) -> ClaimStatus:
    await call.require(ObjectKind.CLAIM, claim_id)
    return await temporal_calls.query(call.temporal, claim_workflow_id(claim_id), "status", ClaimStatus, what=f"claim {claim_id}")


@router.get("/claims/{claim_id}/history", response_model=History, summary="What happened in a claim")
async def claim_history(claim_id: ClaimIdPath, call: Reader, limit: HistoryLimit = 500) -> History:
    return await history_of(call, ObjectKind.CLAIM, claim_id, claim_workflow_id(claim_id), limit)


@router.post("/claims/{claim_id}/loss-items", response_model=ClaimStatus, summary="Add loss items (insurer)")
async def submit_loss_items(claim_id: ClaimIdPath, body: LossItemsSubmission, call: InsurerCall) -> JSONResponse:
    return await _update(call, claim_id, "submit_loss_items", body)


@router.post("/claims/{claim_id}/conditions", response_model=ClaimStatus, summary="Set what the adjuster established (insurer)")
async def set_conditions(claim_id: ClaimIdPath, body: ConditionsUpdate, call: InsurerCall) -> JSONResponse:
    return await _update(call, claim_id, "set_conditions", body)


@router.post("/claims/{claim_id}/determination", response_model=LossStatement, summary="Determine the loss (定损) against the limits (insurer)")
async def determine(claim_id: ClaimIdPath, call: InsurerCall) -> JSONResponse:
    return await _update(call, claim_id, "determine", None, LossStatement)


@router.post("/claims/{claim_id}/approvals", response_model=ClaimStatus, summary="Approve the statement (insurer)")
async def approve(claim_id: ClaimIdPath, body: Approval, call: InsurerCall) -> JSONResponse:
    return await _update(call, claim_id, "approve", body)


@router.post("/claims/{claim_id}/denial", response_model=ClaimStatus, summary="Deny the claim (insurer)")
async def deny(claim_id: ClaimIdPath, body: Denial, call: InsurerCall) -> JSONResponse:
    return await _update(call, claim_id, "deny", body)


@router.post("/claims/{claim_id}/interim-payments", response_model=ClaimStatus, summary="Pay part of a head before the final statement (insurer)")
async def interim_payment(claim_id: ClaimIdPath, body: InterimPaymentRequest, call: InsurerCall) -> JSONResponse:
    return await _update(call, claim_id, "interim_payment", body)


@router.post("/claims/{claim_id}/closure", response_model=ClaimStatus, summary="Close the claim (insurer)")
async def close(claim_id: ClaimIdPath, body: ClaimClosure, call: InsurerCall) -> JSONResponse:
    return await _update(call, claim_id, "close", body)


@router.post("/claims/{claim_id}/offer/acceptance", response_model=ClaimStatus, summary="Accept the offer; payment follows (insured)")
async def accept_offer(claim_id: ClaimIdPath, body: OfferAnswer, call: InsuredCall) -> JSONResponse:
    return await _update(call, claim_id, "accept_offer", body)


@router.post("/claims/{claim_id}/offer/dispute", response_model=ClaimStatus, summary="Dispute the offer (insured)")
async def dispute_offer(claim_id: ClaimIdPath, body: OfferAnswer, call: InsuredCall) -> JSONResponse:
    return await _update(call, claim_id, "dispute_offer", body)
