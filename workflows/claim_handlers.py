"""What every group of the claim workflow's handlers shares: the claim's one lock, the turn each
message takes under it, the claim's process asked by every validator, and the one place its phase
changes.

`ClaimWorkflow` is made of `LossHandlers` (定损), `ClaimSettlement` (理赔) and `ClosingHandlers`,
each a subclass of this. A validator asks the process (domain/claim_process.py) whether the claim's
phase accepts the update; the handler then waits its turn (`_turn`): the lock, the claim recorded,
and the process asked again, with the validator where the message's worth depends on the claim (a
second approval by the same adjuster, an interim payment above what is left), for the messages
before it may have moved the claim on while it waited.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.patches import CLAIM_MESSAGES_IN_TURN

with workflow.unsafe.imports_passed_through():
    from activities.claim import ClaimActivities
    from activities.ledger import LedgerActivities
    from contracts.claim import ClaimState, ClaimStatus, ClaimWorkflowInput
    from contracts.claim_activities import RecordClaimPhase, SettleReservation
    from contracts.parties import ActingParty, Party
    from domain.claim import ClaimPhase, ClaimRules
    from domain.claim_process import ClaimUpdate, refusal_for
    from domain.errors import DomainRuleError
    from domain.money import Money
    from workflows import search_attributes
    from workflows.gateway import ActivityGateway
    from workflows.search_attributes import publish, show

# Loss items and conditions always waited for the claim to be recorded, and had their phase checked
# again in their turn; everything else in a turn is from CLAIM_MESSAGES_IN_TURN on.
_IN_TURN_BEFORE_THE_PATCH = frozenset({ClaimUpdate.SUBMIT_LOSS_ITEMS, ClaimUpdate.SET_CONDITIONS})
# The failure type of a message its validator admitted and its turn refused: the claim moved on.
MOVED_ON = "claim_moved_on"


class ClaimHandlers:
    input: ClaimWorkflowInput
    rules: ClaimRules
    state: ClaimState
    gateway: ActivityGateway
    lock: asyncio.Lock

    def _accepts(self, update: ClaimUpdate) -> ClaimState:
        """For validators: what the claim's phase does not accept is refused before anything else."""
        refusal = refusal_for(self.state.phase, update)
        if refusal is not None:
            raise ValueError(refusal)
        return self.state

    @asynccontextmanager
    async def _turn(
        self, update: ClaimUpdate, validate: Callable[[], None] | None = None
    ) -> AsyncIterator[ClaimState]:
        """Every handler that awaits does so in its turn: one message at a time, in the order they came,
        none before the claim is recorded (it may have been rejected), and each checked again, by the
        process and by its validator, for the messages before it may have moved the claim on."""
        checked_before = update in _IN_TURN_BEFORE_THE_PATCH
        async with self.lock:
            # The patch is asked only where the new code parts from the old, so histories that never
            # got there replay without its marker.
            if checked_before or (not self.state.recorded and workflow.patched(CLAIM_MESSAGES_IN_TURN)):
                await workflow.wait_condition(lambda: self.state.recorded)
            refusal = refusal_for(self.state.phase, update)
            if refusal is None and validate is not None:
                refusal, checked_before = _refusal_by(validate), False
            if refusal is not None and (checked_before or workflow.patched(CLAIM_MESSAGES_IN_TURN)):
                raise ApplicationError(refusal, type=MOVED_ON, non_retryable=True)
            yield self.state

    async def _enter(self, phase: ClaimPhase, reason: str | None = None, by: ActingParty | None = None) -> None:
        """The one place the claim's phase changes; `by` is the party whose request moved it."""
        self.state.phase = phase
        publish(search_attributes.CLAIM_PHASE.value_set(phase.value))
        show(f"Claim {phase.value.replace('_', ' ')}" + (f": {reason}" if reason else "."))
        if phase.is_terminal:
            self.state.closing_reason = reason
        await self.gateway.record(
            ClaimActivities.record_claim_phase,
            RecordClaimPhase(claim_id=self.input.claim_id, phase=phase, at=workflow.now(), reason=reason, on_behalf_of=by),
            summary=f"claim {phase.value}",
        )

    async def _back_to_review(self) -> None:
        """Changed facts make the current statement and its approvals stale."""
        self.state.approvals = []
        if self.state.phase is ClaimPhase.IN_REVIEW:
            await self._enter(ClaimPhase.GATHERING_LOSS, "facts changed; determine again")

    async def _close(self, reason: str, by: ActingParty | None = None) -> None:
        """Closed for good until reopened: the policy keeps what was paid and releases the rest of the hold."""
        await self._settle(final=True)
        await self._enter(ClaimPhase.CLOSED, reason, by)

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

    async def _notify(self, kind: str, party: Party, *, key: str = "") -> None:
        await self.gateway.notify(kind, party, f"{self.input.claim_id}:{key}", claim_id=self.input.claim_id)

    @workflow.query
    def status(self) -> ClaimStatus:
        return self.state.status(self.input.claim_id, self.input.incident_id, self.rules)


def _refusal_by(validate: Callable[[], None]) -> str | None:
    try:
        validate()
    except ValueError as refused:
        return str(refused)
    return None


def as_value_error(check, *args, **kwargs) -> None:
    """Validators refuse with ValueError; the domain's checks raise DomainRuleError."""
    try:
        check(*args, **kwargs)
    except DomainRuleError as err:
        raise ValueError(str(err)) from None
