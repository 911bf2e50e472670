"""Mid-term changes to a bound policy: endorsements (limit changes) and cancellation."""

from __future__ import annotations

from datetime import datetime
from typing import Awaitable, Callable

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities
    from contracts.policy import (
        CancellationReceipt,
        CancellationRequest,
        EndorsementReceipt,
        EndorsementRequest,
        PolicyState,
    )
    from contracts.policy_activities import RecordCancellation, RecordEndorsement
    from domain.coverage import Industry
    from domain.errors import DomainRuleError
    from domain.policy import EndorsementPremium, PolicyPhase, endorsement_premium, pro_rata_return_premium
    from domain.rules import RatingRules
    from workflows.gateway import ActivityGateway


class ContractChanges:
    def __init__(
        self,
        *,
        state: PolicyState,
        industry: Industry,
        rating: RatingRules,
        gateway: ActivityGateway,
        close: Callable[[PolicyPhase, str], Awaitable[None]],
    ) -> None:
        self.state = state
        self.industry = industry
        self.rating = rating
        self.gateway = gateway
        self.close = close

    def check_endorsement(self, request: EndorsementRequest) -> None:
        """Validator side: refuse a repeated or impossible endorsement before it is accepted."""
        if request.request_id in self.state.endorsement_ids:
            raise ValueError(f"endorsement {request.request_id} has already been applied")
        try:
            self._premium(request, workflow.now())
        except DomainRuleError as err:
            raise ValueError(str(err)) from None

    async def endorse(self, request: EndorsementRequest) -> EndorsementReceipt:
        state = self.state
        policy, charged = state.policy, state.premium_charged
        assert policy is not None and charged is not None
        now = workflow.now()
        premium = self._premium(request, now)
        previous = policy.schedule.terms_for(request.head)
        assert previous is not None
        # Taken before the write, so that the same request sent again meanwhile is refused as a repeat.
        state.endorsement_ids.append(request.request_id)
        try:
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
        except ApplicationError:
            state.endorsement_ids.remove(request.request_id)  # refused: not applied, so it may come again
            raise
        state.policy = policy.model_copy(
            update={"schedule": policy.schedule.with_head_limit(request.head, request.new_sublimit)}
        )
        new_charge = charged.fen + premium.additional_premium.fen - premium.return_premium.fen
        state.premium_charged = charged.model_copy(update={"fen": new_charge})
        return EndorsementReceipt(
            request_id=request.request_id, head=request.head, new_sublimit=request.new_sublimit,
            additional_premium=premium.additional_premium, return_premium=premium.return_premium,
        )

    def _premium(self, request: EndorsementRequest, at: datetime) -> EndorsementPremium:
        assert self.state.policy is not None
        return endorsement_premium(
            policy=self.state.policy, head=request.head, new_sublimit=request.new_sublimit,
            industry=self.industry, rules=self.rating, effective_at=at,
        )

    async def cancel(self, request: CancellationRequest) -> CancellationReceipt:
        """Cancellation by either party, with the unexpired premium returned pro rata."""
        policy, charged = self.state.policy, self.state.premium_charged
        assert policy is not None and charged is not None
        now = workflow.now()
        returned = pro_rata_return_premium(charged, policy, now)
        await self.gateway.call_refusable(
            PolicyActivities.record_cancellation,
            RecordCancellation(
                policy_id=self.gateway.policy_id, policy_number=policy.policy_number, term_number=policy.term_number,
                cancelled_by=request.cancelled_by, reason=request.reason, effective_at=now, return_premium=returned,
            ),
            summary=f"cancelled by {request.cancelled_by.value}",
        )
        await self.close(PolicyPhase.CANCELLED, f"cancelled by the {request.cancelled_by.value}: {request.reason}")
        return CancellationReceipt(effective_at=now, return_premium=returned)
