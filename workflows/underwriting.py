"""One underwriting case, first term or renewal: 保前评估 → 核保 → quote → acceptance.

Every step stores its outcome in the case before the next begins, so a case carried through
continue-as-new (a renewal while monitoring floods in) resumes at the step it had reached. What the
database refuses never fails the workflow: a party's document (an assessment, a decision) is refused
back to the update that brought it (`refusals`), and the case stays open for another; a step of the
case's own that cannot be recorded ends the case with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.failures import describe_validation_error
    from activities.policy import PolicyActivities
    from contracts.parties import Party
    from contracts.policy import (
        AssessmentSubmission,
        PrebindRemediationVerified,
        QuoteAcceptance,
        UnderwriterDecision,
        UnderwritingCase,
    )
    from contracts.policy_activities import (
        QuoteStatus,
        RecordAssessment,
        RecordQuote,
        RecordQuoteStatus,
        RecordUnderwriting,
        UnderwritingStage,
    )
    from domain.application import PolicyApplication
    from domain.errors import DomainRuleError
    from domain.money import Money
    from domain.policy import PolicyPhase, Quote, local_date
    from domain.rating import Decision, TermHistory, UnderwritingResult, underwrite
    from domain.rules import AssessmentTimeoutAction, PolicyRules
    from workflows.gateway import ActivityGateway, Refused, condition_or_deadline


class TermUnderwriting:
    def __init__(
        self,
        *,
        case: UnderwritingCase,
        application: PolicyApplication,
        rules: PolicyRules,
        gateway: ActivityGateway,
        history: Callable[[], TermHistory] | None,
        enter_phase: Callable[[PolicyPhase], None],
        refusals: dict[str, Refused],
        quote_deadline: datetime | None = None,
    ) -> None:
        self.case = case
        self.application = application
        self.rules = rules
        self.gateway = gateway
        self.history = history
        self.enter_phase = enter_phase
        self.refusals = refusals  # by inbox: why the document an update left there was refused
        self.quote_deadline = quote_deadline

    async def run(self) -> bool:
        """True when the insured accepted a quote and every binding condition is verified."""
        if await self.obtain_assessment() and await self.underwrite() and await self.offer_quote():
            return await self.await_binding_conditions()
        return False

    # -- 保前评估: the vendor's assessment under an SLA ---------------------------------------

    async def obtain_assessment(self) -> bool:
        case, process = self.case, self.rules.process
        sla = timedelta(minutes=process.assessment_sla_minutes)
        while case.assessment is None:
            if case.assessment_due_at is None:
                case.assessment_due_at = workflow.now() + sla
                if case.vendor_id not in case.vendors_tried:
                    case.vendors_tried.append(case.vendor_id)
                await self._notify_vendor("assessment_requested", f"{case.assessment_attempt}")
            arrived = await condition_or_deadline(
                lambda: case.assessment_inbox is not None,
                case.assessment_due_at,
                summary=f"assessment SLA, attempt {case.assessment_attempt}",
            )
            if arrived:
                await self._record_assessment()
            elif case.assessment_attempt == 1:
                case.assessment_attempt = 2
                case.assessment_due_at = workflow.now() + sla
                await self._notify_vendor("assessment_overdue", "2")
                await self.gateway.notify("assessment_overdue", Party.INSURER, f"{case.term_number}:{case.vendor_id}")
            elif not self._reassign_to_next_vendor():
                case.outcome_reason = "no assessment report from the assessing vendors within the SLA"
                return False
        return True

    def _reassign_to_next_vendor(self) -> bool:
        case = self.case
        if self.rules.process.assessment_second_timeout is AssessmentTimeoutAction.DECLINE:
            return False
        remaining = [v for v in self.application.alternative_vendor_ids if v not in case.vendors_tried]
        if not remaining:
            return False
        workflow.logger.info("assessment reassigned after two missed SLAs", extra={"term": case.term_number})
        case.vendor_id, case.assessment_attempt, case.assessment_due_at = remaining[0], 1, None
        return True

    async def _record_assessment(self) -> None:
        case = self.case
        report = case.assessment_inbox
        assert report is not None
        recorded = await self.gateway.attempt(
            PolicyActivities.record_assessment,
            RecordAssessment(
                policy_id=self.gateway.policy_id, term_number=case.term_number, report=report, received_at=workflow.now()
            ),
            summary="record assessment report",
        )
        if isinstance(recorded, Refused):  # the vendor may send a corrected report within the SLA
            self.refusals["assessment"], case.assessment_inbox = recorded, None
            return
        case.assessment, case.assessment_inbox = report, None

    async def _notify_vendor(self, kind: str, attempt: str) -> None:
        case = self.case
        await self.gateway.notify(
            kind, Party.VENDOR, f"{case.term_number}:{case.vendor_id}:{attempt}",
            recipient_id=case.vendor_id, term_number=case.term_number,
        )

    # -- 核保: rating, and a human underwriter for referrals ----------------------------------

    async def underwrite(self) -> bool:
        case = self.case
        assert case.assessment is not None
        if case.automatic is None:
            term_start = case.term_start or workflow.now()
            history = self.history() if self.history else None
            try:
                result = underwrite(
                    self.application, case.assessment, self.rules, term_start=local_date(term_start), history=history
                )
            except (DomainRuleError, ValidationError) as err:  # figures the rating cannot carry
                reason = err.message if isinstance(err, DomainRuleError) else describe_validation_error(err)
                workflow.logger.warning("application not rated", extra={"reason": reason})
                case.outcome_reason = f"not rated: {reason}"
                return False
            refused = await self._record_underwriting(UnderwritingStage.AUTOMATIC, result, None)
            if refused is not None:
                case.outcome_reason = f"underwriting not recorded: {refused.reason}"
                return False
            case.automatic = result
        if case.final is None and case.automatic.decision is Decision.REFER:
            await self.await_underwriter()
        elif case.final is None:
            case.final = case.automatic
        assert case.final is not None
        if case.final.decision is Decision.DECLINE:
            case.outcome_reason = "; ".join(case.final.reasons) or "declined"
            return False
        return True

    async def await_underwriter(self) -> None:
        case, process = self.case, self.rules.process
        self.enter_phase(PolicyPhase.REFERRED)
        await self.gateway.notify("referral", Party.INSURER, f"{case.term_number}", term_number=case.term_number)
        every = timedelta(minutes=process.referral_reminder_minutes)
        while True:
            while case.referral_inbox is None:
                decided = await condition_or_deadline(
                    lambda: case.referral_inbox is not None, workflow.now() + every, summary="underwriter decision"
                )
                if decided:
                    break
                if case.referral_reminders >= process.referral_max_reminders:
                    # The workflow's own decline stands even if the database refuses to record it.
                    await self._settle_referral(Decision.DECLINE, "no underwriter decision in time", None, None)
                    return
                case.referral_reminders += 1
                await self.gateway.notify("referral_reminder", Party.INSURER, f"{case.term_number}:{case.referral_reminders}")
            decision = case.referral_inbox
            refused = await self._settle_referral(
                decision.decision, f"underwriter: {decision.reason}", decision.underwriter_id, decision.premium_override
            )
            if refused is None:
                return
            # The decision could not be recorded: refused back to the underwriter, who may decide again.
            self.refusals["referral"], case.referral_inbox = refused, None

    async def _settle_referral(
        self, decision: Decision, reason: str, underwriter_id: str | None, premium: Money | None
    ) -> Refused | None:
        automatic = self.case.automatic
        assert automatic is not None
        final = automatic.model_copy(
            update={
                "decision": decision,
                "reasons": [*automatic.reasons, reason],
                "premium": premium or automatic.premium,
            }
        )
        refused = await self._record_underwriting(UnderwritingStage.UNDERWRITER, final, underwriter_id)
        if refused is None or underwriter_id is None:
            self.case.final = final
        return refused

    async def _record_underwriting(
        self, stage: UnderwritingStage, result: UnderwritingResult, who: str | None
    ) -> Refused | None:
        recorded = await self.gateway.attempt(
            PolicyActivities.record_underwriting,
            RecordUnderwriting(
                policy_id=self.gateway.policy_id, term_number=self.case.term_number, stage=stage,
                result=result, underwriter_id=who, decided_at=workflow.now(),
            ),
            summary=f"record {stage.value} underwriting",
        )
        return recorded if isinstance(recorded, Refused) else None

    # -- Quote and acceptance ------------------------------------------------------------------

    async def offer_quote(self) -> bool:
        case = self.case
        if case.quote is None:
            quote = await self._issue_quote()
            if isinstance(quote, Refused):
                case.outcome_reason = f"quote not recorded: {quote.reason}"
                return False
            case.quote = quote
        self.enter_phase(PolicyPhase.QUOTED)
        quote = case.quote
        accepted = await condition_or_deadline(lambda: case.accepted, quote.expires_at, summary="quote expiry")
        if not accepted:
            await self._record_quote_status(QuoteStatus.EXPIRED)
            case.outcome_reason = f"quote {quote.quote_id} expired unaccepted"
            return False
        await self._record_quote_status(QuoteStatus.ACCEPTED)
        return True

    async def _issue_quote(self) -> Quote | Refused:
        case, final = self.case, self.case.final
        assert final is not None and final.schedule is not None
        now = workflow.now()
        expires_at = now + timedelta(minutes=self.rules.process.quote_validity_minutes)
        if self.quote_deadline is not None:
            expires_at = min(expires_at, self.quote_deadline)
        quote = Quote(
            quote_id=f"{self.gateway.policy_id}-t{case.term_number}",
            term_number=case.term_number,
            premium=final.premium,
            schedule=final.schedule,
            required_remediations=final.required_remediations,
            product_notes=final.product_notes,
            risk_score=final.risk_score,
            issued_at=now,
            expires_at=expires_at,
        )
        recorded = await self.gateway.attempt(
            PolicyActivities.record_quote, RecordQuote(policy_id=self.gateway.policy_id, quote=quote), summary="record quote"
        )
        if isinstance(recorded, Refused):
            return recorded
        await self.gateway.notify("quote_issued", Party.INSURED, quote.quote_id, premium_fen=quote.premium.fen)
        return quote

    async def _record_quote_status(self, status: QuoteStatus) -> None:
        assert self.case.quote is not None
        await self.gateway.record(
            PolicyActivities.record_quote_status,
            RecordQuoteStatus(
                policy_id=self.gateway.policy_id, quote_id=self.case.quote.quote_id, status=status, at=workflow.now()
            ),
            summary=f"quote {status.value}",
        )

    async def await_binding_conditions(self) -> bool:
        """Remediations required before binding, verified by the vendor before the quote expires."""
        case = self.case
        assert case.quote is not None
        if not case.outstanding_remediations():
            return True
        self.enter_phase(PolicyPhase.AWAITING_PREBIND_REMEDIATION)
        await self.gateway.notify(
            "prebind_remediation_required", Party.INSURED, case.quote.quote_id,
            outstanding=len(case.outstanding_remediations()),
        )
        met = await condition_or_deadline(
            lambda: not case.outstanding_remediations(), case.quote.expires_at, summary="binding conditions deadline"
        )
        if not met:
            case.outcome_reason = (
                "binding conditions not verified before the quote expired: "
                + ", ".join(case.outstanding_remediations())
            )
        return met


# -- What the parties may send, and when (update validators: they refuse, they never change) --------


def refusal(code: str, message: str, *, lasting: bool) -> ApplicationError:
    """A message refused: `lasting` when sending it again can never succeed (a wrong id, a closed case),
    so it is not marked retryable; otherwise it may succeed once the policy has moved on."""
    return ApplicationError(message, type=code, non_retryable=lasting)


def rating_under_way(case: UnderwritingCase) -> bool:
    """The assessment is in and the case still open: a quote, a decline or a referral is coming."""
    has_report = case.assessment is not None or case.assessment_inbox is not None
    return has_report and case.quote is None and case.outcome_reason is None and not awaits_underwriter(case)


def awaits_underwriter(case: UnderwritingCase) -> bool:
    return case.automatic is not None and case.automatic.decision is Decision.REFER and case.final is None


def check_assessment(case: UnderwritingCase, submission: AssessmentSubmission) -> None:
    if case.assessment is not None or case.assessment_inbox is not None:
        raise refusal(
            "already_submitted", f"the assessment for term {case.term_number} has already been submitted", lasting=True
        )
    if submission.report.vendor_id != case.vendor_id:
        raise refusal(
            "not_assigned_vendor", f"vendor {submission.report.vendor_id} is not the assigned assessing vendor",
            lasting=True,
        )


def check_referral_decision(case: UnderwritingCase, decision: UnderwriterDecision) -> None:
    if case.automatic is None:
        raise refusal("no_referral_yet", "there is no referral waiting for an underwriter yet", lasting=False)
    if case.automatic.decision is not Decision.REFER:
        raise refusal("no_referral", "there is no referral waiting for an underwriter", lasting=True)
    if case.final is not None or case.referral_inbox is not None:
        raise refusal("already_decided", "the referral has already been decided", lasting=True)
    if decision.decision is Decision.REFER:
        raise refusal("invalid_decision", "an underwriter decides accept or decline, not refer", lasting=True)
    if decision.premium_override is not None and decision.premium_override.fen <= 0:
        raise refusal("invalid_premium", "a premium override must be above zero", lasting=True)


def check_acceptance(case: UnderwritingCase, acceptance: QuoteAcceptance, now: datetime) -> None:
    """With no quote yet: refused only when none is under way (see `rating_under_way`), for the
    acceptance of a quote being rated waits for it."""
    if case.quote is None:
        if rating_under_way(case):
            return
        if awaits_underwriter(case):
            raise refusal(
                "referred", "no quote yet: the case is referred to an underwriter, and the quote follows the decision",
                lasting=False,
            )
        raise refusal("no_quote_yet", "no quote has been issued yet: the assessment is not in", lasting=False)
    if acceptance.quote_id != case.quote.quote_id:
        raise refusal(
            "unknown_quote", f"unknown quote {acceptance.quote_id}; the current quote is {case.quote.quote_id}",
            lasting=True,
        )
    if case.accepted:
        raise refusal("already_accepted", f"quote {acceptance.quote_id} has already been accepted", lasting=True)
    if now >= case.quote.expires_at:
        raise refusal(
            "quote_expired", f"quote {acceptance.quote_id} expired at {case.quote.expires_at.isoformat()}", lasting=True
        )


def check_prebind_verification(case: UnderwritingCase, verified: PrebindRemediationVerified) -> None:
    if case.quote is None:
        raise refusal("no_quote_yet", "no quote, so no binding conditions yet", lasting=False)
    if verified.vendor_id != case.vendor_id:
        raise refusal("not_assigned_vendor", f"vendor {verified.vendor_id} is not the assessing vendor", lasting=True)
    if verified.code not in case.outstanding_remediations():
        raise refusal("not_outstanding", f"{verified.code} is not an outstanding binding condition", lasting=True)
