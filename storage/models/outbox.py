"""The notification outbox: written in the same transaction as the change it announces."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class OutboxNotificationRow(Base):
    __tablename__ = "notification_outbox"
    __table_args__ = (
        # The sender only ever scans what is still unsent.
        Index("ix_notification_outbox_unsent", "id", postgresql_where="sent_at IS NULL"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    policy_id: Mapped[str | None] = mapped_column(String(128), index=True)
    qualification_id: Mapped[str | None] = mapped_column(String(128))
    recipient: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[datetime | None]
