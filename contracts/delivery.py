"""One typed model in and out of the delivery workflow and its activities."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.notifications import Channel, Outcome


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


@dataclass(frozen=True)
class DeliveryRules:
    """From the settings: the webhook schedule and timeout, when a failing endpoint is disabled, and
    when an urgent event falls back to e-mail."""

    schedule_seconds: list[int]
    webhook_timeout_seconds: float
    disable_after: timedelta
    fallback_after_seconds: int
    # Development: deliver to loopback and private addresses (receivers on this machine); never in production.
    internal_addresses: bool = False


class DeliveryTarget(_Message):
    channel: Channel
    target: str
    role: Literal["primary", "fallback"]


class DeliveryPlan(_Message):
    event_id: str
    event_type: str
    urgent: bool
    targets: list[DeliveryTarget]
    schedule_seconds: list[int]
    fallback_after_seconds: int
    webhook_timeout_seconds: float


class DeliverEvent(_Message):
    """The delivery workflow's input: one party's event, to every target planned for it."""

    event_id: str = Field(pattern=r"^msg_[a-z2-7]{1,36}$")
    run_key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")  # a redelivery's own
    # A redelivery's endpoints: only these are tried (no e-mail fallback); None: every target planned.
    targets: list[str] | None = Field(default=None, max_length=100)
    # Planned when the event was stored, so the workflow need not ask the database; None: it asks.
    plan: DeliveryPlan | None = None


class AttemptDelivery(_Message):
    event_id: str
    channel: Channel
    target: str
    attempt: int = Field(ge=1)
    fallback: bool = False


class AttemptResult(_Message):
    outcome: Outcome
    status_code: int | None = None
    error: str | None = None


class DeliveryGivenUp(_Message):
    event_id: str
    channel: Channel
    target: str
    attempts: int
    reason: str


class FallbackNotNeeded(_Message):
    event_id: str
    targets: list[str]


class DeliveryReport(_Message):
    event_id: str
    delivered: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
