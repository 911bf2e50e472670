"""The unit of work: one transaction, the only place that commits.

It also tells the audit trail who is writing: the actor of the current task (storage/audit.py),
handed to the trail's trigger in the transaction's `cyberins.actor` setting just before the first
write, so that a transaction that only reads costs no more than before.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from storage.audit import ACTOR_SETTING, current_actor
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
        actor = current_actor()
        if actor is not None:
            self.session.sync_session.info[_ACTOR] = actor.as_text()
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


# The actor is named before a transaction's first INSERT, UPDATE or DELETE: a statement executed
# through the session (`session.execute(insert(...))`) or a flush of added, changed or deleted
# objects. Listened for once on every session rather than per unit of work: a listener added to
# one session costs more than the round trip it saves. A session no unit of work gave an actor is
# left alone. The setting is local to the transaction, so a pooled connection keeps none.
_ACTOR = "audit_actor"  # session.info: the actor's text, for the session's transactions
_NAMED = "audit_actor_named"  # session.info: set in the current transaction


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _name_the_actor(state.session)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        _name_the_actor(session)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the setting ended with it
        session.info.pop(_NAMED, None)


def _name_the_actor(session: Session) -> None:
    actor = session.info.get(_ACTOR)
    if actor is not None and not session.info.get(_NAMED):
        session.info[_NAMED] = True
        session.execute(text("SELECT set_config(:name, :actor, true)"), {"name": ACTOR_SETTING, "actor": actor})
