"""The policy workflow's messages while in cover: findings, resolutions, endorsements, cancellation,
and the claims that hold and settle against the limits.

A base class of `PolicyWorkflow`, as `PreCoverHandlers` is, so the workflow module keeps to the
phases themselves. Signals cannot be refused: what they may not bring is dropped and counted.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.claim_activities import LedgerPosition, ReserveLimits, SettleReservation
    from contracts.policy import (
        CancellationReceipt,
        CancellationRequest,
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
    from workflows.claims_ledger import ClaimsLedger
    from workflows.contract_changes import ContractChanges
    from workflows.monitoring import TermMonitoring


class InCoverHandlers:
    input: PolicyWorkflowInput
    state: PolicyState
    monitoring: TermMonitoring
    changes: ContractChanges
    ledger: ClaimsLedger
    signals_this_run: int

    @workflow.signal
    def report_findings(self, batch: MonitoringBatch) -> None:
        if self._takes_findings(batch.vendor_id, len(batch.findings)):
            self.monitoring.accept(batch)

    @workflow.signal
    def findings_stored(self, stored: StoredFindings) -> None:
        """The API's intake: the findings wait in PostgreSQL; this carries their batch ids."""
        if self._takes_findings(stored.vendor_id, stored.total):
            self.monitoring.accept_stored(stored)

    def _takes_findings(self, vendor_id: str, count: int) -> bool:
        """Only in cover and from the assigned vendor. A signal cannot be refused; what is dropped is
        counted so an operator can see it."""
        self.signals_this_run += 1
        if self.state.phase.is_covered and vendor_id == self.state.monitoring_vendor_id:
            return True
        self.state.findings_ignored += count
        workflow.logger.warning("findings dropped: policy not in force or vendor not assigned")
        return False

    @workflow.update
    async def resolve_finding(self, request: FindingResolutionRequest) -> FindingResolutionReceipt:
        return await self.monitoring.resolve(request)

    @resolve_finding.validator
    def _validate_resolution(self, request: FindingResolutionRequest) -> None:
        self._require_cover("resolving a finding")

    @workflow.update
    async def verify_fix(self, verification: FixVerification) -> FindingResolutionReceipt:
        return await self.monitoring.verify(verification)

    @verify_fix.validator
    def _validate_verification(self, verification: FixVerification) -> None:
        self._require_cover("verifying a fix")
        if verification.vendor_id != self.state.monitoring_vendor_id:
            raise ValueError(f"vendor {verification.vendor_id} does not monitor this policy")

    @workflow.update
    async def endorse(self, request: EndorsementRequest) -> EndorsementReceipt:
        receipt = await self.changes.endorse(request)
        assert self.state.policy is not None
        self.ledger.follow_endorsement(self.state.policy)
        return receipt

    @endorse.validator
    def _validate_endorsement(self, request: EndorsementRequest) -> None:
        self._require_cover("an endorsement")
        self.changes.check_endorsement(request)

    @workflow.update
    async def cancel(self, request: CancellationRequest) -> CancellationReceipt:
        return await self.changes.cancel(request)

    @cancel.validator
    def _validate_cancellation(self, request: CancellationRequest) -> None:
        self._require_cover("a cancellation")

    def _require_cover(self, what: str) -> None:
        if not self.state.phase.is_covered:
            raise ValueError(f"the policy is {self.state.phase.value}, not in force; {what} is not possible")

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
            raise ValueError(f"this is policy {self.input.policy_id}, not {policy_id}")
        self.ledger.check(term_number)

    @workflow.query
    def limits(self) -> list[LedgerPosition]:
        return [self.ledger.position(term) for term in sorted(self.state.ledgers)]
