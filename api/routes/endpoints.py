"""Every party's own webhook endpoints and e-mail recipients: where cyberins tells it of its events.

A party sees and touches only its own: another party's endpoint or recipient is not found, exactly
like one that does not exist. An endpoint's signing secret is shown when it is registered and when it
is rotated, never otherwise.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import JSONResponse

from api import subscriptions, temporal_calls
from api.context import Call, PartyKind, Reader, party
from api.notification_schemas import (
    ENDPOINT_ID_PATTERN,
    Attempts,
    AttemptView,
    EmailRecipientRequest,
    EndpointRequest,
    Endpoints,
    EndpointView,
    Recipients,
    RecipientView,
    Recovery,
    RecoveryRequest,
    RegisteredEndpoint,
    SecretRotated,
    decode_cursor,
    encode_cursor,
)
from api.openapi import facts
from api.problems import Problem, not_found
from api.routes.common import new_object_id
from domain.boundaries import MAX_INTEGER
from domain.endpoints import check_endpoint_url
from settings import get_settings
from storage.models import WebhookEndpointRow
from storage.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1", tags=["notifications"])

# Every kind of party manages its own; a vendor signs these POSTs like all of its others.
AnyParty = Annotated[Call, Depends(party(*PartyKind))]
EndpointIdPath = Annotated[str, Path(pattern=ENDPOINT_ID_PATTERN, description="e.g. ep-3f2a9c41b7d0")]
RecipientIdPath = Annotated[
    int, Path(ge=1, le=MAX_INTEGER, description="as listed by GET /v1/email-recipients")
]
AttemptsAfter = Annotated[int, Query(ge=0, le=MAX_INTEGER, description="`next_after` of the previous page")]
AttemptsLimit = Annotated[int, Query(ge=1, le=500)]
POSTGRES_ONLY = facts(temporal=False)


def invalid(field: str, message: str) -> Problem:
    return Problem(
        422, "invalid_request", f"{field}: {message}", errors=[{"field": field, "message": message}]
    )


def refused(refusal: subscriptions.Refused) -> Problem:
    return Problem(409, refusal.code, refusal.detail)


def run_key(call: Call, purpose: str) -> str:
    """The delivery's run key: from the request's replay key when it has one, so that a repeat after a
    lost answer finds the workflows the first attempt started instead of starting more."""
    if call.replay_key is None:
        return subscriptions.new_run_key()
    kind, key = call.replay_key
    party_kind, party_id = call.caller.party
    return (
        "k" + hashlib.sha256(f"{purpose}\n{party_kind}\n{party_id}\n{kind}\n{key}".encode()).hexdigest()[:32]
    )


async def own_endpoint(uow: UnitOfWork, call: Call, endpoint_id: str) -> WebhookEndpointRow:
    endpoint = await uow.endpoints.get(call.caller.party, endpoint_id)
    if endpoint is None:
        raise not_found("endpoint", endpoint_id)
    return endpoint


async def require_endpoint(call: Call, endpoint_id: str) -> None:
    """404 before the replay key is looked at, as for any object: not yours is not yours, whatever the key."""
    async with UnitOfWork(call.services.sessions) as uow:
        await own_endpoint(uow, call, endpoint_id)


@router.post(
    "/endpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisteredEndpoint,
    summary="Register a webhook endpoint; its signing secret is shown only now",
    openapi_extra=facts(temporal=False, conflicts=("too_many_endpoints", "endpoint_id_taken")),
)
async def register(body: EndpointRequest, call: AnyParty) -> JSONResponse:
    """Events of the listed types (or `*`) are POSTed to the URL per Standard Webhooks, signed with
    the secret; `webhook-id` is the event's id."""
    http_loopback = get_settings().webhook_http_loopback
    try:
        check_endpoint_url(body.url, http_loopback=http_loopback)
    except ValueError as error:
        raise invalid("body.url", str(error)) from None

    async def action() -> RegisteredEndpoint:
        try:
            async with UnitOfWork(call.services.sessions) as uow:
                endpoint, secret = await subscriptions.register_endpoint(
                    uow,
                    call.caller.party,
                    new_object_id("ep", call),
                    url=body.url,
                    event_types=body.event_types,
                    description=body.description,
                    http_loopback=http_loopback,
                )
        except subscriptions.Refused as refusal:
            raise refused(refusal) from None
        return RegisteredEndpoint(**EndpointView.of(endpoint).model_dump(), secret=secret)

    return await call.replayable(action, status_code=status.HTTP_201_CREATED)


