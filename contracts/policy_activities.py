"""One typed model in and one out for every activity."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.application import PolicyApplication
from domain.assessment import AssessmentReport
from domain.boundaries import Instant
from domain.coverage import CoverageHead
from domain.findings import FindingStatus, FindingSummary, MonitoringFinding, Resolution
from domain.money import Money
from domain.policy import CancellingParty, PolicyPhase, Quote
from domain.rating import UnderwritingResult
from domain.rules import RemediationRules


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


class RecordApplication(_Message):
    policy_id: str
    application: PolicyApplication
    received_at: Instant


class RecordAssessment(_Message):
    policy_id: str
    term_number: int
    report: AssessmentReport
    received_at: Instant


class UnderwritingStage(StrEnum):
    AUTOMATIC = "automatic"
    UNDERWRITER = "underwriter"


class RecordUnderwriting(_Message):
    policy_id: str
    term_number: int
    stage: UnderwritingStage
    result: UnderwritingResult
    underwriter_id: str | None = None
    decided_at: Instant


class RecordQuote(_Message):
    policy_id: str
    quote: Quote


class QuoteStatus(StrEnum):
    ISSUED = "issued"
    ACCEPTED = "accepted"
    EXPIRED = "expired"


class RecordQuoteStatus(_Message):
    policy_id: str
    quote_id: str
    status: QuoteStatus
    at: Instant


class BindPolicy(_Message):
    """Bind a quote for a term. Retried, it returns the policy bound the first time."""

    policy_id: str
    quote: Quote
    term_start: Instant
    term_end: Instant
    previous_policy_number: str | None = Field(
        default=None, description="a renewal keeps its policy number"
    )


class ReceivedFinding(_Message):
    finding: MonitoringFinding
    received_at: Instant


class RecordFindings(_Message):
    policy_id: str
    term_number: int
    findings: list[ReceivedFinding]
    rules: RemediationRules


class ReceivedBatch(_Message):
    """A batch the API stored in `finding_batches`; only its id and size travel through Temporal."""

    batch_id: str = Field(min_length=1, max_length=64)
    findings: int = Field(ge=1)
    received_at: Instant


class RecordFindingBatches(_Message):
    policy_id: str
    term_number: int
    batches: list[ReceivedBatch]
    rules: RemediationRules


class Escalation(_Message):
    """A finding that signals active compromise: the seam to incident response."""

    policy_id: str
    vendor_event_id: str
    asset: str
    detected_at: Instant


class FindingIntake(_Message):
    inserted: int
    duplicates: int
    escalations: list[Escalation]
    summary: FindingSummary
    next_due_at: Instant | None


class ResolveFinding(_Message):
    policy_id: str
    term_number: int
    vendor_event_id: str
    resolution: Resolution
    note: str | None = None
    at: Instant


class VerifyFix(_Message):
    policy_id: str
    term_number: int
    vendor_event_id: str
    vendor_id: str
    fix_confirmed: bool
    at: Instant


class FindingChanged(_Message):
    vendor_event_id: str
    previous_status: FindingStatus
    status: FindingStatus
    summary: FindingSummary
    next_due_at: Instant | None


class SweepRemediation(_Message):
    policy_id: str
    term_number: int
    now: Instant


class SweepResult(_Message):
    reminders_sent: int
    newly_overdue: int
    summary: FindingSummary
    next_due_at: Instant | None


class RecordEndorsement(_Message):
    policy_id: str
    policy_number: str
    term_number: int
    request_id: str
    head: CoverageHead
    previous_sublimit: Money
    new_sublimit: Money
    additional_premium: Money
    return_premium: Money
    effective_at: Instant


class RecordCancellation(_Message):
    policy_id: str
    policy_number: str
    term_number: int
    cancelled_by: CancellingParty
    reason: str
    effective_at: Instant
    return_premium: Money


class RecordPolicyPhase(_Message):
    """Mirror of the workflow's phase in the policies table, for reporting."""

    policy_id: str
    term_number: int
    phase: PolicyPhase
    at: Instant
    reason: str | None = None
