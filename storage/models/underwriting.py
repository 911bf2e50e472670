"""Pre-cover records: who applied, what the vendor assessed, how it was underwritten and quoted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CurrencyCode, Fen


class OrganisationRow(Base):
    """The applicant, keyed by its unified social credit code (GB 32100)."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    unified_social_credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    industry: Mapped[str] = mapped_column(String(32))
    revenue_band: Mapped[str] = mapped_column(String(32))
    operates_critical_infrastructure: Mapped[bool]
    is_state_organ: Mapped[bool]
    last_applied_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ApplicationRow(Base):
    __tablename__ = "applications"

    policy_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organisations.id"), index=True)
    application: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


class AssessmentRow(Base):
    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("policy_id", "term_number"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(128))
    term_number: Mapped[int]
    vendor_id: Mapped[str] = mapped_column(String(64))
    report: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


class UnderwritingDecisionRow(Base):
    __tablename__ = "underwriting_decisions"
    __table_args__ = (UniqueConstraint("policy_id", "term_number", "stage"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(128))
    term_number: Mapped[int]
    stage: Mapped[str] = mapped_column(String(32))
    risk_score: Mapped[int]
    decision: Mapped[str] = mapped_column(String(16))
    premium_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(CurrencyCode)
    reasons: Mapped[list[Any]]
    result: Mapped[dict[str, Any]]
    underwriter_id: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime]


class QuoteRow(Base):
    __tablename__ = "quotes"
    __table_args__ = (CheckConstraint("status IN ('issued', 'accepted', 'expired')", name="status"),)

    quote_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(128), index=True)
    term_number: Mapped[int]
    premium_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(CurrencyCode)
    status: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    status_changed_at: Mapped[datetime]
    quote: Mapped[dict[str, Any]]
