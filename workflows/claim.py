"""The claim workflow: started by the insurer for an incident (定责定损, 理赔).

    basis (cover, forensics) → loss items → determination against the policy's limits
    → adjuster review and approval (two above the authority limit) → the insured accepts or disputes
    → payment → closed (reopenable). Interim payments and subrogation along the way.

The run establishes the basis, then waits while the claim's messages carry it through its phases,
and for the reopening window after each closing. The handlers are grouped by phase in base classes:
`LossHandlers` (定损), `ClaimSettlement` (理赔), `ClosingHandlers`; which update each phase accepts, and
where it leads, is the claim's process (domain/claim_process.py), which every validator asks.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

from workflows.lifetime import until_quiet

with workflow.unsafe.imports_passed_through():
    from activities.claim import ClaimActivities
    from contracts.claim import ClaimState, ClaimStatus, ClaimWorkflowInput
    from contracts.claim_activities import LoadClaimBasis, RecordClaim
    from contracts.parties import Party
    from domain.claim import ClaimPhase
    from workflows import search_attributes
    from workflows.claim_closing_handlers import ClosingHandlers
    from workflows.claim_loss_handlers import LossHandlers
    from workflows.claim_settlement import ClaimSettlement
    from workflows.gateway import ActivityGateway, Refused, condition_or_deadline
    from workflows.search_attributes import publish, show


@workflow.defn(name="ClaimWorkflow")
class ClaimWorkflow(LossHandlers, ClaimSettlement, ClosingHandlers):
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
        while await self._reopened_after_closing():
            pass
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

    async def _reopened_after_closing(self) -> bool:
        """Loss, review, offer and payment are the messages' work; the run waits for the claim to close,
        then for a reopening within the window. A rejected claim is never reopened."""
        await workflow.wait_condition(lambda: self.state.phase.is_terminal)
        if self.state.phase is ClaimPhase.REJECTED:
            return False
        window = timedelta(minutes=self.rules.reopen_window_minutes)
        return await condition_or_deadline(
            lambda: not self.state.phase.is_terminal, workflow.now() + window, summary="reopening window"
        )
