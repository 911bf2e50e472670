"""The policy workflow: one entity per policy, from application through every renewed term.

    application → 保前评估 assessment → 核保 underwriting → quote → 承保 binding
    → 保中监测 monitoring and 防灾减损 remediation, term after term → 续保 renewal or lapse.

The workflow owns the policy's state (`PolicyState`) and one lock over it. Whoever reads the state,
awaits, and then writes from what it read holds the lock across the await: every update handler that
awaits an activity, and the run's own steps that do (binding, closing, findings written and swept).
The helpers are handed the state (or, for contract changes, the policy and premium they price) and
the same lock; none keeps a lock of its own. Handlers that wait for the run (an acceptance waiting to
be bound) never hold the lock while they wait. Every phase change goes through `_enter_phase`; the
renewal's underwriting runs as a task the run keeps and whose failure fails the run's task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities
    from contracts.parties import Party
    from contracts.policy import (
        PolicyOutcome,
        PolicyState,
        PolicyStatus,
        PolicyWorkflowInput,
        UnderwritingCase,
    )
    from contracts.policy_activities import BindPolicy, RecordApplication, RecordPolicyPhase
    from domain.policy import PolicyPhase, add_months
    from domain.rating import TermHistory
    from workflows import search_attributes
    from workflows.claims_ledger import ClaimsLedger
    from workflows.contract_changes import ContractChanges
    from workflows.gateway import ActivityGateway, Refused, condition_or_deadline
    from workflows.in_cover_handlers import InCoverHandlers
    from workflows.lifetime import run_is_long, until_quiet
    from workflows.monitoring import WRITE_BATCH, TermMonitoring
    from workflows.precover_handlers import PreCoverHandlers
    from workflows.search_attributes import publish, show
    from workflows.underwriting import TermUnderwriting

PHASE_DETAILS = {
    PolicyPhase.AWAITING_ASSESSMENT: "Pre-cover (保前评估): waiting for the security vendor's risk assessment.",
    PolicyPhase.REFERRED: "Underwriting (核保): referred to an underwriter for a decision.",
    PolicyPhase.QUOTED: "Quoted: waiting for the insured to accept before the quote expires.",
    PolicyPhase.AWAITING_PREBIND_REMEDIATION: "Accepted: waiting for the vendor to verify the required fixes.",
    PolicyPhase.IN_FORCE: "In force, term {term} (保中): monitoring findings and remediation deadlines.",
    PolicyPhase.RENEWING: "In force, term {term}, renewal (续保) under way: re-assessment and re-underwriting.",
    PolicyPhase.DECLINED: "Declined.",
    PolicyPhase.QUOTE_EXPIRED: "Closed: the quote expired unaccepted.",
    PolicyPhase.CANCELLED: "Cancelled; answering claims until the run-off ends.",
    PolicyPhase.EXPIRED: "Expired at term end; answering claims until the run-off ends.",
}

# Temporal caps signals per run (10,000 by default, Temporal Cloud too) and fails a continue-as-new
# while signals keep arriving; rolling over early keeps each run's replay short enough to finish.
SIGNALS_PER_RUN = 2_000


@workflow.defn(name="PolicyWorkflow")
class PolicyWorkflow(PreCoverHandlers, InCoverHandlers):
    @workflow.init
    def __init__(self, input: PolicyWorkflowInput) -> None:
        self.input = input
        self.rules = input.rules
        self.state = input.state or PolicyState(
            case=UnderwritingCase(term_number=1, vendor_id=input.application.assessing_vendor_id)
        )
        self.gateway = ActivityGateway(input.policy_id)
        self.refusals: dict[str, Refused] = {}
        self.signals_this_run = 0
        self.lock = asyncio.Lock()
        self.renewal: asyncio.Task[bool] | None = None
        self.monitoring = TermMonitoring(
            state=self.state, rules=self.rules, gateway=self.gateway, policy_id=input.policy_id, lock=self.lock
        )
        self.ledger = ClaimsLedger(self.state, timedelta(minutes=self.rules.process.claims_runoff_minutes))
        self.changes = ContractChanges(
            industry=input.application.organisation.industry, rating=self.rules.rating, gateway=self.gateway
        )

    @workflow.run
    async def run(self, input: PolicyWorkflowInput) -> PolicyOutcome:
        publish(
            search_attributes.POLICY_ID.value_set(input.policy_id),
            search_attributes.INDUSTRY.value_set(input.application.organisation.industry.value),
        )
        self._enter_phase(self.state.phase)
        if input.state is None:
            await self._record_application()
        if self.state.policy is None and not self.state.phase.is_terminal:
            await self._underwrite_first_term()
        while self.state.phase.is_covered:
            await self._run_term()
        if self.state.ledgers:
            await self._claims_run_off()
        await until_quiet(self.gateway)
        return PolicyOutcome(
            policy_id=input.policy_id,
            phase=self.state.phase,
            policy_number=self.state.policy.policy_number if self.state.policy else None,
            terms_completed=self.state.terms_completed,
            reason=self.state.closing_reason,
        )

    # -- Pre-cover -------------------------------------------------------------------------------

    async def _record_application(self) -> None:
        """An application the database refuses ends the run at once, failed with the reason: there is
        no policy to serve without it, and nothing else has been recorded."""
        application = self.input.application
        recorded = await self.gateway.attempt(
            PolicyActivities.record_application,
            RecordApplication(policy_id=self.input.policy_id, application=application, received_at=workflow.now()),
            summary="record application",
        )
        if isinstance(recorded, Refused):
            raise recorded.error("application refused: ")

    async def _underwrite_first_term(self) -> None:
        case = self.state.case
        assert case is not None
        ready = await self._underwriting(case, history=None, quote_deadline=None).run()
        if ready and await self._bind(case):
            return
        failed = PolicyPhase.QUOTE_EXPIRED if case.quote is not None and not ready else PolicyPhase.DECLINED
        async with self.lock:
            await self._close(failed, case.outcome_reason)

    def _underwriting(
        self, case: UnderwritingCase, *, history: Callable[[], TermHistory] | None, quote_deadline: datetime | None
    ) -> TermUnderwriting:
        renewing = history is not None
        return TermUnderwriting(
            case=case,
            application=self.input.application,
            rules=self.rules,
            gateway=self.gateway,
            history=history,
            enter_phase=(lambda phase: None) if renewing else self._enter_phase,
            refusals=self.refusals,
            quote_deadline=quote_deadline,
        )

    async def _bind(self, case: UnderwritingCase) -> bool:
        """承保: the policy (or its next term) is bound from the accepted quote. False, with the case's
        outcome saying why, when the database refuses the binding."""
        async with self.lock:
            return await self._bind_term(case)

    async def _bind_term(self, case: UnderwritingCase) -> bool:
        assert case.quote is not None
        previous = self.state.policy
        term_start = case.term_start or workflow.now()
        bound = await self.gateway.attempt(
            PolicyActivities.bind_policy,
            BindPolicy(
                policy_id=self.input.policy_id,
                quote=case.quote,
                term_start=term_start,
                term_end=add_months(term_start, self.rules.process.term_months),
                previous_policy_number=previous.policy_number if previous else None,
            ),
            summary=f"bind term {case.quote.term_number}",
        )
        if isinstance(bound, Refused):
            case.outcome_reason = f"binding refused: {bound.reason}"
            return False
        self.state.policy, self.state.case = bound, None
        self.ledger.open_term(bound, workflow.now())
        self.state.premium_charged = bound.annual_premium
        self.state.monitoring_vendor_id = case.vendor_id
        self.state.risk_score = bound.risk_score
        await self._record_phase(PolicyPhase.IN_FORCE)
        await self.gateway.notify("policy_bound", Party.INSURED, f"{bound.term_number}", term_number=bound.term_number)
        await self.gateway.notify(
            "monitoring_assigned", Party.VENDOR, f"{bound.term_number}", recipient_id=case.vendor_id
        )
        return True

    # -- In cover: one term of monitoring, with renewal in its last weeks -------------------------

    async def _run_term(self) -> None:
        state = self.state
        policy = state.policy
        assert policy is not None
        renewal_opens = policy.term_end - timedelta(minutes=self.rules.process.renewal_window_minutes)
        self.renewal = self._start_renewal() if state.phase is PolicyPhase.RENEWING else None
        while state.phase.is_covered:
            self._surface_renewal_failure()
            now = workflow.now()
            if now >= policy.term_end:
                break
            if self.renewal is None and now >= renewal_opens:
                async with self.lock:
                    await self._record_phase(PolicyPhase.RENEWING)
                self.renewal = self._start_renewal()
            if state.next_finding_due_at is not None and now >= state.next_finding_due_at:
                await self.monitoring.sweep()
                continue
            if self._history_full():
                await self._continue_as_new()
            wake_times = [policy.term_end, state.next_finding_due_at, None if self.renewal else renewal_opens]
            await condition_or_deadline(
                lambda: bool(state.pending_findings or state.pending_batches)
                or not state.phase.is_covered
                or self._history_full()
                or self._renewal_failed(),
                min(t for t in wake_times if t is not None),
                summary="next remediation deadline, renewal or term end",
            )
            await self.monitoring.write_pending()
            self._show_details()  # findings the database refused are among those dropped
        if state.phase.is_covered:
            await self._end_term()

    def _start_renewal(self) -> asyncio.Task[bool]:
        state = self.state
        assert state.policy is not None and state.monitoring_vendor_id is not None
        if state.case is None:
            state.case = UnderwritingCase(
                term_number=state.policy.term_number + 1,
                term_start=state.policy.term_end,
                vendor_id=state.monitoring_vendor_id,
            )
        term_number = state.policy.term_number

        def term_history() -> TermHistory:
            # Read when the renewal is rated, not when it opens: criticals may go overdue meanwhile.
            return TermHistory(findings=state.findings, term_number=term_number)

        underwriting = self._underwriting(state.case, history=term_history, quote_deadline=state.policy.term_end)
        return asyncio.create_task(underwriting.run())

    def _renewal_failed(self) -> bool:
        task = self.renewal
        return task is not None and task.done() and not task.cancelled() and task.exception() is not None

    def _surface_renewal_failure(self) -> None:
        """A renewal that raised fails the run's task with its error, to be seen and fixed, never lost."""
        if self._renewal_failed():
            assert self.renewal is not None
            raise self.renewal.exception()  # type: ignore[misc]

    async def _end_term(self) -> None:
        """续保 at the term's end: bind the renewal and continue as new, or lapse."""
        state = self.state
        await workflow.wait_condition(lambda: self.gateway.in_flight == 0)
        self._surface_renewal_failure()
        state.terms_completed += 1
        case = state.case
        if case is not None and case.ready_to_bind and await self._bind(case):
            await self._continue_as_new()
        reason = (case.outcome_reason if case else None) or "renewal not completed before the term ended"
        async with self.lock:
            await self._close(PolicyPhase.EXPIRED, reason)

    async def _claims_run_off(self) -> None:
        """An ended policy still answers its claims, until they settle and the run-off period is over."""
        state = self.state
        if state.runoff_ends is None:
            state.runoff_ends = workflow.now() + self.ledger.runoff
        ends = state.runoff_ends

        def finished() -> bool:
            return workflow.now() >= ends and not self.ledger.has_open_claims()

        while not finished():
            self._surface_renewal_failure()  # a renewal left waiting when the term ended may still fail
            if self._history_full():
                await self._continue_as_new()
            await condition_or_deadline(
                lambda: finished() or self._history_full() or self._renewal_failed(),
                ends if workflow.now() < ends else None,
                summary="claims run-off",
            )

    # -- Phase bookkeeping and continue-as-new ---------------------------------------------------

    def _enter_phase(self, phase: PolicyPhase) -> None:
        """The one place the phase changes; it publishes the phase for the operator's views."""
        self.state.phase = phase
        state = self.state
        published = [search_attributes.POLICY_PHASE.value_set(phase.value)]
        if state.policy is not None:
            published.append(search_attributes.TERM_NUMBER.value_set(state.policy.term_number))
        if state.risk_score is not None:
            published.append(search_attributes.RISK_SCORE.value_set(state.risk_score))
        publish(*published)
        self._show_details()

    def _show_details(self) -> None:
        """The UI's current details: the phase in words, and the latest findings the policy dropped."""
        state = self.state
        details = PHASE_DETAILS[state.phase].format(term=state.term_number)
        if state.dropped_findings:
            last = state.dropped_findings[-1]
            details += (
                f" Findings dropped: {state.findings_ignored} in all; the latest {last.count} from {last.vendor_id}"
                f" at {last.at:%Y-%m-%d %H:%M} UTC because {last.reason}."
            )
        show(details)

    async def _record_phase(self, phase: PolicyPhase, reason: str | None = None) -> None:
        self._enter_phase(phase)
        await self.gateway.record(
            PolicyActivities.record_policy_phase,
            RecordPolicyPhase(
                policy_id=self.input.policy_id, term_number=self.state.term_number, phase=phase,
                at=workflow.now(), reason=reason,
            ),
            summary=f"phase {phase.value}",
        )

    async def _close(self, phase: PolicyPhase, reason: str | None) -> None:
        """Called with the lock held: by the run, or by the cancellation handler."""
        self.state.closing_reason = reason
        await self._record_phase(phase, reason)
        await self.gateway.notify(phase.value, Party.INSURED, f"{self.state.term_number}")
        await self.gateway.notify(phase.value, Party.INSURER, f"{self.state.term_number}")

    def _history_full(self) -> bool:
        return run_is_long(messages_this_run=self.signals_this_run, messages_per_run=SIGNALS_PER_RUN)

    async def _continue_as_new(self) -> None:
        """Start a fresh history carrying the whole state; findings are written first to keep it small."""
        while True:
            await self.monitoring.write_pending()
            await until_quiet(self.gateway)
            if len(self.state.pending_findings) <= WRITE_BATCH and not self.state.pending_batches:
                break
        self.state.runs += 1
        workflow.continue_as_new(
            PolicyWorkflowInput(
                policy_id=self.input.policy_id, application=self.input.application, rules=self.rules, state=self.state
            )
        )

    # -- Query -------------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> PolicyStatus:
        return self.state.status(self.input.policy_id)
