"""Qualifications and what the platform verifies them against: the service's own policy records.

A write takes the activity's command as it came and maps it to columns here, once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.qualification_activities import IssueIntentForm, RecordQualification, RecordQualificationEvent
from domain.coverage import CoverageHead
from domain.policy import PolicyPhase
from domain.qualification import PolicyFacts, QualificationPhase
from storage.models import (
    ApiGrantRow,
    ApplicationRow,
    CancellationRow,
    CoverageHeadRow,
    IntentFormRow,
    OrganisationRow,
    PolicyPhaseRow,
    PolicyRow,
    QualificationEventRow,
    QualificationProofRow,
    QualificationRow,
)


class QualificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, command: RecordQualification, *, phase: QualificationPhase) -> None:
        application = command.application
        await self._session.execute(
            insert(QualificationRow).values(
                qualification_id=command.qualification_id, provider_id=application.provider_id,
                unified_social_credit_code=application.unified_social_credit_code,
                proof_path=application.proof_path.value, insurer_id=application.insurer_id,
                existing_provider=application.existing_provider, phase=phase.value, applied_at=command.at,
                updated_at=command.at,
            ).on_conflict_do_nothing(index_elements=["qualification_id"])
        )

    async def set_phase(self, command: RecordQualificationEvent) -> None:
        """The phase the event leaves the qualification in; only forward in time, so a retried older
        write cannot undo a newer one."""
        await self._session.execute(
            update(QualificationRow)
            .where(
                QualificationRow.qualification_id == command.qualification_id,
                QualificationRow.updated_at <= command.at,
            )
            .values(
                phase=command.phase.value, updated_at=command.at, policy_id=command.policy_id,
                qualified_until=command.qualified_until,
            )
        )

    async def add_event(self, command: RecordQualificationEvent) -> None:
        await self._session.execute(
            insert(QualificationEventRow).values(
                qualification_id=command.qualification_id, event_key=command.event_key,
                kind=command.kind.value, at=command.at, actor=command.actor, details=command.details,
            ).on_conflict_do_nothing(index_elements=["qualification_id", "event_key"])
        )

    async def add_intent_form(self, command: IssueIntentForm, *, intent_id: str) -> None:
        application, limit = command.application, command.application.requested_limit
        await self._session.execute(
            insert(IntentFormRow).values(
                intent_id=intent_id, qualification_id=command.qualification_id,
                provider_id=application.provider_id,
                unified_social_credit_code=application.unified_social_credit_code,
                insurer_id=application.insurer_id,
                requested_limit_fen=None if limit is None else limit.fen,
                currency=None if limit is None else limit.currency, generated_at=command.at,
            ).on_conflict_do_nothing(index_elements=["intent_id"])
        )

    async def add_proofs(self, row: dict[str, Any]) -> None:
        await self._session.execute(
            insert(QualificationProofRow).values(**row).on_conflict_do_nothing(
                index_elements=["qualification_id", "submission"]
            )
        )

    async def exists(self, qualification_id: str) -> bool:
        found = await self._session.scalar(
            select(QualificationRow.qualification_id).where(QualificationRow.qualification_id == qualification_id)
        )
        return found is not None

    async def policy_facts(self, policy_number: str) -> PolicyFacts:
        """The latest term bound under this policy number, with its insured, heads and phase."""
        term = await self._session.scalar(
            select(PolicyRow).where(PolicyRow.policy_number == policy_number).order_by(PolicyRow.term_number.desc())
        )
        if term is None:
            return PolicyFacts(policy_number=policy_number, found=False)
        credit_code = await self._session.scalar(
            select(OrganisationRow.unified_social_credit_code)
            .join(ApplicationRow, ApplicationRow.organisation_id == OrganisationRow.id)
            .where(ApplicationRow.policy_id == term.policy_id)
        )
        heads = (await self._session.scalars(
            select(CoverageHeadRow.head).where(
                CoverageHeadRow.policy_id == term.policy_id, CoverageHeadRow.term_number == term.term_number
            )
        )).all()
        latest_phase = await self._session.scalar(
            select(PolicyPhaseRow.phase).where(PolicyPhaseRow.policy_id == term.policy_id)
            .order_by(PolicyPhaseRow.at.desc(), PolicyPhaseRow.id.desc())
        )
        cancelled = await self._session.scalar(
            select(CancellationRow.id).where(
                CancellationRow.policy_id == term.policy_id, CancellationRow.term_number == term.term_number
            )
        )
        insurer = await self._session.scalar(
            select(ApiGrantRow.party_id).where(
                ApiGrantRow.object_kind == "policy", ApiGrantRow.object_id == term.policy_id,
                ApiGrantRow.party_kind == "insurer",
            )
        )
        return PolicyFacts(
            policy_number=policy_number, found=True, policy_id=term.policy_id, insured_credit_code=credit_code,
            insurer_id=insurer, phase=PolicyPhase(latest_phase or term.phase), term_number=term.term_number,
            term_start=term.term_start, term_end=term.term_end,
            heads=frozenset(CoverageHead(head) for head in heads), cancelled=cancelled is not None,
        )
