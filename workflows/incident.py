"""The incident workflow: one per incident, from first notice to closure (保后应急处置, 溯源取证).

    report → coverage check → the authorities' reporting clock ‖ panel emergency response
    → containment and restoration → evidence and forensics → closing report → closed.

The reporting clock and the emergency response run beside the run as tasks it keeps: a failure in
either fails the run at once, and at closure the run cancels whatever is still waiting in them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import Any, NamedTuple

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.lifetime import until_quiet
from workflows.patches import CLOSING_REPORT_ON_CHINA_CALENDAR, LOCAL_RECORDS, OPERATOR_OVERDUE_VIEWS

with workflow.unsafe.imports_passed_through():
    from activities.incident import IncidentActivities
    from activities.working_calendar import CalendarActivities, WorkingDeadlineRequest
    from contracts.incident import (
        IncidentPhase,
        IncidentState,
        IncidentStatus,
        IncidentWorkflowInput,
        ReportKind,
    )
    from contracts.incident_activities import (
        IncidentEventKind,
        LoadIncidentCover,
        RecordIncident,
        RecordIncidentEvent,
    )
    from contracts.parties import Party
    from domain.errors import DomainRuleError
    from domain.incident import (
        add_working_days,
        check_coverage,
        check_discovery,
        panel_candidates,
        report_deadline,
    )
    from workflows import search_attributes
    from workflows.gateway import ActivityGateway, Refused, condition_or_deadline
    from workflows.incident_handlers import IncidentResponseHandlers
    from workflows.search_attributes import publish, show




class Notice(NamedTuple):
    kind: str
    party: Party
    recipient_id: str | None = None
    key: str = ""


@workflow.defn(name="IncidentWorkflow")
class IncidentWorkflow(IncidentResponseHandlers):
    @workflow.init
    def __init__(self, input: IncidentWorkflowInput) -> None:
        self.input = input
        self.report = input.report
        self.rules = input.rules
        self.state = IncidentState(grade=input.report.grade, category=input.report.category)
        self.gateway = ActivityGateway(input.report.policy_id)
        self.lock = asyncio.Lock()
        self.background: list[asyncio.Task[None]] = []

    @workflow.run
    async def run(self, input: IncidentWorkflowInput) -> IncidentStatus:
        self.gateway.local_writes = workflow.patched(LOCAL_RECORDS)
        self._refuse_an_impossible_discovery()
        publish(
            search_attributes.POLICY_ID.value_set(self.report.policy_id),
            search_attributes.REPORT_OVERDUE.value_set(False),
        )
        self._publish_grade()
        show("First notice received: checking the policy's cover.")
        industry = await self._check_coverage()
        show("Covered: emergency response and the reporting clock are running." if self.state.coverage.covered
             else "Not covered by a policy term in force: no panel response at the insurer's cost.")
        clock = self._keep(self._regulatory_reporting())
        if self.state.coverage is not None and self.state.coverage.covered:
            self._keep(self._emergency_response(industry))
        # Histories from before MESSAGES_IN_TURN watched the clock only, and left the tasks running.
        taking_turns = self._taking_turns()
        watched = self.background if taking_turns else [clock]
        await workflow.wait_condition(lambda: self.state.phase is IncidentPhase.CLOSED or _failed(watched) is not None)
        _raise_failure(watched)
        await until_quiet(self.gateway)
        if taking_turns:
            await self._end_background_work()
        return self.status()

    def _keep(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self.background.append(task)
        return task

    async def _end_background_work(self) -> None:
        """Closed, and nothing in flight: a dispatch or a deadline still waited on has no one left to
        wait for. Cancelled, and awaited, so a task that failed meanwhile still fails the run."""
        waiting = [task for task in self.background if not task.done()]
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        _raise_failure(self.background)

    # -- First notice: is this incident covered, and was the insurer told in time? ------------------

    def _refuse_an_impossible_discovery(self) -> None:
        """A report no incident can have (discovered in the future, or with no time zone) ends the run
        at once, failed with the reason: nothing is recorded, and a corrected report may start again
        under the same reference. Every later step compares times with the discovery."""
        try:
            check_discovery(self.report.discovered_at, workflow.now())
        except DomainRuleError as err:
            raise ApplicationError(f"incident refused: {err.message}", type=err.code, non_retryable=True) from None

    async def _check_coverage(self) -> str:
        report, state = self.report, self.state
        cover = await self.gateway.attempt(
            IncidentActivities.load_incident_cover,
            LoadIncidentCover(policy_id=report.policy_id, discovered_at=report.discovered_at),
            summary="find the policy term in force at discovery",
        )
        if isinstance(cover, Refused):  # no such policy, or a report the database cannot hold
            raise cover.error("incident refused: ")
        # A discovery up to the clock skew ahead of this clock was let in: it counts as reported at once.
        reported_at = max(workflow.now(), report.discovered_at)
        state.coverage = check_coverage(
            cover.policy, discovered_at=report.discovered_at, reported_at=reported_at, cancelled_at=cover.cancelled_at
        )
        state.operator_type = cover.operator_type
        state.term_number = cover.policy.term_number if cover.policy else None
        state.panel = cover.policy.schedule.panel_vendor_ids if cover.policy else []
        recorded = await self.gateway.attempt(
            IncidentActivities.record_incident,
            RecordIncident(
                incident_id=self.input.incident_id, report=report, coverage=state.coverage,
                term_number=state.term_number, received_at=workflow.now(),
            ),
            summary="record first notice",
        )
        if isinstance(recorded, Refused):
            raise recorded.error("incident refused: ")
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
        async with self._turn():
            state.report_deadline = deadline
            await self._event(IncidentEventKind.REGULATORY_REPORT_DUE, "initial", deadline=deadline.isoformat(),
                              notices=[Notice("regulatory_report_due", Party.INSURED)])
        filed = await condition_or_deadline(
            lambda: state.filed(ReportKind.INITIAL),
            deadline - timedelta(minutes=reporting.reminder_lead_minutes),
            summary="regulatory report reminder",
        )
        if not filed:
            async with self._turn():
                await self._notify("regulatory_report_reminder", Party.INSURED)
            filed = await condition_or_deadline(
                lambda: state.filed(ReportKind.INITIAL), deadline, summary="regulatory report deadline"
            )
        if not filed:
            async with self._turn():
                state.report_overdue = True
                publish(search_attributes.REPORT_OVERDUE.value_set(True))
                show("The report to the authorities is OVERDUE.")
                await self._event(IncidentEventKind.REGULATORY_REPORT_OVERDUE, "initial", notices=[
                    Notice("regulatory_report_overdue", Party.INSURED), Notice("regulatory_report_overdue", Party.INSURER),
                ])
        await workflow.wait_condition(lambda: state.filed(ReportKind.INITIAL))
        if state.report_overdue and workflow.patched(OPERATOR_OVERDUE_VIEWS):
            publish(search_attributes.REPORT_OVERDUE.value_set(False))  # filed late: no longer waiting
        await self._closing_report()

    async def _closing_report(self) -> None:
        """The closing summary is due some working days after handling ends (restoration)."""
        state = self.state
        await workflow.wait_condition(lambda: state.restored_at is not None)
        assert state.restored_at is not None
        working_days = self.rules.reporting.closing_report_working_days
        if workflow.patched(CLOSING_REPORT_ON_CHINA_CALENDAR):
            deadline = await self.gateway.attempt(
                CalendarActivities.working_deadline,
                WorkingDeadlineRequest(start=state.restored_at, working_days=working_days),
                summary=f"{working_days} working days on the Chinese calendar",
            )
            # Outside the years the published calendar covers: Monday to Friday is the best there is.
            due = add_working_days(state.restored_at, working_days) if isinstance(deadline, Refused) else deadline.due
        else:  # histories before the patch: Monday to Friday, holidays not counted
            due = add_working_days(state.restored_at, working_days)
        async with self._turn():
            state.closing_report_due = due
            await self._event(IncidentEventKind.CLOSING_REPORT_DUE, "closing", due=due.isoformat())
        filed = await condition_or_deadline(
            lambda: state.filed(ReportKind.CLOSING), due, summary="closing report deadline"
        )
        if not filed:
            async with self._turn():
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
            async with self._turn() as taking_turns:
                if taking_turns and state.phase is IncidentPhase.CLOSED:
                    return  # closed while the last vendor was awaited: no one is sent to a closed incident
                state.dispatched_vendor = vendor_id
                await self._event(IncidentEventKind.VENDOR_DISPATCHED, vendor_id, actor=vendor_id,
                                  notices=[Notice("emergency_dispatch", Party.VENDOR, vendor_id, vendor_id)])
            await condition_or_deadline(
                lambda vendor_id=vendor_id: state.acknowledged_by == vendor_id, workflow.now() + sla,
                summary=f"{vendor_id} to acknowledge",
            )
            async with self._turn():
                # In time, or while this waited for its turn: an acknowledgement accepted is kept.
                if state.acknowledged_by == vendor_id:
                    if state.phase is IncidentPhase.REPORTED:
                        self._enter(IncidentPhase.RESPONDING)
                    await self._event(IncidentEventKind.VENDOR_ACKNOWLEDGED, vendor_id, actor=vendor_id)
                    return
                state.dispatched_vendor = None  # a late acknowledgement is refused, not left waiting
                await self._event(IncidentEventKind.DISPATCH_ESCALATED, vendor_id, actor=vendor_id,
                                  notices=[Notice("dispatch_escalated", Party.INSURER, key=vendor_id)])
        async with self._turn():
            state.dispatched_vendor = None
            await self._event(IncidentEventKind.NO_PANEL_VENDOR, "none",
                              notices=[Notice("no_panel_vendor_acknowledged", Party.INSURER)])

    def _publish_grade(self) -> None:
        publish(
            search_attributes.INCIDENT_GRADE.value_set(self.state.grade.value),
            search_attributes.INCIDENT_CATEGORY.value_set(self.state.category.value),
        )

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
            progress_ignored=state.progress_ignored,
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
        await self.gateway.record(
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


def _failed(tasks: Sequence[asyncio.Task[None]]) -> BaseException | None:
    """The first failure among the background tasks; a cancelled task is not a failure."""
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            return task.exception()
    return None


def _raise_failure(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Fail the run with it: a workflow error fails the incident, anything else its workflow task (retried)."""
    failure = _failed(tasks)
    if failure is not None:
        raise failure
