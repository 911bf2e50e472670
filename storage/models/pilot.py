"""The pilot programme: reporting deadlines and what became of them, schemes and healthcare
applications as submitted."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

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


class PilotSchemeRow(Base):
    """A service scheme (服务方案) as submitted, after its rules were checked."""

    __tablename__ = "pilot_schemes"

    scheme_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    programme: Mapped[str] = mapped_column(String(16))
    lead_credit_code: Mapped[str] = mapped_column(String(18), index=True)
    joint_units: Mapped[int]
    direction: Mapped[str] = mapped_column(String(32))
    document: Mapped[dict[str, Any]]
    submitted_at: Mapped[datetime]


class HealthcareApplicationRow(Base):
    """A Shanghai healthcare pilot application as submitted."""

    __tablename__ = "healthcare_applications"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    applicant_credit_code: Mapped[str] = mapped_column(String(18), index=True)
    document: Mapped[dict[str, Any]]
    submitted_at: Mapped[datetime]
