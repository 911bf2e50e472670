"""The policy workflow's pre-cover messages: assessment, referral decision, acceptance, conditions.

A base class of `PolicyWorkflow`, so the workflow module keeps to the phases themselves. An update
that leaves a document in the case's inbox waits for the run to take it, or to refuse it (`refusals`,
when the database cannot record it): then the update fails with the reason and the inbox is open again.
An acceptance sent while the case is still being rated waits for the quote rather than being refused.

They change the case without an await between reading and writing it, so they do not take the policy's
lock; and they never hold it while waiting for the run, which takes it to bind (workflows/policy.py).
A refusal says whether sending again can ever succeed (`refusal`, workflows/underwriting.py).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.policy import (
        AssessmentReceipt,
        AssessmentSubmission,
        PolicyState,
        PrebindRemediationReceipt,
        PrebindRemediationVerified,
        QuoteAcceptance,
        QuoteAcceptanceReceipt,
        UnderwriterDecision,
        UnderwriterDecisionReceipt,
        UnderwritingCase,
    )
    from domain.rules import PolicyRules
    from workflows.gateway import Refused
    from workflows.underwriting import (
        check_acceptance,
        check_assessment,
        check_prebind_verification,
        check_referral_decision,
        rating_under_way,
        refusal,
    )


class PreCoverHandlers:
    rules: PolicyRules
    state: PolicyState
    refusals: dict[str, Refused]

    @workflow.update
    async def submit_assessment(self, submission: AssessmentSubmission) -> AssessmentReceipt:
        case = self.state.case
        assert case is not None
        case.assessment_inbox = submission.report
        self.refusals.pop("assessment", None)
        await workflow.wait_condition(
            lambda: case.automatic is not None or case.outcome_reason is not None or "assessment" in self.refusals
        )
        if "assessment" in self.refusals:
            raise self.refusals.pop("assessment").error("assessment refused: ")
        if case.automatic is None:
            raise refusal("assessment_not_used", f"assessment not used: {case.outcome_reason}", lasting=True)
        return AssessmentReceipt(
            term_number=case.term_number, risk_score=case.automatic.risk_score, decision=case.automatic.decision
        )

    @submit_assessment.validator
    def _validate_assessment(self, submission: AssessmentSubmission) -> None:
        check_assessment(self._open_case("an assessment"), submission)

    @workflow.update
    async def decide_referral(self, decision: UnderwriterDecision) -> UnderwriterDecisionReceipt:
        case = self.state.case
        assert case is not None
        case.referral_inbox = decision
        self.refusals.pop("referral", None)
        await workflow.wait_condition(lambda: case.final is not None or "referral" in self.refusals)
        if "referral" in self.refusals:
            raise self.refusals.pop("referral").error("decision refused: ")
        assert case.final is not None
        return UnderwriterDecisionReceipt(decision=case.final.decision, premium=case.final.premium)

    @decide_referral.validator
    def _validate_referral(self, decision: UnderwriterDecision) -> None:
        check_referral_decision(self._open_case("an underwriting decision"), decision)

    @workflow.update
    async def accept_quote(self, acceptance: QuoteAcceptance) -> QuoteAcceptanceReceipt:
        case = self.state.case
        assert case is not None
        if case.quote is None:
            await self._await_quote(case)
        check_acceptance(case, acceptance, workflow.now())
        case.accepted = True
        if self.state.policy is None and case.ready_to_bind:
            # Answer once bound, so the parties may act on the policy as soon as they hear back.
            await workflow.wait_condition(lambda: self.state.policy is not None or self.state.phase.is_terminal)
        policy = self.state.policy
        return QuoteAcceptanceReceipt(
            quote_id=acceptance.quote_id,
            outstanding_remediations=case.outstanding_remediations(),
            policy_number=policy.policy_number if policy and policy.term_number == case.term_number else None,
        )

    async def _await_quote(self, case: UnderwritingCase) -> None:
        """An acceptance sent while the case is being rated waits for the quote, at most the rules' quote
        wait (histories whose rules predate it wait the default, a minute, as before); a decline or a
        referral ends the wait, and the acceptance is then refused saying which."""
        wait = timedelta(minutes=self.rules.process.quote_wait_minutes)
        try:
            await workflow.wait_condition(
                lambda: not rating_under_way(case), timeout=wait, timeout_summary="quote for an acceptance"
            )
        except TimeoutError:
            raise refusal(
                "no_quote_yet", f"no quote was issued within {wait}; nothing is lost by accepting again",
                lasting=False,
            ) from None
        if case.quote is None and case.outcome_reason is not None:
            raise refusal("not_quoted", f"no quote will be issued: {case.outcome_reason}", lasting=True)

    @accept_quote.validator
    def _validate_acceptance(self, acceptance: QuoteAcceptance) -> None:
        check_acceptance(self._open_case("a quote acceptance"), acceptance, workflow.now())

    @workflow.update
    def verify_prebind_remediation(self, verified: PrebindRemediationVerified) -> PrebindRemediationReceipt:
        case = self.state.case
        assert case is not None
        case.verified_remediations.append(verified.code)
        return PrebindRemediationReceipt(outstanding_remediations=case.outstanding_remediations())

    @verify_prebind_remediation.validator
    def _validate_prebind(self, verified: PrebindRemediationVerified) -> None:
        check_prebind_verification(self._open_case("a remediation verification"), verified)

    def _open_case(self, what: str) -> UnderwritingCase:
        """The case a pre-cover message is for. Refused for good once the policy or the case has ended;
        in force between renewals, a renewal case will open later."""
        case, phase = self.state.case, self.state.phase
        if phase.is_terminal or case is None or case.outcome_reason is not None:
            lasting = phase.is_terminal or case is not None
            reason = f": {case.outcome_reason}" if case is not None and case.outcome_reason else ""
            raise refusal("not_expected_now", f"the policy is {phase.value}{reason}; {what} is not expected now", lasting=lasting)
        return case
