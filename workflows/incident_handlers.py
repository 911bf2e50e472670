"""The incident workflow's messages from the parties: the responder's dispatch and progress, the
insured's filings and grading, evidence, forensics and closure.

A base class of `IncidentWorkflow`, so the workflow module keeps to the response itself. Validators
refuse what cannot be right now, by the workflow's clock; the progress signal, which cannot be
refused, drops it with a logged reason and counts it.

Handlers and the run's background work take turns (`_turn`, by workflows/lifetime.py's `turn`): one
lock, held around every await that changes the incident, so no message acts on a state another is
halfway through changing. A message that waited for its turn checks again what its validator
checked, and is refused if that no longer holds. Every change of phase goes through `_enter`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from temporalio import workflow

from workflows.lifetime import turn
from workflows.patches import MESSAGES_IN_TURN, RESPONSE_TIMES_CHECKED

with workflow.unsafe.imports_passed_through():
    from activities.incident import IncidentActivities
    from contracts.incident import (
        CustodyReceipt,
        CustodyTransfer,
        DispatchAcknowledgement,
        EvidenceSubmission,
        IncidentClosure,
        IncidentPhase,
        IncidentRules,
        IncidentState,
        IncidentStatus,
        IncidentWorkflowInput,
        ProgressKind,
        Regrading,
        RegulatoryFiling,
        ReportKind,
        VendorProgress,
    )
    from contracts.incident_activities import (
        IncidentEventKind,
        IncidentReport,
        RecordCustody,
        RecordForensics,
        RegisterEvidence,
    )
    from domain.errors import DomainRuleError
    from domain.incident import ForensicsReport, check_happened, check_response_time
    from workflows.gateway import ActivityGateway
    from workflows.search_attributes import show



class IncidentResponseHandlers:
    input: IncidentWorkflowInput
    report: IncidentReport
    rules: IncidentRules
    state: IncidentState
    gateway: ActivityGateway
    lock: asyncio.Lock
    _event: Callable[..., Awaitable[None]]
    _publish_grade: Callable[[], None]
    status: Callable[[], IncidentStatus]

    @workflow.update
    async def acknowledge_dispatch(self, ack: DispatchAcknowledgement) -> IncidentStatus:
        async with self._turn(self._validate_ack, ack):
            self.state.acknowledged_by = ack.vendor_id
        # The emergency response records the acknowledgement in its own turn: waited for outside ours.
        await workflow.wait_condition(lambda: self.state.phase is not IncidentPhase.REPORTED)
        return self.status()

    @acknowledge_dispatch.validator
    def _validate_ack(self, ack: DispatchAcknowledgement) -> None:
        if self.state.acknowledged_by is not None:
            raise ValueError(f"{self.state.acknowledged_by} has already acknowledged this incident")
        if ack.vendor_id != self.state.dispatched_vendor:
            raise ValueError(f"vendor {ack.vendor_id} is not the vendor dispatched to this incident")

    @workflow.signal
    async def post_progress(self, progress: VendorProgress) -> None:
        async with self._turn():
            await self._apply_progress(progress)

    async def _apply_progress(self, progress: VendorProgress) -> None:
        state = self.state
        if progress.event_id in state.progress_event_ids or progress.vendor_id != state.acknowledged_by:
            return  # a resent event, or a vendor not on the case: applied once, by the responder only
        if workflow.patched(RESPONSE_TIMES_CHECKED) and not self._possible(progress):
            return
        state.progress_event_ids = [*state.progress_event_ids, progress.event_id][-self.rules.max_progress_event_ids :]
        kind = {
            ProgressKind.CONTAINED: IncidentEventKind.CONTAINED,
            ProgressKind.RESTORED: IncidentEventKind.RESTORED,
        }.get(progress.kind, IncidentEventKind.PROGRESS)
        if progress.kind is ProgressKind.CONTAINED and state.contained_at is None:
            state.contained_at = progress.at
        if progress.kind is ProgressKind.RESTORED and state.restored_at is None:
            state.restored_at = progress.at
            self._enter(IncidentPhase.RESTORED, "Service restored: evidence, forensics and the closing report remain.")
        await self._event(kind, progress.event_id, actor=progress.vendor_id, note=progress.note)

    def _possible(self, progress: VendorProgress) -> bool:
        """A signal cannot be refused: progress that cannot have happened yet is dropped and counted."""
        try:
            self._check_time(progress.at, f"the {progress.kind.value} time")
        except ValueError as err:
            self.state.progress_ignored += 1
            workflow.logger.warning("progress dropped", extra={"event_id": progress.event_id, "reason": str(err)})
            return False
        return True

    # -- Regulatory filings, grading, evidence, forensics, closure ----------------------------------

    @workflow.update
    async def file_regulatory_report(self, filing: RegulatoryFiling) -> IncidentStatus:
        async with self._turn(self._validate_filing, filing):
            self.state.filings = [*self.state.filings, filing]
            kind = {
                ReportKind.INITIAL: IncidentEventKind.REGULATORY_REPORT_FILED,
                ReportKind.SUPPLEMENTARY: IncidentEventKind.SUPPLEMENTARY_REPORT_FILED,
                ReportKind.CLOSING: IncidentEventKind.CLOSING_REPORT_FILED,
            }[filing.kind]
            await self._event(kind, f"{filing.kind.value}:{filing.reference}", channel=filing.channel,
                              reference=filing.reference)
        return self.status()

    @file_regulatory_report.validator
    def _validate_filing(self, filing: RegulatoryFiling) -> None:
        state = self._open("a regulatory filing")
        if not state.grade.must_be_reported:
            raise ValueError(f"a {state.grade.value} incident has no report to file")
        if filing.kind is ReportKind.INITIAL and state.filed(ReportKind.INITIAL):
            raise ValueError("the initial report has been filed; send a supplementary report")
        if filing.kind is not ReportKind.INITIAL and not state.filed(ReportKind.INITIAL):
            raise ValueError("file the initial report first")
        if filing.kind is ReportKind.CLOSING and state.restored_at is None:
            raise ValueError("the closing report follows the end of handling (restoration)")
        self._check_time(filing.filed_at, "the filing time")

    @workflow.update
    async def regrade(self, regrading: Regrading) -> IncidentStatus:
        async with self._turn(self._validate_regrade, regrading):
            self.state.grade, self.state.category = regrading.grade, regrading.category
            self._publish_grade()
            await self._event(
                IncidentEventKind.REGRADED,
                f"{regrading.grade.value}:{regrading.category.value}:{len(self.state.filings)}",
                grade=regrading.grade.value, category=regrading.category.value,
            )
        return self.status()

    @regrade.validator
    def _validate_regrade(self, regrading: Regrading) -> None:
        state = self._open("a regrading")
        if state.report_deadline is not None and not regrading.grade.must_be_reported:
            raise ValueError("the reporting clock has started; a reportable incident cannot be graded down to 一般")

    @workflow.update
    async def register_evidence(self, submission: EvidenceSubmission) -> CustodyReceipt:
        async with self._turn(self._validate_evidence, submission):
            receipt = await self.gateway.call_refusable(
                IncidentActivities.register_evidence,
                RegisterEvidence(incident_id=self.input.incident_id, evidence=submission.evidence),
                summary="register evidence",
            )
            if submission.evidence.evidence_id not in self.state.evidence_ids:
                self.state.evidence_ids = [*self.state.evidence_ids, submission.evidence.evidence_id]
        return CustodyReceipt(evidence_id=receipt.evidence_id, custody_entries=receipt.custody_entries)

    @register_evidence.validator
    def _validate_evidence(self, submission: EvidenceSubmission) -> None:
        self._open("evidence")
        self._check_time(submission.evidence.collected_at, "the collection time")

    @workflow.update
    async def transfer_custody(self, transfer: CustodyTransfer) -> CustodyReceipt:
        async with self._turn(self._validate_transfer, transfer):
            receipt = await self.gateway.call_refusable(
                IncidentActivities.record_custody,
                RecordCustody(
                    incident_id=self.input.incident_id, evidence_id=transfer.evidence_id, action=transfer.action,
                    by=transfer.by, at=transfer.at, note=transfer.note,
                ),
                summary="chain of custody",
            )
        return CustodyReceipt(evidence_id=receipt.evidence_id, custody_entries=receipt.custody_entries)

    @transfer_custody.validator
    def _validate_transfer(self, transfer: CustodyTransfer) -> None:
        if transfer.evidence_id not in self._open("a custody entry").evidence_ids:
            raise ValueError(f"no evidence {transfer.evidence_id} is registered on this incident")
        self._check_time(transfer.at, "the custody time")

    @workflow.update
    async def submit_forensics(self, report: ForensicsReport) -> IncidentStatus:
        async with self._turn(self._validate_forensics, report):
            await self.gateway.call_refusable(
                IncidentActivities.record_forensics,
                RecordForensics(incident_id=self.input.incident_id, report=report, received_at=workflow.now()),
                summary="record forensics report",
            )
            self.state.forensics = report
        return self.status()

    @submit_forensics.validator
    def _validate_forensics(self, report: ForensicsReport) -> None:
        state = self._open("a forensics report")
        unknown = [e for e in report.evidence_ids if e not in state.evidence_ids]
        if unknown:
            raise ValueError(f"the report cites evidence not registered here: {', '.join(unknown)}")
        # The intrusion and the outages began before or after discovery, but not ahead of now (an
        # outage may still be going on: its end may lie ahead).
        for at, what in [(report.first_intrusion_at, "the first intrusion"),
                         *((window.start, f"the start of the outage of {window.system}") for window in report.outage_windows)]:
            _refuse(check_happened, at, workflow.now(), what=what)

    @workflow.update
    async def close(self, closure: IncidentClosure) -> IncidentStatus:
        async with self._turn(self._validate_close, closure):
            await self._event(IncidentEventKind.CLOSED, "closed", reason=closure.reason)
            self.state.closing_reason = closure.reason
            self._enter(IncidentPhase.CLOSED, "Closed.")
        return self.status()

    @close.validator
    def _validate_close(self, closure: IncidentClosure) -> None:
        state = self._open("closure")
        if state.grade.must_be_reported and not state.filed(ReportKind.CLOSING):
            raise ValueError("a reportable incident closes after its closing report is filed")

    # -- Turns and phases --------------------------------------------------------------------------

    def _taking_turns(self) -> bool:
        """Histories recorded before MESSAGES_IN_TURN let handlers interleave; they replay that way."""
        return workflow.patched(MESSAGES_IN_TURN)

    def _turn(self, recheck: Callable[..., None] | None = None, *message: object) -> AbstractAsyncContextManager[bool]:
        """Hold the incident's lock for a change that awaits (`lifetime.turn`)."""
        return turn(self.lock, recheck=recheck, message=message)

    def _enter(self, phase: IncidentPhase, details: str | None = None) -> None:
        """Every change of phase: the state, and what operators see the incident doing."""
        self.state.phase = phase
        if details:
            show(details)

    def _open(self, what: str) -> IncidentState:
        if self.state.phase is IncidentPhase.CLOSED:
            raise ValueError(f"the incident is closed; {what} is not accepted")
        return self.state

    def _check_time(self, at, what: str) -> None:
        _refuse(check_response_time, at, discovered_at=self.report.discovered_at, now=workflow.now(), what=what)


def _refuse(check, *args, **kwargs) -> None:
    """Validators refuse with ValueError; the domain's checks raise DomainRuleError."""
    try:
        check(*args, **kwargs)
    except DomainRuleError as err:
        raise ValueError(str(err)) from None
