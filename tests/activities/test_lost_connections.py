"""A worker's database connection that PostgreSQL closed (a restart, a failover) fails the one attempt
that meets it, with an error Temporal retries (any but a non-retryable ApplicationError); the pool lets go of it and the retry succeeds. The pool
pings nothing on checkout (storage/db.py), so this is how the worker comes back."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from activities.policy import PolicyActivities
from contracts.parties import Notification, Party
from storage.models import OutboxNotificationRow
from tests.fixtures.postgres import close_client_connections


def _notice(n: int) -> Notification:
    return Notification(dedupe_key=f"lost-connection:{n}", policy_id="p1", recipient=Party.INSURED, kind="quote_issued")


async def test_an_attempt_on_a_closed_connection_fails_retryably_and_the_retry_is_recorded_once(
    activities: PolicyActivities, session_factory, database_url
) -> None:
    await activities.enqueue_notification(_notice(1))  # the pool now holds an open connection
    assert await close_client_connections(database_url) > 0

    with pytest.raises(DBAPIError) as failed:
        await activities.enqueue_notification(_notice(2))
    assert failed.value.connection_invalidated
    await activities.enqueue_notification(_notice(2))  # the retry

    async with session_factory() as session:
        keys = (await session.scalars(select(OutboxNotificationRow.dedupe_key).order_by(OutboxNotificationRow.id))).all()
    assert keys == ["lost-connection:1", "lost-connection:2"]
