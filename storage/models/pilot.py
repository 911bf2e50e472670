"""The pilot programme's reporting deadlines and what became of them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class PilotDeadlineRow(Base):
    __tablename__ = "pilot_deadlines"

    deadline_key: Mapped[str] = mapped_column(String(96), primary_key=True)
    programme: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    due_on: Mapped[date]
    reminders_sent: Mapped[int]
    overdue: Mapped[bool]
    filed_at: Mapped[datetime | None]
    filed_reference: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime]
