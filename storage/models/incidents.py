"""Incidents after cover: the report, its timeline, evidence with its chain of custody, forensics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class IncidentRow(Base):
    """One reported incident; the reporter's own reference makes a re-sent report land once."""

    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("policy_id", "reference"),)

    incident_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(128))
    # None when no term of the policy was in force at discovery: the incident is still recorded.
    term_number: Mapped[int | None]
    reported_by: Mapped[str] = mapped_column(String(16))
    reporter_id: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str] = mapped_column(String(128))
    discovered_at: Mapped[datetime]
    received_at: Mapped[datetime]
    grade: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(48))
    summary: Mapped[str]
    affected_systems: Mapped[list[Any]]
    region: Mapped[str | None] = mapped_column(String(64))
    coverage: Mapped[dict[str, Any]]
    in_force: Mapped[bool]
    late_notice: Mapped[bool]


class IncidentEventRow(Base):
    """Append-only timeline of an incident; `event_key` keeps a retried entry from landing twice."""

    __tablename__ = "incident_events"
    __table_args__ = (UniqueConstraint("incident_id", "event_key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(128), ForeignKey("incidents.incident_id"))
    event_key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(48))
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]]


class EvidenceRow(Base):
    """An item of evidence as collected; its hash fixes what it is, so it is never changed."""

    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("incident_id", "evidence_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(128), ForeignKey("incidents.incident_id"))
    evidence_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    collected_by: Mapped[str] = mapped_column(String(64))
    collected_at: Mapped[datetime]


class EvidenceCustodyRow(Base):
    """Append-only chain of custody: who held the evidence and what they did, in sequence."""

    __tablename__ = "evidence_custody"
    __table_args__ = (
        UniqueConstraint("incident_id", "evidence_id", "sequence"),
        ForeignKeyConstraint(
            ["incident_id", "evidence_id"], ["evidence.incident_id", "evidence.evidence_id"]
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(128))
    evidence_id: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int]
    action: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    note: Mapped[str | None]


class ForensicsReportRow(Base):
    """The incident's forensics report; a later report replaces an earlier one."""

    __tablename__ = "forensics_reports"

    incident_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("incidents.incident_id"), primary_key=True
    )
    vendor_id: Mapped[str] = mapped_column(String(64))
    report: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    # Copied out of the report for the exclusions and for reporting on the pilot.
    state_backed: Mapped[bool]
    first_intrusion_at: Mapped[datetime]
    personal_data_records_affected: Mapped[int] = mapped_column(BigInteger)
