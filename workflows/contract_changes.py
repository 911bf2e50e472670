"""Mid-term changes to a bound policy: endorsements (limit changes) and cancellation.

Priced from the bound policy and the premium charged that the policy workflow hands in, and recorded;
the workflow applies what a change makes of its state (workflows/in_cover_handlers.py) under its one
lock, so each change is priced from what the one before it left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities
    from contracts.policy import (
        CancellationReceipt,
        CancellationRequest,
        EndorsementReceipt,
        EndorsementRequest,
    )
    from contracts.policy_activities import RecordCancellation, RecordEndorsement
    from domain.coverage import Industry
    from domain.errors import DomainRuleError
    from domain.money import Money
    from domain.policy import BoundPolicy, EndorsementPremium, endorsement_premium, pro_rata_return_premium
    from domain.rules import RatingRules
    from workflows.gateway import ActivityGateway
    from workflows.underwriting import refusal


@dataclass(frozen=True)
class Endorsed:
    """A recorded endorsement: the policy and the premium charged as they stand after it."""

    policy: BoundPolicy
    premium_charged: Money
    receipt: EndorsementReceipt


class ContractChanges:
    def __init__(self, *, industry: Industry, rating: RatingRules, gateway: ActivityGateway) -> None:
        self.industry = industry
        self.rating = rating
        self.gateway = gateway

    def check_endorsement(self, policy: BoundPolicy, applied: list[str], request: EndorsementRequest) -> None:
        """Refuse a repeated or impossible endorsement before anything is recorded."""
        if request.request_id in applied:
            raise refusal("already_applied", f"endorsement {request.request_id} has already been applied", lasting=True)
        self._premium(policy, request, workflow.now())

    async def endorse(self, policy: BoundPolicy, charged: Money, request: EndorsementRequest) -> Endorsed:
        now = workflow.now()
        premium = self._premium(policy, request, now)
        previous = policy.schedule.terms_for(request.head)
        assert previous is not None
        await self.gateway.call_refusable(
            PolicyActivities.record_endorsement,
            RecordEndorsement(
                policy_id=self.gateway.policy_id, policy_number=policy.policy_number, term_number=policy.term_number,
                request_id=request.request_id, head=request.head, previous_sublimit=previous.sublimit,
                new_sublimit=request.new_sublimit, additional_premium=premium.additional_premium,
                return_premium=premium.return_premium, effective_at=now,
            ),
            summary=f"endorse {request.head.value}",
        )
        new_charge = charged.fen + premium.additional_premium.fen - premium.return_premium.fen
        return Endorsed(
            policy=policy.model_copy(
                update={"schedule": policy.schedule.with_head_limit(request.head, request.new_sublimit)}
            ),
            premium_charged=charged.model_copy(update={"fen": new_charge}),
            receipt=EndorsementReceipt(
                request_id=request.request_id, head=request.head, new_sublimit=request.new_sublimit,
                additional_premium=premium.additional_premium, return_premium=premium.return_premium,
            ),
        )

    def _premium(self, policy: BoundPolicy, request: EndorsementRequest, at: datetime) -> EndorsementPremium:
        try:
            return endorsement_premium(
                policy=policy, head=request.head, new_sublimit=request.new_sublimit,
                industry=self.industry, rules=self.rating, effective_at=at,
            )
        except DomainRuleError as err:
            raise refusal(err.code, err.message, lasting=True) from None

    async def cancel(self, policy: BoundPolicy, charged: Money, request: CancellationRequest) -> CancellationReceipt:
        """Cancellation by either party, recorded with the unexpired premium returned pro rata; the
        workflow then closes the policy."""
        now = workflow.now()
        try:
            returned = pro_rata_return_premium(charged, policy, now)
        except DomainRuleError as err:
            raise refusal(err.code, err.message, lasting=True) from None
        await self.gateway.call_refusable(
            PolicyActivities.record_cancellation,
            RecordCancellation(
                policy_id=self.gateway.policy_id, policy_number=policy.policy_number, term_number=policy.term_number,
                cancelled_by=request.cancelled_by, reason=request.reason, effective_at=now, return_premium=returned,
            ),
            summary=f"cancelled by {request.cancelled_by.value}",
        )
        return CancellationReceipt(effective_at=now, return_premium=returned)

