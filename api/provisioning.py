"""Issuing and revoking parties' credentials: API keys (stored hashed) and vendors' webhook secrets."""

from __future__ import annotations

import base64
import re
import secrets as random
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import keys
from api.parties import PartyKind
from api.signatures import SECRET_PREFIX
from storage.unit_of_work import UnitOfWork

PARTY_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(frozen=True)
class IssuedCredentials:
    party_kind: PartyKind
    party_id: str
    key_id: str
    token: str
    webhook_secret: str | None


def new_webhook_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(random.token_bytes(32)).decode()


async def issue_credentials(
    sessions: async_sessionmaker[AsyncSession],
    party_kind: PartyKind,
    party_id: str,
    *,
    label: str | None = None,
    webhook_secret: bool | None = None,
) -> IssuedCredentials:
    """A new API key for the party; for a vendor also a new webhook secret unless `webhook_secret` is False."""
    if not PARTY_ID.match(party_id):
        raise ValueError("a party id is 1 to 64 letters, digits, `_`, `.`, `:` or `-`")
    issued = keys.issue_key()
    with_secret = party_kind is PartyKind.VENDOR if webhook_secret is None else webhook_secret
    secret = new_webhook_secret() if with_secret else None
    async with UnitOfWork(sessions) as uow:
        await uow.api.add_key(issued.key_id, party_kind.value, party_id, issued.secret_hash, label)
        if secret is not None:
            await uow.api.add_webhook_secret(party_id, secret)
    return IssuedCredentials(party_kind, party_id, issued.key_id, issued.token, secret)


async def add_webhook_secret(sessions: async_sessionmaker[AsyncSession], vendor_id: str) -> tuple[int, str]:
    secret = new_webhook_secret()
    async with UnitOfWork(sessions) as uow:
        secret_id = await uow.api.add_webhook_secret(vendor_id, secret)
    return secret_id, secret


async def revoke_key(sessions: async_sessionmaker[AsyncSession], key_id: str) -> bool:
    async with UnitOfWork(sessions) as uow:
        return await uow.api.revoke_key(key_id)


async def revoke_webhook_secret(sessions: async_sessionmaker[AsyncSession], vendor_id: str, secret_id: int) -> bool:
    async with UnitOfWork(sessions) as uow:
        return await uow.api.revoke_webhook_secret(vendor_id, secret_id)
