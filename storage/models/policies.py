"""Bound terms and what happens to them: coverage heads, endorsements, cancellation, phases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKeyConstraint,
    Identity,
    Integer,
    Sequence,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CurrencyCode, Fen

# Policy numbers come from a sequence so that concurrent bindings never share one.
POLICY_NUMBER_SEQUENCE = Sequence("policy_number_seq", metadata=Base.metadata)


class PolicyRow(Base):
    """One row per term of a policy; a renewal adds a row and keeps the policy number."""

    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("policy_number", "term_number"),)

    policy_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    term_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_number: Mapped[str] = mapped_column(String(32))
    quote_id: Mapped[str] = mapped_column(String(128))
    phase: Mapped[str] = mapped_column(String(32))
    term_start: Mapped[datetime]
    term_end: Mapped[datetime]
    annual_premium_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(CurrencyCode)
    risk_score: Mapped[int]
    schedule: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CoverageHeadRow(Base):
    """The schedule's heads as rows, so reports can sum limits without reading JSON."""

    __tablename__ = "coverage_heads"
    __table_args__ = (
        ForeignKeyConstraint(
            ["policy_id", "term_number"], ["policies.policy_id", "policies.term_number"], ondelete="CASCADE"
        ),
    )

    policy_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    term_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    head: Mapped[str] = mapped_column(String(48), primary_key=True)
    sublimit_fen: Mapped[int] = mapped_column(Fen)
    retention_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(CurrencyCode)
    coinsurance_bps: Mapped[int]


class EndorsementRow(Base):
    __tablename__ = "endorsements"
    __table_args__ = (UniqueConstraint("policy_id", "request_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(128))
    request_id: Mapped[str] = mapped_column(String(128))
    policy_number: Mapped[str] = mapped_column(String(32))
    term_number: Mapped[int]
    head: Mapped[str] = mapped_column(String(48))
    previous_sublimit_fen: Mapped[int] = mapped_column(Fen)
    new_sublimit_fen: Mapped[int] = mapped_column(Fen)
    additional_premium_fen: Mapped[int] = mapped_column(Fen)
    return_premium_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(CurrencyCode)
    effective_at: Mapped[datetime]


class CancellationRow(Base):
    __tablename__ = "cancellations"
    __table_args__ = (UniqueConstraint("policy_id", "term_number"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(128))
    term_number: Mapped[int]
    policy_number: Mapped[str] = mapped_column(String(32))
    cancelled_by: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str]
    effective_at: Mapped[datetime]
    return_premium_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(CurrencyCode)


class PolicyPhaseRow(Base):
    """Append-only: when each term entered each phase, for reporting on the pilot."""

    __tablename__ = "policy_phase_history"
    __table_args__ = (UniqueConstraint("policy_id", "term_number", "phase"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(128))
    term_number: Mapped[int]
    phase: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None]
    at: Mapped[datetime]
