"""Timelines as the service recorded them: each step of an incident or a qualification, and when and
how each urgent notice (a dispatch, a reporting deadline, a contact window) reached its party."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from api.context import ObjectKind, Reader
from api.routes.common import IncidentIdPath, QualificationIdPath
from api.routes.incidents import require_incident
from storage.repositories.timelines import TimelineQuery

router = APIRouter(prefix="/v1", tags=["timelines"])

TimelineLimit = Annotated[int, Query(ge=1, le=2_000, description="entries at most, oldest first")]


class TimelineEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    kind: str  # `notice_delivered`: details say which event, to whom, by webhook or e-mail, and if as a fallback
    actor: str | None
    details: dict[str, Any]


class Timeline(BaseModel):
    object_id: str
    entries: list[TimelineEntry]


@router.get("/incidents/{incident_id}/timeline", response_model=Timeline, summary="An incident's timeline, notices included")
async def incident_timeline(incident_id: IncidentIdPath, call: Reader, limit: TimelineLimit = 500) -> Timeline:
    await require_incident(call, incident_id)
    async with call.services.sessions() as session:
        entries = await TimelineQuery(session).incident(incident_id, limit=limit)
    return Timeline(object_id=incident_id, entries=[TimelineEntry(**e) for e in entries])


@router.get("/qualifications/{qualification_id}/timeline", response_model=Timeline,
            summary="A qualification's timeline, notices included")
async def qualification_timeline(qualification_id: QualificationIdPath, call: Reader, limit: TimelineLimit = 500) -> Timeline:
    await call.require(ObjectKind.QUALIFICATION, qualification_id)
    async with call.services.sessions() as session:
        entries = await TimelineQuery(session).qualification(qualification_id, limit=limit)
    return Timeline(object_id=qualification_id, entries=[TimelineEntry(**e) for e in entries])
