"""Pilot schemes and Shanghai healthcare applications as submitted, the programme's reporting deadlines,
and the counts their rules need."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.pilot import HealthcareApplication, ServiceScheme
from storage.models import HealthcareApplicationRow, PilotDeadlineRow, PilotSchemeRow


class PilotRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_unit(self, credit_code: str) -> None:
        """Submissions led by one unit queue here, so two at once cannot both be its fifth scheme."""
        await self._session.execute(text("SELECT pg_advisory_xact_lock(hashtext('pilot-unit:' || :c))"), {"c": credit_code})

    async def schemes_led(self, programme: str, credit_code: str, *, other_than: str) -> int:
        return await self._session.scalar(
            select(func.count()).select_from(PilotSchemeRow).where(
                PilotSchemeRow.programme == programme, PilotSchemeRow.lead_credit_code == credit_code,
                PilotSchemeRow.scheme_id != other_than,
            )
        ) or 0

    async def scheme(self, scheme_id: str) -> dict | None:
        return await self._session.scalar(select(PilotSchemeRow.document).where(PilotSchemeRow.scheme_id == scheme_id))

    async def add_scheme(self, scheme: ServiceScheme, at: datetime) -> None:
        await self._session.execute(insert(PilotSchemeRow).values(
            scheme_id=scheme.scheme_id, programme=scheme.programme.value,
            lead_credit_code=scheme.lead_unit.unified_social_credit_code, joint_units=len(scheme.joint_units),
            direction=scheme.direction.value, document=scheme.model_dump(mode="json"), submitted_at=at,
        ).on_conflict_do_nothing(index_elements=["scheme_id"]))

    async def healthcare_projects(self, credit_code: str, *, other_than: str) -> int:
        return await self._session.scalar(
            select(func.count()).select_from(HealthcareApplicationRow).where(
                HealthcareApplicationRow.applicant_credit_code == credit_code,
                HealthcareApplicationRow.application_id != other_than,
            )
        ) or 0

    async def healthcare_application(self, application_id: str) -> dict | None:
        return await self._session.scalar(
            select(HealthcareApplicationRow.document).where(HealthcareApplicationRow.application_id == application_id)
        )

    async def add_healthcare_application(self, application: HealthcareApplication, at: datetime) -> None:
        await self._session.execute(insert(HealthcareApplicationRow).values(
            application_id=application.application_id,
            applicant_credit_code=application.applicant.unified_social_credit_code,
            document=application.model_dump(mode="json"), submitted_at=at,
        ).on_conflict_do_nothing(index_elements=["application_id"]))

    async def save_deadline(self, row: dict[str, Any]) -> None:
        """The deadline's state as a whole; a write older than the stored one changes nothing."""
        new = insert(PilotDeadlineRow).values(row)
        await self._session.execute(new.on_conflict_do_update(
            index_elements=["deadline_key"],
            set_={column: new.excluded[column] for column in row if column != "deadline_key"},
            where=PilotDeadlineRow.updated_at <= new.excluded.updated_at,
        ))
