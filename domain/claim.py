"""Claim settlement (理赔): review, authority limits, the insured's answer, payments, closure."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.coverage import CoverageHead
from domain.errors import DomainRuleError
from domain.money import Money


class ClaimPhase(StrEnum):
    """Which update each phase accepts, and where it leads: the claim's process (domain/claim_process.py)."""

    GATHERING_LOSS = "gathering_loss"  # loss items come in; interim payments possible
    IN_REVIEW = "in_review"  # 定责定损: a statement exists; adjusters review it
    OFFERED = "offered"  # approved; the insured accepts or disputes
    PAYING = "paying"
    CLOSED = "closed"
    REJECTED = "rejected"  # no cover: never reviewed

    @property
    def is_terminal(self) -> bool:
        return self in (ClaimPhase.CLOSED, ClaimPhase.REJECTED)


class ClaimantKind(StrEnum):
    FIRST_PARTY = "first_party"  # the insured's own loss
    THIRD_PARTY = "third_party"  # a liability claim against the insured


class ClaimRules(BaseModel):
    model_config = ConfigDict(frozen=True)

    single_approver_limit: Money = Field(
        default_factory=lambda: Money.yuan(500_000), description="above this, a second approver is needed"
    )
    deny_on_late_notice: bool = Field(
        default=False, description="the notice condition's consequence; otherwise late notice is flagged to the insurer"
    )
    reopen_window_minutes: int = Field(
        default=90 * 24 * 60, ge=0, description="a closed claim can be reopened this long after closing"
    )
    interim_payment_heads: list[CoverageHead] = Field(
        default_factory=lambda: [CoverageHead.EMERGENCY_RESPONSE]
    )


def approvals_required(offer: Money, rules: ClaimRules) -> int:
    return 2 if offer.fen > rules.single_approver_limit.fen else 1


def check_approver(approvers: list[str], approver_id: str) -> None:
    if approver_id in approvers:
        raise DomainRuleError(
            "same_approver", f"{approver_id} has already approved; a second approval needs another person"
        )


def check_interim_payment(
    head: CoverageHead, amount: Money, *, payable_on_head: Money, paid_on_head: Money, rules: ClaimRules
) -> None:
    """Urgent costs paid ahead of settlement: only on the allowed heads and within what is payable."""
    if head not in rules.interim_payment_heads:
        allowed = ", ".join(h.value for h in rules.interim_payment_heads)
        raise DomainRuleError("interim_head_not_allowed", f"interim payments are for {allowed}, not {head.value}")
    if amount.fen <= 0:
        raise DomainRuleError("interim_amount", "an interim payment must be above zero")
    if paid_on_head.fen + amount.fen > payable_on_head.fen:
        raise DomainRuleError(
            "interim_above_payable",
            f"{head.value}: {paid_on_head.fen + amount.fen} fen would exceed the {payable_on_head.fen} fen "
            "payable on the current statement",
        )
