"""Applications, assessments, underwriting decisions and quotes: written once per natural key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.application import Organisation
from domain.policy import Quote
from domain.rating import UnderwritingResult
from storage.models import (
    ApplicationRow,
    AssessmentRow,
    OrganisationRow,
    QuoteRow,
    UnderwritingDecisionRow,
)


class PreCoverRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def save_organisation(self, organisation: Organisation, *, applied_at: datetime) -> int:
        """Insert or refresh the organisation by its credit code; an older application never wins."""
        values = {
            "unified_social_credit_code": organisation.unified_social_credit_code,
            "name": organisation.name,
            "industry": organisation.industry.value,
            "revenue_band": organisation.revenue_band.value,
            "operates_critical_infrastructure": organisation.operates_critical_infrastructure,
            "is_state_organ": organisation.is_state_organ,
            "last_applied_at": applied_at,
        }
        new = insert(OrganisationRow).values(values)
        upsert = new.on_conflict_do_update(
            index_elements=["unified_social_credit_code"],
            set_={**{k: new.excluded[k] for k in values}, "updated_at": func.now()},
            where=OrganisationRow.last_applied_at <= new.excluded.last_applied_at,
        )
        organisation_id = await self._session.scalar(upsert.returning(OrganisationRow.id))
        if organisation_id is None:
            organisation_id = await self._session.scalar(
                select(OrganisationRow.id).where(
                    OrganisationRow.unified_social_credit_code == organisation.unified_social_credit_code
                )
            )
        assert organisation_id is not None
        return organisation_id

    async def add_application(
        self, *, policy_id: str, organisation_id: int, application: dict[str, Any], received_at: datetime
    ) -> None:
        statement = insert(ApplicationRow).values(
            policy_id=policy_id,
            organisation_id=organisation_id,
            application=application,
            received_at=received_at,
        )
        await self._session.execute(statement.on_conflict_do_nothing(index_elements=["policy_id"]))

    async def add_assessment(
        self,
        *,
        policy_id: str,
        term_number: int,
        vendor_id: str,
        report: dict[str, Any],
        received_at: datetime,
    ) -> None:
        statement = insert(AssessmentRow).values(
            policy_id=policy_id,
            term_number=term_number,
            vendor_id=vendor_id,
            report=report,
            received_at=received_at,
        )
        await self._session.execute(
            statement.on_conflict_do_nothing(index_elements=["policy_id", "term_number"])
        )

    async def add_underwriting_decision(
        self,
        *,
        policy_id: str,
        term_number: int,
        stage: str,
        result: UnderwritingResult,
        underwriter_id: str | None,
        decided_at: datetime,
    ) -> None:
        statement = insert(UnderwritingDecisionRow).values(
            policy_id=policy_id,
            term_number=term_number,
            stage=stage,
            risk_score=result.risk_score,
            decision=result.decision.value,
            premium_fen=result.premium.fen,
            currency=result.premium.currency,
            reasons=list(result.reasons),
            result=result.model_dump(mode="json"),
            underwriter_id=underwriter_id,
            decided_at=decided_at,
        )
        await self._session.execute(
            statement.on_conflict_do_nothing(index_elements=["policy_id", "term_number", "stage"])
        )

    async def add_quote(self, *, policy_id: str, quote: Quote) -> None:
        statement = insert(QuoteRow).values(
            quote_id=quote.quote_id,
            policy_id=policy_id,
            term_number=quote.term_number,
            premium_fen=quote.premium.fen,
            currency=quote.premium.currency,
            status="issued",
            issued_at=quote.issued_at,
            expires_at=quote.expires_at,
            status_changed_at=quote.issued_at,
            quote=quote.model_dump(mode="json"),
        )
        await self._session.execute(statement.on_conflict_do_nothing(index_elements=["quote_id"]))

    async def set_quote_status(self, *, policy_id: str, quote_id: str, status: str, at: datetime) -> bool:
        """False when the policy has no such quote."""
        statement = (
            update(QuoteRow)
            .where(QuoteRow.quote_id == quote_id, QuoteRow.policy_id == policy_id)
            .values(status=status, status_changed_at=at)
            .returning(QuoteRow.quote_id)
        )
        return (await self._session.execute(statement)).first() is not None
