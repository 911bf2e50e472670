"""Test kit for the audit trail: business events made through the real activities, the chain read
back, and a superuser's way around the triggers to tamper with what they wrote."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from activities.claim import ClaimActivities
from activities.incident import IncidentActivities
from activities.policy import PolicyActivities
from contracts.claim_activities import RecordClaim
from contracts.incident_activities import RegisterEvidence
from contracts.policy_activities import ResolveFinding
from domain.claim import ClaimantKind
from domain.findings import Resolution, Severity
from storage.audit import AuditEntry, ChainReport, RowsReport, verify_chain, verify_rows
from storage.models import AuditLogRow
from tests.activities import builders
from tests.activities.builders import DAY, T0

Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class Activities:
    policies: PolicyActivities
    incidents: IncidentActivities
    claims: ClaimActivities


@pytest.fixture
def activities(session_factory: Sessions) -> Activities:
    """The activities as the worker wires them, on this test's own database."""
    return Activities(
        PolicyActivities(session_factory), IncidentActivities(session_factory), ClaimActivities(session_factory)
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


async def a_policy_through_to_a_payout(activities: Activities, *, incident_id: str = "inc-1") -> str:
    """Application, binding, findings (one escalated, one resolved), an incident with evidence, a
    claim and its payment: the policy id."""
    policies, incidents, claims = activities.policies, activities.incidents, activities.claims
    policy = builders.policy_id()
    await policies.record_application(builders.record_application(policy))
    bound = await policies.bind_policy(builders.bind_policy(policy))
    findings = [builders.finding("ioc-1", Severity.CRITICAL, active_compromise=True), builders.finding("weak-tls")]
    await policies.record_findings(builders.record_findings(policy, findings))
    await policies.resolve_finding(
        ResolveFinding(
            policy_id=policy, term_number=1, vendor_event_id="weak-tls",
            resolution=Resolution.FALSE_POSITIVE, at=T0 + DAY,
        )
    )
    report = builders.incident_report(policy, reference=incident_id)
    await incidents.record_incident(builders.record_incident(incident_id, report, bound))
    await incidents.register_evidence(RegisterEvidence(incident_id=incident_id, evidence=builders.evidence()))
    claim_id = f"clm-{incident_id}"
    await claims.record_claim(
        RecordClaim(
            claim_id=claim_id, incident_id=incident_id, policy_id=policy,
            claimant=ClaimantKind.FIRST_PARTY, opened_at=report.discovered_at + DAY,
        )
    )
    await claims.pay(builders.payout(claim_id))
    return policy


async def entries(engine: AsyncEngine) -> list[AuditEntry]:
    table = AuditLogRow.__table__
    async with engine.connect() as connection:
        found = await connection.execute(select(table).order_by(table.c.seq))
        return [AuditEntry(**row._mapping) for row in found]


async def verify(engine: AsyncEngine, *, rows: bool = False) -> tuple[ChainReport, RowsReport | None]:
    async with engine.connect() as connection:
        return await verify_chain(connection), (await verify_rows(connection) if rows else None)


async def as_superuser_without_triggers(database_url: str, *statements: str) -> None:
    """What only a superuser can do: switch every trigger off for a transaction and write."""
    connection = await asyncpg.connect(make_url(database_url).set(drivername="postgresql").render_as_string(False))
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            for statement in statements:
                await connection.execute(statement)
    finally:
        await connection.close()
