"""Who is calling and what they may touch: authentication, signatures, per-object grants, replays.

Every request but /docs carries `Authorization: Bearer cyk_…`. A vendor's POST is also signed per
Standard Webhooks; its webhook-id is the push's replay key. Anyone else's POST may carry an
Idempotency-Key. A repeat of either gets the first answer; the same key with another body gets 422.
The authenticated key is the actor of the request's writes on the audit trail (storage/audit.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api import keys, signatures
from api.parties import ObjectKind, PartyKind
from api.problems import Problem, not_found
from domain.boundaries import MAX_MESSAGE_BYTES, breach_in_json, first_breach
from storage.audit import Actor, act_as
from storage.repositories import StoredAnswer
from storage.unit_of_work import UnitOfWork

MAX_IDEMPOTENCY_KEY = 255
MAX_BULK_BODY_BYTES = 16 * 1024 * 1024  # a batch of 50,000 findings fits; anything larger is refused unread


@dataclass(frozen=True)
class Caller:
    kind: PartyKind
    party_id: str
    key_id: str

    @property
    def party(self) -> tuple[str, str]:
        return (self.kind.value, self.party_id)


# Requests inside `Call.replayable` at once. Each holds a connection for its key's lock and may open
# one more for its work; with more of them than half the pool (10 + 10 overflow), they all held one
# connection and waited for a second: found by the catastrophe surge (1,000 incidents, 50 at a time).
REPLAY_SLOTS = 8


@dataclass
class Services:
    """What the app holds for its lifetime; tests build their own."""

    temporal: Client
    sessions: async_sessionmaker[AsyncSession]
    task_queue: str
    replay_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(REPLAY_SLOTS))


def services(request: Request) -> Services:
    return request.app.state.services


_bearer = HTTPBearer(auto_error=False, description="An API key: `cyk_<key id>_<secret>`")


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None:
        raise Problem(401, "missing_api_key", "send your API key as `Authorization: Bearer cyk_…`")
    try:
        key_id, secret = keys.parse_token(credentials.credentials)
    except keys.KeyFormatError as error:
        raise Problem(401, "malformed_api_key", str(error)) from None
    async with UnitOfWork(services(request).sessions) as uow:
        stored = await uow.api.active_key(key_id)
    if stored is None or not keys.secret_matches(secret, stored.secret_hash):
        raise Problem(401, "invalid_api_key", "this API key is unknown or revoked")
    caller = Caller(PartyKind(stored.party_kind), stored.party_id, stored.key_id)
    request.state.caller = caller
    # The server runs each request in a task of its own: the actor ends with the request.
    act_as(Actor.of_party(caller.kind.value, caller.party_id, caller.key_id))
    return caller


@dataclass
class Call:
    """One authenticated request: the caller, the services, and the key that makes it replayable."""

    caller: Caller
    request: Request
    services: Services
    replay_key: tuple[str, str] | None = None  # ("idempotency" | "webhook", key)
    _open_uow: UnitOfWork | None = None  # the replay's transaction, while its action runs

    @property
    def temporal(self) -> Client:
        return self.services.temporal

    def update_id(self, name: str) -> str | None:
        """The id of the workflow update this request makes, derived from its replay key: a retry
        whose first attempt's answer was lost is the same update, which Temporal applies once."""
        if self.replay_key is None:
            return None
        kind, key = self.replay_key
        party_kind, party_id = self.caller.party
        return "api-" + hashlib.sha256(f"{party_kind}\n{party_id}\n{kind}\n{key}\n{name}".encode()).hexdigest()[:32]

    async def require(self, kind: ObjectKind, object_id: str) -> None:
        """404 unless the caller holds a grant on the object: missing and not-yours look the same."""
        async with UnitOfWork(self.services.sessions) as uow:
            granted = await uow.api.granted(self.caller.kind.value, self.caller.party_id, kind.value, {object_id})
        if not granted:
            raise not_found(kind.value, object_id)

    async def grant(self, kind: ObjectKind, object_id: str, parties: set[tuple[str, str]]) -> None:
        """Inside a replayable action, in its transaction: stored with the answer, or not at all."""
        if self._open_uow is not None:
            await self._open_uow.api.grant(kind.value, object_id, parties)
            return
        async with UnitOfWork(self.services.sessions) as uow:
            await uow.api.grant(kind.value, object_id, parties)

    async def replayable(
        self, action: Callable[[], Awaitable[BaseModel | dict[str, Any]]], *, status_code: int = 200
    ) -> JSONResponse:
        """Runs `action` once per replay key; a repeat with the same body gets the first answer, byte
        for byte.

        Requests with one key queue on a PostgreSQL advisory lock, so concurrent repeats wait for the
        first and then replay it: one workflow, one signal. Only successes are stored; after an
        error the same key may be tried again.
        """
        if self.replay_key is None:
            return _json(status_code, await action())
        key_kind, key = self.replay_key
        fingerprint = hashlib.sha256(
            f"{self.request.method} {self.request.url.path}\n".encode() + await self.request.body()
        ).hexdigest()
        party_kind, party_id = self.caller.party
        async with self.services.replay_slots, UnitOfWork(self.services.sessions) as uow:
            await uow.api.lock_request_key(party_kind, party_id, key_kind, key)
            stored = await uow.api.stored_answer(party_kind, party_id, key_kind, key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise Problem(
                        422, "key_reused",
                        f"this {_key_name(key_kind)} was already used for a different request",
                    )
                response = _sent(stored)
                response.headers["Idempotent-Replayed"] = "true"
                return response
            self._open_uow = uow
            try:
                result = jsonable_encoder(await action())
            finally:
                self._open_uow = None
            # Rendered once, and these bytes go to the first caller and to every repeat: the JSONB
            # copy comes back with its keys in PostgreSQL's order, so re-rendering it differs.
            answer = StoredAnswer(fingerprint, status_code, result, _json(status_code, result).body)
            await uow.api.store_answer(party_kind, party_id, key_kind, key, answer)
        return _sent(answer)


def _key_name(key_kind: str) -> str:
    return "webhook-id" if key_kind == "webhook" else "Idempotency-Key"


def _json(status_code: int, body: BaseModel | dict[str, Any]) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), status_code=status_code)


