"""Who may call the API and what they may touch: keys, vendors' signing secrets, grants, replays."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base

PARTY_KINDS = "'insured', 'vendor', 'insurer', 'platform'"


class ApiKeyRow(Base):
    """An API key: only the SHA-256 of its secret is stored; the token is shown once, at issue."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(f"party_kind IN ({PARTY_KINDS})", name="party_kind"),
        Index("ix_api_keys_party", "party_kind", "party_id"),
    )

    key_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    party_kind: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]


class WebhookSecretRow(Base):
    """A vendor's Standard Webhooks signing secret. Kept whole: verifying an HMAC needs the key itself.
    Several may be active at once, so a vendor rotates without a gap."""

    __tablename__ = "webhook_secrets"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(64), index=True)
    secret: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]


class ApiGrantRow(Base):
    """One party may act on one object (a policy, incident or claim); no row, no access."""

    __tablename__ = "api_grants"
    __table_args__ = (
        PrimaryKeyConstraint("party_kind", "party_id", "object_kind", "object_id", name="pk_api_grants"),
        CheckConstraint(f"party_kind IN ({PARTY_KINDS})", name="party_kind"),
        CheckConstraint("object_kind IN ('policy', 'incident', 'claim', 'qualification')", name="object_kind"),
        Index("ix_api_grants_object", "object_kind", "object_id"),
    )

    party_kind: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[str] = mapped_column(String(64))
    object_kind: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ApiRequestRow(Base):
    """The first answer to a request carrying an Idempotency-Key or a webhook-id, replayed to repeats."""

    __tablename__ = "api_requests"
    __table_args__ = (
        PrimaryKeyConstraint("party_kind", "party_id", "key_kind", "key", name="pk_api_requests"),
        CheckConstraint("key_kind IN ('idempotency', 'webhook')", name="key_kind"),
    )

    party_kind: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[str] = mapped_column(String(64))
    key_kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(256))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]]
    # What repeats are sent. JSONB keeps neither key order nor spacing, so `response` alone cannot
    # give back the bytes of the first answer; NULL in rows from before 0008.
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
