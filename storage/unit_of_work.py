"""The unit of work: one transaction, the only place that commits."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repositories import (
    ApiAccessRepository,
    ClaimRepository,
    CoverQuery,
    FindingRepository,
    FindingSummaryQuery,
    IncidentRepository,
    OutboxRepository,
    PayoutRepository,
    PolicyRepository,
    PreCoverRepository,
)
from storage.repositories.deliveries import DeliveryRepository
from storage.repositories.endpoints import EndpointRepository
from storage.repositories.finding_batches import FindingBatchRepository
from storage.repositories.pilot import PilotRepository
from storage.repositories.qualifications import QualificationRepository


class UnitOfWork:
    """`async with UnitOfWork(sessions) as uow:` commits when the block ends, rolls back if it raises."""

    session: AsyncSession
    pre_cover: PreCoverRepository
    policies: PolicyRepository
    findings: FindingRepository
    finding_batches: FindingBatchRepository
    finding_summary: FindingSummaryQuery
    outbox: OutboxRepository
    deliveries: DeliveryRepository
    endpoints: EndpointRepository
    cover: CoverQuery
    incidents: IncidentRepository
    claims: ClaimRepository
    payouts: PayoutRepository
    api: ApiAccessRepository
    qualifications: QualificationRepository
    pilot: PilotRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        self.pre_cover = PreCoverRepository(self.session)
        self.policies = PolicyRepository(self.session)
        self.findings = FindingRepository(self.session)
        self.finding_batches = FindingBatchRepository(self.session)
        self.finding_summary = FindingSummaryQuery(self.session)
        self.outbox = OutboxRepository(self.session)
        self.deliveries = DeliveryRepository(self.session)
        self.endpoints = EndpointRepository(self.session)
        self.cover = CoverQuery(self.session)
        self.incidents = IncidentRepository(self.session)
        self.claims = ClaimRepository(self.session)
        self.payouts = PayoutRepository(self.session)
        self.api = ApiAccessRepository(self.session)
        self.qualifications = QualificationRepository(self.session)
        self.pilot = PilotRepository(self.session)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                await self.session.commit()
            else:
                await self.session.rollback()
        finally:
            await self.session.close()
