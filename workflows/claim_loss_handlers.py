"""The claim workflow's loss phase (定损): loss items, the adjuster's conditions, and the determination
against the policy's remaining limits, while the claim is gathering its loss or in review.

A base class of `ClaimWorkflow`, as `ClaimSettlement` and `ClosingHandlers` are. New facts make the
current statement stale: a claim in review goes back to gathering and determines again.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.claim import ClaimActivities
    from activities.ledger import LedgerActivities
    from contracts.claim import ClaimStatus, ConditionsUpdate, LossItemsSubmission
    from contracts.claim_activities import RecordLossItems, RecordLossStatement, ReserveLimits
    from domain.boundaries import MAX_FEN
    from domain.claim import ClaimPhase
    from domain.claim_process import ClaimUpdate
    from domain.incident import check_happened
    from domain.loss_statement import LossStatement
    from workflows.claim_handlers import ClaimHandlers, as_value_error
    from workflows.gateway import NOT_DONE_IN_TIME


class LossHandlers(ClaimHandlers):
    @workflow.update
    async def submit_loss_items(self, submission: LossItemsSubmission) -> ClaimStatus:
        async with self._turn(ClaimUpdate.SUBMIT_LOSS_ITEMS, lambda: self._validate_items(submission)) as state:
            assert state.basis is not None and state.basis.schedule is not None
            schedule = state.basis.schedule
            uncovered = sorted({i.head.value for i in submission.items if schedule.terms_for(i.head) is None})
            if uncovered:
                raise ApplicationError(
                    f"heads not on the policy's schedule: {', '.join(uncovered)}", type="head_not_covered"
                )
            await self.gateway.call_refusable(
                ClaimActivities.record_loss_items,
                RecordLossItems(claim_id=self.input.claim_id, items=submission.items, at=workflow.now()),
                summary=f"record {len(submission.items)} loss items",
            )
            state.items.update({item.item_id: item for item in submission.items})
            await self._back_to_review()
        return self.status()

    @submit_loss_items.validator
    def _validate_items(self, submission: LossItemsSubmission) -> None:
        items = {**self._accepts(ClaimUpdate.SUBMIT_LOSS_ITEMS).items, **{i.item_id: i for i in submission.items}}
        claimed: dict[str, int] = {}
        for item in items.values():
            claimed[item.head.value] = claimed.get(item.head.value, 0) + (item.amount.fen if item.amount else 0)
        too_much = sorted(head for head, fen in claimed.items() if fen > MAX_FEN)
        if too_much:  # no statement, hold or payout could carry the sum
            raise ValueError(f"the items on {', '.join(too_much)} would claim more than {MAX_FEN} fen together")
        for item in submission.items:
            if item.business_interruption is not None:
                as_value_error(check_happened, item.business_interruption.outage_start, workflow.now(),
                                what=f"the outage of item {item.item_id}")

    @workflow.update
    async def set_conditions(self, update: ConditionsUpdate) -> ClaimStatus:
        async with self._turn(ClaimUpdate.SET_CONDITIONS) as state:
            state.conditions = state.conditions.model_copy(update=update.model_dump())
            await self._back_to_review()
        return self.status()

    @set_conditions.validator
    def _validate_conditions(self, update: ConditionsUpdate) -> None:
        self._accepts(ClaimUpdate.SET_CONDITIONS)

    @workflow.update
    async def determine(self) -> LossStatement:
        """定损 against the policy's remaining limits, which the policy workflow holds for this claim."""
        async with self._turn(ClaimUpdate.DETERMINE) as state:
            basis = state.basis
            assert basis is not None and basis.term_number is not None
            determination = state.determination + 1
            statement = None
            try:
                statement = await self.gateway.call_refusable(
                    LedgerActivities.reserve_limits,
                    ReserveLimits(
                        policy_id=basis.policy_id, term_number=basis.term_number, claim_id=self.input.claim_id,
                        determination=determination, items=list(state.items.values()), conditions=state.conditions,
                    ),
                    summary=f"determination {determination} against the limits",
                )
                await self.gateway.call_refusable(
                    ClaimActivities.record_loss_statement,
                    RecordLossStatement(
                        claim_id=self.input.claim_id, determination=determination, statement=statement, at=workflow.now()
                    ),
                    summary="record loss statement",
                )
            except ApplicationError as refused:
                if statement is not None or refused.type == NOT_DONE_IN_TIME:
                    # The policy may hold this determination now: the next must be a new one, not this
                    # one answered again, and the current statement is no longer what it holds.
                    state.determination = determination
                    await self._back_to_review()
                raise
            state.determination, state.statement, state.approvals = determination, statement, []
            await self._enter(ClaimPhase.IN_REVIEW)
        return statement

    @determine.validator
    def _validate_determine(self) -> None:
        if not self._accepts(ClaimUpdate.DETERMINE).items:
            raise ValueError("there are no loss items to determine")
