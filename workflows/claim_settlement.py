"""The claim workflow's review, offer and payment (理赔): approvals, denial, the insured's answer,
interim payments, and the claim's hold on the policy's limits settled as money leaves.

A base class of `ClaimWorkflow`, so the workflow module keeps to the claim's course. Every handler
holds the claim's one lock; none waits for ever under it: a payment the payment service refuses
puts the offer back, and only a settlement after money has left is retried for as long as it takes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.claim import ClaimActivities
    from activities.ledger import LedgerActivities
    from contracts.claim import (
        Approval,
        ClaimState,
        ClaimStatus,
        ClaimWorkflowInput,
        Denial,
        InterimPaymentRequest,
        OfferAnswer,
    )
    from contracts.claim_activities import PayoutInstruction, SettleReservation
    from contracts.parties import Party
    from domain.claim import ClaimPhase, ClaimRules, approvals_required, check_approver, check_interim_payment
    from domain.coverage import CoverageHead
    from domain.errors import DomainRuleError
    from domain.money import Money
    from workflows.gateway import PAYMENT, ActivityGateway, Refused


class ClaimSettlement:
    input: ClaimWorkflowInput
    rules: ClaimRules
    state: ClaimState
    gateway: ActivityGateway
    lock: asyncio.Lock
    _enter: Callable[..., Awaitable[None]]
    _notify: Callable[..., Awaitable[None]]
    status: Callable[[], ClaimStatus]

    @workflow.update
    async def approve(self, approval: Approval) -> ClaimStatus:
        async with self.lock:
            state = self.state
            state.approvals = [*state.approvals, approval.approver_id]
            assert state.statement is not None
            if len(state.approvals) >= approvals_required(state.statement.total_payable, self.rules):
                await self._enter(ClaimPhase.OFFERED)
                await self._notify("claim_offer", Party.INSURED)
        return self.status()

    @approve.validator
    def _validate_approval(self, approval: Approval) -> None:
        state = self.state
        if state.phase is not ClaimPhase.IN_REVIEW or state.statement is None:
            raise ValueError(f"the claim is {state.phase.value}; only a determined claim in review can be approved")
        as_value_error(check_approver, state.approvals, approval.approver_id)

    @workflow.update
    async def deny(self, denial: Denial) -> ClaimStatus:
        async with self.lock:
            await self._settle(final=True)
            await self._enter(ClaimPhase.CLOSED, f"denied by {denial.approver_id}: {'; '.join(denial.reasons)}")
        return self.status()

    @deny.validator
    def _validate_denial(self, denial: Denial) -> None:
        if self.state.phase.is_terminal or self.state.phase is ClaimPhase.PAYING:
            raise ValueError(f"the claim is {self.state.phase.value}; it cannot be denied now")

    @workflow.update
    async def accept_offer(self, answer: OfferAnswer) -> ClaimStatus:
        async with self.lock:
            state = self.state
            assert state.statement is not None
            await self._enter(ClaimPhase.PAYING)
            balance = state.statement.total_payable.fen - state.paid_fen
            if balance > 0:
                refused = await self._pay(Money(fen=balance, currency=state.statement.currency))
                if refused is not None:
                    # Nothing was paid: the offer stands, to be accepted again once the payment can go.
                    await self._enter(ClaimPhase.OFFERED, f"payment refused: {refused.reason}")
                    raise refused.error("payment refused: ")
            await self._settle(final=True, after_payment=True)
            await self._enter(ClaimPhase.CLOSED, "settled: offer accepted and paid")
        return self.status()

    @accept_offer.validator
    def _validate_acceptance(self, answer: OfferAnswer) -> None:
        if self.state.phase is not ClaimPhase.OFFERED:
            raise ValueError(f"the claim is {self.state.phase.value}; there is no approved offer to accept")

    @workflow.update
    async def dispute_offer(self, answer: OfferAnswer) -> ClaimStatus:
        async with self.lock:
            self.state.disputes = [*self.state.disputes, answer.reason or "disputed"]
            self.state.approvals = []
            await self._enter(ClaimPhase.IN_REVIEW, f"disputed: {answer.reason}")
            await self._notify("claim_disputed", Party.INSURER, key=str(len(self.state.disputes)))
        return self.status()

    @dispute_offer.validator
    def _validate_dispute(self, answer: OfferAnswer) -> None:
        if self.state.phase is not ClaimPhase.OFFERED:
            raise ValueError(f"the claim is {self.state.phase.value}; there is no offer to dispute")
        if not answer.reason:
            raise ValueError("a dispute needs a reason")

    @workflow.update
    async def interim_payment(self, request: InterimPaymentRequest) -> ClaimStatus:
        async with self.lock:
            refused = await self._pay(request.amount, head=request.head)
            if refused is not None:
                raise refused.error("payment refused: ")
            self.state.interim_paid[request.head] = self.state.interim_paid.get(request.head, 0) + request.amount.fen
            await self._settle(final=False, after_payment=True)
        return self.status()

    @interim_payment.validator
    def _validate_interim(self, request: InterimPaymentRequest) -> None:
        state = self.state
        if state.phase is not ClaimPhase.IN_REVIEW or state.statement is None:
            raise ValueError("interim payments follow a determination, while the claim is in review")
        line = state.statement.line_for(request.head)
        payable = line.payable if line else Money(fen=0, currency=state.statement.currency)
        paid = Money(fen=state.interim_paid.get(request.head, 0), currency=payable.currency)
        as_value_error(
            check_interim_payment, request.head, request.amount, payable_on_head=payable, paid_on_head=paid,
            rules=self.rules,
        )

    # -- Money out, and the hold on the limits -------------------------------------------------------

    async def _pay(self, amount: Money, *, head: CoverageHead | None = None) -> Refused | None:
        """Retried while the payment service is down; its refusal is returned, and nothing was paid."""
        state = self.state
        state.payouts += 1
        paid = await self.gateway.attempt(
            ClaimActivities.pay,
            PayoutInstruction(
                claim_id=self.input.claim_id, sequence=state.payouts, amount=amount, head=head,
                interim=head is not None, requested_at=workflow.now(),
            ),
            summary=f"payout {state.payouts}",
            options=PAYMENT,
        )
        if isinstance(paid, Refused):
            return paid
        state.paid_fen += amount.fen
        return None

    async def _settle(self, *, final: bool, after_payment: bool = False) -> None:
        """Before money moves, a refusal (or no answer within REQUEST_WAIT) fails the update and nothing
        has changed. After, the claim must go on: retried until the policy answers, a refusal logged."""
        basis = self.state.basis
        if basis is None or basis.term_number is None or self.state.determination == 0:
            return
        currency = self.state.statement.currency if self.state.statement else "CNY"
        request = SettleReservation(
            policy_id=basis.policy_id, term_number=basis.term_number, claim_id=self.input.claim_id,
            paid=Money(fen=self.state.paid_fen, currency=currency), final=final,
        )
        if after_payment:
            await self.gateway.attempt(LedgerActivities.settle_reservation, request, summary="settle the hold on the limits")
        else:
            await self.gateway.call_refusable(
                LedgerActivities.settle_reservation, request, summary="settle the hold on the limits"
            )


def as_value_error(check, *args, **kwargs) -> None:
    """Validators refuse with ValueError; the domain's checks raise DomainRuleError."""
    try:
        check(*args, **kwargs)
    except DomainRuleError as err:
        raise ValueError(str(err)) from None
