"""The policy workflow's contract: its input, state, signals, updates and queries."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contracts.policy_activities import ReceivedBatch, ReceivedFinding
from domain.application import PolicyApplication
from domain.assessment import AssessmentReport
from domain.boundaries import Instant
from domain.coverage import CoverageHead
from domain.findings import FindingStatus, FindingSummary, MonitoringFinding, Resolution
from domain.ledger import TermLedger
from domain.money import Money
from domain.policy import BoundPolicy, CancellingParty, PolicyPhase, Quote
from domain.rating import Decision, UnderwritingResult
from domain.rules import PolicyRules

POLICY_WORKFLOW_ID_PREFIX = "policy-"


def policy_workflow_id(policy_id: str) -> str:
    return f"{POLICY_WORKFLOW_ID_PREFIX}{policy_id}"


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UnderwritingCase(BaseModel):
    """One pass of assessment → underwriting → quote → acceptance, for a first term or a renewal.

    Each step records its outcome here, so a case interrupted by continue-as-new resumes where it was.
    """

    term_number: int
    term_start: Instant | None = Field(default=None, description="known at renewal: the old term's end")
    vendor_id: str
    vendors_tried: list[str] = Field(default_factory=list)
    assessment_attempt: int = 1
    assessment_due_at: Instant | None = None
    assessment_inbox: AssessmentReport | None = None
    assessment: AssessmentReport | None = None
    automatic: UnderwritingResult | None = None
    referral_inbox: UnderwriterDecision | None = None
    referral_reminders: int = 0
    final: UnderwritingResult | None = None
    quote: Quote | None = None
    accepted: bool = False
    verified_remediations: list[str] = Field(default_factory=list)
    outcome_reason: str | None = None

    def outstanding_remediations(self) -> list[str]:
        required = self.quote.required_remediations if self.quote else []
        return [r.code for r in required if r.code not in self.verified_remediations]

    @property
    def ready_to_bind(self) -> bool:
        return self.accepted and not self.outstanding_remediations()


class DroppedFindings(_Message):
    """Findings a signal brought that the policy did not take: how many, from whom, and why."""

    at: Instant
    vendor_id: str
    count: int
    reason: str


# Notices of dropped findings kept in the state and shown in the status; older ones are counted only.
DROPPED_NOTICES_KEPT = 20


class PolicyState(BaseModel):
    """Everything the workflow knows, carried whole through continue-as-new.

    Bounded: per-finding detail is in PostgreSQL; only counts and the unwritten buffer live here.
    """

    phase: PolicyPhase = PolicyPhase.AWAITING_ASSESSMENT
    case: UnderwritingCase | None = None
    policy: BoundPolicy | None = None
    monitoring_vendor_id: str | None = None
    premium_charged: Money | None = None
    findings: FindingSummary = Field(default_factory=FindingSummary)
    next_finding_due_at: Instant | None = None
    pending_findings: list[ReceivedFinding] = Field(default_factory=list)
    pending_batches: list[ReceivedBatch] = Field(default_factory=list)
    findings_ignored: int = 0
    dropped_findings: list[DroppedFindings] = Field(default_factory=list, description="the latest, newest last")
    endorsement_ids: list[str] = Field(default_factory=list, max_length=1000)
    ledgers: dict[int, TermLedger] = Field(default_factory=dict, description="limits per policy period")
    runoff_ends: Instant | None = None
    risk_score: int | None = None
    terms_completed: int = 0
    closing_reason: str | None = None
    runs: int = 1

    @property
    def term_number(self) -> int:
        return self.policy.term_number if self.policy else 1

    @property
    def findings_waiting(self) -> int:
        return len(self.pending_findings) + sum(batch.findings for batch in self.pending_batches)

    def drop_findings(self, notice: DroppedFindings) -> None:
        """Signals cannot be refused: what one brings and the policy does not take is counted, and the
        latest notices say why, so that the sender can see it in the status."""
        self.findings_ignored += notice.count
        self.dropped_findings = [*self.dropped_findings, notice][-DROPPED_NOTICES_KEPT:]

    def status(self, policy_id: str) -> PolicyStatus:
        """What the status query shows: the bound term, or the case being underwritten."""
        policy, case = self.policy, self.case
        underwriting = (case.final or case.automatic) if case else None
        return PolicyStatus(
            policy_id=policy_id,
            phase=self.phase,
            term_number=self.term_number,
            vendor_id=self.monitoring_vendor_id or (case.vendor_id if case else ""),
            policy_number=policy.policy_number if policy else None,
            term_start=policy.term_start if policy else None,
            term_end=policy.term_end if policy else None,
            risk_score=self.risk_score if policy else (underwriting.risk_score if underwriting else None),
            decision=underwriting.decision if underwriting else None,
            reasons=underwriting.reasons if underwriting else [],
            quote=case.quote if case else None,
            premium_charged=self.premium_charged,
            findings=self.findings,
            pending_findings=self.findings_waiting,
            findings_ignored=self.findings_ignored,
            dropped_findings=self.dropped_findings,
            endorsements=len(self.endorsement_ids),
            closing_reason=self.closing_reason,
            runs=self.runs,
        )


class PolicyWorkflowInput(_Message):
    policy_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    application: PolicyApplication
    rules: PolicyRules = Field(default_factory=PolicyRules)
    state: PolicyState | None = Field(default=None, description="set only by continue-as-new")


class PolicyOutcome(_Message):
    policy_id: str
    phase: PolicyPhase
    policy_number: str | None
    terms_completed: int
    reason: str | None


# -- Updates and signals -----------------------------------------------------------------------


class AssessmentSubmission(_Message):
    report: AssessmentReport


class AssessmentReceipt(_Message):
    term_number: int
    risk_score: int
    decision: Decision


class UnderwriterDecision(_Message):
    underwriter_id: str = Field(min_length=1, max_length=64)
    decision: Decision
    reason: str = Field(min_length=1, max_length=2000)
    premium_override: Money | None = None


class UnderwriterDecisionReceipt(_Message):
    decision: Decision
    premium: Money


class QuoteAcceptance(_Message):
    quote_id: str


class QuoteAcceptanceReceipt(_Message):
    quote_id: str
    outstanding_remediations: list[str]
    policy_number: str | None = Field(
        default=None, description="set when acceptance bound the policy; a renewal binds at term end"
    )


class PrebindRemediationVerified(_Message):
    vendor_id: str
    code: str


class PrebindRemediationReceipt(_Message):
    outstanding_remediations: list[str]


class MonitoringBatch(_Message):
    """Signal from the monitoring vendor: one finding or many; each vendor event id applies once."""

    vendor_id: str
    findings: list[MonitoringFinding] = Field(min_length=1, max_length=5_000)


class StoredBatch(_Message):
    batch_id: str = Field(min_length=1, max_length=64)
    findings: int = Field(ge=1, le=5_000, description="how many it holds, for the status while it waits")


class StoredFindings(_Message):
    """Signal from the API: a vendor's findings for this policy are stored in `finding_batches`."""

    vendor_id: str
    batches: list[StoredBatch] = Field(min_length=1, max_length=1_000)

    @property
    def total(self) -> int:
        return sum(batch.findings for batch in self.batches)


