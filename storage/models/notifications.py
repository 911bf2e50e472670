"""What each party is told and how it reached them: events, endpoints, e-mail recipients, deliveries.

`notification_outbox` keeps what a workflow decided (one row per decision); `party_events` is that
decision as each entitled party sees it, in order, with the id that is also the `webhook-id`;
`deliveries` is one event to one webhook endpoint or e-mail address, and `delivery_attempts` every
try at it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base

RECIPIENT_KINDS = "'insured', 'vendor', 'insurer', 'platform', 'operator'"


class PartyEventRow(Base):
    __tablename__ = "party_events"
    __table_args__ = (
        CheckConstraint(f"party_kind IN ({RECIPIENT_KINDS})", name="party_kind"),
        UniqueConstraint("dedupe_key", "party_kind", "party_id", name="uq_party_events_decision"),
        # The feed: one party's events in order.
        Index("ix_party_events_feed", "party_kind", "party_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    dedupe_key: Mapped[str] = mapped_column(String(300))
    event_type: Mapped[str] = mapped_column(String(80))
    party_kind: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str | None] = mapped_column(String(128))
    urgent: Mapped[bool] = mapped_column(Boolean)
    occurred_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class WebhookEndpointRow(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint(f"party_kind IN ({RECIPIENT_KINDS})", name="party_kind"),
        CheckConstraint("status IN ('active', 'paused', 'disabled', 'deleted')", name="status"),
        Index("ix_webhook_endpoints_party", "party_kind", "party_id"),
    )

    endpoint_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    party_kind: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(JSONB)
    description: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(String(300))
    # The first failure since the last success: an endpoint failing long enough is disabled.
    failing_since: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class EndpointSecretRow(Base):
    """An endpoint's `whsec_` signing secrets; after a rotation the old one signs too until it expires."""

    __tablename__ = "endpoint_secrets"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(String(40), ForeignKey("webhook_endpoints.endpoint_id"), index=True)
    secret: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime | None]


class EmailRecipientRow(Base):
    __tablename__ = "email_recipients"
    __table_args__ = (
        CheckConstraint(f"party_kind IN ({RECIPIENT_KINDS})", name="party_kind"),
        CheckConstraint("language IN ('zh', 'en')", name="language"),
        CheckConstraint("status IN ('active', 'paused')", name="status"),
        UniqueConstraint("party_kind", "party_id", "address", name="uq_email_recipients_address"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    party_kind: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(320))
    event_types: Mapped[list[str]] = mapped_column(JSONB)
    language: Mapped[str] = mapped_column(String(2), default="zh")
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DeliveryRow(Base):
    """One event to one target. `role` fallback: an e-mail sent only if an urgent webhook fails in time."""

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint("channel IN ('webhook', 'email')", name="channel"),
        CheckConstraint("role IN ('primary', 'fallback')", name="role"),
        CheckConstraint("status IN ('pending', 'standby', 'delivered', 'failed', 'skipped')", name="status"),
        UniqueConstraint("event_id", "channel", "target", name="uq_deliveries_target"),
        Index("ix_deliveries_target", "target", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), ForeignKey("party_events.event_id"))
    channel: Mapped[str] = mapped_column(String(8))
    target: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DeliveryAttemptRow(Base):
    """Every try: when, the answer, how long it took, what went wrong. Never the secret or the body."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_event", "event_id", "id"), Index("ix_delivery_attempts_target", "target", "id"))

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(8))
    target: Mapped[str] = mapped_column(String(320))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