@router.get("/endpoints", response_model=Endpoints, summary="Your webhook endpoints")
async def list_endpoints(call: Reader) -> Endpoints:
    async with UnitOfWork(call.services.sessions) as uow:
        rows = await uow.endpoints.of_party(call.caller.party)
    return Endpoints(endpoints=[EndpointView.of(row) for row in rows])


@router.get("/endpoints/{endpoint_id}", response_model=EndpointView, summary="One of your webhook endpoints")
async def get_endpoint(endpoint_id: EndpointIdPath, call: Reader) -> EndpointView:
    async with UnitOfWork(call.services.sessions) as uow:
        return EndpointView.of(await own_endpoint(uow, call, endpoint_id))


@router.post(
    "/endpoints/{endpoint_id}/pause",
    response_model=EndpointView,
    summary="Stop delivering to the endpoint until you resume it",
    openapi_extra=facts(temporal=False, conflicts=("endpoint_not_active",)),
)
async def pause(endpoint_id: EndpointIdPath, call: AnyParty) -> JSONResponse:
    """Attempts due while it is paused are skipped; a disabled endpoint is resumed, not paused."""
    await require_endpoint(call, endpoint_id)

    async def action() -> EndpointView:
        async with UnitOfWork(call.services.sessions) as uow:
            endpoint = await own_endpoint(uow, call, endpoint_id)
            try:
                return EndpointView.of(await subscriptions.pause(uow, endpoint, by="its party"))
            except subscriptions.Refused as refusal:
                raise refused(refusal) from None

    return await call.replayable(action)


@router.post(
    "/endpoints/{endpoint_id}/resume",
    response_model=EndpointView,
    openapi_extra=POSTGRES_ONLY,
    summary="Deliver to a paused or disabled endpoint again",
)
async def resume(endpoint_id: EndpointIdPath, call: AnyParty) -> JSONResponse:
    """Its record of failures starts afresh. What it missed is not sent by itself: recover it."""
    await require_endpoint(call, endpoint_id)

    async def action() -> EndpointView:
        async with UnitOfWork(call.services.sessions) as uow:
            await own_endpoint(uow, call, endpoint_id)
            return EndpointView.of(await uow.endpoints.set_status(endpoint_id, "active"))

    return await call.replayable(action)


@router.delete(
    "/endpoints/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete the endpoint: nothing more is delivered to it",
)
async def delete_endpoint(endpoint_id: EndpointIdPath, call: Reader) -> Response:
    async with UnitOfWork(call.services.sessions) as uow:
        await own_endpoint(uow, call, endpoint_id)
        await uow.endpoints.set_status(endpoint_id, "deleted", reason="deleted by its party")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/endpoints/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    openapi_extra=POSTGRES_ONLY,
    summary="A new signing secret; the old one signs beside it for a while",
)
async def rotate_secret(endpoint_id: EndpointIdPath, call: AnyParty) -> JSONResponse:
    """Until `previous_secret_expires_at` every delivery carries a signature under each secret, so your
    receiver can switch to the new one without losing an event."""
    overlap = timedelta(hours=get_settings().webhook_secret_overlap_hours)
    await require_endpoint(call, endpoint_id)

    async def action() -> SecretRotated:
        async with UnitOfWork(call.services.sessions) as uow:
            await own_endpoint(uow, call, endpoint_id)
            secret, until = await subscriptions.rotate(uow, endpoint_id, overlap=overlap)
        return SecretRotated(endpoint_id=endpoint_id, secret=secret, previous_secret_expires_at=until)

    return await call.replayable(action)