class FindingResolutionRequest(_Message):
    vendor_event_id: str
    resolution: Resolution
    note: str | None = Field(default=None, max_length=2000)


class FixVerification(_Message):
    vendor_id: str
    vendor_event_id: str
    fix_confirmed: bool


class FindingResolutionReceipt(_Message):
    vendor_event_id: str
    previous_status: FindingStatus
    status: FindingStatus


class EndorsementRequest(_Message):
    request_id: str = Field(min_length=1, max_length=64)
    head: CoverageHead
    new_sublimit: Money


class EndorsementReceipt(_Message):
    request_id: str
    head: CoverageHead
    new_sublimit: Money
    additional_premium: Money
    return_premium: Money


class CancellationRequest(_Message):
    cancelled_by: CancellingParty
    reason: str = Field(min_length=1, max_length=2000)


class CancellationReceipt(_Message):
    effective_at: Instant
    return_premium: Money


class PolicyStatus(_Message):
    policy_id: str
    phase: PolicyPhase
    term_number: int
    vendor_id: str
    policy_number: str | None
    term_start: Instant | None
    term_end: Instant | None
    risk_score: int | None
    decision: Decision | None
    reasons: list[str]
    quote: Quote | None
    premium_charged: Money | None
    findings: FindingSummary
    pending_findings: int
    findings_ignored: int
    dropped_findings: list[DroppedFindings] = Field(default_factory=list, description="why findings were not taken")
    endorsements: int
    closing_reason: str | None
    runs: int


UnderwritingCase.model_rebuild()
PolicyState.model_rebuild()
PolicyWorkflowInput.model_rebuild()
