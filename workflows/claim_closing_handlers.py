"""The claim workflow's closing and after: closing without payment, reopening on new facts within
the window, and subrogation (代位求偿) against whoever caused the loss.

A base class of `ClaimWorkflow`, as `LossHandlers` and `ClaimSettlement` are.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.patches import CLAIM_MESSAGES_IN_TURN, REOPEN_NEEDS_DETERMINATION

with workflow.unsafe.imports_passed_through():
    from activities.claim import ClaimActivities
    from contracts.claim import ClaimClosure, ClaimStatus, SubrogationRequest
    from contracts.claim_activities import RecordSubrogation
    from domain.claim import ClaimPhase
    from domain.claim_process import ClaimUpdate
    from workflows.claim_handlers import ClaimHandlers


class ClosingHandlers(ClaimHandlers):
    @workflow.update
    async def close(self, closure: ClaimClosure) -> ClaimStatus:
        async with self._turn(ClaimUpdate.CLOSE):
            await self._close(closure.reason)
        return self.status()

    @close.validator
    def _validate_close(self, closure: ClaimClosure) -> None:
        self._accepts(ClaimUpdate.CLOSE)

    @workflow.update
    async def reopen(self, request: ClaimClosure) -> ClaimStatus:
        """New facts after closing. Closing released what the claim held beyond what it had paid, and
        other claims may have used it since, so the claim gathers its loss again and the next
        determination holds its limits afresh; the old statement stays on record until then."""
        async with self._turn(ClaimUpdate.REOPEN) as state:
            state.reopened += 1
            await self._settle(final=False)
            if workflow.patched(REOPEN_NEEDS_DETERMINATION) or not state.statement:
                phase = ClaimPhase.GATHERING_LOSS
            else:
                phase = ClaimPhase.IN_REVIEW  # histories before the patch: back in review on a released hold
            await self._back_to_review()
            await self._enter(phase, f"reopened: {request.reason}")
            state.closing_reason = None
        return self.status()

    @reopen.validator
    def _validate_reopen(self, request: ClaimClosure) -> None:
        self._accepts(ClaimUpdate.REOPEN)

    @workflow.update
    async def record_subrogation(self, request: SubrogationRequest) -> ClaimStatus:
        if not workflow.patched(CLAIM_MESSAGES_IN_TURN):
            await self._record_subrogation(request)  # histories before the patch: outside the lock
            return self.status()
        async with self._turn(ClaimUpdate.RECORD_SUBROGATION):
            await self._record_subrogation(request)
        return self.status()

    @record_subrogation.validator
    def _validate_subrogation(self, request: SubrogationRequest) -> None:
        self._accepts(ClaimUpdate.RECORD_SUBROGATION)

    async def _record_subrogation(self, request: SubrogationRequest) -> None:
        await self.gateway.call_refusable(
            ClaimActivities.record_subrogation,
            RecordSubrogation(
                claim_id=self.input.claim_id, liable_party=request.liable_party, basis=request.basis,
                amount_sought=request.amount_sought, at=workflow.now(),
            ),
            summary="record subrogation",
        )
        self.state.subrogations += 1
