"""Nobody the application connects as can change or remove an audit entry: not the connection it
uses today (the database's owner in tests), not a role with the privileges the deployment gives it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.claim import ClaimActivities
from activities.incident import IncidentActivities
from activities.policy import PolicyActivities
from storage.db import create_session_factory
from tests.audit.conftest import Activities, a_policy_through_to_a_payout, entries, verify

CHANGES = [
    "UPDATE audit_log SET operation = 'DELETE' WHERE seq = 1",
    "UPDATE audit_log SET seq = seq WHERE false",  # refused even when it would touch nothing
    "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)",
    "TRUNCATE audit_log",
]


async def refused(engine: AsyncEngine, statement: str) -> str:
    from sqlalchemy import text

    async with engine.connect() as connection:
        with pytest.raises(DBAPIError) as refusal:
            await connection.execute(text(statement))
        await connection.rollback()
    return str(refusal.value.orig)


@pytest.mark.parametrize("statement", CHANGES)
async def test_the_applications_own_connection_cannot_change_or_remove_entries(
    statement: str, activities: Activities, engine: AsyncEngine
) -> None:
    await a_policy_through_to_a_payout(activities)
    before = await entries(engine)

    assert "audit_log is append-only" in await refused(engine, statement)

    assert await entries(engine) == before
    assert (await verify(engine))[0].intact


async def plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def as_admin(database_url: str, *statements: str) -> None:
    connection = await asyncpg.connect(await plain(database_url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


# What README prescribes for the application's role: the blanket grant, then the audit log taken out.
APP_ROLE_GRANTS = [
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
]
APP_ROLE_REVOKE = "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_log FROM {role}"


@pytest.fixture(params=["granted as prescribed", "blanket grant only"])
async def app_role_url(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[str]:
    """A login role that owns nothing, with the application's privileges; its database URL. Without
    the REVOKE, the triggers alone must still hold."""
    role = f"cyberins_app_{uuid.uuid4().hex[:10]}"
    grants = APP_ROLE_GRANTS + ([APP_ROLE_REVOKE] if request.param == "granted as prescribed" else [])
    await as_admin(database_url, f"CREATE ROLE {role} LOGIN", *(g.format(role=role) for g in grants))
    yield make_url(database_url).set(username=role).render_as_string(hide_password=False)
    await as_admin(database_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


@pytest.fixture
async def app_role_engine(app_role_url: str) -> AsyncIterator[tuple[AsyncEngine, Activities]]:
    engine, sessions = create_session_factory(app_role_url, pool_size=2)
    yield engine, Activities(PolicyActivities(sessions), IncidentActivities(sessions), ClaimActivities(sessions))
    await engine.dispose()


async def test_a_role_with_the_applications_privileges_writes_business_rows_and_the_trail_follows(
    app_role_engine: tuple[AsyncEngine, Activities], engine: AsyncEngine
) -> None:
    _, activities = app_role_engine

    await a_policy_through_to_a_payout(activities)

    chain = await entries(engine)
    assert len(chain) > 12 and {e.table_name for e in chain} >= {"policies", "findings", "claims", "payouts"}
    report, rows = await verify(engine, rows=True)
    assert report.intact and rows is not None and rows.intact


@pytest.mark.parametrize("statement", [
    *CHANGES,
    # Forged entries, directly or through the function the triggers use:
    (
        "INSERT INTO audit_log SELECT seq + 1000, recorded_at, table_name, operation, row_key, policy_id, "
        "incident_id, claim_id, row_digest, hash, hash FROM audit_log WHERE seq = 1"
    ),
    "SELECT audit_append('claims', 'INSERT', ARRAY['{\"claim_id\": \"forged\"}'::jsonb], ARRAY['claim_id'])",
    # Switching the triggers off:
    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
    "SET session_replication_role = replica",
    "DROP TRIGGER audit_trail_insert ON claims",
])
async def test_a_role_with_the_applications_privileges_cannot_change_forge_or_unguard_entries(
    statement: str, app_role_engine: tuple[AsyncEngine, Activities], engine: AsyncEngine
) -> None:
    role_engine, activities = app_role_engine
    await a_policy_through_to_a_payout(activities)
    before = await entries(engine)

    reason = await refused(role_engine, statement)

    assert any(words in reason for words in ("permission denied", "must be owner", "append-only", "written only by"))
    assert await entries(engine) == before
    assert (await verify(engine))[0].intact
