"""The claim workflow: started by the insurer for an incident (定责定损, 理赔).

    basis (cover, forensics) → loss items → determination against the policy's limits
    → adjuster review and approval (two above the authority limit) → the insured accepts or disputes
    → payment → closed (reopenable). Interim payments and subrogation along the way.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.lifetime import until_quiet
from workflows.patches import REOPEN_NEEDS_DETERMINATION

with workflow.unsafe.imports_passed_through():
    from activities.claim import ClaimActivities
    from activities.ledger import LedgerActivities
    from contracts.claim import (
        ClaimClosure,
        ClaimState,
        ClaimStatus,
        ClaimWorkflowInput,
        ConditionsUpdate,
        LossItemsSubmission,
        SubrogationRequest,
    )
    from contracts.claim_activities import (
        ClaimBasis,
        LoadClaimBasis,
        RecordClaim,
        RecordClaimPhase,
        RecordLossItems,
        RecordLossStatement,
        RecordSubrogation,
        ReserveLimits,
    )
    from contracts.parties import Party
    from domain.boundaries import MAX_FEN
    from domain.claim import ClaimPhase
    from domain.incident import check_happened
    from domain.loss_statement import LossStatement
    from workflows import search_attributes
    from workflows.claim_settlement import ClaimSettlement, as_value_error
    from workflows.gateway import NOT_DONE_IN_TIME, ActivityGateway, Refused, condition_or_deadline
    from workflows.search_attributes import publish, show

REVIEWABLE = (ClaimPhase.GATHERING_LOSS, ClaimPhase.IN_REVIEW)


@workflow.defn(name="ClaimWorkflow")
class ClaimWorkflow(ClaimSettlement):
    @workflow.init
    def __init__(self, input: ClaimWorkflowInput) -> None:
        self.input = input
        self.rules = input.rules
        self.state = ClaimState()
        self.gateway = ActivityGateway(policy_id="")
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, input: ClaimWorkflowInput) -> ClaimStatus:
        await self._establish_basis()
        window = timedelta(minutes=self.rules.reopen_window_minutes)
        while True:
            await workflow.wait_condition(lambda: self.state.phase.is_terminal)
            if self.state.phase is ClaimPhase.REJECTED:
                break
            reopened = await condition_or_deadline(
                lambda: not self.state.phase.is_terminal, workflow.now() + window, summary="reopening window"
            )
            if not reopened:
                break
        await until_quiet(self.gateway)
        return self.status()

    async def _establish_basis(self) -> None:
        """Is there cover for this incident, and what do forensics say? No cover: rejected, never reviewed."""
        state = self.state
        basis = await self.gateway.attempt(
            ClaimActivities.load_claim_basis, LoadClaimBasis(incident_id=self.input.incident_id), summary="claim basis"
        )
        if isinstance(basis, Refused):  # no such incident: the run fails once, saying so; nothing is recorded
            raise basis.error("claim refused: ")
        state.basis = basis
        self.gateway.policy_id = basis.policy_id
        publish(
            search_attributes.POLICY_ID.value_set(basis.policy_id),
            search_attributes.CLAIM_PHASE.value_set(state.phase.value),
        )
        show("Claim opened: gathering loss items.")
        recorded = await self.gateway.attempt(
            ClaimActivities.record_claim,
            RecordClaim(
                claim_id=self.input.claim_id, incident_id=self.input.incident_id, policy_id=basis.policy_id,
                claimant=self.input.claimant, third_party=self.input.third_party, opened_at=workflow.now(),
            ),
            summary="record claim",
        )
        if isinstance(recorded, Refused):
            raise recorded.error("claim refused: ")
        forensics = basis.forensics
        state.conditions = state.conditions.model_copy(
            update={
                "state_backed_attack": bool(forensics and forensics.state_backed),
                "first_intrusion_at": forensics.first_intrusion_at if forensics else None,
                "overdue_critical_on_exploited_asset": basis.overdue_critical_on_exploited_asset,
            }
        )
        if not basis.coverage.covered or basis.schedule is None or basis.term_number is None:
            await self._enter(ClaimPhase.REJECTED, "; ".join(basis.coverage.notes) or "no cover for this incident")
        elif basis.coverage.late_notice and self.rules.deny_on_late_notice:
            await self._enter(ClaimPhase.REJECTED, "late notice: " + "; ".join(basis.coverage.notes))
        elif basis.coverage.late_notice:
            await self._notify("late_notice_on_claim", Party.INSURER)
        state.recorded = True

    # -- Loss items and determination (定损) -----------------------------------------------------------

    @workflow.update
    async def submit_loss_items(self, submission: LossItemsSubmission) -> ClaimStatus:
        async with self.lock:
            schedule = (await self._basis_for("loss items")).schedule
            assert schedule is not None
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
            self.state.items.update({item.item_id: item for item in submission.items})
            await self._back_to_review()
        return self.status()

    @submit_loss_items.validator
    def _validate_items(self, submission: LossItemsSubmission) -> None:
        items = {**self._reviewable("loss items").items, **{item.item_id: item for item in submission.items}}
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
        async with self.lock:
            await self._basis_for("conditions")
            self.state.conditions = self.state.conditions.model_copy(update=update.model_dump())
            await self._back_to_review()
        return self.status()

    @set_conditions.validator
    def _validate_conditions(self, update: ConditionsUpdate) -> None:
        self._reviewable("conditions")

    @workflow.update
    async def determine(self) -> LossStatement:
        """定损 against the policy's remaining limits, which the policy workflow holds for this claim."""
        async with self.lock:
            state, basis = self.state, self.state.basis
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
        if not self._reviewable("a determination").items:
            raise ValueError("there are no loss items to determine")

    @workflow.update
    async def record_subrogation(self, request: SubrogationRequest) -> ClaimStatus:
        await self.gateway.call_refusable(
            ClaimActivities.record_subrogation,
            RecordSubrogation(
                claim_id=self.input.claim_id, liable_party=request.liable_party, basis=request.basis,
                amount_sought=request.amount_sought, at=workflow.now(),
            ),
            summary="record subrogation",
        )
        self.state.subrogations += 1
        return self.status()

    @record_subrogation.validator
    def _validate_subrogation(self, request: SubrogationRequest) -> None:
        if self.state.phase is ClaimPhase.REJECTED:
            raise ValueError("a rejected claim paid nothing to recover")

    @workflow.update
    async def close(self, closure: ClaimClosure) -> ClaimStatus:
        async with self.lock:
            await self._settle(final=True)
            await self._enter(ClaimPhase.CLOSED, closure.reason)
        return self.status()

    @close.validator
    def _validate_close(self, closure: ClaimClosure) -> None:
        if self.state.phase.is_terminal or self.state.phase is ClaimPhase.PAYING:
            raise ValueError(f"the claim is {self.state.phase.value}; it cannot be closed now")

    @workflow.update
    async def reopen(self, request: ClaimClosure) -> ClaimStatus:
        """New facts after closing. Closing released what the claim held beyond what it had paid, and
        other claims may have used it since, so the claim gathers its loss again and the next
        determination holds its limits afresh; the old statement stays on record until then."""
        async with self.lock:
            self.state.reopened += 1
            await self._settle(final=False)
            if workflow.patched(REOPEN_NEEDS_DETERMINATION) or not self.state.statement:
                phase = ClaimPhase.GATHERING_LOSS
            else:
                phase = ClaimPhase.IN_REVIEW  # histories before the patch: back in review on a released hold
            await self._back_to_review()
            await self._enter(phase, f"reopened: {request.reason}")
            self.state.closing_reason = None
        return self.status()

    @reopen.validator
    def _validate_reopen(self, request: ClaimClosure) -> None:
        if self.state.phase is not ClaimPhase.CLOSED:
            raise ValueError(f"the claim is {self.state.phase.value}; only a closed claim can be reopened")

    # -- Plumbing ----------------------------------------------------------------------------------

    def _reviewable(self, what: str) -> ClaimState:
        if self.state.phase not in REVIEWABLE:
            raise ValueError(f"the claim is {self.state.phase.value}; {what} cannot be changed now")
        return self.state

    async def _basis_for(self, what: str) -> ClaimBasis:
        """Messages may arrive before the claim's basis is loaded; they wait for it, then recheck."""
        await workflow.wait_condition(lambda: self.state.recorded)
        if self.state.phase not in REVIEWABLE:
            raise ApplicationError(f"the claim is {self.state.phase.value}; {what} cannot be changed now",
                                   type="claim_not_reviewable")
        assert self.state.basis is not None
        return self.state.basis

    async def _back_to_review(self) -> None:
        """Changed facts make the current statement and its approvals stale."""
        self.state.approvals = []
        if self.state.phase is ClaimPhase.IN_REVIEW:
            await self._enter(ClaimPhase.GATHERING_LOSS, "facts changed; determine again")

    async def _enter(self, phase: ClaimPhase, reason: str | None = None) -> None:
        self.state.phase = phase
        publish(search_attributes.CLAIM_PHASE.value_set(phase.value))
        show(f"Claim {phase.value.replace('_', ' ')}" + (f": {reason}" if reason else "."))
        if phase.is_terminal:
            self.state.closing_reason = reason
        await self.gateway.record(
            ClaimActivities.record_claim_phase,
            RecordClaimPhase(claim_id=self.input.claim_id, phase=phase, at=workflow.now(), reason=reason),
            summary=f"claim {phase.value}",
        )

    async def _notify(self, kind: str, party: Party, *, key: str = "") -> None:
        await self.gateway.notify(kind, party, f"{self.input.claim_id}:{key}", claim_id=self.input.claim_id)

    @workflow.query
    def status(self) -> ClaimStatus:
        return self.state.status(self.input.claim_id, self.input.incident_id, self.rules)

