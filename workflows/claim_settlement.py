"""The claim workflow's review, offer and payment (理赔): approvals, denial, the insured's answer,
interim payments, and the money that leaves.

A base class of `ClaimWorkflow`, as `LossHandlers` and `ClosingHandlers` are. Every handler takes its
turn under the claim's one lock; none waits for ever in it: a payment the payment service refuses
puts the offer back, and only a settlement after money has left is retried for as long as it takes.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.claim import ClaimActivities
    from contracts.claim import Approval, ClaimStatus, Denial, InterimPaymentRequest, OfferAnswer
    from contracts.claim_activities import PayoutInstruction
    from contracts.parties import ActingParty, Party
    from domain.claim import ClaimPhase, approvals_required, check_approver, check_interim_payment
    from domain.claim_process import ClaimUpdate
    from domain.coverage import CoverageHead
    from domain.money import Money
    from workflows.claim_handlers import ClaimHandlers, as_value_error
    from workflows.gateway import PAYMENT, Refused


class ClaimSettlement(ClaimHandlers):
    @workflow.update
    async def approve(self, approval: Approval) -> ClaimStatus:
        async with self._turn(ClaimUpdate.APPROVE, lambda: self._validate_approval(approval)) as state:
            state.approvals = [*state.approvals, approval.approver_id]
            assert state.statement is not None
            if len(state.approvals) >= approvals_required(state.statement.total_payable, self.rules):
                state.offer_approved_by = approval.on_behalf_of
                await self._enter(ClaimPhase.OFFERED, by=approval.on_behalf_of)
                await self._notify("claim_offer", Party.INSURED)
        return self.status()

    @approve.validator
    def _validate_approval(self, approval: Approval) -> None:
        state = self._accepts(ClaimUpdate.APPROVE)
        if state.statement is None:  # a claim enters review with a statement; without one it is not determined
            raise ValueError(f"the claim is {state.phase.value}; only a determined claim in review can be approved")
        as_value_error(check_approver, state.approvals, approval.approver_id)

    @workflow.update
    async def deny(self, denial: Denial) -> ClaimStatus:
        async with self._turn(ClaimUpdate.DENY):
            await self._close(f"denied by {denial.approver_id}: {'; '.join(denial.reasons)}", denial.on_behalf_of)
        return self.status()

    @deny.validator
    def _validate_denial(self, denial: Denial) -> None:
        self._accepts(ClaimUpdate.DENY)

    @workflow.update
    async def accept_offer(self, answer: OfferAnswer) -> ClaimStatus:
        async with self._turn(ClaimUpdate.ACCEPT_OFFER) as state:
            assert state.statement is not None
            await self._enter(ClaimPhase.PAYING, by=answer.on_behalf_of)
            balance = state.statement.total_payable.fen - state.paid_fen
            if balance > 0:
                refused = await self._pay(
                    Money(fen=balance, currency=state.statement.currency), approved_by=state.offer_approved_by
                )
                if refused is not None:
                    # Nothing was paid: the offer stands, to be accepted again once the payment can go.
                    await self._enter(ClaimPhase.OFFERED, f"payment refused: {refused.reason}")
                    raise refused.error("payment refused: ")
            await self._settle(final=True, after_payment=True)
            await self._enter(ClaimPhase.CLOSED, "settled: offer accepted and paid")
        return self.status()

    @accept_offer.validator
    def _validate_acceptance(self, answer: OfferAnswer) -> None:
        self._accepts(ClaimUpdate.ACCEPT_OFFER)

    @workflow.update
    async def dispute_offer(self, answer: OfferAnswer) -> ClaimStatus:
        async with self._turn(ClaimUpdate.DISPUTE_OFFER) as state:
            state.disputes = [*state.disputes, answer.reason or "disputed"]
            state.approvals = []
            await self._enter(ClaimPhase.IN_REVIEW, f"disputed: {answer.reason}", answer.on_behalf_of)
            await self._notify("claim_disputed", Party.INSURER, key=str(len(state.disputes)))
        return self.status()

    @dispute_offer.validator
    def _validate_dispute(self, answer: OfferAnswer) -> None:
        self._accepts(ClaimUpdate.DISPUTE_OFFER)
        if not answer.reason:
            raise ValueError("a dispute needs a reason")

    @workflow.update
    async def interim_payment(self, request: InterimPaymentRequest) -> ClaimStatus:
        async with self._turn(ClaimUpdate.INTERIM_PAYMENT, lambda: self._validate_interim(request)) as state:
            refused = await self._pay(request.amount, head=request.head, approved_by=request.on_behalf_of)
            if refused is not None:
                raise refused.error("payment refused: ")
            state.interim_paid[request.head] = state.interim_paid.get(request.head, 0) + request.amount.fen
            await self._settle(final=False, after_payment=True)
        return self.status()

    @interim_payment.validator
    def _validate_interim(self, request: InterimPaymentRequest) -> None:
        state = self._accepts(ClaimUpdate.INTERIM_PAYMENT)
        if state.statement is None:
            raise ValueError("interim payments follow a determination, while the claim is in review")
        line = state.statement.line_for(request.head)
        payable = line.payable if line else Money(fen=0, currency=state.statement.currency)
        paid = Money(fen=state.interim_paid.get(request.head, 0), currency=payable.currency)
        as_value_error(
            check_interim_payment, request.head, request.amount, payable_on_head=payable, paid_on_head=paid,
            rules=self.rules,
        )

    # -- Money out ------------------------------------------------------------------------------------

    async def _pay(
        self, amount: Money, *, head: CoverageHead | None = None, approved_by: ActingParty | None = None
    ) -> Refused | None:
        """Retried while the payment service is down; its refusal is returned, and nothing was paid."""
        state = self.state
        state.payouts += 1
        paid = await self.gateway.attempt(
            ClaimActivities.pay,
            PayoutInstruction(
                claim_id=self.input.claim_id, sequence=state.payouts, amount=amount, head=head,
                interim=head is not None, requested_at=workflow.now(), on_behalf_of=approved_by,
            ),
            summary=f"payout {state.payouts}",
            options=PAYMENT,
        )
        if isinstance(paid, Refused):
            return paid
        state.paid_fen += amount.fen
        return None
