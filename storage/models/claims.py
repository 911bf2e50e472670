"""Claims (理赔): phases, loss items, loss statements, payments made and subrogation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.claim import ClaimPhase
from storage.models.base import Base, CurrencyCode, Fen

CLAIM_PHASES = tuple(phase.value for phase in ClaimPhase)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ClaimRow(Base):
    __tablename__ = "claims"
    __table_args__ = (CheckConstraint(_one_of("phase", CLAIM_PHASES), name="phase"),)

    claim_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(128), ForeignKey("incidents.incident_id"), index=True)
    policy_id: Mapped[str] = mapped_column(String(128), index=True)
    claimant: Mapped[str] = mapped_column(String(16))
    third_party: Mapped[str | None] = mapped_column(String(200))
    phase: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ClaimPhaseRow(Base):
    """Append-only: when the claim entered each phase; a phase may be entered again later."""

    __tablename__ = "claim_phase_history"
    __table_args__ = (UniqueConstraint("claim_id", "phase", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    claim_id: Mapped[str] = mapped_column(String(128), ForeignKey("claims.claim_id"))
    phase: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None]
    at: Mapped[datetime]


class LossItemRow(Base):
    """The current version of each loss item: adjusters correct items by sending them again."""

    __tablename__ = "loss_items"
    __table_args__ = (UniqueConstraint("claim_id", "item_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    claim_id: Mapped[str] = mapped_column(String(128), ForeignKey("claims.claim_id"))
    item_id: Mapped[str] = mapped_column(String(128))
    head: Mapped[str] = mapped_column(String(48))
    # None for business interruption: its loss is computed from the item's figures.
    amount_fen: Mapped[int | None] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(CurrencyCode)
    item: Mapped[dict[str, Any]]
    recorded_at: Mapped[datetime]


class LossStatementRow(Base):
    """Every determination of a claim, kept: a re-determination adds a statement."""

    __tablename__ = "loss_statements"
    __table_args__ = (UniqueConstraint("claim_id", "determination"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    claim_id: Mapped[str] = mapped_column(String(128), ForeignKey("claims.claim_id"))
    determination: Mapped[int] = mapped_column(Integer)
    total_payable_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(CurrencyCode)
    statement: Mapped[dict[str, Any]]
    at: Mapped[datetime]


class PayoutRow(Base):
    """A payment made. This table stands in for the bank, so it keeps no link to the claims table:
    the idempotency key alone decides whether a payment order was already carried out."""

    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    claim_id: Mapped[str] = mapped_column(String(128), index=True)
    sequence: Mapped[int]
    amount_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(CurrencyCode)
    head: Mapped[str | None] = mapped_column(String(48))
    interim: Mapped[bool]
    payment_reference: Mapped[str] = mapped_column(String(32), unique=True)
    requested_at: Mapped[datetime]
    paid_at: Mapped[datetime]


class SubrogationRow(Base):
    """Recovery sought from a liable third party; one row per party, the latest version kept."""

    __tablename__ = "subrogations"
    __table_args__ = (UniqueConstraint("claim_id", "liable_party"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    claim_id: Mapped[str] = mapped_column(String(128), ForeignKey("claims.claim_id"))
    liable_party: Mapped[str] = mapped_column(String(200))
    basis: Mapped[str]
    amount_sought_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(CurrencyCode)
    at: Mapped[datetime]
