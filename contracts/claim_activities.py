"""One typed model in and one out for every claim activity, including the limits ledger."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contracts.parties import ActingParty
from domain.boundaries import Instant
from domain.claim import ClaimantKind, ClaimPhase
from domain.coverage import CoverageHead
from domain.incident import CoverageCheck, ForensicsReport
from domain.loss import LossConditions, LossItem
from domain.loss_statement import LossStatement
from domain.money import Money
from domain.schedule import CoverageSchedule


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


class LoadClaimBasis(_Message):
    incident_id: str


class ClaimBasis(_Message):
    """What a claim is judged on: the incident's cover, its forensics and the term's schedule."""

    incident_id: str
    policy_id: str
    term_number: int | None
    schedule: CoverageSchedule | None
    panel_vendor_ids: list[str]
    coverage: CoverageCheck
    discovered_at: Instant
    forensics: ForensicsReport | None
    overdue_critical_on_exploited_asset: bool = Field(
        description="a critical finding on an exploited asset was open past its deadline at discovery"
    )


class RecordClaim(_Message):
    claim_id: str
    incident_id: str
    policy_id: str
    claimant: ClaimantKind
    third_party: str | None = None
    opened_at: Instant


class RecordClaimPhase(_Message):
    claim_id: str
    phase: ClaimPhase
    at: Instant
    reason: str | None = None
    on_behalf_of: ActingParty | None = None  # whose request moved the claim (the audit trail names it)


class RecordLossItems(_Message):
    claim_id: str
    items: list[LossItem]
    at: Instant


class RecordLossStatement(_Message):
    claim_id: str
    determination: int = Field(ge=1, description="1 for the first statement, +1 for each re-determination")
    statement: LossStatement
    at: Instant


class PayoutInstruction(_Message):
    """A payment order. The key comes from the claim id and sequence, never from a run id, so a
    retried or replayed payout is the same payout."""

    claim_id: str
    sequence: int = Field(ge=1)
    amount: Money
    head: CoverageHead | None = Field(default=None, description="set for interim payments")
    interim: bool = False
    requested_at: Instant
    on_behalf_of: ActingParty | None = None  # who approved it (the audit trail names it)

    @property
    def idempotency_key(self) -> str:
        return f"{self.claim_id}:payout:{self.sequence}"


class PayoutReceipt(_Message):
    idempotency_key: str
    payment_reference: str
    amount: Money
    first_attempt: bool = Field(description="False when an earlier attempt had already paid")


class RecordSubrogation(_Message):
    claim_id: str
    liable_party: str = Field(min_length=1, max_length=200)
    basis: str = Field(min_length=1, max_length=2000)
    amount_sought: Money
    at: Instant


class ReserveLimits(_Message):
    """Ask the policy workflow to determine the loss against its remaining limits and hold them."""

    policy_id: str
    term_number: int
    claim_id: str
    determination: int
    items: list[LossItem]
    conditions: LossConditions


class SettleReservation(_Message):
    """Tell the policy workflow what the claim paid; with `final`, the rest of its hold is released."""

    policy_id: str
    term_number: int
    claim_id: str
    paid: Money
    final: bool


class LedgerPosition(_Message):
    term_number: int
    aggregate_remaining: Money
    reserved: Money
    paid: Money
