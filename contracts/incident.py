"""The incident workflow's contract: input, state, signals, updates and query."""

from __future__ import annotations

import hashlib
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.incident_activities import IncidentReport
from domain.boundaries import Instant, PastInstant
from domain.incident import (
    CoverageCheck,
    CustodyAction,
    Evidence,
    ForensicsReport,
    IncidentCategory,
    IncidentGrade,
    OperatorType,
    PanelVendor,
    ReportingRules,
)


def incident_id_for(policy_id: str, reference: str) -> str:
    """Deterministic, so reporting the same incident again finds the same workflow; hashed, so no
    reporter's reference (which may name people) appears in a workflow id."""
    digest = hashlib.sha256(f"{policy_id}\n{reference}".encode()).hexdigest()
    return f"inc-{digest[:20]}"


def incident_workflow_id(incident_id: str) -> str:
    return f"incident-{incident_id}"


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IncidentRules(BaseModel):
    model_config = ConfigDict(frozen=True)

    reporting: ReportingRules = Field(default_factory=ReportingRules)
    # At most a week: a vendor's deadline is then always a date the workflow can compute, so the
    # emergency response cannot fail on it (a failure there fails the incident's run).
    dispatch_ack_minutes: int = Field(default=60, gt=0, le=7 * 24 * 60,
                                      description="a panel vendor must acknowledge within this")
    panel_directory: list[PanelVendor] = Field(default_factory=list)
    max_progress_event_ids: int = Field(default=2_000, gt=0)


class IncidentPhase(StrEnum):
    REPORTED = "reported"
    RESPONDING = "responding"  # a panel vendor has acknowledged
    RESTORED = "restored"  # service restored; the closing report clock runs
    CLOSED = "closed"


class ReportKind(StrEnum):
    INITIAL = "initial"
    SUPPLEMENTARY = "supplementary"
    CLOSING = "closing"


class RegulatoryFiling(_Message):
    kind: ReportKind
    channel: str = Field(min_length=1, max_length=100, description="e.g. the department's portal, 公安 hotline")
    reference: str = Field(min_length=1, max_length=100)
    filed_at: PastInstant


class IncidentState(BaseModel):
    phase: IncidentPhase = IncidentPhase.REPORTED
    grade: IncidentGrade
    category: IncidentCategory
    coverage: CoverageCheck | None = None
    term_number: int | None = None
    operator_type: OperatorType | None = None
    report_deadline: Instant | None = None
    report_overdue: bool = False
    filings: list[RegulatoryFiling] = Field(default_factory=list, max_length=500)
    closing_report_due: Instant | None = None
    closing_report_overdue: bool = False
    panel: list[str] = Field(default_factory=list)
    dispatched_vendor: str | None = None
    acknowledged_by: str | None = None
    contained_at: Instant | None = None
    restored_at: Instant | None = None
    progress_event_ids: list[str] = Field(default_factory=list)
    progress_ignored: int = Field(default=0, description="progress signals dropped: dated ahead of now or before discovery")
    evidence_ids: list[str] = Field(default_factory=list, max_length=10_000)
    forensics: ForensicsReport | None = None
    closing_reason: str | None = None

    def filed(self, kind: ReportKind) -> bool:
        return any(f.kind is kind for f in self.filings)


class IncidentWorkflowInput(_Message):
    incident_id: str
    report: IncidentReport
    rules: IncidentRules = Field(default_factory=IncidentRules)


class DispatchAcknowledgement(_Message):
    vendor_id: str = Field(min_length=1, max_length=64)


class ProgressKind(StrEnum):
    NOTE = "note"
    CONTAINED = "contained"
    RESTORED = "restored"


class VendorProgress(_Message):
    vendor_id: str = Field(min_length=1, max_length=64)
    event_id: str = Field(min_length=1, max_length=128)
    kind: ProgressKind
    at: Instant
    note: str | None = Field(default=None, max_length=2000)


class EvidenceSubmission(_Message):
    evidence: Evidence


class CustodyTransfer(_Message):
    evidence_id: str = Field(min_length=1, max_length=64)
    action: CustodyAction
    by: str = Field(min_length=1, max_length=64)
    at: Instant
    note: str | None = Field(default=None, max_length=2000)


class CustodyReceipt(_Message):
    evidence_id: str
    custody_entries: int


class Regrading(_Message):
    grade: IncidentGrade
    category: IncidentCategory
    reason: str = Field(min_length=1, max_length=2000)


class IncidentClosure(_Message):
    reason: str = Field(min_length=1, max_length=2000)


class IncidentStatus(_Message):
    incident_id: str
    policy_id: str
    phase: IncidentPhase
    grade: IncidentGrade
    category: IncidentCategory
    covered: bool | None
    late_notice: bool | None
    coverage_notes: list[str]
    report_deadline: Instant | None
    report_overdue: bool
    filings: list[RegulatoryFiling]
    closing_report_due: Instant | None
    closing_report_overdue: bool
    dispatched_vendor: str | None
    acknowledged_by: str | None
    contained_at: Instant | None
    restored_at: Instant | None
    evidence: int
    forensics_received: bool
    progress_ignored: int = 0
