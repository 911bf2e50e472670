"""The claim workflow's contract: input, state, updates and query."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from contracts.claim_activities import ClaimBasis
from contracts.parties import ActingParty
from domain.boundaries import PartyId
from domain.claim import ClaimantKind, ClaimPhase, ClaimRules, approvals_required
from domain.coverage import CoverageHead
from domain.loss import LossConditions, LossItem
from domain.loss_statement import LossStatement
from domain.money import Money


def claim_workflow_id(claim_id: str) -> str:
    return f"claim-{claim_id}"


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClaimWorkflowInput(_Message):
    claim_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    incident_id: str = Field(min_length=1, max_length=128)
    claimant: ClaimantKind = ClaimantKind.FIRST_PARTY
    third_party: str | None = Field(default=None, max_length=200, description="who claims against the insured")
    rules: ClaimRules = Field(default_factory=ClaimRules)


class ClaimState(BaseModel):
    phase: ClaimPhase = ClaimPhase.GATHERING_LOSS
    basis: ClaimBasis | None = None
    recorded: bool = Field(default=False, description="basis loaded and claim recorded; messages may apply")
    items: dict[str, LossItem] = Field(default_factory=dict)
    conditions: LossConditions = Field(default_factory=LossConditions)
    determination: int = 0
    statement: LossStatement | None = None
    approvals: list[str] = Field(default_factory=list)
    # Whose approval put the current offer up: named on the payout it leads to (the audit trail).
    offer_approved_by: ActingParty | None = None
    paid_fen: int = 0
    interim_paid: dict[CoverageHead, int] = Field(default_factory=dict)
    payouts: int = 0
    disputes: list[str] = Field(default_factory=list)
    subrogations: int = 0
    reopened: int = 0
    closing_reason: str | None = None

    def status(self, claim_id: str, incident_id: str, rules: ClaimRules) -> ClaimStatus:
        basis, statement = self.basis, self.statement
        return ClaimStatus(
            claim_id=claim_id, incident_id=incident_id, policy_id=basis.policy_id if basis else None,
            phase=self.phase, determination=self.determination, statement=statement, approvals=self.approvals,
            approvals_required=approvals_required(statement.total_payable, rules) if statement else None,
            paid=Money(fen=self.paid_fen, currency=statement.currency) if statement else None,
            payouts=self.payouts, disputes=len(self.disputes), closing_reason=self.closing_reason,
            late_notice=basis.coverage.late_notice if basis else None,
        )


class LossItemsSubmission(_Message):
    items: list[LossItem] = Field(min_length=1, max_length=500)


class ConditionsUpdate(_Message):
    """What the adjuster has established beyond forensics: consents, police report, war."""

    consented_non_panel_vendor_ids: list[PartyId] = Field(default_factory=list, max_length=100)
    ransom_paid_with_insurer_consent: bool = False
    police_report_filed: bool = False
    war_exclusion_applies: bool = False
    known_before_inception: bool = False


class Approval(_Message):
    approver_id: str = Field(min_length=1, max_length=64)
    # Set by the API from the signing key (never read from the body); not part of the published schema.
    on_behalf_of: SkipJsonSchema[ActingParty | None] = None


class Denial(_Message):
    approver_id: str = Field(min_length=1, max_length=64)
    reasons: list[str] = Field(min_length=1)
    # Set by the API from the signing key (never read from the body); not part of the published schema.
    on_behalf_of: SkipJsonSchema[ActingParty | None] = None


class OfferAnswer(_Message):
    reason: str | None = Field(default=None, max_length=2000)
    # Set by the API from the signing key (never read from the body); not part of the published schema.
    on_behalf_of: SkipJsonSchema[ActingParty | None] = None


class InterimPaymentRequest(_Message):
    head: CoverageHead
    amount: Money
    approver_id: str = Field(min_length=1, max_length=64)
    # Set by the API from the signing key (never read from the body); not part of the published schema.
    on_behalf_of: SkipJsonSchema[ActingParty | None] = None


class SubrogationRequest(_Message):
    liable_party: str = Field(min_length=1, max_length=200)
    basis: str = Field(min_length=1, max_length=2000)
    amount_sought: Money


class ClaimClosure(_Message):
    reason: str = Field(min_length=1, max_length=2000)


class ClaimStatus(_Message):
    claim_id: str
    incident_id: str
    policy_id: str | None
    phase: ClaimPhase
    determination: int
    statement: LossStatement | None
    approvals: list[str]
    approvals_required: int | None
    paid: Money | None
    payouts: int
    disputes: int
    closing_reason: str | None
    late_notice: bool | None
