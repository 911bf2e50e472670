"""An incident's or a qualification's timeline as stored: what happened, and each urgent notice delivered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import IncidentEventRow, QualificationEventRow


class TimelineQuery:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def incident(self, incident_id: str, *, limit: int) -> list[dict[str, Any]]:
        rows = await self._session.scalars(
            select(IncidentEventRow).where(IncidentEventRow.incident_id == incident_id)
            .order_by(IncidentEventRow.at, IncidentEventRow.id).limit(limit)
        )
        return [_entry(row) for row in rows]

    async def qualification(self, qualification_id: str, *, limit: int) -> list[dict[str, Any]]:
        rows = await self._session.scalars(
            select(QualificationEventRow).where(QualificationEventRow.qualification_id == qualification_id)
            .order_by(QualificationEventRow.at, QualificationEventRow.id).limit(limit)
        )
        return [_entry(row) for row in rows]


def _entry(row: IncidentEventRow | QualificationEventRow) -> dict[str, Any]:
    return {"at": row.at, "kind": row.kind, "actor": row.actor, "details": dict(row.details)}
