"""Qualifications and what the platform verifies them against: the service's own policy records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.coverage import CoverageHead
from domain.policy import PolicyPhase
from domain.qualification import PolicyFacts, QualificationApplication
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

    async def add(self, qualification_id: str, application: QualificationApplication, *, phase: str, at: datetime) -> None:
        await self._session.execute(
            insert(QualificationRow).values(
                qualification_id=qualification_id, provider_id=application.provider_id,
                unified_social_credit_code=application.unified_social_credit_code,
                proof_path=application.proof_path.value, insurer_id=application.insurer_id,
                existing_provider=application.existing_provider, phase=phase, applied_at=at, updated_at=at,
            ).on_conflict_do_nothing(index_elements=["qualification_id"])
        )

    async def set_phase(
        self, qualification_id: str, phase: str, *, at: datetime, policy_id: str | None = None,
        qualified_until: datetime | None = None,
    ) -> None:
        # Only forward in time, so a retried older write cannot undo a newer one.
        await self._session.execute(
            update(QualificationRow)
            .where(QualificationRow.qualification_id == qualification_id, QualificationRow.updated_at <= at)
            .values(phase=phase, updated_at=at, policy_id=policy_id, qualified_until=qualified_until)
        )

    async def add_event(
        self, qualification_id: str, *, event_key: str, kind: str, at: datetime, actor: str | None,
        details: dict[str, Any],
    ) -> None:
        await self._session.execute(
            insert(QualificationEventRow).values(
                qualification_id=qualification_id, event_key=event_key, kind=kind, at=at, actor=actor, details=details,
            ).on_conflict_do_nothing(index_elements=["qualification_id", "event_key"])
        )

    async def add_intent_form(self, row: dict[str, Any]) -> None:
        await self._session.execute(
            insert(IntentFormRow).values(**row).on_conflict_do_nothing(index_elements=["intent_id"])
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
