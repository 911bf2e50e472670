"""Incidents: reported by the insured or a vendor; worked by the dispatched panel vendor."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from api import temporal_calls
from api.context import (
    Call,
    InsuredCall,
    InsurerCall,
    ObjectKind,
    PartyKind,
    Reader,
    ReporterCall,
    VendorCall,
)
from api.problems import Problem, not_found
from api.routes.common import After, HistoryLimit, IncidentIdPath, Limit, history_of, page_of
from api.schemas import Accepted, Created, History, IncidentReportBody, PageOfIds, ProgressBody
from contracts.incident import (
    CustodyReceipt,
    DispatchAcknowledgement,
    EvidenceSubmission,
    IncidentClosure,
    IncidentStatus,
    RegulatoryFiling,
    VendorProgress,
    incident_id_for,
    incident_workflow_id,
)
from contracts.incident_activities import IncidentReport
from contracts.parties import Party
from domain.errors import DomainRuleError
from domain.incident import Evidence, ForensicsReport
from storage.unit_of_work import UnitOfWork
from workflows.starting import report_incident

router = APIRouter(prefix="/v1", tags=["incidents"])


async def require_incident(call: Call, incident_id: str) -> None:
    """A grant, or, for a vendor, being the panel vendor the incident dispatched (granted from then on)."""
    try:
        await call.require(ObjectKind.INCIDENT, incident_id)
        return
    except Problem:
        if call.caller.kind is not PartyKind.VENDOR:
            raise
    try:
        current = await _status(call, incident_id)
    except Problem:
        raise not_found("incident", incident_id) from None
    if call.caller.party_id not in (current.dispatched_vendor, current.acknowledged_by):
        raise not_found("incident", incident_id)
    await call.grant(ObjectKind.INCIDENT, incident_id, {call.caller.party})


async def _status(call: Call, incident_id: str) -> IncidentStatus:
    return await temporal_calls.query(
        call.temporal, incident_workflow_id(incident_id), "status", IncidentStatus, what=f"incident {incident_id}"
    )


async def _update(call: Call, incident_id: str, name: str, body, result_type) -> JSONResponse:
    await require_incident(call, incident_id)

    async def action():
        return await temporal_calls.update(
            call.temporal, incident_workflow_id(incident_id), name, body, result_type, what=f"incident {incident_id}",
            update_id=call.update_id(name),
        )

    return await call.replayable(action)


@router.post("/incidents", status_code=status.HTTP_201_CREATED, response_model=Created, summary="Report an incident (insured or vendor)")
async def report(body: IncidentReportBody, call: ReporterCall) -> JSONResponse:
    """First notice of loss. The same policy and reference is the same incident: reporting it again
    answers with the incident already open. Everyone who may see the policy may see the incident."""
    await call.require(ObjectKind.POLICY, body.policy_id)
    reported_by = Party.INSURED if call.caller.kind is PartyKind.INSURED else Party.VENDOR
    incident = IncidentReport(reported_by=reported_by, reporter_id=call.caller.party_id, **body.model_dump())

    async def action() -> Created:
        async with UnitOfWork(call.services.sessions) as uow:
            parties = await uow.api.grantees(ObjectKind.POLICY.value, body.policy_id)
        await call.grant(ObjectKind.INCIDENT, incident_id_for(body.policy_id, body.reference), parties)
        async with temporal_calls.temporal_errors(f"incident on policy {body.policy_id}"):
            try:
                incident_id, _ = await report_incident(call.temporal, call.services.task_queue, incident)
            except DomainRuleError as error:  # the body's PastInstant checks it first; this is the backstop
                raise Problem(422, error.code, f"discovered_at: {error.message}") from None
        return Created(id=incident_id, workflow_id=incident_workflow_id(incident_id))

    return await call.replayable(action, status_code=status.HTTP_201_CREATED)


@router.get("/incidents", response_model=PageOfIds, summary="The incidents you may see")
async def list_incidents(call: Reader, after: After = None, limit: Limit = 100) -> PageOfIds:
    return await page_of(call, ObjectKind.INCIDENT, after, limit)


@router.get("/incidents/{incident_id}", response_model=IncidentStatus, summary="An incident's status")
async def get_incident(incident_id: IncidentIdPath, call: Reader) -> IncidentStatus:
    await require_incident(call, incident_id)
    return await _status(call, incident_id)


@router.get("/incidents/{incident_id}/history", response_model=History, summary="What happened in an incident")
async def incident_history(incident_id: IncidentIdPath, call: Reader, limit: HistoryLimit = 500) -> History:
    await require_incident(call, incident_id)
    return await history_of(call, ObjectKind.INCIDENT, incident_id, incident_workflow_id(incident_id), limit)


@router.post("/incidents/{incident_id}/acknowledgement", response_model=IncidentStatus, summary="Take the dispatch (panel vendor)")
async def acknowledge(incident_id: IncidentIdPath, call: VendorCall) -> JSONResponse:
    return await _update(
        call, incident_id, "acknowledge_dispatch", DispatchAcknowledgement(vendor_id=call.caller.party_id), IncidentStatus
    )


@router.post(
    "/incidents/{incident_id}/progress", response_model=Accepted, status_code=status.HTTP_202_ACCEPTED,
    summary="Report response progress: note, contained, restored (responding vendor)",
)
async def post_progress(incident_id: IncidentIdPath, body: ProgressBody, call: VendorCall) -> JSONResponse:
    await require_incident(call, incident_id)
    progress = VendorProgress(vendor_id=call.caller.party_id, **body.model_dump())

    async def action() -> Accepted:
        await temporal_calls.signal(
            call.temporal, incident_workflow_id(incident_id), "post_progress", progress, what=f"incident {incident_id}"
        )
        return Accepted(detail="recorded; progress from a vendor other than the responder is ignored")

    return await call.replayable(action, status_code=status.HTTP_202_ACCEPTED)


@router.post("/incidents/{incident_id}/regulatory-filings", response_model=IncidentStatus, summary="Record a report to the authorities (insured)")
async def file_report(incident_id: IncidentIdPath, body: RegulatoryFiling, call: InsuredCall) -> JSONResponse:
    return await _update(call, incident_id, "file_regulatory_report", body, IncidentStatus)


@router.post("/incidents/{incident_id}/evidence", response_model=CustodyReceipt, summary="Register evidence (vendor)")
async def register_evidence(incident_id: IncidentIdPath, body: Evidence, call: VendorCall) -> JSONResponse:
    return await _update(call, incident_id, "register_evidence", EvidenceSubmission(evidence=body), CustodyReceipt)


@router.post("/incidents/{incident_id}/forensics", response_model=IncidentStatus, summary="Submit the forensics report (vendor)")
async def submit_forensics(incident_id: IncidentIdPath, body: ForensicsReport, call: VendorCall) -> JSONResponse:
    if body.vendor_id != call.caller.party_id:
        raise Problem(422, "not_your_report", f"vendor_id must be your own vendor id, {call.caller.party_id}")
    return await _update(call, incident_id, "submit_forensics", body, IncidentStatus)


@router.post("/incidents/{incident_id}/closure", response_model=IncidentStatus, summary="Close the incident (insurer)")
async def close(incident_id: IncidentIdPath, body: IncidentClosure, call: InsurerCall) -> JSONResponse:
    return await _update(call, incident_id, "close", body, IncidentStatus)