class _RenderedJSON(JSONResponse):
    """JSON rendered before: its bytes go out as they are."""

    def render(self, content: bytes) -> bytes:
        return content


def _sent(answer: StoredAnswer) -> JSONResponse:
    if answer.body is None:  # stored before the bytes were kept (migration 0008): only its JSON is left
        return _json(answer.status_code, answer.response)
    return _RenderedJSON(answer.body, status_code=answer.status_code)


async def _verify_push(request: Request, caller: Caller, services_: Services) -> str:
    """The webhook-id of a genuinely signed, fresh push from this vendor."""
    async with UnitOfWork(services_.sessions) as uow:
        stored = await uow.api.active_webhook_secrets(caller.party_id)
    secrets = []
    for secret in stored:
        try:
            secrets.append(signatures.decode_secret(secret))
        except ValueError:
            continue  # a secret stored malformed verifies nothing; the others still may
    if not secrets:
        raise Problem(401, "no_webhook_secret", "this vendor has no active webhook secret; ask for one to be issued")
    headers = {name: request.headers[name] for name in ("webhook-id", "webhook-timestamp", "webhook-signature") if name in request.headers}
    try:
        return signatures.verify(headers, await request.body(), secrets, now=int(time.time()))
    except signatures.SignatureError as error:
        raise Problem(401, error.code, str(error)) from None


def party(*allowed: PartyKind, max_body: int = MAX_MESSAGE_BYTES) -> Callable[..., Awaitable[Call]]:
    """A dependency: an authenticated caller of one of the `allowed` kinds (403 otherwise), whose body
    is at most `max_body` bytes: what goes into a workflow must fit Temporal's payloads with room to
    spare; only bulk intake, stored in PostgreSQL rather than sent through Temporal, takes more."""
    names = " or ".join(kind.value for kind in allowed)

    async def dependency(
        request: Request,
        caller: Annotated[Caller, Depends(authenticate)],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description="Any unique string (a UUID): repeating the request with it returns the first answer",
            ),
        ] = None,
        webhook_id: Annotated[str | None, Header(alias="webhook-id", description="Vendors: Standard Webhooks id")] = None,
        webhook_timestamp: Annotated[str | None, Header(alias="webhook-timestamp", description="Vendors: Unix seconds")] = None,
        webhook_signature: Annotated[str | None, Header(alias="webhook-signature", description="Vendors: `v1,<base64>`")] = None,
    ) -> Call:
        if caller.kind not in allowed:
            raise Problem(403, "wrong_party", f"this endpoint is for {names}; your key is a {caller.kind.value}'s")
        call = Call(caller, request, services(request))
        if request.method == "POST":
            if caller.kind is PartyKind.VENDOR:
                call.replay_key = ("webhook", await _verify_push(request, caller, call.services))
            elif idempotency_key is not None:
                if not idempotency_key.strip() or len(idempotency_key) > MAX_IDEMPOTENCY_KEY or not idempotency_key.isprintable():
                    raise Problem(400, "malformed_idempotency_key", f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters")
                call.replay_key = ("idempotency", idempotency_key)
        if request.method == "POST" and len(await request.body()) > max_body:
            raise Problem(413, "body_too_large", f"a request to this endpoint may be at most {max_body} bytes")
        await refuse_what_no_message_may_hold(request)
        return call

    return dependency


async def refuse_what_no_message_may_hold(request: Request) -> None:
    """422 naming the field for a value that breaks a boundary rule (domain.boundaries) in the path,
    the query or a JSON body, before anything is looked up, started, signalled or stored."""
    places = [({name: value}, "path") for name, value in request.path_params.items()]
    places += [({name: value}, "query") for name, value in request.query_params.multi_items()]
    breach = next(filter(None, (first_breach(value, where) for value, where in places)), None)
    if breach is None and request.method == "POST":
        breach = breach_in_json(await request.body(), "body")
    if breach is not None:
        where, reason = breach
        raise Problem(422, "invalid_value", f"{where}: {reason}", errors=[{"field": where, "message": reason}])


async def _reader(request: Request, caller: Annotated[Caller, Depends(authenticate)]) -> Call:
    await refuse_what_no_message_may_hold(request)
    return Call(caller, request, services(request))


InsuredCall = Annotated[Call, Depends(party(PartyKind.INSURED))]
VendorCall = Annotated[Call, Depends(party(PartyKind.VENDOR))]
VendorBulkCall = Annotated[Call, Depends(party(PartyKind.VENDOR, max_body=MAX_BULK_BODY_BYTES))]
InsurerCall = Annotated[Call, Depends(party(PartyKind.INSURER))]
Reader = Annotated[Call, Depends(_reader)]
ReporterCall = Annotated[Call, Depends(party(PartyKind.INSURED, PartyKind.VENDOR))]
InsuredOrInsurerCall = Annotated[Call, Depends(party(PartyKind.INSURED, PartyKind.INSURER))]
PlatformCall = Annotated[Call, Depends(party(PartyKind.PLATFORM))]
PlatformOrInsurerCall = Annotated[Call, Depends(party(PartyKind.PLATFORM, PartyKind.INSURER))]
