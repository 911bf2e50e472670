"""One typed model in and one out for every incident activity."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.parties import Notification, Party
from domain.boundaries import Instant, PastInstant
from domain.coverage import Industry
from domain.incident import (
    CoverageCheck,
    CustodyAction,
    Evidence,
    ForensicsReport,
    IncidentCategory,
    IncidentGrade,
    OperatorType,
)
from domain.policy import BoundPolicy


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


class IncidentReport(_Message):
    """First notice of loss. `reference` is the reporter's own id: the same reference is the same incident."""

    policy_id: str = Field(min_length=1, max_length=64)
    reported_by: Party
    reporter_id: str = Field(min_length=1, max_length=64)
    reference: str = Field(min_length=1, max_length=128)
    discovered_at: PastInstant
    grade: IncidentGrade
    category: IncidentCategory
    summary: str = Field(min_length=1, max_length=2000, description="what happened; no personal data")
    affected_systems: list[str] = Field(default_factory=list, max_length=200)
    region: str | None = Field(default=None, max_length=64, description="for choosing a panel vendor")


class LoadIncidentCover(_Message):
    policy_id: str
    discovered_at: Instant


class IncidentCover(_Message):
    """The policy term in force at discovery (if any) and what the reporting clock needs."""

    policy: BoundPolicy | None
    cancelled_at: Instant | None
    operator_type: OperatorType
    industry: Industry


class RecordIncident(_Message):
    incident_id: str = Field(max_length=128)
    report: IncidentReport
    coverage: CoverageCheck
    term_number: int | None
    received_at: Instant


class IncidentEventKind(StrEnum):
    REGULATORY_REPORT_DUE = "regulatory_report_due"
    REGULATORY_REPORT_OVERDUE = "regulatory_report_overdue"
    REGULATORY_REPORT_FILED = "regulatory_report_filed"
    SUPPLEMENTARY_REPORT_FILED = "supplementary_report_filed"
    CLOSING_REPORT_DUE = "closing_report_due"
    CLOSING_REPORT_FILED = "closing_report_filed"
    CLOSING_REPORT_OVERDUE = "closing_report_overdue"
    VENDOR_DISPATCHED = "vendor_dispatched"
    VENDOR_ACKNOWLEDGED = "vendor_acknowledged"
    DISPATCH_ESCALATED = "dispatch_escalated"
    NO_PANEL_VENDOR = "no_panel_vendor"
    PROGRESS = "progress"
    CONTAINED = "contained"
    RESTORED = "restored"
    REGRADED = "regraded"
    CLOSED = "closed"


class RecordIncidentEvent(_Message):
    """An entry on the incident's append-only timeline; `event_key` makes it idempotent."""

    incident_id: str
    event_key: str = Field(max_length=300)
    kind: IncidentEventKind
    at: Instant
    actor: str | None = Field(default=None, max_length=64)
    details: dict[str, str | int | bool | None] = Field(default_factory=dict)
    notifications: list[Notification] = Field(
        default_factory=list, max_length=4, description="written to the outbox in the same transaction"
    )


class RegisterEvidence(_Message):
    incident_id: str
    evidence: Evidence


class EvidenceRegistered(_Message):
    """Registering the same evidence id again with the same content is a no-op; other content is refused."""

    evidence_id: str
    custody_entries: int


class RecordCustody(_Message):
    incident_id: str
    evidence_id: str
    action: CustodyAction
    by: str = Field(min_length=1, max_length=64)
    at: Instant
    note: str | None = None


class RecordForensics(_Message):
    incident_id: str
    report: ForensicsReport
    received_at: Instant
