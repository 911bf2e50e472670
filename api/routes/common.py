"""What every router shares: path parameters, paging, reading a status and a history."""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated

from fastapi import Path, Query

from api.context import Call, ObjectKind
from api.history import read_history
from api.schemas import History, PageOfIds
from domain.boundaries import TEXT_PATTERN
from storage.unit_of_work import UnitOfWork

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
PolicyIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="e.g. pol-3f2a9c41b7d0")]
IncidentIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="e.g. inc-…")]
ClaimIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="e.g. clm-…")]
QualificationIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="e.g. qual-…")]
EventIdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=TEXT_PATTERN, description="the vendor's event id")]
After = Annotated[str | None, Query(max_length=128, pattern=r"^[A-Za-z0-9_.-]+$", description="the last id of the previous page")]
Limit = Annotated[int, Query(ge=1, le=500)]
HistoryLimit = Annotated[int, Query(ge=1, le=2000)]


def new_object_id(prefix: str, call: Call) -> str:
    """Random without a replay key; derived from the caller and the key with one, so a request retried
    after a lost answer finds the object the first attempt made rather than making a second one."""
    if call.replay_key is None:
        return f"{prefix}-{secrets.token_hex(6)}"
    kind, key = call.replay_key
    party_kind, party_id = call.caller.party
    digest = hashlib.sha256(f"{prefix}\n{party_kind}\n{party_id}\n{kind}\n{key}".encode()).hexdigest()
    return f"{prefix}-{digest[:12]}"


async def page_of(call: Call, kind: ObjectKind, after: str | None, limit: int) -> PageOfIds:
    async with UnitOfWork(call.services.sessions) as uow:
        ids = await uow.api.objects_of(call.caller.kind.value, call.caller.party_id, kind.value, after=after, limit=limit + 1)
    more = len(ids) > limit
    ids = ids[:limit]
    return PageOfIds(items=ids, next_after=ids[-1] if more else None)


async def history_of(call: Call, kind: ObjectKind, object_id: str, workflow_id: str, limit: int) -> History:
    await call.require(kind, object_id)
    return await read_history(call.temporal, workflow_id, what=f"{kind.value} {object_id}", limit=limit)
