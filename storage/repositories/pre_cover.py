"""Applications, assessments, underwriting decisions and quotes: written once per natural key.

A write takes the activity's command as it came and maps it to columns here, once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.policy_activities import (
    QuoteStatus,
    RecordApplication,
    RecordAssessment,
    RecordQuote,
    RecordQuoteStatus,
    RecordUnderwriting,
)
from domain.application import Organisation
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

    async def add_application(self, command: RecordApplication, *, organisation_id: int) -> None:
        statement = insert(ApplicationRow).values(
            policy_id=command.policy_id,
            organisation_id=organisation_id,
            application=command.application.model_dump(mode="json"),
            received_at=command.received_at,
        )
        await self._session.execute(statement.on_conflict_do_nothing(index_elements=["policy_id"]))

    async def add_assessment(self, command: RecordAssessment) -> None:
        statement = insert(AssessmentRow).values(
            policy_id=command.policy_id,
            term_number=command.term_number,
            vendor_id=command.report.vendor_id,
            report=command.report.model_dump(mode="json"),
            received_at=command.received_at,
        )
        await self._session.execute(
            statement.on_conflict_do_nothing(index_elements=["policy_id", "term_number"])
        )

    async def add_underwriting_decision(self, command: RecordUnderwriting) -> None:
        result = command.result
        statement = insert(UnderwritingDecisionRow).values(
            policy_id=command.policy_id,
            term_number=command.term_number,
            stage=command.stage.value,
            risk_score=result.risk_score,
            decision=result.decision.value,
            premium_fen=result.premium.fen,
            currency=result.premium.currency,
            reasons=list(result.reasons),
            result=result.model_dump(mode="json"),
            underwriter_id=command.underwriter_id,
            decided_at=command.decided_at,
        )
        await self._session.execute(
            statement.on_conflict_do_nothing(index_elements=["policy_id", "term_number", "stage"])
        )

    async def add_quote(self, command: RecordQuote) -> None:
        quote = command.quote
        statement = insert(QuoteRow).values(
            quote_id=quote.quote_id,
            policy_id=command.policy_id,
            term_number=quote.term_number,
            premium_fen=quote.premium.fen,
            currency=quote.premium.currency,
            status=QuoteStatus.ISSUED.value,
            issued_at=quote.issued_at,
            expires_at=quote.expires_at,
            status_changed_at=quote.issued_at,
            quote=quote.model_dump(mode="json"),
        )
        await self._session.execute(statement.on_conflict_do_nothing(index_elements=["quote_id"]))

    async def set_quote_status(self, command: RecordQuoteStatus) -> bool:
        """False when the policy has no such quote."""
        statement = (
            update(QuoteRow)
            .where(QuoteRow.quote_id == command.quote_id, QuoteRow.policy_id == command.policy_id)
            .values(status=command.status.value, status_changed_at=command.at)
            .returning(QuoteRow.quote_id)
        )
        return (await self._session.execute(statement)).first() is not None
