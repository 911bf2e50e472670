"""In-cover monitoring: findings, the history of their resolution, and escalations to incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.findings import FindingStatus
from storage.models.base import Base

FINDING_STATUSES = tuple(status.value for status in FindingStatus)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class FindingRow(Base):
    """One vendor finding; the vendor's event id makes a re-sent report land once."""

    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("policy_id", "vendor_event_id"),
        Index("ix_findings_policy_id_status", "policy_id", "status"),
        CheckConstraint(_one_of("status", FINDING_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(128))
    term_number: Mapped[int]
    vendor_event_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    asset: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500))
    observed_at: Mapped[datetime]
    received_at: Mapped[datetime]
    deadline_at: Mapped[datetime | None]
    remind_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]
    # The term in which the deadline passed: renewal looks at the closing term's overdue findings.
    overdue_term: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(32))
    active_compromise: Mapped[bool]


class FindingResolutionRow(Base):
    """Append-only history of status changes; `sequence` keeps a retried change from landing twice."""

    __tablename__ = "finding_resolutions"
    __table_args__ = (UniqueConstraint("finding_id", "sequence"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    finding_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("findings.id", ondelete="CASCADE"))
    sequence: Mapped[int]
    from_status: Mapped[str] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    # An insured's resolution sets `resolution`; a vendor's rescan sets `fix_confirmed`.
    resolution: Mapped[str | None] = mapped_column(String(32))
    fix_confirmed: Mapped[bool | None]
    actor: Mapped[str] = mapped_column(String(16))
    vendor_id: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None]
    at: Mapped[datetime]


class IncidentEscalationRow(Base):
    """A finding that shows active compromise, waiting for the incident workflow to take it."""

    __tablename__ = "incident_escalations"
    __table_args__ = (UniqueConstraint("policy_id", "vendor_event_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(128))
    vendor_event_id: Mapped[str] = mapped_column(String(128))
    finding_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("findings.id", ondelete="CASCADE"))
    asset: Mapped[str] = mapped_column(String(255))
    detected_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(32), server_default="awaiting_incident_workflow")


class FindingBatchRow(Base):
    """Findings as the API received them, waiting for their policy workflow to record them.

    Only the batch's id travels through Temporal; the findings stay here. `recorded_at` is set once,
    when the policy workflow has recorded them as findings.
    """

    __tablename__ = "finding_batches"
    __table_args__ = (Index("ix_finding_batches_policy_id", "policy_id"),)

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(128))
    vendor_id: Mapped[str] = mapped_column(String(64))
    finding_count: Mapped[int]
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    stored_at: Mapped[datetime]
    recorded_at: Mapped[datetime | None]
