"""Activities of the policy workflow: every write it makes to PostgreSQL and to the outbox.

Each activity is one unit of work, and each is safe to retry: rows have natural keys and
inserts skip what is already there, so a retry after a committed attempt writes nothing new
and returns what the first attempt returned.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.log_context import activity_log
from activities.notifying import Notifier, remediation_notifications
from contracts.parties import Notification, Party
from contracts.policy_activities import (
    BindPolicy,
    Escalation,
    FindingChanged,
    FindingIntake,
    ReceivedFinding,
    RecordApplication,
    RecordAssessment,
    RecordCancellation,
    RecordEndorsement,
    RecordFindingBatches,
    RecordFindings,
    RecordPolicyPhase,
    RecordQuote,
    RecordQuoteStatus,
    RecordUnderwriting,
    ResolveFinding,
    SweepRemediation,
    SweepResult,
    VerifyFix,
)
from domain.errors import DomainRuleError
from domain.findings import (
    FindingStatus,
    Severity,
    apply_resolution,
    apply_verification,
)
from domain.policy import BoundPolicy, PolicyPhase, local_date
from storage.models import FindingResolutionRow, FindingRow
from storage.repositories import NewFinding
from storage.repositories.finding_batches import WaitingBatch
from storage.unit_of_work import UnitOfWork

# Policy numbers carry the year the term starts in China, whatever zone the caller used.


def policy_number(year: int, serial: int) -> str:
    return f"CY-{year}-{serial:08d}"


def _log(policy_id: str) -> structlog.stdlib.BoundLogger:
    return activity_log(policy_id=policy_id)


class PolicyActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], notifier: Notifier | None = None) -> None:
        self._sessions = sessions
        self._notifier = notifier or Notifier(None, "")

    @activity.defn
    async def record_application(self, command: RecordApplication) -> None:
        async with UnitOfWork(self._sessions) as uow:
            organisation_id = await uow.pre_cover.save_organisation(
                command.application.organisation, applied_at=command.received_at
            )
            await uow.pre_cover.add_application(command, organisation_id=organisation_id)
        _log(command.policy_id).info("application recorded")

    @activity.defn
    async def enqueue_notification(self, notification: Notification) -> None:
        """The one activity every workflow notifies through (activities/notifying.py)."""
        async with UnitOfWork(self._sessions) as uow:
            started = await self._notifier.emit(uow, [notification])
        await self._notifier.deliver(started)
        activity_log().info("notification enqueued", kind=notification.kind, deliveries=len(started))

    @activity.defn
    async def record_assessment(self, command: RecordAssessment) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await uow.pre_cover.add_assessment(command)
        _log(command.policy_id).info("assessment recorded", term_number=command.term_number)

    @activity.defn
    async def record_underwriting(self, command: RecordUnderwriting) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await uow.pre_cover.add_underwriting_decision(command)
        _log(command.policy_id).info(
            "underwriting recorded", stage=command.stage.value, decision=command.result.decision.value
        )

    @activity.defn
    async def record_quote(self, command: RecordQuote) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await uow.pre_cover.add_quote(command)
        _log(command.policy_id).info("quote recorded", quote_id=command.quote.quote_id)

    @activity.defn
    async def record_quote_status(self, command: RecordQuoteStatus) -> None:
        async with UnitOfWork(self._sessions) as uow:
            if not await uow.pre_cover.set_quote_status(command):
                raise ApplicationError(
                    f"policy {command.policy_id} has no quote {command.quote_id}",
                    type="unknown_quote",
                    non_retryable=True,
                )
        _log(command.policy_id).info("quote status recorded", status=command.status.value)

    @activity.defn
    async def bind_policy(self, command: BindPolicy) -> BoundPolicy:
        quote = command.quote
        async with UnitOfWork(self._sessions) as uow:
            bound = await uow.policies.get_term(command.policy_id, quote.term_number)
            if bound is None:
                number = command.previous_policy_number or policy_number(
                    local_date(command.term_start).year,
                    await uow.policies.next_policy_serial(),
                )
                await uow.policies.add_term(
                    policy_id=command.policy_id,
                    quote_id=quote.quote_id,
                    phase=PolicyPhase.IN_FORCE.value,
                    policy=BoundPolicy(
                        policy_number=number,
                        term_number=quote.term_number,
                        term_start=command.term_start,
                        term_end=command.term_end,
                        annual_premium=quote.premium,
                        schedule=quote.schedule,
                        risk_score=quote.risk_score,
                    ),
                )
                # Read back, so the first attempt, a retry and a concurrent attempt all return the row.
                bound = await uow.policies.get_term(command.policy_id, quote.term_number)
        assert bound is not None
        _log(command.policy_id).info(
            "policy bound", policy_number=bound.policy_number, term_number=bound.term_number
        )
        return bound

    @activity.defn
    async def record_findings(self, command: RecordFindings) -> FindingIntake:
        """Findings that came in a signal (`report_findings`)."""
        findings = _new_findings(command)
        async with UnitOfWork(self._sessions) as uow:
            inserted, escalations = await _insert(uow, command.policy_id, command.term_number, findings)
        return await self._intake(command.policy_id, command.term_number, inserted, len(command.findings), escalations)

    @activity.defn
    async def record_finding_batches(self, command: RecordFindingBatches) -> FindingIntake:
        """Findings the API stored in `finding_batches` (only this policy's batches), expanded and dated by
        PostgreSQL in one statement, so the worker does no per-finding work; recorded, with their
        batches marked, in one transaction."""
        waiting = [WaitingBatch(b.batch_id, b.received_at) for b in command.batches]
        policy_id = command.policy_id
        async with UnitOfWork(self._sessions) as uow:
            await uow.finding_batches.mark_recorded(policy_id, [b.batch_id for b in waiting])
            inserted, compromised = await uow.finding_batches.record(policy_id, command.term_number, waiting, command.rules)
            escalations = await _escalate(uow, policy_id, inserted, compromised)
        sent = sum(b.findings for b in command.batches)
        return await self._intake(policy_id, command.term_number, len(inserted), sent, escalations)

    async def _intake(self, policy_id: str, term_number: int, inserted: int, sent: int,
                      escalations: list[Escalation]) -> FindingIntake:
        """The policy's counts after an insert, read in a transaction of their own: the insert's holds the
        audit trail's lock until it commits, and every policy's intake waits for that lock. The policy
        workflow makes one findings call at a time, so nothing changes the counts in between."""
        async with UnitOfWork(self._sessions) as uow:
            intake = FindingIntake(
                inserted=inserted, duplicates=sent - inserted, escalations=escalations,
                summary=await uow.finding_summary.summary(policy_id, term_number),
                next_due_at=await uow.finding_summary.next_due_at(policy_id),
            )
        _log(policy_id).info("findings recorded", inserted=inserted, duplicates=intake.duplicates,
                             escalations=len(escalations))
        return intake

    @activity.defn
    async def resolve_finding(self, command: ResolveFinding) -> FindingChanged:
        def already_applied(last: FindingResolutionRow) -> bool:
            return last.resolution == command.resolution.value and last.at == command.at

        def next_status(finding: FindingRow) -> FindingStatus:
            return apply_resolution(
                FindingStatus(finding.status), Severity(finding.severity), command.resolution
            )

        change = FindingResolutionRow(
            resolution=command.resolution.value, actor=Party.INSURED.value, note=command.note, at=command.at
        )
        return await self._change_finding(command, already_applied, next_status, change)

    @activity.defn
    async def verify_fix(self, command: VerifyFix) -> FindingChanged:
        def already_applied(last: FindingResolutionRow) -> bool:
            return (
                last.fix_confirmed == command.fix_confirmed
                and last.vendor_id == command.vendor_id
                and last.at == command.at
            )

        def next_status(finding: FindingRow) -> FindingStatus:
            # Not confirmed reopens the finding with its original deadline: a failed fix buys no time.
            return apply_verification(FindingStatus(finding.status), command.fix_confirmed)

        change = FindingResolutionRow(
            fix_confirmed=command.fix_confirmed,
            actor=Party.VENDOR.value,
            vendor_id=command.vendor_id,
            at=command.at,
        )
        return await self._change_finding(command, already_applied, next_status, change)

    async def _change_finding(
        self,
        command: ResolveFinding | VerifyFix,
        already_applied: Callable[[FindingResolutionRow], bool],
        next_status: Callable[[FindingRow], FindingStatus],
        change: FindingResolutionRow,
    ) -> FindingChanged:
        """Lock the finding, apply the rule, append the history; a retry returns the recorded change."""
        policy_id, vendor_event_id = command.policy_id, command.vendor_event_id
        async with UnitOfWork(self._sessions) as uow:
            finding = await uow.findings.lock(policy_id, vendor_event_id)
            if finding is None:
                raise ApplicationError(
                    f"policy {policy_id} has no finding {vendor_event_id}",
                    type="unknown_finding",
                    non_retryable=True,
                )
            last = await uow.findings.last_change(finding.id)
            if last is not None and finding.status == last.to_status and already_applied(last):
                previous, status = FindingStatus(last.from_status), FindingStatus(last.to_status)
            else:
                previous = FindingStatus(finding.status)
                try:
                    status = next_status(finding)
                except DomainRuleError as err:
                    raise ApplicationError(err.message, type=err.code, non_retryable=True) from err
                change.to_status = status.value
                await uow.findings.change_status(finding, change)
            summary = await uow.finding_summary.summary(policy_id, command.term_number)
            next_due_at = await uow.finding_summary.next_due_at(policy_id)
        _log(policy_id).info("finding changed", previous_status=previous.value, status=status.value)
        return FindingChanged(
            vendor_event_id=vendor_event_id,
            previous_status=previous,
            status=status,
            summary=summary,
            next_due_at=next_due_at,
        )

    @activity.defn
    async def sweep_remediation(self, command: SweepRemediation) -> SweepResult:
        async with UnitOfWork(self._sessions) as uow:
            reminders = await uow.findings.mark_reminders_due(command.policy_id, command.now)
            overdue = await uow.findings.mark_overdue(command.policy_id, command.term_number, command.now)
            started = await self._notifier.emit(uow, remediation_notifications(command.policy_id, reminders, overdue))
            # Counted from the stamps, not from this attempt's updates: a retry reports the same sweep.
            reminders_sent, newly_overdue = await uow.findings.marked_at(command.policy_id, command.now)
            summary = await uow.finding_summary.summary(command.policy_id, command.term_number)
            next_due_at = await uow.finding_summary.next_due_at(command.policy_id)
        await self._notifier.deliver(started)
        _log(command.policy_id).info("remediation swept", reminders=reminders_sent, overdue=newly_overdue)
        return SweepResult(
            reminders_sent=reminders_sent,
            newly_overdue=newly_overdue,
            summary=summary,
            next_due_at=next_due_at,
        )

    @activity.defn
    async def record_endorsement(self, command: RecordEndorsement) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await uow.policies.add_endorsement(command)
        _log(command.policy_id).info("endorsement recorded", request_id=command.request_id)

    @activity.defn
    async def record_cancellation(self, command: RecordCancellation) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await uow.policies.add_cancellation(command)
            await uow.policies.set_phase(
                policy_id=command.policy_id,
                term_number=command.term_number,
                phase=PolicyPhase.CANCELLED.value,
            )
        _log(command.policy_id).info("cancellation recorded", cancelled_by=command.cancelled_by.value)

    @activity.defn
    async def record_policy_phase(self, command: RecordPolicyPhase) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await uow.policies.add_phase(command)
            await uow.policies.set_phase(
                policy_id=command.policy_id, term_number=command.term_number, phase=command.phase.value
            )
        _log(command.policy_id).info("policy phase recorded", phase=command.phase.value)


async def _insert(uow: UnitOfWork, policy_id: str, term_number: int,
                  findings: list[NewFinding]) -> tuple[int, list[Escalation]]:
    inserted = await uow.findings.add_batch(policy_id=policy_id, term_number=term_number, findings=findings)
    compromised = [f.vendor_event_id for f in findings if f.active_compromise]
    return len(inserted), await _escalate(uow, policy_id, inserted, compromised)


async def _escalate(uow: UnitOfWork, policy_id: str, inserted: list[int], compromised: list[str]) -> list[Escalation]:
    """Escalations for the whole batch, so that a retry after commit still hands them over. The audited
    insert comes just before, so the trail's lock is held only until the commit that follows."""
    await uow.findings.escalate(inserted)
    escalated = await uow.findings.escalations_for(policy_id, compromised) if compromised else []
    return [
        Escalation(policy_id=policy_id, vendor_event_id=e.vendor_event_id, asset=e.asset, detected_at=e.detected_at)
        for e in escalated
    ]


def _new_findings(command: RecordFindings) -> list[NewFinding]:
    """The batch's findings with their deadlines, each vendor event once (the first one wins)."""
    first: dict[str, ReceivedFinding] = {}
    for received in command.findings:
        first.setdefault(received.finding.vendor_event_id, received)
    return [NewFinding.received(r.finding, r.received_at, command.rules) for r in first.values()]
