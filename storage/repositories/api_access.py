"""API keys, webhook secrets, grants and replayable answers, inside a unit of work."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ApiGrantRow, ApiKeyRow, ApiRequestRow, WebhookSecretRow

GRANT_PAGE = 10_000


@dataclass(frozen=True)
class StoredKey:
    key_id: str
    party_kind: str
    party_id: str
    secret_hash: str


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str
    status_code: int
    response: dict[str, Any]  # as data: for SQL, and for API processes of a release before 0008
    body: bytes | None  # the bytes first sent, which every repeat gets; None in rows stored before 0008


class ApiAccessRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # -- Keys and secrets ---------------------------------------------------------------------------

    async def add_key(self, key_id: str, party_kind: str, party_id: str, secret_hash: str, label: str | None) -> None:
        self._session.add(
            ApiKeyRow(key_id=key_id, party_kind=party_kind, party_id=party_id, secret_hash=secret_hash, label=label)
        )
        await self._session.flush()

    async def active_key(self, key_id: str) -> StoredKey | None:
        row = await self._session.scalar(
            select(ApiKeyRow).where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
        )
        if row is None:
            return None
        return StoredKey(row.key_id, row.party_kind, row.party_id, row.secret_hash)

    async def revoke_key(self, key_id: str) -> bool:
        result = await self._session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=func.now())
        )
        return result.rowcount == 1

    async def add_webhook_secret(self, vendor_id: str, secret: str) -> int:
        row = WebhookSecretRow(vendor_id=vendor_id, secret=secret)
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def revoke_webhook_secret(self, vendor_id: str, secret_id: int) -> bool:
        result = await self._session.execute(
            update(WebhookSecretRow)
            .where(
                WebhookSecretRow.id == secret_id,
                WebhookSecretRow.vendor_id == vendor_id,
                WebhookSecretRow.revoked_at.is_(None),
            )
            .values(revoked_at=func.now())
        )
        return result.rowcount == 1

    async def active_webhook_secrets(self, vendor_id: str) -> list[str]:
        rows = await self._session.scalars(
            select(WebhookSecretRow.secret)
            .where(WebhookSecretRow.vendor_id == vendor_id, WebhookSecretRow.revoked_at.is_(None))
            .order_by(WebhookSecretRow.id)
        )
        return list(rows)

    # -- Grants ---------------------------------------------------------------------------------------

    async def grant(self, object_kind: str, object_id: str, parties: set[tuple[str, str]]) -> None:
        if not parties:
            return
        rows = [
            {"party_kind": kind, "party_id": party_id, "object_kind": object_kind, "object_id": object_id}
            for kind, party_id in sorted(parties)
        ]
        await self._session.execute(insert(ApiGrantRow).on_conflict_do_nothing(), rows)

    async def granted(self, party_kind: str, party_id: str, object_kind: str, object_ids: set[str]) -> set[str]:
        """Which of `object_ids` this party may act on (asked in pages: PostgreSQL takes 32,767 parameters)."""
        wanted = sorted(object_ids)
        found: set[str] = set()
        for start in range(0, len(wanted), GRANT_PAGE):
            rows = await self._session.scalars(
                select(ApiGrantRow.object_id).where(
                    ApiGrantRow.party_kind == party_kind,
                    ApiGrantRow.party_id == party_id,
                    ApiGrantRow.object_kind == object_kind,
                    ApiGrantRow.object_id.in_(wanted[start : start + GRANT_PAGE]),
                )
            )
            found.update(rows)
        return found

    async def grantees(self, object_kind: str, object_id: str) -> set[tuple[str, str]]:
        rows = await self._session.execute(
            select(ApiGrantRow.party_kind, ApiGrantRow.party_id).where(
                ApiGrantRow.object_kind == object_kind, ApiGrantRow.object_id == object_id
            )
        )
        return {(kind, party_id) for kind, party_id in rows}

    async def objects_of(
        self, party_kind: str, party_id: str, object_kind: str, *, after: str | None, limit: int
    ) -> list[str]:
        """The party's objects of one kind in id order, one page after `after`."""
        query = select(ApiGrantRow.object_id).where(
            ApiGrantRow.party_kind == party_kind,
            ApiGrantRow.party_id == party_id,
            ApiGrantRow.object_kind == object_kind,
        )
        if after is not None:
            query = query.where(ApiGrantRow.object_id > after)
        return list(await self._session.scalars(query.order_by(ApiGrantRow.object_id).limit(limit)))

    # -- Replayable answers ---------------------------------------------------------------------------

    async def lock_request_key(self, party_kind: str, party_id: str, key_kind: str, key: str) -> None:
        """Serialises requests with the same key until this transaction ends."""
        digest = hashlib.sha256(f"{party_kind}\n{party_id}\n{key_kind}\n{key}".encode()).digest()
        lock_id = int.from_bytes(digest[:8], "big", signed=True)
        await self._session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})

    async def stored_answer(self, party_kind: str, party_id: str, key_kind: str, key: str) -> StoredAnswer | None:
        row = await self._session.get(ApiRequestRow, (party_kind, party_id, key_kind, key))
        if row is None:
            return None
        return StoredAnswer(row.fingerprint, row.status_code, row.response, row.response_body)

    async def store_answer(
        self, party_kind: str, party_id: str, key_kind: str, key: str, answer: StoredAnswer
    ) -> None:
        self._session.add(
            ApiRequestRow(
                party_kind=party_kind, party_id=party_id, key_kind=key_kind, key=key,
                fingerprint=answer.fingerprint, status_code=answer.status_code, response=answer.response,
                response_body=answer.body,
            )
        )
        await self._session.flush()
