"""Which activity failures are retried (activities/failures.py), against errors a real PostgreSQL gives.

Bad data and broken constraints fail every attempt, so they are non-retryable with a stable type and
a message that names the problem but never the value; a lost connection, a serialization failure or
a statement timeout may pass, so they are retried.
"""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.worker import ExecuteActivityInput

from activities.failures import (
    CONSTRAINT_VIOLATED,
    INVALID_DATA,
    STATEMENT_REJECTED,
    ActivityFailures,
    permanent_failure,
)
from activities.policy import PolicyActivities
from contracts.parties import Notification, Party
from domain.errors import DomainRuleError
from storage.db import create_session_factory
from tests.fixtures.postgres import close_client_connections

SECRET = "Zhang Wei 13800138000"  # stands for any value that may be personal data


async def failure_of(sessions: async_sessionmaker[AsyncSession], *statements: tuple[str, dict]) -> DBAPIError:
    async with sessions() as session:
        with pytest.raises(DBAPIError) as failed:
            for sql, params in statements:
                await session.execute(text(sql), params)
            await session.commit()
    return failed.value


PERMANENT = [
    # (what, statements, expected type, expected SQLSTATE in the message)
    ("bigint out of range (refused by asyncpg before sending)", [("SELECT CAST(:v AS bigint)", {"v": 2**63})],
     INVALID_DATA, "22000"),
    ("integer overflow in PostgreSQL", [("SELECT CAST(:v AS integer) + 1", {"v": 2**31 - 1})], INVALID_DATA, "22003"),
    ("NUL in text", [("SELECT CAST(:v AS text)", {"v": f"{SECRET}\x00"})], INVALID_DATA, "22021"),
    ("NUL in JSON", [("SELECT CAST(:v AS jsonb)", {"v": '{"name": "' + SECRET + '\\u0000"}'})], INVALID_DATA, "22P05"),
    ("lone surrogate", [("SELECT CAST(:v AS text)", {"v": f"{SECRET}\ud800"})], INVALID_DATA, "22000"),
    ("time out of range", [("SELECT CAST(:v AS text)::timestamptz", {"v": "294277-01-01 00:00:00+00"})],
     INVALID_DATA, "22008"),
    ("duplicate key", [("CREATE TEMP TABLE people (name text PRIMARY KEY)", {}),
                       ("INSERT INTO people VALUES (:v)", {"v": SECRET}),
                       ("INSERT INTO people VALUES (:v)", {"v": SECRET})], CONSTRAINT_VIOLATED, "23505"),
    ("check constraint", [("CREATE TEMP TABLE amounts (fen bigint CHECK (fen >= 0), owner text)", {}),
                          ("INSERT INTO amounts VALUES (-1, :v)", {"v": SECRET})], CONSTRAINT_VIOLATED, "23514"),
    ("undefined table (a bug: still permanent)", [("SELECT * FROM no_such_table", {})], STATEMENT_REJECTED, "42P01"),
]


@pytest.mark.parametrize(("what", "statements", "kind", "sqlstate"), PERMANENT, ids=[p[0] for p in PERMANENT])
async def test_a_data_error_is_permanent_and_named_without_its_value(session_factory, what, statements, kind, sqlstate):
    error = await failure_of(session_factory, *statements)
    classified = permanent_failure(error)
    assert classified is not None, f"{what} was left to retry"
    type_, message = classified
    assert type_ == kind
    assert f"SQLSTATE {sqlstate}" in message
    for value in (SECRET, "Zhang", "2147483647", "9223372036854775808", "294277"):
        assert value not in message


async def test_the_message_names_the_constraint_and_the_argument(session_factory):
    error = await failure_of(session_factory, ("CREATE TEMP TABLE people (name text PRIMARY KEY)", {}),
                             ("INSERT INTO people VALUES (:v)", {"v": SECRET}), ("INSERT INTO people VALUES (:v)", {"v": SECRET}))
    assert "constraint people_pkey" in permanent_failure(error)[1]
    overflow = await failure_of(session_factory, ("SELECT CAST(:v AS bigint)", {"v": 2**63}))
    assert "9223372036854775808" in str(overflow)  # asyncpg's own message quotes the value
    assert permanent_failure(overflow)[1] == (
        "a number is out of range for its column type (SQLSTATE 22000, query argument $1)"
    )


