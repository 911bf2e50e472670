"""Every party's own events: the feed it pages through (what its webhooks were sent, and what they
missed), each event's deliveries with their attempts, and sending an event again.

Another party's event is not found, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import JSONResponse
from pydantic import WithJsonSchema

from api import subscriptions, temporal_calls
from api.context import Reader
from api.notification_schemas import (
    CURSOR_PATTERN,
    TYPES_PATTERN,
    DeliveryView,
    EventDeliveries,
    EventPage,
    EventView,
    Redelivery,
    RedeliveryRequest,
    decode_cursor,
    encode_cursor,
)
from api.openapi import facts
from api.problems import not_found
from api.routes.endpoints import AnyParty, invalid, refused, run_key
from domain.notifications import BY_NAME
from storage.models import PartyEventRow
from storage.unit_of_work import UnitOfWork
from workflows.delivery import delivery_workflow_id

router = APIRouter(prefix="/v1", tags=["notifications"])

EventIdPath = Annotated[
    str, Path(pattern=r"^msg_[a-z2-7]{1,40}$", description="e.g. msg_3ndt6vjzq2…; the webhook-id")
]
FeedAfter = Annotated[str | None, Query(pattern=CURSOR_PATTERN, description="`next` of the previous page")]
# The exact catalogue in the schema, for clients and fuzzers; the route itself names an unknown type,
# more readably than a failed match against a pattern of every name would.
TypesText = Annotated[
    str, WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 4000, "pattern": TYPES_PATTERN})
]
FeedTypes = Annotated[
    TypesText | None,
    Query(
        min_length=1,
        max_length=4000,
        description="only these event types, comma-separated",
    ),
]
FeedLimit = Annotated[int, Query(ge=1, le=500)]


async def own_event(uow: UnitOfWork, party: tuple[str, str], event_id: str) -> PartyEventRow:
    event = await uow.endpoints.event(party, event_id)
    if event is None:
        raise not_found("event", event_id)
    return event


def _types(types: str | None) -> list[str] | None:
    if types is None:
        return None
    names = types.split(",")
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise invalid("query.types", "unknown event types: " + ", ".join(dict.fromkeys(unknown)))
    return list(dict.fromkeys(names))


@router.get("/events", response_model=EventPage, summary="Your events, oldest first, page by page")
async def feed(
    call: Reader, after: FeedAfter = None, types: FeedTypes = None, limit: FeedLimit = 100
) -> EventPage:
    """Whatever your webhooks missed is here, in the order it was recorded: page with `after` set to
    `next` while `more` is true, and keep the last `next` to ask later for what came since. Filtering
    by type skips the others and never reorders."""
    wanted = _types(types)
    async with UnitOfWork(call.services.sessions) as uow:
        rows = await uow.endpoints.feed(
            call.caller.party, after=decode_cursor(after), types=wanted, limit=limit + 1
        )
    shown = rows[:limit]
    return EventPage(
        events=[EventView.of(row) for row in shown],
        next=encode_cursor(shown[-1].id) if shown else after,
        more=len(rows) > limit,
    )


@router.get("/events/{event_id}", response_model=EventView, summary="One of your events")
async def get_event(event_id: EventIdPath, call: Reader) -> EventView:
    async with UnitOfWork(call.services.sessions) as uow:
        return EventView.of(await own_event(uow, call.caller.party, event_id))


@router.get(
    "/events/{event_id}/deliveries",
    response_model=EventDeliveries,
    summary="Where the event went: each endpoint and address, with every attempt",
)
async def event_deliveries(event_id: EventIdPath, call: Reader) -> EventDeliveries:
    async with UnitOfWork(call.services.sessions) as uow:
        await own_event(uow, call.caller.party, event_id)
        deliveries = await uow.endpoints.deliveries(event_id)
        attempts = await uow.endpoints.event_attempts(event_id)
    return EventDeliveries(
        event_id=event_id, deliveries=[DeliveryView.of(row, attempts) for row in deliveries]
    )


@router.post(
    "/events/{event_id}/redeliver",
    response_model=Redelivery,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send the event again to your webhook endpoints",
    openapi_extra=facts(temporal=True, conflicts=("no_active_endpoint", "endpoint_not_active")),
)
async def redeliver(event_id: EventIdPath, body: RedeliveryRequest, call: AnyParty) -> JSONResponse:
    """To the endpoint named (yours, active), else to every active endpoint of yours subscribed to its
    type; with the same `webhook-id`, on the usual schedule. A repeat with the same Idempotency-Key
    sends nothing more."""
    async with UnitOfWork(call.services.sessions) as uow:
        await own_event(uow, call.caller.party, event_id)

    async def action() -> Redelivery:
        # Committed before the workflow starts: it delivers what it finds pending.
        async with UnitOfWork(call.services.sessions) as uow:
            event = await own_event(uow, call.caller.party, event_id)
            endpoints = await uow.endpoints.of_party(call.caller.party)
            try:
                targets = subscriptions.redelivery_targets(endpoints, event.event_type, body.endpoint_id)
            except LookupError:
                raise not_found("endpoint", str(body.endpoint_id)) from None
            except subscriptions.Refused as refusal:
                raise refused(refusal) from None
            await uow.endpoints.plan_redelivery([event_id], targets)
        key = run_key(call, "redeliver")
        async with temporal_calls.temporal_errors(f"the redelivery of event {event_id}"):
            await subscriptions.start_deliveries(call.temporal, call.services.task_queue, [event_id], key,
                                                 targets=targets)
        return Redelivery(
            event_id=event_id, endpoint_ids=targets, workflow_id=delivery_workflow_id(event_id, key)
        )

    return await call.replayable(action, status_code=status.HTTP_202_ACCEPTED)
