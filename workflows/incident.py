"""The incident workflow: one per incident, from first notice to closure (保后应急处置, 溯源取证).

    report → coverage check → the authorities' reporting clock ‖ panel emergency response
    → containment and restoration → evidence and forensics → closing report → closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import NamedTuple

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.incident import IncidentActivities
    from activities.incident_messages import (
        IncidentEventKind,
        LoadIncidentCover,
        RecordCustody,
        RecordForensics,
        RecordIncident,
        RecordIncidentEvent,
        RegisterEvidence,
    )
    from activities.messages import Party
    from activities.working_calendar import CalendarActivities, WorkingDeadlineRequest
    from domain.incident import (
        ForensicsReport,
        add_working_days,
        check_coverage,
        panel_candidates,
        report_deadline,
    )
    from workflows import search_attributes
    from workflows.gateway import ActivityGateway, condition_or_deadline
    from workflows.incident_messages import (
        CustodyReceipt,
        CustodyTransfer,
        DispatchAcknowledgement,
        EvidenceSubmission,
        IncidentClosure,
        IncidentPhase,
        IncidentState,
        IncidentStatus,
        IncidentWorkflowInput,
        ProgressKind,
        Regrading,
        RegulatoryFiling,
        ReportKind,
        VendorProgress,
    )
    from workflows.search_attributes import publish, show


# The closing report's working days follow China's calendar (holidays, 调休), counted in an activity.
CLOSING_REPORT_ON_CHINA_CALENDAR = "closing-report-china-calendar"
# Records and notifications are short database writes, run as local activities (workflows/gateway.py),
# and a timeline entry is written with the notifications it causes, in one.
LOCAL_RECORDS = "incident-local-records"


class Notice(NamedTuple):
    kind: str
    party: Party
    recipient_id: str | None = None
    key: str = ""


@workflow.defn(name="IncidentWorkflow")
class IncidentWorkflow:
    @workflow.init
    def __init__(self, input: IncidentWorkflowInput) -> None:
        self.input = input
        self.report = input.report
        self.rules = input.rules
        self.state = IncidentState(grade=input.report.grade, category=input.report.category)
        self.gateway = ActivityGateway(input.report.policy_id)

    @workflow.run
    async def run(self, input: IncidentWorkflowInput) -> IncidentStatus:
        self.gateway.local_writes = workflow.patched(LOCAL_RECORDS)
        publish(
            search_attributes.POLICY_ID.value_set(self.report.policy_id),
            search_attributes.REPORT_OVERDUE.value_set(False),
        )
        self._publish_grade()
        show("First notice received: checking the policy's cover.")
        industry = await self._check_coverage()
        show("Covered: emergency response and the reporting clock are running." if self.state.coverage.covered
             else "Not covered by a policy term in force: no panel response at the insurer's cost.")
        clock = asyncio.create_task(self._regulatory_reporting())
        if self.state.coverage is not None and self.state.coverage.covered:
            asyncio.create_task(self._emergency_response(industry))
        await workflow.wait_condition(lambda: self.state.phase is IncidentPhase.CLOSED or clock.done())
        if clock.done() and clock.exception() is not None:
            raise clock.exception()  # type: ignore[misc]
        await workflow.wait_condition(lambda: self.state.phase is IncidentPhase.CLOSED)
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and self.gateway.in_flight == 0)
        return self.status()

    # -- First notice: is this incident covered, and was the insurer told in time? ------------------

    async def _check_coverage(self) -> str:
        report, state = self.report, self.state
        cover = await self.gateway.call(
            IncidentActivities.load_incident_cover,
            LoadIncidentCover(policy_id=report.policy_id, discovered_at=report.discovered_at),
            summary="find the policy term in force at discovery",
        )
        state.coverage = check_coverage(
            cover.policy, discovered_at=report.discovered_at, reported_at=workflow.now(), cancelled_at=cover.cancelled_at
        )
        state.operator_type = cover.operator_type
        state.term_number = cover.policy.term_number if cover.policy else None
        state.panel = cover.policy.schedule.panel_vendor_ids if cover.policy else []
        await self.gateway.call(
            IncidentActivities.record_incident,
            RecordIncident(
                incident_id=self.input.incident_id, report=report, coverage=state.coverage,
                term_number=state.term_number, received_at=workflow.now(),
            ),
            summary="record first notice",
        )
        if state.coverage.late_notice:
            await self._notify("late_notice", Party.INSURER)
        if not state.coverage.covered:
            await self._notify("incident_not_covered", Party.INSURER)
            await self._notify("incident_not_covered", Party.INSURED)
        return cover.industry.value

    # -- The authorities' clock (《网络安全事件报告管理办法》) ------------------------------------------

    async def _regulatory_reporting(self) -> None:
        state, reporting = self.state, self.rules.reporting
        await workflow.wait_condition(lambda: state.grade.must_be_reported or state.phase is IncidentPhase.CLOSED)
        if state.phase is IncidentPhase.CLOSED:
            return
        assert state.operator_type is not None
        deadline = report_deadline(self.report.discovered_at, state.operator_type, reporting)
        state.report_deadline = deadline
        await self._event(IncidentEventKind.REGULATORY_REPORT_DUE, "initial", deadline=deadline.isoformat(),
                          notices=[Notice("regulatory_report_due", Party.INSURED)])
        filed = await condition_or_deadline(
            lambda: state.filed(ReportKind.INITIAL),
            deadline - timedelta(minutes=reporting.reminder_lead_minutes),
            summary="regulatory report reminder",
        )
        if not filed:
            await self._notify("regulatory_report_reminder", Party.INSURED)
            filed = await condition_or_deadline(
                lambda: state.filed(ReportKind.INITIAL), deadline, summary="regulatory report deadline"
            )
        if not filed:
            state.report_overdue = True
            publish(search_attributes.REPORT_OVERDUE.value_set(True))
            show("The report to the authorities is OVERDUE.")
            await self._event(IncidentEventKind.REGULATORY_REPORT_OVERDUE, "initial", notices=[
                Notice("regulatory_report_overdue", Party.INSURED), Notice("regulatory_report_overdue", Party.INSURER),
            ])
        await workflow.wait_condition(lambda: state.filed(ReportKind.INITIAL))
        await self._closing_report()

    async def _closing_report(self) -> None:
        """The closing summary is due some working days after handling ends (restoration)."""
        state = self.state
        await workflow.wait_condition(lambda: state.restored_at is not None)
        assert state.restored_at is not None
        working_days = self.rules.reporting.closing_report_working_days
        if workflow.patched(CLOSING_REPORT_ON_CHINA_CALENDAR):
            deadline = await self.gateway.call(
                CalendarActivities.working_deadline,
                WorkingDeadlineRequest(start=state.restored_at, working_days=working_days),
                summary=f"{working_days} working days on the Chinese calendar",
            )
            due = deadline.due
        else:  # histories before the patch: Monday to Friday, holidays not counted
            due = add_working_days(state.restored_at, working_days)
        state.closing_report_due = due
        await self._event(IncidentEventKind.CLOSING_REPORT_DUE, "closing", due=due.isoformat())
        filed = await condition_or_deadline(
            lambda: state.filed(ReportKind.CLOSING), due, summary="closing report deadline"
        )
        if not filed:
            state.closing_report_overdue = True
            await self._event(IncidentEventKind.CLOSING_REPORT_OVERDUE, "closing",
                              notices=[Notice("closing_report_overdue", Party.INSURED)])

    # -- Emergency response by the insurer's panel ------------------------------------------------------

    async def _emergency_response(self, industry: str) -> None:
        state = self.state
        candidates = panel_candidates(
            state.panel, self.rules.panel_directory, industry=industry, region=self.report.region
        )
        sla = timedelta(minutes=self.rules.dispatch_ack_minutes)
        for vendor_id in candidates:
            state.dispatched_vendor = vendor_id
            await self._event(IncidentEventKind.VENDOR_DISPATCHED, vendor_id, actor=vendor_id,
                              notices=[Notice("emergency_dispatch", Party.VENDOR, vendor_id, vendor_id)])
            acknowledged = await condition_or_deadline(
                lambda: state.acknowledged_by == vendor_id, workflow.now() + sla, summary=f"{vendor_id} to acknowledge"
            )
            if acknowledged:
                if state.phase is IncidentPhase.REPORTED:
                    state.phase = IncidentPhase.RESPONDING
                await self._event(IncidentEventKind.VENDOR_ACKNOWLEDGED, vendor_id, actor=vendor_id)
                return
            await self._event(IncidentEventKind.DISPATCH_ESCALATED, vendor_id, actor=vendor_id,
                              notices=[Notice("dispatch_escalated", Party.INSURER, key=vendor_id)])
        state.dispatched_vendor = None
        await self._event(IncidentEventKind.NO_PANEL_VENDOR, "none",
                          notices=[Notice("no_panel_vendor_acknowledged", Party.INSURER)])

    @workflow.update
    async def acknowledge_dispatch(self, ack: DispatchAcknowledgement) -> IncidentStatus:
        self.state.acknowledged_by = ack.vendor_id
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
        state = self.state
        if progress.event_id in state.progress_event_ids or progress.vendor_id != state.acknowledged_by:
            return  # a resent event, or a vendor not on the case: applied once, by the responder only
        state.progress_event_ids = [*state.progress_event_ids, progress.event_id][-self.rules.max_progress_event_ids :]
        kind = {
            ProgressKind.CONTAINED: IncidentEventKind.CONTAINED,
            ProgressKind.RESTORED: IncidentEventKind.RESTORED,
        }.get(progress.kind, IncidentEventKind.PROGRESS)
        if progress.kind is ProgressKind.CONTAINED and state.contained_at is None:
            state.contained_at = progress.at
        if progress.kind is ProgressKind.RESTORED and state.restored_at is None:
            state.restored_at = progress.at
            state.phase = IncidentPhase.RESTORED
            show("Service restored: evidence, forensics and the closing report remain.")
        await self._event(kind, progress.event_id, actor=progress.vendor_id, note=progress.note)

    # -- Regulatory filings, grading, evidence, forensics, closure ----------------------------------

    @workflow.update
    async def file_regulatory_report(self, filing: RegulatoryFiling) -> IncidentStatus:
        self.state.filings = [*self.state.filings, filing]
        kind = {
            ReportKind.INITIAL: IncidentEventKind.REGULATORY_REPORT_FILED,
            ReportKind.SUPPLEMENTARY: IncidentEventKind.SUPPLEMENTARY_REPORT_FILED,
            ReportKind.CLOSING: IncidentEventKind.CLOSING_REPORT_FILED,
        }[filing.kind]
        await self._event(kind, f"{filing.kind.value}:{filing.reference}", channel=filing.channel, reference=filing.reference)
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
        if filing.filed_at < self.report.discovered_at:
            raise ValueError("a report cannot be filed before the incident was discovered")

    @workflow.update
    async def regrade(self, regrading: Regrading) -> IncidentStatus:
        self.state.grade, self.state.category = regrading.grade, regrading.category
        self._publish_grade()
        await self._event(
            IncidentEventKind.REGRADED, f"{regrading.grade.value}:{regrading.category.value}:{len(self.state.filings)}",
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

    @workflow.update
    async def transfer_custody(self, transfer: CustodyTransfer) -> CustodyReceipt:
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

    @workflow.update
    async def submit_forensics(self, report: ForensicsReport) -> IncidentStatus:
        await self.gateway.call(
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

    @workflow.update
    async def close(self, closure: IncidentClosure) -> IncidentStatus:
        await self._event(IncidentEventKind.CLOSED, "closed", reason=closure.reason)
        self.state.closing_reason = closure.reason
        self.state.phase = IncidentPhase.CLOSED
        show("Closed.")
        return self.status()

    @close.validator
    def _validate_close(self, closure: IncidentClosure) -> None:
        state = self._open("closure")
        if state.grade.must_be_reported and not state.filed(ReportKind.CLOSING):
            raise ValueError("a reportable incident closes after its closing report is filed")

    def _publish_grade(self) -> None:
        publish(
            search_attributes.INCIDENT_GRADE.value_set(self.state.grade.value),
            search_attributes.INCIDENT_CATEGORY.value_set(self.state.category.value),
        )

    def _open(self, what: str) -> IncidentState:
        if self.state.phase is IncidentPhase.CLOSED:
            raise ValueError(f"the incident is closed; {what} is not accepted")
        return self.state

    @workflow.query
    def status(self) -> IncidentStatus:
        state, coverage = self.state, self.state.coverage
        return IncidentStatus(
            incident_id=self.input.incident_id, policy_id=self.report.policy_id, phase=state.phase,
            grade=state.grade, category=state.category,
            covered=coverage.covered if coverage else None, late_notice=coverage.late_notice if coverage else None,
            coverage_notes=coverage.notes if coverage else [], report_deadline=state.report_deadline,
            report_overdue=state.report_overdue, filings=state.filings, closing_report_due=state.closing_report_due,
            closing_report_overdue=state.closing_report_overdue, dispatched_vendor=state.dispatched_vendor,
            acknowledged_by=state.acknowledged_by, contained_at=state.contained_at, restored_at=state.restored_at,
            evidence=len(state.evidence_ids), forensics_received=state.forensics is not None,
        )

    # -- Plumbing -------------------------------------------------------------------------------------

    async def _event(
        self, kind: IncidentEventKind, key: str, *, actor: str | None = None, notices: Sequence[Notice] = (), **details
    ) -> None:
        """An entry on the timeline and whom it is told to: with local writes in one transaction, else
        (histories from before LOCAL_RECORDS) as an activity each, in that order."""
        together = self.gateway.local_writes
        notifications = [
            self.gateway.notification(n.kind, n.party, f"{self.input.incident_id}:{n.key}", recipient_id=n.recipient_id,
                                      incident_id=self.input.incident_id)
            for n in notices
        ] if together else []
        await self.gateway.call(
            IncidentActivities.record_incident_event,
            RecordIncidentEvent(
                incident_id=self.input.incident_id, event_key=f"{kind.value}:{key}", kind=kind, at=workflow.now(),
                actor=actor, details=details, notifications=notifications,
            ),
            summary=kind.value.replace("_", " "),
        )
        if not together:
            for notice in notices:
                await self._notify(notice.kind, notice.party, recipient_id=notice.recipient_id, key=notice.key)

    async def _notify(self, kind: str, party: Party, *, recipient_id: str | None = None, key: str = "") -> None:
        await self.gateway.notify(
            kind, party, f"{self.input.incident_id}:{key}", recipient_id=recipient_id, incident_id=self.input.incident_id
        )