@router.get(
    "/endpoints/{endpoint_id}/attempts", response_model=Attempts, summary="Delivery attempts to the endpoint"
)
async def endpoint_attempts(
    endpoint_id: EndpointIdPath, call: Reader, after: AttemptsAfter = 0, limit: AttemptsLimit = 100
) -> Attempts:
    async with UnitOfWork(call.services.sessions) as uow:
        await own_endpoint(uow, call, endpoint_id)
        rows = await uow.endpoints.endpoint_attempts(endpoint_id, after=after, limit=limit + 1)
    shown = rows[:limit]
    return Attempts(
        attempts=[AttemptView.of(row) for row in shown],
        next_after=shown[-1].id if len(rows) > limit else None,
    )


@router.post(
    "/endpoints/{endpoint_id}/recover",
    response_model=Recovery,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send the endpoint again every event of yours since a time",
    openapi_extra=facts(temporal=True, conflicts=("endpoint_not_active",)),
)
async def recover(endpoint_id: EndpointIdPath, body: RecoveryRequest, call: AnyParty) -> JSONResponse:
    """Of the types it subscribes to, up to 1,000 a call, oldest first; `more` says whether to call
    again with `after` set to `next`. Each is delivered on the usual schedule."""
    await require_endpoint(call, endpoint_id)

    async def action() -> Recovery:
        # Committed before the workflows start: they deliver what they find pending.
        async with UnitOfWork(call.services.sessions) as uow:
            endpoint = await own_endpoint(uow, call, endpoint_id)
            if endpoint.status != "active":
                raise refused(
                    subscriptions.Refused(
                        "endpoint_not_active", f"endpoint {endpoint_id} is {endpoint.status}; resume it first"
                    )
                )
            types = None if "*" in endpoint.event_types else list(endpoint.event_types)
            events = await uow.endpoints.events_since(
                call.caller.party,
                body.since,
                types=types,
                after=decode_cursor(body.after),
                limit=subscriptions.RECOVERY_BATCH + 1,
            )
            batch = events[: subscriptions.RECOVERY_BATCH]
            await uow.endpoints.plan_redelivery([event.event_id for event in batch], [endpoint_id])
        async with temporal_calls.temporal_errors(f"the recovery of endpoint {endpoint_id}"):
            await subscriptions.start_deliveries(
                call.temporal,
                call.services.task_queue,
                [event.event_id for event in batch],
                run_key(call, "recover"),
                targets=[endpoint_id],
            )
        more = len(events) > len(batch)
        return Recovery(
            endpoint_id=endpoint_id,
            redelivered=len(batch),
            more=more,
            next=encode_cursor(batch[-1].id) if more else None,
        )

    return await call.replayable(action, status_code=status.HTTP_202_ACCEPTED)


# -- E-mail recipients -----------------------------------------------------------------------------------


@router.post(
    "/email-recipients",
    status_code=status.HTTP_201_CREATED,
    response_model=RecipientView,
    openapi_extra=POSTGRES_ONLY,
    summary="Have events e-mailed to an address",
)
async def add_recipient(body: EmailRecipientRequest, call: AnyParty) -> JSONResponse:
    """An address already added takes the new types and language. Urgent events also go to every
    address of yours when no webhook of yours answers in time."""

    async def action() -> RecipientView:
        async with UnitOfWork(call.services.sessions) as uow:
            row = await uow.endpoints.add_recipient(
                call.caller.party, body.address, event_types=body.event_types, language=body.language
            )
        return RecipientView.of(row)

    return await call.replayable(action, status_code=status.HTTP_201_CREATED)


@router.get("/email-recipients", response_model=Recipients, summary="Your e-mail recipients")
async def list_recipients(call: Reader) -> Recipients:
    async with UnitOfWork(call.services.sessions) as uow:
        rows = await uow.endpoints.recipients_of(call.caller.party)
    return Recipients(recipients=[RecipientView.of(row) for row in rows])


@router.delete(
    "/email-recipients/{recipient_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Stop e-mailing an address",
)
async def delete_recipient(recipient_id: RecipientIdPath, call: Reader) -> Response:
    async with UnitOfWork(call.services.sessions) as uow:
        if not await uow.endpoints.delete_recipient(call.caller.party, recipient_id):
            raise not_found("e-mail recipient", str(recipient_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
