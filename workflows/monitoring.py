"""保中监测 and 防灾减损: the vendor's findings in, remediation deadlines kept, the score moved.

Finding detail lives in PostgreSQL; the workflow keeps the summary the database returns. Every
database call on findings holds the policy's one lock (given by the workflow, which owns it), so
summaries are applied in the order they were made and no endorsement or cancellation runs between a
call and the summary it returns. The run's writes take the lock here, one round trip at a time; the
update handlers take it themselves before they call `resolve` or `verify`. No call holds it for ever:
findings the database refuses are set apart and said why (`dropped_findings`), a resolution waits at
most `gateway.REQUEST_WAIT`, and the lock is released on every path.

Findings the policy does not take, whatever the reason (`drop`), are also told to the vendor that
sent them (`tell_dropped`): the notice is then in the workflow's history and in the vendor's events,
not only in a status it may never ask for.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.patches import ESCALATION_OPENS_INCIDENT, FINDINGS_DROPPED_NOTICE

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities
    from contracts.incident import IncidentWorkflowInput, incident_id_for, incident_workflow_id
    from contracts.incident_activities import IncidentReport
    from contracts.parties import Party
    from contracts.policy import (
        DroppedFindings,
        FindingResolutionReceipt,
        FindingResolutionRequest,
        FixVerification,
        MonitoringBatch,
        PolicyState,
        StoredFindings,
    )
    from contracts.policy_activities import (
        Escalation,
        FindingChanged,
        FindingIntake,
        ReceivedBatch,
        ReceivedFinding,
        RecordFindingBatches,
        RecordFindings,
        ResolveFinding,
        SweepRemediation,
        VerifyFix,
    )
    from domain.boundaries import not_in_future
    from domain.findings import FindingSummary
    from domain.incident import IncidentCategory, IncidentGrade
    from domain.rating import in_cover_score
    from domain.rules import PolicyRules
    from workflows import search_attributes
    from workflows.gateway import ActivityGateway, Refused
    from workflows.incident import IncidentWorkflow
    from workflows.search_attributes import publish

# Findings written per database round trip; a batch this size stays well under payload limits.
WRITE_BATCH = 1_000
# Findings recorded from stored batches per database round trip: only batch ids travel, so more.
STORED_WRITE = 10_000


class TermMonitoring:
    def __init__(
        self,
        *,
        state: PolicyState,
        rules: PolicyRules,
        gateway: ActivityGateway,
        policy_id: str,
        lock: asyncio.Lock,
    ) -> None:
        self.state = state
        self.rules = rules
        self.gateway = gateway
        self.policy_id = policy_id
        self.lock = lock
        # Dropped and not yet told to their sender, each with the key that makes its notice unique.
        self.untold: list[tuple[str, DroppedFindings]] = []

    def accept(self, batch: MonitoringBatch) -> None:
        """Signal path: buffer only. Deduplication by vendor event id happens in the database. A finding
        observed ahead of the workflow's clock (beyond the skew) cannot be right: dropped and counted."""
        received_at = workflow.now()
        possible = [f for f in batch.findings if not_in_future(f.observed_at, received_at) is None]
        if len(possible) < len(batch.findings):
            self.drop(DroppedFindings(
                at=received_at, vendor_id=batch.vendor_id, count=len(batch.findings) - len(possible),
                reason="observed after the moment they were received (beyond the allowed clock skew)",
            ))
        self.state.pending_findings.extend(
            ReceivedFinding(finding=finding, received_at=received_at) for finding in possible
        )

    def accept_stored(self, stored: StoredFindings) -> None:
        """Signal path from the API: the findings are in PostgreSQL already; keep their batch ids."""
        received_at = workflow.now()
        self.state.pending_batches.extend(
            ReceivedBatch(batch_id=batch.batch_id, findings=batch.findings, received_at=received_at)
            for batch in stored.batches
        )

    async def write_pending(self) -> None:
        state, policy_id, rules = self.state, self.gateway.policy_id, self.rules.remediation
        while state.pending_batches:
            batches, size = [], 0
            for batch in state.pending_batches:
                if batches and size + batch.findings > STORED_WRITE:
                    break
                batches.append(batch)
                size += batch.findings
            await self._record(
                PolicyActivities.record_finding_batches,
                lambda part: RecordFindingBatches(
                    policy_id=policy_id, term_number=state.term_number, batches=part, rules=rules
                ),
                state.pending_batches, len(batches), f"record {size} findings from {len(batches)} stored batches",
            )
        while state.pending_findings:
            findings = state.pending_findings[:WRITE_BATCH]
            await self._record(
                PolicyActivities.record_findings,
                lambda part: RecordFindings(policy_id=policy_id, term_number=state.term_number, findings=part, rules=rules),
                state.pending_findings, len(findings), f"record {len(findings)} findings",
            )

    async def _record(self, activity, command_for, pending: list, taken: int, summary: str) -> None:
        async with self.lock:
            intakes = await self._write_apart(activity, command_for, pending[:taken], summary)
            # Only this coroutine removes from the front; signals append at the back meanwhile.
            del pending[:taken]
            for intake in intakes:
                self._apply(intake.summary, intake.next_due_at)
        await self.tell_dropped()  # what the database refused, told outside the lock
        for intake in intakes:
            for escalation in intake.escalations:
                await self.escalate(escalation)

    async def _write_apart(self, activity, command_for, part: list, summary: str) -> list[FindingIntake]:
        """One write for `part`; if the database refuses its data, each half is written on its own, down
        to the refused findings alone, which are dropped and counted as ignored. A poisoned finding
        costs itself and about 2·log2(len(part)) extra writes, never its neighbours' intake."""
        intake = await self.gateway.attempt(activity, command_for(part), summary=summary)
        if not isinstance(intake, Refused):
            return [intake]
        if len(part) == 1:
            self.drop(DroppedFindings(
                at=workflow.now(), vendor_id=self.state.monitoring_vendor_id or "",
                count=part[0].findings if isinstance(part[0], ReceivedBatch) else 1,
                reason=f"the database refused them ({intake.type})",
            ))
            return []
        half = len(part) // 2
        first = await self._write_apart(activity, command_for, part[:half], f"{summary}, first half")
        return first + await self._write_apart(activity, command_for, part[half:], f"{summary}, second half")

    def drop(self, notice: DroppedFindings) -> None:
        """Findings the policy does not take: counted, kept in the state with why, and to be told to the
        vendor that sent them. The running count of dropped findings keys the notice: it only grows."""
        self.state.drop_findings(notice)
        workflow.logger.warning("findings dropped", extra={"dropped": notice.count, "reason": notice.reason})
        if notice.count and notice.vendor_id:
            self.untold.append((str(self.state.findings_ignored), notice))

    async def tell_dropped(self) -> None:
        """Each dropped lot, to the vendor that sent it: how many, why and when (nothing of the findings
        themselves). Histories recorded before FINDINGS_DROPPED_NOTICE said it in the status only."""
        if not self.untold or not workflow.patched(FINDINGS_DROPPED_NOTICE):
            self.untold.clear()
            return
        while self.untold:
            key, notice = self.untold.pop(0)  # taken before the await: told once, whoever tells it
            await self.gateway.notify(
                "findings_dropped", Party.VENDOR, key, recipient_id=notice.vendor_id, policy_id=self.policy_id,
                count=notice.count, reason=notice.reason, dropped_at=notice.at.isoformat(),
            )

    async def sweep(self) -> None:
        """Send reminders that are due and mark findings overdue past their deadline."""
        async with self.lock:
            result = await self.gateway.attempt(
                PolicyActivities.sweep_remediation,
                SweepRemediation(policy_id=self.gateway.policy_id, term_number=self.state.term_number, now=workflow.now()),
                summary="remediation deadlines",
            )
            if isinstance(result, Refused):
                # Swept again at once, it would be refused again: wait for the next intake's due time.
                self.state.next_finding_due_at = None
                return
            self._apply(result.summary, result.next_due_at, swept=True)
        if result.newly_overdue:
            workflow.logger.info("findings went overdue", extra={"newly_overdue": result.newly_overdue})

    async def resolve(self, request: FindingResolutionRequest) -> FindingResolutionReceipt:
        """Called by the update handler, which holds the lock."""
        changed = await self.gateway.call_refusable(
            PolicyActivities.resolve_finding,
            ResolveFinding(
                policy_id=self.gateway.policy_id,
                term_number=self.state.term_number,
                vendor_event_id=request.vendor_event_id,
                resolution=request.resolution,
                note=request.note,
                at=workflow.now(),
            ),
            summary=f"resolve finding as {request.resolution.value}",
        )
        self._apply(changed.summary, changed.next_due_at)
        return _receipt(changed)

    async def verify(self, verification: FixVerification) -> FindingResolutionReceipt:
        """Called by the update handler, which holds the lock."""
        changed = await self.gateway.call_refusable(
            PolicyActivities.verify_fix,
            VerifyFix(
                policy_id=self.gateway.policy_id,
                term_number=self.state.term_number,
                vendor_event_id=verification.vendor_event_id,
                vendor_id=verification.vendor_id,
                fix_confirmed=verification.fix_confirmed,
                at=workflow.now(),
            ),
            summary="vendor verifies fix",
        )
        self._apply(changed.summary, changed.next_due_at)
        return _receipt(changed)

    async def escalate(self, escalation: Escalation) -> None:
        """An actively compromised asset is handed to incident response: the insurer and the vendor are
        told, and an incident is opened, graded 一般 until the operator grades it."""
        workflow.logger.warning("monitoring finding signals active compromise")
        for party in (Party.INSURER, Party.VENDOR):
            await self.gateway.notify(
                "active_compromise", party, escalation.vendor_event_id, vendor_event_id=escalation.vendor_event_id
            )
        if workflow.patched(ESCALATION_OPENS_INCIDENT):
            await self._open_incident(escalation)

    async def _open_incident(self, escalation: Escalation) -> None:
        reference = f"finding:{escalation.vendor_event_id}"
        report = IncidentReport(
            policy_id=self.policy_id, reported_by=Party.VENDOR,
            reporter_id=self.state.monitoring_vendor_id or "monitoring", reference=reference,
            # Never ahead of this clock, which the incident checks its discovery against.
            discovered_at=min(escalation.detected_at, workflow.now()), grade=IncidentGrade.GENERAL,
            category=IncidentCategory.MALICIOUS_PROGRAM,
            summary=f"monitoring finding {escalation.vendor_event_id} shows signs of active compromise",
        )
        incident_id = incident_id_for(self.policy_id, reference)
        try:
            # Abandoned, not owned: the incident outlives this run, renewal and continue-as-new alike.
            await workflow.start_child_workflow(
                IncidentWorkflow.run,
                IncidentWorkflowInput(incident_id=incident_id, report=report),
                id=incident_workflow_id(incident_id),
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary="incident opened from a monitoring finding",
            )
        except WorkflowAlreadyStartedError:
            pass  # the insured or the vendor reported it first: one incident

    def _apply(self, summary: FindingSummary, next_due_at: datetime | None, *, swept: bool = False) -> None:
        state = self.state
        state.findings = summary
        if swept and next_due_at is not None and next_due_at <= workflow.now():
            # A sweep has just run up to now; a due time not after it would only spin the loop.
            workflow.logger.error("remediation due time not in the future after a sweep")
            next_due_at = None
        state.next_finding_due_at = next_due_at
        if state.policy is not None:
            score = in_cover_score(state.policy.risk_score, summary, self.rules.rating)
            if score != state.risk_score:
                publish(search_attributes.RISK_SCORE.value_set(score))
            state.risk_score = score


def _receipt(changed: FindingChanged) -> FindingResolutionReceipt:
    return FindingResolutionReceipt(
        vendor_event_id=changed.vendor_event_id, previous_status=changed.previous_status, status=changed.status
    )
