"""The policy workflow's messages while in cover: findings, resolutions, endorsements, cancellation,
and the claims that hold and settle against the limits.

A base class of `PolicyWorkflow`, as `PreCoverHandlers` is, so the workflow module keeps to the
phases themselves. Every update that awaits holds the policy's one lock from its first read of the
state to its last write, and checks again under it what its validator checked before: a change sent
at the same time as another is applied after it, from the state it left. Signals cannot be refused:
what they may not bring is dropped, counted, said why in the status (`dropped_findings`), and told to
the vendor that sent it (`TermMonitoring.tell_dropped`).
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.claim_activities import LedgerPosition, ReserveLimits, SettleReservation
    from contracts.policy import (
        CancellationReceipt,
        CancellationRequest,
        DroppedFindings,
        EndorsementReceipt,
        EndorsementRequest,
        FindingResolutionReceipt,
        FindingResolutionRequest,
        FixVerification,
        MonitoringBatch,
        PolicyState,
        PolicyWorkflowInput,
        StoredFindings,
    )
    from domain.loss_statement import LossStatement
    from domain.money import Money
    from domain.policy import BoundPolicy, PolicyPhase
    from workflows.claims_ledger import ClaimsLedger
    from workflows.contract_changes import ContractChanges
    from workflows.monitoring import TermMonitoring
    from workflows.underwriting import refusal


class InCoverHandlers:
    input: PolicyWorkflowInput
    state: PolicyState
    lock: asyncio.Lock
    monitoring: TermMonitoring
    changes: ContractChanges
    ledger: ClaimsLedger
    signals_this_run: int

    # The workflow's own (workflows/policy.py): closing the policy, and the details the UI shows.
    async def _close(self, phase: PolicyPhase, reason: str | None) -> None: ...
    def _show_details(self) -> None: ...

    # Async so that what they drop is told to the sender; everything before the first await is as it
    # was when they were plain functions, so histories from then replay alike.
    @workflow.signal
    async def report_findings(self, batch: MonitoringBatch) -> None:
        if self._takes_findings(batch.vendor_id, len(batch.findings)):
            self.monitoring.accept(batch)
        self._show_details()
        await self.monitoring.tell_dropped()

    @workflow.signal
    async def findings_stored(self, stored: StoredFindings) -> None:
        """The API's intake: the findings wait in PostgreSQL; this carries their batch ids."""
        if self._takes_findings(stored.vendor_id, stored.total):
            self.monitoring.accept_stored(stored)
        self._show_details()
        await self.monitoring.tell_dropped()

    def _takes_findings(self, vendor_id: str, count: int) -> bool:
        """Only in cover and from the assigned vendor. The API refuses a batch it knows would be dropped;
        one sent straight to Temporal, or overtaken by the term's end, is dropped here and said why."""
        self.signals_this_run += 1
        phase = self.state.phase
        if not phase.is_covered:
            reason = f"the policy is {phase.value}, not in force: findings are taken only in cover"
        elif vendor_id != self.state.monitoring_vendor_id:
            reason = f"vendor {vendor_id} does not monitor this policy"
        else:
            return True
        self.monitoring.drop(DroppedFindings(at=workflow.now(), vendor_id=vendor_id, count=count, reason=reason))
        return False

    @workflow.update
    async def resolve_finding(self, request: FindingResolutionRequest) -> FindingResolutionReceipt:
        async with self.lock:
            self._policy_in_cover("resolving a finding")
            return await self.monitoring.resolve(request)

    @resolve_finding.validator
    def _validate_resolution(self, request: FindingResolutionRequest) -> None:
        self._policy_in_cover("resolving a finding")

    @workflow.update
    async def verify_fix(self, verification: FixVerification) -> FindingResolutionReceipt:
        async with self.lock:
            self._policy_in_cover("verifying a fix")
            return await self.monitoring.verify(verification)

    @verify_fix.validator
    def _validate_verification(self, verification: FixVerification) -> None:
        self._policy_in_cover("verifying a fix")
        if verification.vendor_id != self.state.monitoring_vendor_id:
            raise refusal(
                "not_monitoring_vendor", f"vendor {verification.vendor_id} does not monitor this policy", lasting=True
            )

    @workflow.update
    async def endorse(self, request: EndorsementRequest) -> EndorsementReceipt:
        async with self.lock:
            policy, charged = self._policy_in_cover("an endorsement")
            applied = self.state.endorsement_ids
            self.changes.check_endorsement(policy, applied, request)
            # Taken before the write, so that the same request sent again meanwhile is refused as a repeat.
            applied.append(request.request_id)
            try:
                endorsed = await self.changes.endorse(policy, charged, request)
            except ApplicationError:
                applied.remove(request.request_id)  # refused: not applied, so it may come again
                raise
            self.state.policy, self.state.premium_charged = endorsed.policy, endorsed.premium_charged
            self.ledger.follow_endorsement(endorsed.policy)
            return endorsed.receipt

    @endorse.validator
    def _validate_endorsement(self, request: EndorsementRequest) -> None:
        policy, _ = self._policy_in_cover("an endorsement")
        self.changes.check_endorsement(policy, self.state.endorsement_ids, request)

    @workflow.update
    async def cancel(self, request: CancellationRequest) -> CancellationReceipt:
        async with self.lock:
            policy, charged = self._policy_in_cover("a cancellation")
            receipt = await self.changes.cancel(policy, charged, request)
            await self._close(PolicyPhase.CANCELLED, f"cancelled by the {request.cancelled_by.value}: {request.reason}")
            return receipt

    @cancel.validator
    def _validate_cancellation(self, request: CancellationRequest) -> None:
        self._policy_in_cover("a cancellation")

    def _policy_in_cover(self, what: str) -> tuple[BoundPolicy, Money]:
        """The bound policy and what it charged; refused, for good once the policy has ended, otherwise."""
        state = self.state
        if not state.phase.is_covered:
            raise refusal(
                "not_in_force", f"the policy is {state.phase.value}, not in force; {what} is not possible",
                lasting=state.phase.is_terminal,
            )
        assert state.policy is not None and state.premium_charged is not None
        return state.policy, state.premium_charged

    # -- Claims against the limits ------------------------------------------------------------------

    @workflow.update
    def reserve_claim(self, request: ReserveLimits) -> LossStatement:
        return self.ledger.reserve(request)

    @reserve_claim.validator
    def _validate_reserve(self, request: ReserveLimits) -> None:
        self._check_claim_target(request.policy_id, request.term_number)

    @workflow.update
    def settle_claim(self, request: SettleReservation) -> LedgerPosition:
        return self.ledger.settle(request)

    @settle_claim.validator
    def _validate_settlement(self, request: SettleReservation) -> None:
        self._check_claim_target(request.policy_id, request.term_number)

    def _check_claim_target(self, policy_id: str, term_number: int) -> None:
        if policy_id != self.input.policy_id:
            raise refusal("unknown_policy", f"this is policy {self.input.policy_id}, not {policy_id}", lasting=True)
        self.ledger.check(term_number)

    @workflow.query
    def limits(self) -> list[LedgerPosition]:
        return [self.ledger.position(term) for term in sorted(self.state.ledgers)]
