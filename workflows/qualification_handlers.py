"""The qualification workflow's messages: the platform's and the insurer's contacts and decision,
the provider's proofs, withdrawal, and word that the qualifying policy changed.

A base class of `QualificationWorkflow`, so the workflow module keeps to the qualification's course.
Proofs are checked and recorded within `gateway.REQUEST_WAIT`; what the database refuses fails the
update that brought it, never the workflow.

Handlers and the run take turns (`_turn`, by workflows/lifetime.py's `turn`): one lock, held around
every await that changes the qualification. A message that waited for its turn checks again what its
validator checked, and is refused if that no longer holds (proofs that arrive as the provider
withdraws). Every change of phase goes through `_enter`, which publishes it to the operators' search
attribute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from temporalio import workflow

from workflows.lifetime import turn
from workflows.patches import OPERATOR_OVERDUE_VIEWS

with workflow.unsafe.imports_passed_through():
    from activities.qualification import QualificationActivities
    from contracts.parties import Party
    from contracts.qualification import (
        CertificateSubmission,
        InsurerContact,
        PlatformContact,
        PlatformDecision,
        PolicyProofSubmission,
        QualificationState,
        QualificationStatus,
        QualificationWorkflowInput,
        Withdrawal,
    )
    from contracts.qualification_activities import (
        CheckPolicyProofs,
        QualificationEventKind,
        RecordCertificate,
    )
    from domain.qualification import (
        ProofPath,
        QualificationApplication,
        QualificationPhase,
        QualificationRules,
        Verification,
        verify_mlps_certificate,
    )
    from workflows import search_attributes
    from workflows.gateway import ActivityGateway

PROOF_PHASES = (QualificationPhase.AWAITING_PROOFS, QualificationPhase.QUALIFIED, QualificationPhase.SUSPENDED)


class QualificationHandlers:
    input: QualificationWorkflowInput
    application: QualificationApplication
    rules: QualificationRules
    state: QualificationState
    gateway: ActivityGateway
    lock: asyncio.Lock
    _event: Callable[..., Awaitable[None]]
    _notify: Callable[..., Awaitable[None]]
    _qualify: Callable[..., Awaitable[None]]
    _publish: Callable[[], None]
    status: Callable[[], QualificationStatus]

    @workflow.update
    async def platform_contacted(self, contact: PlatformContact) -> QualificationStatus:
        async with self._turn(self._validate_platform_contact, contact):
            assert self.state.platform_contact is not None
            self.state.platform_contact.done_at = workflow.now()
            if self.state.platform_contact.escalated:
                self._contact_overdue_view(False)
            await self._event(QualificationEventKind.PLATFORM_CONTACTED, "platform-contacted", actor=contact.operator_id)
        return self.status()

    @platform_contacted.validator
    def _validate_platform_contact(self, contact: PlatformContact) -> None:
        self._expect(QualificationPhase.PLATFORM_REVIEW, "record the platform's contact")
        if self.state.platform_contact is None:
            raise ValueError("the application is still being recorded; try again in a moment")
        if self.state.platform_contact.done_at is not None:
            raise ValueError("the platform's contact is already recorded")

    @workflow.update
    async def platform_decide(self, decision: PlatformDecision) -> QualificationStatus:
        async with self._turn(self._validate_platform_decision, decision) as taking_turns:
            state = self.state
            state.platform_decision_reason = decision.reason
            # Histories from before MESSAGES_IN_TURN published the decision after recording it.
            if decision.approve:
                self._enter(QualificationPhase.INSURER_CONTACT if self.application.proof_path is ProofPath.CYBER_LIABILITY_POLICY
                            else QualificationPhase.AWAITING_PROOFS, publish=taking_turns)
                await self._event(QualificationEventKind.APPROVED, "approved", actor=decision.operator_id)
            else:
                self._enter(QualificationPhase.REJECTED, closing_reason=decision.reason, publish=taking_turns)
                await self._event(QualificationEventKind.REJECTED, "rejected", actor=decision.operator_id)
                await self._notify("qualification_rejected", Party.PROVIDER)
            if not taking_turns:
                self._publish()
        return self.status()

    @platform_decide.validator
    def _validate_platform_decision(self, decision: PlatformDecision) -> None:
        self._expect(QualificationPhase.PLATFORM_REVIEW, "decide")
        contact = self.state.platform_contact
        if contact is None or contact.done_at is None:
            raise ValueError("the platform decides after it has contacted the provider; record the contact first")

    @workflow.update
    async def insurer_contacted(self, contact: InsurerContact) -> QualificationStatus:
        async with self._turn(self._validate_insurer_contact, contact):
            state = self.state
            assert state.insurer_contact is not None
            state.insurer_contact.done_at = workflow.now()
            if state.insurer_contact.escalated:
                self._contact_overdue_view(False)
            self._enter(QualificationPhase.AWAITING_PROOFS)
            await self._event(QualificationEventKind.INSURER_CONTACTED, "insurer-contacted", actor=contact.insurer_id)
        return self.status()

    @insurer_contacted.validator
    def _validate_insurer_contact(self, contact: InsurerContact) -> None:
        self._expect(QualificationPhase.INSURER_CONTACT, "record the insurer's contact")
        if self.state.insurer_contact is None:
            raise ValueError("the intent form is still being issued; try again in a moment")
        if self.application.insurer_id and contact.insurer_id != self.application.insurer_id:
            raise ValueError("the intent form went to another insurer")

    @workflow.update
    async def submit_policy_proofs(self, submission: PolicyProofSubmission) -> QualificationStatus:
        async with self._turn(self._validate_policy_proofs, submission):
            state = self.state
            state.submissions += 1
            checked = await self.gateway.call_refusable(
                QualificationActivities.check_policy_proofs,
                CheckPolicyProofs(
                    qualification_id=self.input.qualification_id, submission=state.submissions,
                    application=self.application, proofs=submission.proofs, rules=self.rules, at=workflow.now(),
                    qualified_until=state.qualified_until if state.phase is QualificationPhase.QUALIFIED else None,
                ),
                summary=f"verify proofs {state.submissions} against the bound policy",
            )
            await self._after_verification(checked.verification, policy_number=submission.proofs.policy_number,
                                           policy_id=checked.policy_id)
        return self.status()

    @submit_policy_proofs.validator
    def _validate_policy_proofs(self, submission: PolicyProofSubmission) -> None:
        self._expect_proofs(ProofPath.CYBER_LIABILITY_POLICY)

    @workflow.update
    async def submit_mlps_certificate(self, submission: CertificateSubmission) -> QualificationStatus:
        async with self._turn(self._validate_certificate, submission):
            state = self.state
            state.submissions += 1
            verification = verify_mlps_certificate(submission.certificate, workflow.now(), self.rules)
            await self.gateway.call_refusable(
                QualificationActivities.record_certificate,
                RecordCertificate(qualification_id=self.input.qualification_id, submission=state.submissions,
                                  certificate=submission.certificate, verification=verification, at=workflow.now()),
                summary=f"record certificate {state.submissions}",
            )
            await self._after_verification(verification, policy_number=None, policy_id=None)
        return self.status()

    @submit_mlps_certificate.validator
    def _validate_certificate(self, submission: CertificateSubmission) -> None:
        self._expect_proofs(ProofPath.MLPS_CERTIFICATE)
        try:  # what the handler will do, once here, where failing only refuses the update
            verify_mlps_certificate(submission.certificate, workflow.now(), self.rules)
        except (ArithmeticError, ValueError):
            raise ValueError("the certificate's dates lie beyond any that can be verified") from None

    async def _after_verification(self, verification: Verification, *, policy_number, policy_id) -> None:
        state = self.state
        if verification.passed:
            await self._qualify(verification, policy_number=policy_number, policy_id=policy_id)
        else:
            state.last_problems = verification.problems
            await self._event(QualificationEventKind.PROOFS_REFUSED, f"refused-{state.submissions}",
                              problems=[p.code for p in verification.problems])

    @workflow.update
    async def withdraw(self, withdrawal: Withdrawal) -> QualificationStatus:
        async with self._turn(self._validate_withdrawal, withdrawal):
            self._enter(QualificationPhase.WITHDRAWN, closing_reason=withdrawal.reason)
            await self._event(QualificationEventKind.WITHDRAWN, "withdrawn", actor=self.application.provider_id)
        return self.status()

    @withdraw.validator
    def _validate_withdrawal(self, withdrawal: Withdrawal) -> None:
        if self.state.phase.is_terminal:
            raise ValueError(f"the qualification is already {self.state.phase.value}")

    @workflow.signal
    def policy_changed(self) -> None:
        """Someone knows the qualifying policy changed (cancelled, renewed): check it now."""
        self.state.recheck_requested = True

    # -- Turns and phases --------------------------------------------------------------------------

    def _turn(self, recheck: Callable[..., None] | None = None, *message: object) -> AbstractAsyncContextManager[bool]:
        """Hold the qualification's lock for a change that awaits (`lifetime.turn`)."""
        return turn(self.lock, recheck=recheck, message=message)

    def _contact_overdue_view(self, overdue: bool) -> None:
        """Operators list the qualifications whose contact is overdue (CyberinsContactOverdue)."""
        if workflow.patched(OPERATOR_OVERDUE_VIEWS):
            search_attributes.publish(search_attributes.CONTACT_OVERDUE.value_set(overdue))

    def _enter(self, phase: QualificationPhase, *, closing_reason: str | None = None,
               suspended_reason: str | None = None, publish: bool = True) -> None:
        """Every change of phase: the state, its reasons, and the operators' search attribute."""
        state = self.state
        state.phase = phase
        if phase.is_terminal:
            state.closing_reason = closing_reason
        state.suspended_reason = suspended_reason if phase is QualificationPhase.SUSPENDED else None
        if publish:
            self._publish()

    # -- Plumbing ----------------------------------------------------------------------------------

    def _expect(self, phase: QualificationPhase, what: str) -> None:
        if self.state.phase is not phase:
            raise ValueError(f"the qualification is {self.state.phase.value}; it cannot {what} now")

    def _expect_proofs(self, path: ProofPath) -> None:
        if self.application.proof_path is not path:
            raise ValueError(f"this application proves security by {self.application.proof_path.value}, not {path.value}")
        if self.state.phase not in PROOF_PHASES:
            raise ValueError(f"the qualification is {self.state.phase.value}; proofs come after approval"
                             + (" and the insurer's contact" if path is ProofPath.CYBER_LIABILITY_POLICY else ""))
