"""The qualification workflow: one per provider application on the open platform (docs/domain.md, "Platform qualification by insurance").

    applied → platform contact (1 working day) and decision → intent form to the insurer
    → insurer contact (3 working days) → underwriting and binding (the policy workflow)
    → proofs verified against the bound policy → qualified ⇄ suspended, renewed yearly.

The MLPS certificate path skips the insurer: the certificate is verified instead of the policy.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

from workflows.lifetime import run_is_long, until_quiet
from workflows.patches import ONE_NOTIFICATION_PATH

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities
    from activities.qualification import QualificationActivities, qualification_notification
    from activities.working_calendar import CalendarActivities, WorkingDeadlineRequest
    from contracts.parties import Party
    from contracts.qualification import (
        ContactDue,
        QualificationState,
        QualificationStatus,
        QualificationWorkflowInput,
    )
    from contracts.qualification_activities import (
        IssueIntentForm,
        QualificationEventKind,
        QualificationNotice,
        RecheckPolicy,
        RecordQualification,
        RecordQualificationEvent,
    )
    from domain.incident import add_working_days
    from domain.qualification import (
        ProofPath,
        QualificationPhase,
        Verification,
        renewal_reminders,
    )
    from workflows import search_attributes
    from workflows.gateway import ActivityGateway, Refused, condition_or_deadline
    from workflows.qualification_handlers import PROOF_PHASES, QualificationHandlers
    from workflows.search_attributes import show

WAITING = {
    QualificationPhase.PLATFORM_REVIEW: "Waiting for the platform's decision.",
    QualificationPhase.INSURER_CONTACT: "Waiting for the insurer to contact the provider.",
    QualificationPhase.AWAITING_PROOFS: "Underwriting and binding; waiting for the provider's proofs.",
}


@workflow.defn(name="QualificationWorkflow")
class QualificationWorkflow(QualificationHandlers):
    @workflow.init
    def __init__(self, input: QualificationWorkflowInput) -> None:
        self.input = input
        self.application = input.application
        self.rules = input.rules
        self.state = input.state or QualificationState()
        self.gateway = ActivityGateway(input.qualification_id)
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, input: QualificationWorkflowInput) -> QualificationStatus:
        if input.state is None:
            await self._apply()
            if await self._platform_review() and self.application.proof_path is ProofPath.CYBER_LIABILITY_POLICY:
                await self._insurer_contact()
        await self._hold_qualification()
        await until_quiet(self.gateway)
        return self.status()

    # -- Applied: the platform contacts the provider within a working day, then decides -------------

    async def _apply(self) -> None:
        state = self.state
        state.applied_at = workflow.now()
        async with self._turn():  # a withdrawal sent while the application is recorded waits for it
            recorded = await self.gateway.attempt(
                QualificationActivities.record_qualification,
                RecordQualification(qualification_id=self.input.qualification_id, application=self.application,
                                    at=workflow.now()),
                summary="record the application",
            )
            if isinstance(recorded, Refused):  # nothing to qualify without it: the run fails once, saying why
                raise recorded.error("application refused: ")
            self._publish()
            await self._event(QualificationEventKind.APPLIED, "applied", proof_path=self.application.proof_path.value)
            await self._notify("qualification_applied", Party.PLATFORM)

    async def _platform_review(self) -> bool:
        state = self.state
        state.platform_contact = await self._contact_due(self.rules.platform_contact_working_days)
        await self._event(QualificationEventKind.PLATFORM_CONTACT_DUE, "platform-due",
                          due=state.platform_contact.due.isoformat())
        show("Waiting for platform operations to contact the provider.")
        await self._service_level(
            lambda: state.platform_contact is not None and state.platform_contact.done_at is not None,
            state.platform_contact, "platform", Party.PLATFORM, escalate_to=[Party.PLATFORM],
        )
        await workflow.wait_condition(lambda: state.phase is not QualificationPhase.PLATFORM_REVIEW)
        return state.phase in PROOF_PHASES or state.phase is QualificationPhase.INSURER_CONTACT

    # -- Approved: the intent form goes to the insurer, which contacts within 3 working days --------

    async def _insurer_contact(self) -> None:
        state = self.state
        if state.phase is not QualificationPhase.INSURER_CONTACT:
            return
        form = await self.gateway.attempt(
            QualificationActivities.issue_intent_form,
            IssueIntentForm(qualification_id=self.input.qualification_id, application=self.application,
                            at=workflow.now()),
            summary="issue the intent form (意向单)",
        )
        if isinstance(form, Refused):
            async with self._turn() as taking_turns:
                if not (taking_turns and state.phase.is_terminal):  # not if withdrawn meanwhile
                    await self._reject(f"the intent form could not be issued: {form.reason}")
            return
        state.intent_id = form.intent_id
        await self._event(QualificationEventKind.INTENT_FORM_SENT, "intent", intent_id=form.intent_id)
        await self._notify("intent_form", Party.INSURER, recipient_id=form.insurer_id, intent_id=form.intent_id)
        state.insurer_contact = await self._contact_due(self.rules.insurer_contact_working_days)
        await self._event(QualificationEventKind.INSURER_CONTACT_DUE, "insurer-due",
                          due=state.insurer_contact.due.isoformat())
        show("Intent form sent: waiting for the insurer to contact the provider.")
        await self._service_level(
            lambda: state.insurer_contact is not None and state.insurer_contact.done_at is not None,
            state.insurer_contact, "insurer", Party.INSURER, escalate_to=[Party.PLATFORM, Party.INSURER],
        )

    async def _contact_due(self, working_days: int) -> ContactDue:
        deadline = await self.gateway.attempt(
            CalendarActivities.working_deadline,
            WorkingDeadlineRequest(start=workflow.now(), working_days=working_days),
            summary=f"{working_days} working days on the Chinese calendar",
        )
        if isinstance(deadline, Refused):  # rules the calendar cannot count: Monday to Friday, provisional
            return ContactDue(due=add_working_days(workflow.now(), working_days), provisional=True)
        return ContactDue(due=deadline.due, provisional=deadline.provisional)

    async def _service_level(self, done, due: ContactDue, who: str, reminded: Party, *, escalate_to: list[Party]) -> None:
        """A reminder a while before the contact is due; an escalation when it is overdue."""
        kinds = {
            "platform": (QualificationEventKind.PLATFORM_CONTACT_REMINDED, QualificationEventKind.PLATFORM_CONTACT_ESCALATED),
            "insurer": (QualificationEventKind.INSURER_CONTACT_REMINDED, QualificationEventKind.INSURER_CONTACT_ESCALATED),
        }[who]
        recipient_id = self.application.insurer_id if reminded is Party.INSURER else None
        stopped = lambda: done() or self.state.phase.is_terminal
        lead = timedelta(minutes=self.rules.reminder_lead_minutes)
        if not await condition_or_deadline(stopped, due.due - lead, summary=f"{who} contact reminder"):
            async with self._turn() as taking_turns:
                if taking_turns and stopped():
                    return
                due.reminded = True
                await self._event(kinds[0], f"{who}-reminded")
                await self._notify(f"{who}_contact_reminder", reminded, recipient_id=recipient_id)
        if not await condition_or_deadline(stopped, due.due, summary=f"{who} contact due"):
            async with self._turn() as taking_turns:
                if taking_turns and stopped():
                    return
                due.escalated = True
                self._contact_overdue_view(True)
                show(f"The {who}'s contact is OVERDUE: escalated.")
                await self._event(kinds[1], f"{who}-escalated")
                for party in escalate_to:
                    await self._notify(f"{who}_contact_overdue", party,
                                       recipient_id=recipient_id if party is Party.INSURER else None)

    # -- Proofs, qualification, rechecks, renewal, suspension ---------------------------------------

    async def _hold_qualification(self) -> None:
        """Until withdrawn or rejected: wait for proofs; once qualified, watch the proof's validity."""
        state = self.state
        while not state.phase.is_terminal:
            if state.phase is QualificationPhase.QUALIFIED:
                await self._watch_validity()
            else:
                show(WAITING.get(state.phase) or f"Suspended: {state.suspended_reason}")
                await workflow.wait_condition(
                    lambda: state.phase in (QualificationPhase.QUALIFIED,) or state.phase.is_terminal
                    or workflow.info().is_continue_as_new_suggested()
                )
            if self._time_to_roll_over():
                await until_quiet(self.gateway)
                workflow.continue_as_new(self.input.model_copy(update={"state": self.state}))

    async def _watch_validity(self) -> None:
        state = self.state
        assert state.qualified_until is not None
        show(f"Qualified until {state.qualified_until.date().isoformat()}.")
        until = state.qualified_until
        next_check = workflow.now() + timedelta(minutes=self.rules.policy_check_minutes)
        reminders = [
            (days, at) for days, at in renewal_reminders(until, workflow.now(), self.rules)
            if f"{until.date()}:{days}" not in state.reminders_sent
        ]
        wake = min([until, *(at for _, at in reminders[:1])] + ([next_check] if state.policy_number else []))
        changed = lambda: (
            state.phase is not QualificationPhase.QUALIFIED or state.qualified_until != until or state.recheck_requested
        )
        if await condition_or_deadline(changed, wake, summary="qualification watch"):
            if state.recheck_requested and state.phase is QualificationPhase.QUALIFIED:
                state.recheck_requested = False
                await self._recheck()
            return
        async with self._turn() as taking_turns:
            if taking_turns and changed():
                return  # proofs, a withdrawal or a recheck came first: look again
            now = workflow.now()
            if now >= until:
                await self._suspend("the proof expired; submit the renewed policy's proofs", kind="expired")
                return
            for days, at in reminders:
                if at <= now:
                    state.reminders_sent = [*state.reminders_sent, f"{until.date()}:{days}"]
                    await self._event(QualificationEventKind.RENEWAL_REMINDED, f"renewal-{until.date()}-{days}",
                                      days=days)
                    await self._notify("qualification_renewal_reminder", Party.PROVIDER,
                                       key=f"{until.date()}:{days}", days_before_expiry=days)
        if state.policy_number and now >= next_check:
            await self._recheck()

    async def _recheck(self) -> None:
        """The check itself runs outside any turn (it may wait on the database); its verdict takes one."""
        state = self.state
        checked = state.policy_number
        if checked is None:
            return  # qualified by an MLPS certificate: there is no policy to check
        result = await self.gateway.attempt(
            QualificationActivities.recheck_policy,
            RecheckPolicy(qualification_id=self.input.qualification_id, application=self.application,
                          policy_number=checked, rules=self.rules, at=workflow.now()),
            summary="recheck the qualifying policy",
        )
        if isinstance(result, Refused):
            return  # not checked this time (logged); the qualification stands until a check says otherwise
        async with self._turn() as taking_turns:
            if taking_turns and state.policy_number != checked:
                return  # qualified meanwhile on other proofs: this verdict is about a policy no longer relied on
            if not result.passed and state.phase is QualificationPhase.QUALIFIED:
                await self._suspend("; ".join(p.message for p in result.problems), kind="policy")

    # Phase changes of the run's own; the caller holds the turn.

    async def _reject(self, reason: str) -> None:
        self._enter(QualificationPhase.REJECTED, closing_reason=reason)
        await self._event(QualificationEventKind.REJECTED, "rejected", reason=reason)
        await self._notify("qualification_rejected", Party.PROVIDER)

    async def _suspend(self, reason: str, *, kind: str) -> None:
        state = self.state
        self._enter(QualificationPhase.SUSPENDED, suspended_reason=reason)
        await self._event(QualificationEventKind.SUSPENDED, f"suspended-{state.qualified_times}-{kind}", reason=reason)
        await self._notify("qualification_suspended", Party.PROVIDER, key=str(state.qualified_times))
        await self._notify("qualification_suspended", Party.PLATFORM, key=str(state.qualified_times))

    async def _qualify(self, verification: Verification, *, policy_number: str | None, policy_id: str | None) -> None:
        state = self.state
        assert verification.valid_until is not None
        state.policy_number, state.policy_id = policy_number, policy_id
        state.qualified_until, state.last_problems = verification.valid_until, []
        state.qualified_times += 1
        self._enter(QualificationPhase.QUALIFIED)
        await self._event(QualificationEventKind.QUALIFIED, f"qualified-{state.qualified_times}",
                          valid_until=verification.valid_until.isoformat())
        await self._notify("qualified", Party.PROVIDER, key=str(state.qualified_times))
        await self._notify("qualified", Party.PLATFORM, key=str(state.qualified_times))

    def _time_to_roll_over(self) -> bool:
        return run_is_long(history_events_per_run=self.rules.history_events_per_run)

    @workflow.query
    def status(self) -> QualificationStatus:
        state = self.state
        return QualificationStatus(
            qualification_id=self.input.qualification_id, provider_id=self.application.provider_id,
            proof_path=self.application.proof_path, phase=state.phase, applied_at=state.applied_at,
            platform_contact=state.platform_contact, intent_id=state.intent_id,
            insurer_contact=state.insurer_contact, submissions=state.submissions, last_problems=state.last_problems,
            policy_number=state.policy_number, qualified_until=state.qualified_until,
            suspended_reason=state.suspended_reason, closing_reason=state.closing_reason,
        )

    # -- Plumbing ----------------------------------------------------------------------------------

    def _publish(self) -> None:
        search_attributes.publish(search_attributes.QUALIFICATION_PHASE.value_set(self.state.phase.value))

    async def _event(self, kind: QualificationEventKind, key: str, *, actor: str | None = None, **details) -> None:
        state = self.state
        await self.gateway.record(
            QualificationActivities.record_qualification_event,
            RecordQualificationEvent(
                qualification_id=self.input.qualification_id, event_key=key, kind=kind, at=workflow.now(),
                actor=actor, details=details, phase=state.phase, policy_id=state.policy_id,
                qualified_until=state.qualified_until if state.phase is QualificationPhase.QUALIFIED else None,
            ),
            summary=f"record {kind.value}",
        )

    async def _notify(self, kind: str, recipient: Party, *, recipient_id: str | None = None, key: str = "",
                      **payload: str | int | bool | None) -> None:
        notice = QualificationNotice(qualification_id=self.input.qualification_id, kind=kind, recipient=recipient,
                                     recipient_id=recipient_id, key=key, payload=payload)
        summary = f"notify {recipient.value}: {kind}"
        # Histories from before the one notification path (activities/notifying.py) called an activity
        # of the qualification's own; they keep replaying through this branch.
        if not workflow.patched(ONE_NOTIFICATION_PATH):
            await self.gateway.record(QualificationActivities.notify_qualification, notice, summary=summary)
            return
        notification = qualification_notification(notice).model_copy(update={"at": workflow.now()})
        await self.gateway.record(PolicyActivities.enqueue_notification, notification, summary=summary)
