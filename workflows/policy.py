"""The policy workflow: one entity per policy, from application through every renewed term.

    application → 保前评估 assessment → 核保 underwriting → quote → 承保 binding
    → 保中监测 monitoring and 防灾减损 remediation, term after term → 续保 renewal or lapse.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.messages import (
        BindPolicy,
        Escalation,
        FindingChanged,
        Party,
        RecordApplication,
        RecordCancellation,
        RecordEndorsement,
        RecordPolicyPhase,
    )
    from activities.policy import PolicyActivities
    from domain.errors import DomainRuleError
    from domain.policy import PolicyPhase, add_months, endorsement_premium, pro_rata_return_premium
    from domain.rating import TermHistory
    from workflows.gateway import ActivityGateway, condition_or_deadline
    from workflows.messages import (
        AssessmentReceipt,
        AssessmentSubmission,
        CancellationReceipt,
        CancellationRequest,
        EndorsementReceipt,
        EndorsementRequest,
        FindingResolutionReceipt,
        FindingResolutionRequest,
        FixVerification,
        MonitoringBatch,
        PolicyOutcome,
        PolicyState,
        PolicyStatus,
        PolicyWorkflowInput,
        PrebindRemediationReceipt,
        PrebindRemediationVerified,
        QuoteAcceptance,
        QuoteAcceptanceReceipt,
        UnderwriterDecision,
        UnderwriterDecisionReceipt,
        UnderwritingCase,
    )
    from workflows.monitoring import WRITE_BATCH, TermMonitoring
    from workflows.underwriting import TermUnderwriting

# Temporal caps signals per run (10,000 by default, Temporal Cloud too) and fails a continue-as-new
# while signals keep arriving; rolling over early keeps each run's replay short enough to finish.
SIGNALS_PER_RUN = 2_000


@workflow.defn(name="PolicyWorkflow")
class PolicyWorkflow:
    @workflow.init
    def __init__(self, input: PolicyWorkflowInput) -> None:
        self.input = input
        self.rules = input.rules
        self.state = input.state or PolicyState(
            case=UnderwritingCase(term_number=1, vendor_id=input.application.assessing_vendor_id)
        )
        self.gateway = ActivityGateway(input.policy_id)
        self.signals_this_run = 0
        self.monitoring = TermMonitoring(
            state=self.state, rules=self.rules, gateway=self.gateway, escalate=self._escalate_to_incident_response
        )

    @workflow.run
    async def run(self, input: PolicyWorkflowInput) -> PolicyOutcome:
        if input.state is None:
            await self._record_application()
        if self.state.policy is None and not self.state.phase.is_terminal:
            await self._underwrite_first_term()
        while self.state.phase.is_covered:
            await self._run_term()
        await workflow.wait_condition(self._quiescent)
        return PolicyOutcome(
            policy_id=input.policy_id,
            phase=self.state.phase,
            policy_number=self.state.policy.policy_number if self.state.policy else None,
            terms_completed=self.state.terms_completed,
            reason=self.state.closing_reason,
        )

    # -- Pre-cover -------------------------------------------------------------------------------

    async def _record_application(self) -> None:
        application = self.input.application
        await self.gateway.call(
            PolicyActivities.record_application,
            RecordApplication(policy_id=self.input.policy_id, application=application, received_at=workflow.now()),
            summary="record application",
        )

    async def _underwrite_first_term(self) -> None:
        case = self.state.case
        assert case is not None
        ready = await self._underwriting(case, history=None, quote_deadline=None).run()
        if ready:
            await self._bind(case)
        else:
            failed = PolicyPhase.QUOTE_EXPIRED if case.quote is not None else PolicyPhase.DECLINED
            await self._close(failed, case.outcome_reason)

    def _underwriting(self, case: UnderwritingCase, *, history: TermHistory | None, quote_deadline) -> TermUnderwriting:
        renewing = history is not None
        return TermUnderwriting(
            case=case,
            application=self.input.application,
            rules=self.rules,
            gateway=self.gateway,
            history=history,
            enter_phase=(lambda phase: None) if renewing else self._enter_phase,
            quote_deadline=quote_deadline,
        )

    async def _bind(self, case: UnderwritingCase) -> None:
        """承保: the policy (or its next term) is bound from the accepted quote."""
        assert case.quote is not None
        previous = self.state.policy
        term_start = case.term_start or workflow.now()
        bound = await self.gateway.call(
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
        self.state.policy, self.state.case = bound, None
        self.state.premium_charged = bound.annual_premium
        self.state.monitoring_vendor_id = case.vendor_id
        self.state.risk_score = bound.risk_score
        await self._record_phase(PolicyPhase.IN_FORCE)
        await self.gateway.notify("policy_bound", Party.INSURED, f"{bound.term_number}", term_number=bound.term_number)
        await self.gateway.notify(
            "monitoring_assigned", Party.VENDOR, f"{bound.term_number}", recipient_id=case.vendor_id
        )

    # -- In cover: one term of monitoring, with renewal in its last weeks -------------------------

    async def _run_term(self) -> None:
        state = self.state
        policy = state.policy
        assert policy is not None
        renewal_opens = policy.term_end - timedelta(minutes=self.rules.process.renewal_window_minutes)
        renewal = self._start_renewal() if state.phase is PolicyPhase.RENEWING else None
        while state.phase.is_covered:
            if renewal is not None and renewal.done() and renewal.exception() is not None:
                raise renewal.exception()  # type: ignore[misc]
            now = workflow.now()
            if now >= policy.term_end:
                break
            if renewal is None and now >= renewal_opens:
                await self._record_phase(PolicyPhase.RENEWING)
                renewal = self._start_renewal()
            if state.next_finding_due_at is not None and now >= state.next_finding_due_at:
                await self.monitoring.sweep()
                continue
            if self._history_full():
                await self._continue_as_new()
            wake_times = [policy.term_end, state.next_finding_due_at, None if renewal else renewal_opens]
            await condition_or_deadline(
                lambda: bool(state.pending_findings)
                or not state.phase.is_covered
                or self._history_full(),
                min(t for t in wake_times if t is not None),
                summary="next remediation deadline, renewal or term end",
            )
            await self.monitoring.write_pending()
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
        history = TermHistory(findings=state.findings, term_number=state.policy.term_number)
        underwriting = self._underwriting(state.case, history=history, quote_deadline=state.policy.term_end)
        return asyncio.create_task(underwriting.run())

    async def _end_term(self) -> None:
        """续保 at the term's end: bind the renewal and continue as new, or lapse."""
        state = self.state
        await workflow.wait_condition(lambda: self.gateway.in_flight == 0)
        state.terms_completed += 1
        case = state.case
        if case is not None and case.ready_to_bind:
            await self._bind(case)
            await self._continue_as_new()
        reason = (case.outcome_reason if case else None) or "renewal not completed before the term ended"
        await self._close(PolicyPhase.EXPIRED, reason)

    async def _escalate_to_incident_response(self, escalation: Escalation) -> None:
        """Seam for the incident workflow: an actively compromised asset is handed to incident response.

        The escalation row is already in PostgreSQL; the insurer and the vendor are told here.
        """
        workflow.logger.warning("monitoring finding signals active compromise")
        for party in (Party.INSURER, Party.VENDOR):
            await self.gateway.notify(
                "active_compromise", party, escalation.vendor_event_id, vendor_event_id=escalation.vendor_event_id
            )

    # -- Phase bookkeeping and continue-as-new ---------------------------------------------------

    def _enter_phase(self, phase: PolicyPhase) -> None:
        self.state.phase = phase

    async def _record_phase(self, phase: PolicyPhase, reason: str | None = None) -> None:
        self.state.phase = phase
        await self.gateway.call(
            PolicyActivities.record_policy_phase,
            RecordPolicyPhase(
                policy_id=self.input.policy_id, term_number=self.state.term_number, phase=phase,
                at=workflow.now(), reason=reason,
            ),
            summary=f"phase {phase.value}",
        )

    async def _close(self, phase: PolicyPhase, reason: str | None) -> None:
        self.state.closing_reason = reason
        await self._record_phase(phase, reason)
        await self.gateway.notify(phase.value, Party.INSURED, f"{self.state.term_number}")
        await self.gateway.notify(phase.value, Party.INSURER, f"{self.state.term_number}")

    def _history_full(self) -> bool:
        return self.signals_this_run >= SIGNALS_PER_RUN or workflow.info().is_continue_as_new_suggested()

    def _quiescent(self) -> bool:
        return workflow.all_handlers_finished() and self.gateway.in_flight == 0

    async def _continue_as_new(self) -> None:
        """Start a fresh history carrying the whole state; findings are written first to keep it small."""
        while True:
            await self.monitoring.write_pending()
            await workflow.wait_condition(self._quiescent)
            if len(self.state.pending_findings) <= WRITE_BATCH:
                break
        self.state.runs += 1
        workflow.continue_as_new(
            PolicyWorkflowInput(
                policy_id=self.input.policy_id, application=self.input.application, rules=self.rules, state=self.state
            )
        )

    # -- Pre-cover messages ----------------------------------------------------------------------

    @workflow.update
    async def submit_assessment(self, submission: AssessmentSubmission) -> AssessmentReceipt:
        case = self.state.case
        assert case is not None
        case.assessment_inbox = submission.report
        await workflow.wait_condition(lambda: case.automatic is not None or case.outcome_reason is not None)
        if case.automatic is None:
            raise ApplicationError(f"assessment not used: {case.outcome_reason}", type="assessment_not_used")
        return AssessmentReceipt(
            term_number=case.term_number, risk_score=case.automatic.risk_score, decision=case.automatic.decision
        )

    @submit_assessment.validator
    def _validate_assessment(self, submission: AssessmentSubmission) -> None:
        case = self._open_case("an assessment")
        if case.assessment is not None or case.assessment_inbox is not None:
            raise ValueError(f"the assessment for term {case.term_number} has already been submitted")
        if submission.report.vendor_id != case.vendor_id:
            raise ValueError(f"vendor {submission.report.vendor_id} is not the assigned assessing vendor")

    @workflow.update
    async def decide_referral(self, decision: UnderwriterDecision) -> UnderwriterDecisionReceipt:
        case = self.state.case
        assert case is not None
        case.referral_inbox = decision
        await workflow.wait_condition(lambda: case.final is not None)
        assert case.final is not None
        return UnderwriterDecisionReceipt(decision=case.final.decision, premium=case.final.premium)

    @decide_referral.validator
    def _validate_referral(self, decision: UnderwriterDecision) -> None:
        case = self._open_case("an underwriting decision")
        if case.automatic is None or case.automatic.decision.value != "refer":
            raise ValueError("there is no referral waiting for an underwriter")
        if case.final is not None or case.referral_inbox is not None:
            raise ValueError("the referral has already been decided")
        if decision.decision.value == "refer":
            raise ValueError("an underwriter decides accept or decline, not refer")
        if decision.premium_override is not None and decision.premium_override.fen <= 0:
            raise ValueError("a premium override must be above zero")

    @workflow.update
    def accept_quote(self, acceptance: QuoteAcceptance) -> QuoteAcceptanceReceipt:
        case = self.state.case
        assert case is not None
        case.accepted = True
        return QuoteAcceptanceReceipt(quote_id=acceptance.quote_id, outstanding_remediations=case.outstanding_remediations())

    @accept_quote.validator
    def _validate_acceptance(self, acceptance: QuoteAcceptance) -> None:
        case = self._open_case("a quote acceptance")
        if case.quote is None:
            raise ValueError("no quote has been issued yet")
        if acceptance.quote_id != case.quote.quote_id:
            raise ValueError(f"unknown quote {acceptance.quote_id}; the current quote is {case.quote.quote_id}")
        if case.accepted:
            raise ValueError(f"quote {acceptance.quote_id} has already been accepted")
        if workflow.now() >= case.quote.expires_at:
            raise ValueError(f"quote {acceptance.quote_id} expired at {case.quote.expires_at.isoformat()}")

    @workflow.update
    def verify_prebind_remediation(self, verified: PrebindRemediationVerified) -> PrebindRemediationReceipt:
        case = self.state.case
        assert case is not None
        case.verified_remediations.append(verified.code)
        return PrebindRemediationReceipt(outstanding_remediations=case.outstanding_remediations())

    @verify_prebind_remediation.validator
    def _validate_prebind(self, verified: PrebindRemediationVerified) -> None:
        case = self._open_case("a remediation verification")
        if case.quote is None:
            raise ValueError("no quote, so no binding conditions yet")
        if verified.vendor_id != case.vendor_id:
            raise ValueError(f"vendor {verified.vendor_id} is not the assessing vendor")
        if verified.code not in case.outstanding_remediations():
            raise ValueError(f"{verified.code} is not an outstanding binding condition")

    def _open_case(self, what: str) -> UnderwritingCase:
        case = self.state.case
        if self.state.phase.is_terminal or case is None or case.outcome_reason is not None:
            raise ValueError(f"the policy is {self.state.phase.value}; {what} is not expected now")
        return case

    # -- In-cover messages -----------------------------------------------------------------------

    @workflow.signal
    def report_findings(self, batch: MonitoringBatch) -> None:
        self.signals_this_run += 1
        if not self.state.phase.is_covered or batch.vendor_id != self.state.monitoring_vendor_id:
            # A signal cannot be refused; count what is dropped so an operator can see it.
            self.state.findings_ignored += len(batch.findings)
            workflow.logger.warning("findings dropped: policy not in force or vendor not assigned")
            return
        self.monitoring.accept(batch)

    @workflow.update
    async def resolve_finding(self, request: FindingResolutionRequest) -> FindingResolutionReceipt:
        return _receipt(await _rule_errors_as_update_errors(self.monitoring.resolve(request)))

    @resolve_finding.validator
    def _validate_resolution(self, request: FindingResolutionRequest) -> None:
        self._require_cover("resolving a finding")

    @workflow.update
    async def verify_fix(self, verification: FixVerification) -> FindingResolutionReceipt:
        return _receipt(await _rule_errors_as_update_errors(self.monitoring.verify(verification)))

    @verify_fix.validator
    def _validate_verification(self, verification: FixVerification) -> None:
        self._require_cover("verifying a fix")
        if verification.vendor_id != self.state.monitoring_vendor_id:
            raise ValueError(f"vendor {verification.vendor_id} does not monitor this policy")

    @workflow.update
    async def endorse(self, request: EndorsementRequest) -> EndorsementReceipt:
        state = self.state
        policy = state.policy
        assert policy is not None and state.premium_charged is not None
        now = workflow.now()
        premium = self._endorsement_premium(request, now)
        previous = policy.schedule.terms_for(request.head)
        assert previous is not None
        state.endorsement_ids.append(request.request_id)
        await self.gateway.call(
            PolicyActivities.record_endorsement,
            RecordEndorsement(
                policy_id=self.input.policy_id, policy_number=policy.policy_number, term_number=policy.term_number,
                request_id=request.request_id, head=request.head.value, previous_sublimit=previous.sublimit,
                new_sublimit=request.new_sublimit, additional_premium=premium.additional_premium,
                return_premium=premium.return_premium, effective_at=now,
            ),
            summary=f"endorse {request.head.value}",
        )
        state.policy = policy.model_copy(
            update={"schedule": policy.schedule.with_head_limit(request.head, request.new_sublimit)}
        )
        charged = state.premium_charged.fen + premium.additional_premium.fen - premium.return_premium.fen
        state.premium_charged = state.premium_charged.model_copy(update={"fen": charged})
        return EndorsementReceipt(
            request_id=request.request_id, head=request.head, new_sublimit=request.new_sublimit,
            additional_premium=premium.additional_premium, return_premium=premium.return_premium,
        )

    @endorse.validator
    def _validate_endorsement(self, request: EndorsementRequest) -> None:
        self._require_cover("an endorsement")
        if request.request_id in self.state.endorsement_ids:
            raise ValueError(f"endorsement {request.request_id} has already been applied")
        try:
            self._endorsement_premium(request, workflow.now())
        except DomainRuleError as err:
            raise ValueError(str(err)) from None

    def _endorsement_premium(self, request: EndorsementRequest, at):
        assert self.state.policy is not None
        return endorsement_premium(
            policy=self.state.policy, head=request.head, new_sublimit=request.new_sublimit,
            industry=self.input.application.organisation.industry, rules=self.rules.rating, effective_at=at,
        )

    @workflow.update
    async def cancel(self, request: CancellationRequest) -> CancellationReceipt:
        state = self.state
        policy = state.policy
        assert policy is not None and state.premium_charged is not None
        now = workflow.now()
        returned = pro_rata_return_premium(state.premium_charged, policy, now)
        await self.gateway.call(
            PolicyActivities.record_cancellation,
            RecordCancellation(
                policy_id=self.input.policy_id, policy_number=policy.policy_number, term_number=policy.term_number,
                cancelled_by=request.cancelled_by, reason=request.reason, effective_at=now, return_premium=returned,
            ),
            summary=f"cancelled by {request.cancelled_by.value}",
        )
        await self._close(PolicyPhase.CANCELLED, f"cancelled by the {request.cancelled_by.value}: {request.reason}")
        return CancellationReceipt(effective_at=now, return_premium=returned)

    @cancel.validator
    def _validate_cancellation(self, request: CancellationRequest) -> None:
        self._require_cover("a cancellation")

    def _require_cover(self, what: str) -> None:
        if not self.state.phase.is_covered:
            raise ValueError(f"the policy is {self.state.phase.value}, not in force; {what} is not possible")

    # -- Query -------------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> PolicyStatus:
        state, policy, case = self.state, self.state.policy, self.state.case
        underwriting = case.final or case.automatic if case else None
        return PolicyStatus(
            policy_id=self.input.policy_id,
            phase=state.phase,
            term_number=state.term_number,
            vendor_id=state.monitoring_vendor_id or (case.vendor_id if case else ""),
            policy_number=policy.policy_number if policy else None,
            term_start=policy.term_start if policy else None,
            term_end=policy.term_end if policy else None,
            risk_score=state.risk_score if policy else (underwriting.risk_score if underwriting else None),
            decision=underwriting.decision if underwriting else None,
            reasons=underwriting.reasons if underwriting else [],
            quote=case.quote if case else None,
            premium_charged=state.premium_charged,
            findings=state.findings,
            pending_findings=len(state.pending_findings),
            findings_ignored=state.findings_ignored,
            endorsements=len(state.endorsement_ids),
            closing_reason=state.closing_reason,
            runs=state.runs,
        )


def _receipt(changed: FindingChanged) -> FindingResolutionReceipt:
    return FindingResolutionReceipt(
        vendor_event_id=changed.vendor_event_id, previous_status=changed.previous_status, status=changed.status
    )


async def _rule_errors_as_update_errors(call):
    """A rule the database-side check refused fails the update, not the workflow, and says why."""
    try:
        return await call
    except ActivityError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            raise ApplicationError(cause.message, type=cause.type, non_retryable=True) from None
        raise
