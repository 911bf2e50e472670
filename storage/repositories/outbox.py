"""Notifications waiting to be delivered; the dedupe key makes enqueueing idempotent."""

from __future__ import annotations

from typing import Any, Required, TypedDict

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxNotificationRow


class OutboxEntry(TypedDict, total=False):
    dedupe_key: Required[str]
    policy_id: Required[str | None]
    qualification_id: str | None
    recipient: Required[str]
    recipient_id: Required[str | None]
    kind: Required[str]
    payload: Required[dict[str, Any]]


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def enqueue(self, entries: list[OutboxEntry]) -> None:
        """Store each entry unless one with the same dedupe key is already stored."""
        if not entries:
            return
        statement = insert(OutboxNotificationRow).on_conflict_do_nothing(index_elements=["dedupe_key"])
        # Passed as parameter sets, SQLAlchemy pages the rows within PostgreSQL's bind limit.
        await self._session.execute(statement, list(entries))
