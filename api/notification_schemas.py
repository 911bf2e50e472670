"""The bodies a party sends to manage its notifications, and what it reads back: endpoints, e-mail
recipients, its events and their deliveries. A secret appears only in what registration and rotation
answer; no view of an endpoint carries one."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.boundaries import PastInstant
from domain.endpoints import MAX_ADDRESS, MAX_URL, check_email_address
from domain.notifications import BY_NAME, unknown_type_names
from storage.models import (
    DeliveryAttemptRow,
    DeliveryRow,
    EmailRecipientRow,
    PartyEventRow,
    WebhookEndpointRow,
)

MAX_SUBSCRIBED_TYPES = 100
ENDPOINT_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,40}$"
CURSOR_PATTERN = r"^c[0-9a-z]{1,12}$"  # twelve base-36 digits stay inside PostgreSQL's bigint
# Exactly the catalogue's names, comma-separated: what the schema allows, the feed accepts.
TYPES_PATTERN = "^(?:{names})(?:,(?:{names}))*$".format(
    names="|".join(re.escape(name) for name in sorted(BY_NAME))
)

EventTypeName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=80,
        pattern=r"^(\*|[a-z][a-z_]*(\.[a-z][a-z_]*)*)$",
        description="an event type, e.g. `incident.dispatch.requested`, or `*` for every type",
    ),
]
EndpointId = Annotated[str, Field(pattern=ENDPOINT_ID_PATTERN, description="e.g. ep-3f2a9c41b7d0")]
Cursor = Annotated[str, Field(pattern=CURSOR_PATTERN, description="`next` of an earlier answer")]


def subscription(names: list[str]) -> list[str]:
    """The names once each, in the order given; `*` alone when it is among them. ValueError naming
    every name that is no event type."""
    unknown = unknown_type_names(names)
    if unknown:
        raise ValueError("unknown event types: " + ", ".join(dict.fromkeys(unknown)))
    return ["*"] if "*" in names else list(dict.fromkeys(names))


def encode_cursor(row_id: int) -> str:
    digits = ""
    while True:
        row_id, digit = divmod(row_id, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
        if row_id == 0:
            return "c" + digits


def decode_cursor(cursor: str | None) -> int:
    return 0 if cursor is None else int(cursor[1:], 36)


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Subscribing(_Body):
    @field_validator("event_types", check_fields=False)
    @classmethod
    def _known_types(cls, names: list[str]) -> list[str]:
        return subscription(names)


class EndpointRequest(_Subscribing):
    url: str = Field(
        min_length=1, max_length=MAX_URL, description="https, to a public host; where events are POSTed"
    )
    event_types: list[EventTypeName] = Field(min_length=1, max_length=MAX_SUBSCRIBED_TYPES)
    description: str | None = Field(default=None, max_length=500)


class EmailRecipientRequest(_Subscribing):
    address: str = Field(min_length=3, max_length=MAX_ADDRESS)
    event_types: list[EventTypeName] = Field(
        default_factory=lambda: ["*"], min_length=1, max_length=MAX_SUBSCRIBED_TYPES
    )
    language: Literal["zh", "en"] = "zh"

    @field_validator("address")
    @classmethod
    def _deliverable(cls, address: str) -> str:
        return check_email_address(address)


class RedeliveryRequest(_Body):
    endpoint_id: EndpointId | None = Field(
        default=None,
        description="this endpoint of yours (active); none: every active endpoint subscribed to the type",
    )


class RecoveryRequest(_Body):
    since: PastInstant = Field(description="every event of yours that occurred from then on")
    after: Cursor | None = Field(
        default=None, description="`next` of the previous recovery, to go on from there"
    )


# -- What a party reads ----------------------------------------------------------------------------------


class EndpointView(BaseModel):
    endpoint_id: str
    url: str
    event_types: list[str]
    description: str | None
    status: Literal["active", "paused", "disabled"]
    status_reason: str | None = Field(description="why it is paused or disabled")
    failing_since: datetime | None = Field(
        description="its first failure since its last success; disabled after 5 days"
    )
    created_at: datetime

    @classmethod
    def of(cls, row: WebhookEndpointRow) -> EndpointView:
        return cls(
            endpoint_id=row.endpoint_id,
            url=row.url,
            event_types=list(row.event_types),
            description=row.description,
            status=row.status,
            status_reason=row.status_reason,
            failing_since=row.failing_since,
            created_at=row.created_at,
        )


class RegisteredEndpoint(EndpointView):
    secret: str = Field(description="the `whsec_` signing secret: shown now and never again")


class Endpoints(BaseModel):
    endpoints: list[EndpointView]


class SecretRotated(BaseModel):
    endpoint_id: str
    secret: str = Field(description="the new signing secret: shown now and never again")
    previous_secret_expires_at: datetime = Field(
        description="until then the old secret signs beside the new one"
    )


class AttemptView(BaseModel):
    id: int
    at: datetime
    event_id: str
    attempt: int
    outcome: Literal["delivered", "failed", "gone", "inactive"]
    status_code: int | None
    latency_ms: int
    error: str | None

    @classmethod
    def of(cls, row: DeliveryAttemptRow) -> AttemptView:
        return cls(
            id=row.id,
            at=row.at,
            event_id=row.event_id,
            attempt=row.attempt,
            outcome=row.outcome,
            status_code=row.status_code,
            latency_ms=row.latency_ms,
            error=row.error,
        )


class Attempts(BaseModel):
    attempts: list[AttemptView]
    next_after: int | None = Field(description="pass as `after` for the next page; null on the last page")


class RecipientView(BaseModel):
    recipient_id: int
    address: str
    event_types: list[str]
    language: Literal["zh", "en"]
    status: Literal["active", "paused"]
    created_at: datetime

    @classmethod
    def of(cls, row: EmailRecipientRow) -> RecipientView:
        return cls(
            recipient_id=row.id,
            address=row.address,
            event_types=list(row.event_types),
            language=row.language,
            status=row.status,
            created_at=row.created_at,
        )


class Recipients(BaseModel):
    recipients: list[RecipientView]


class EventView(BaseModel):
    id: str = Field(description="also the `webhook-id` of its deliveries")
    type: str
    object: str = Field(description="what it is about: policy, incident, claim, qualification, endpoint, …")
    object_id: str | None
    occurred_at: datetime
    urgent: bool
    data: dict[str, Any]

    @classmethod
    def of(cls, row: PartyEventRow) -> EventView:
        return cls(
            id=row.event_id,
            type=row.event_type,
            object=row.subject,
            object_id=row.subject_id,
            occurred_at=row.occurred_at,
            urgent=row.urgent,
            data=dict(row.payload),
        )


class EventPage(BaseModel):
    events: list[EventView]
    next: str | None = Field(
        description="where this page ends: pass as `after` for what follows, now or later "
        "(null only while you have no events at all)"
    )
    more: bool = Field(description="whether more events follow already: ask again at once")


class DeliveryView(BaseModel):
    channel: Literal["webhook", "email"]
    target: str = Field(description="the endpoint id, or the e-mail address")
    role: Literal["primary", "fallback"]
    status: Literal["pending", "standby", "delivered", "failed", "skipped"]
    delivered_at: datetime | None
    last_error: str | None
    attempts: list[AttemptView]

    @classmethod
    def of(cls, row: DeliveryRow, attempts: list[DeliveryAttemptRow]) -> DeliveryView:
        mine = [AttemptView.of(a) for a in attempts if (a.channel, a.target) == (row.channel, row.target)]
        return cls(
            channel=row.channel,
            target=row.target,
            role=row.role,
            status=row.status,
            delivered_at=row.delivered_at,
            last_error=row.last_error,
            attempts=mine,
        )


class EventDeliveries(BaseModel):
    event_id: str
    deliveries: list[DeliveryView]


class Redelivery(BaseModel):
    event_id: str
    endpoint_ids: list[str]
    workflow_id: str


class Recovery(BaseModel):
    endpoint_id: str
    redelivered: int = Field(description="events sent again now (at most 1,000 a call)")
    more: bool = Field(description="whether more events remain: call again with `after` set to `next`")
    next: str | None
