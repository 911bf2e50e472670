"""Platform qualifications: a provider's application, its timeline, the intent form sent to the
insurer and each set of proofs with what verifying it found."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CurrencyCode, Fen


class QualificationRow(Base):
    __tablename__ = "qualifications"

    qualification_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64), index=True)
    unified_social_credit_code: Mapped[str] = mapped_column(String(18))
    proof_path: Mapped[str] = mapped_column(String(32))
    insurer_id: Mapped[str | None] = mapped_column(String(64))
    existing_provider: Mapped[bool]
    phase: Mapped[str] = mapped_column(String(32))
    applied_at: Mapped[datetime]
    policy_id: Mapped[str | None] = mapped_column(String(128))
    qualified_until: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class QualificationEventRow(Base):
    """Append-only timeline; `event_key` keeps a retried entry from landing twice."""

    __tablename__ = "qualification_events"
    __table_args__ = (UniqueConstraint("qualification_id", "event_key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    qualification_id: Mapped[str] = mapped_column(String(128), ForeignKey("qualifications.qualification_id"))
    event_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(48))
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]]


class IntentFormRow(Base):
    """The 意向单 the platform sends the insurer once it approves an application."""

    __tablename__ = "intent_forms"

    intent_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    qualification_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("qualifications.qualification_id"), unique=True
    )
    provider_id: Mapped[str] = mapped_column(String(64))
    unified_social_credit_code: Mapped[str] = mapped_column(String(18))
    insurer_id: Mapped[str | None] = mapped_column(String(64))
    requested_limit_fen: Mapped[int | None] = mapped_column(Fen)
    currency: Mapped[str | None] = mapped_column(CurrencyCode)
    generated_at: Mapped[datetime]


class QualificationProofRow(Base):
    __tablename__ = "qualification_proofs"
    __table_args__ = (UniqueConstraint("qualification_id", "submission"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    qualification_id: Mapped[str] = mapped_column(String(128), ForeignKey("qualifications.qualification_id"))
    submission: Mapped[int]
    proof_path: Mapped[str] = mapped_column(String(32))
    proofs: Mapped[dict[str, Any]]
    passed: Mapped[bool]
    problems: Mapped[list[Any]]
    valid_until: Mapped[datetime | None]
    submitted_at: Mapped[datetime]