async def test_a_serialization_failure_is_retried(session_factory):
    async with session_factory() as setup:
        await setup.execute(text("CREATE TABLE counters (id int PRIMARY KEY, n int)"))
        await setup.execute(text("INSERT INTO counters VALUES (1, 0)"))
        await setup.commit()
    async with session_factory() as first, session_factory() as second:
        await first.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        await first.execute(text("SELECT n FROM counters WHERE id = 1"))
        await second.execute(text("UPDATE counters SET n = n + 1 WHERE id = 1"))
        await second.commit()
        with pytest.raises(DBAPIError) as failed:
            await first.execute(text("UPDATE counters SET n = n + 1 WHERE id = 1"))
    assert failed.value.orig.sqlstate == "40001"
    assert permanent_failure(failed.value) is None


async def test_a_statement_timeout_is_retried(session_factory):
    error = await failure_of(session_factory, ("SET LOCAL statement_timeout = 10", {}), ("SELECT pg_sleep(1)", {}))
    assert error.orig.sqlstate == "57014"
    assert permanent_failure(error) is None


async def test_a_connection_the_server_closed_is_retried(session_factory, database_url):
    async with session_factory() as session:
        await session.execute(text("SELECT 1"))  # the pool now holds an open connection
    assert await close_client_connections(database_url) > 0
    async with session_factory() as session:
        with pytest.raises(DBAPIError) as failed:
            await session.execute(text("SELECT 1"))
    assert failed.value.connection_invalidated
    assert permanent_failure(failed.value) is None


async def test_a_server_that_cannot_be_reached_is_retried(database_url):
    engine, sessions = create_session_factory(database_url.rsplit(":", 1)[0] + ":1/nowhere")
    try:
        async with sessions() as session:
            with pytest.raises(Exception) as failed:
                await session.execute(text("SELECT 1"))
        assert permanent_failure(failed.value) is None
    finally:
        await engine.dispose()


def test_rules_and_models_are_permanent_timeouts_are_not():
    assert permanent_failure(DomainRuleError("claimed_amount_too_large", "too much")) == (
        "claimed_amount_too_large", "too much"
    )

    class Item(BaseModel):
        fen: int = Field(le=10)

    with pytest.raises(ValidationError) as invalid:
        Item(fen=12345678)
    type_, message = permanent_failure(invalid.value)
    assert type_ == INVALID_DATA and "fen" in message and "12345678" not in message
    assert permanent_failure(TimeoutError()) is None
    assert permanent_failure(ConnectionResetError()) is None
    assert permanent_failure(ApplicationError("already decided", type="mine", non_retryable=False)) is None


class _Next:
    async def execute_activity(self, input: ExecuteActivityInput):
        return await input.fn(*input.args)


async def _through_the_worker(fn, *args):
    """As the worker runs an activity: through the classifying interceptor (worker.py registers it)."""
    inbound = ActivityFailures().intercept_activity(_Next())  # type: ignore[arg-type]
    return await inbound.execute_activity(ExecuteActivityInput(fn=fn, args=list(args), executor=None, headers={}))


async def test_the_worker_turns_a_real_activitys_data_error_into_a_non_retryable_failure(session_factory):
    activities = PolicyActivities(session_factory)
    poisoned = Notification.model_construct(
        dedupe_key="k-1", policy_id="p1", recipient=Party.INSURED, recipient_id=None, kind=f"note for {SECRET}\x00",
        payload={},
    )
    with pytest.raises(ApplicationError) as failed:
        await _through_the_worker(activities.enqueue_notification, poisoned)
    error = failed.value
    assert error.non_retryable and error.type == INVALID_DATA
    assert "SQLSTATE 22021" in error.message and SECRET not in error.message
    assert error.__cause__ is None and error.__suppress_context__  # the original, quoting the value, stays behind

    fine = Notification(dedupe_key="k-2", policy_id="p1", recipient=Party.INSURED, kind="quote_issued")
    assert await _through_the_worker(activities.enqueue_notification, fine) is None


async def test_the_worker_leaves_decided_and_transient_failures_alone():
    decided = ApplicationError("payment service down", type="payment_service_unavailable")

    async def refuses():
        raise decided

    async def times_out():
        raise TimeoutError()

    with pytest.raises(ApplicationError) as failed:
        await _through_the_worker(refuses)
    assert failed.value is decided and not failed.value.non_retryable
    with pytest.raises(asyncio.TimeoutError):
        await _through_the_worker(times_out)
