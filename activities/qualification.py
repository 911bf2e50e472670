"""Qualification I/O: the platform's records, the working calendar, the intent form to the insurer,
and verifying proofs against the service's own policy records."""

from __future__ import annotations

from temporalio import activity

from activities.log_context import activity_log
from activities.notifying import Notifier
from contracts.parties import Notification
from contracts.qualification_activities import (
    CheckPolicyProofs,
    IntentForm,
    IssueIntentForm,
    PolicyProofsChecked,
    QualificationNotice,
    RecheckPolicy,
    RecordCertificate,
    RecordQualification,
    RecordQualificationEvent,
)
from domain.qualification import QualificationPhase, Verification, recheck_policy, verify_policy_proofs
from storage.unit_of_work import UnitOfWork


def intent_id_for(qualification_id: str) -> str:
    return f"intent-{qualification_id.removeprefix('qual-')}"


class QualificationActivities:
    def __init__(self, sessions, notifier: Notifier | None = None) -> None:
        self._sessions = sessions
        self._notifier = notifier or Notifier(None, "")

    @activity.defn
    async def record_qualification(self, command: RecordQualification) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await uow.qualifications.add(command, phase=QualificationPhase.PLATFORM_REVIEW)
        activity_log(qualification_id=command.qualification_id).info(
            "qualification recorded", proof_path=command.application.proof_path.value
        )

    @activity.defn
    async def record_qualification_event(self, command: RecordQualificationEvent) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await uow.qualifications.add_event(command)
            await uow.qualifications.set_phase(command)
        activity_log(qualification_id=command.qualification_id).info(
            "qualification event recorded", kind=command.kind.value, phase=command.phase.value
        )

    @activity.defn
    async def issue_intent_form(self, command: IssueIntentForm) -> IntentForm:
        intent_id = intent_id_for(command.qualification_id)
        async with UnitOfWork(self._sessions) as uow:
            await uow.qualifications.add_intent_form(command, intent_id=intent_id)
        activity_log(qualification_id=command.qualification_id).info("intent form issued", intent_id=intent_id)
        return IntentForm(intent_id=intent_id, insurer_id=command.application.insurer_id)

    @activity.defn
    async def check_policy_proofs(self, command: CheckPolicyProofs) -> PolicyProofsChecked:
        async with UnitOfWork(self._sessions) as uow:
            facts = await uow.qualifications.policy_facts(command.proofs.policy_number)
            verification = verify_policy_proofs(
                command.proofs, facts, command.application, command.at, command.rules,
                qualified_until=command.qualified_until,
            )
            await uow.qualifications.add_proofs(_proof_row(
                command.qualification_id, command.submission, "cyber_liability_policy",
                command.proofs.model_dump(mode="json"), verification, command.at,
            ))
        activity_log(qualification_id=command.qualification_id).info(
            "policy proofs checked", submission=command.submission, passed=verification.passed,
            problems=[p.code for p in verification.problems],
        )
        return PolicyProofsChecked(verification=verification, policy_id=facts.policy_id)

    @activity.defn
    async def record_certificate(self, command: RecordCertificate) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await uow.qualifications.add_proofs(_proof_row(
                command.qualification_id, command.submission, "mlps_certificate",
                command.certificate.model_dump(mode="json"), command.verification, command.at,
            ))

    @activity.defn
    async def recheck_policy(self, command: RecheckPolicy) -> Verification:
        """Is the qualifying policy still in force? Only the policy's state counts here, not the files."""
        async with UnitOfWork(self._sessions) as uow:
            facts = await uow.qualifications.policy_facts(command.policy_number)
        return recheck_policy(facts)

    @activity.defn
    async def notify_qualification(self, notice: QualificationNotice) -> None:
        """Kept for histories and tasks from before the one notification path: it goes the same way."""
        async with UnitOfWork(self._sessions) as uow:
            started = await self._notifier.emit(uow, [qualification_notification(notice)])
        await self._notifier.deliver(started)
        activity_log(qualification_id=notice.qualification_id).info("notification enqueued", kind=notice.kind)


def qualification_notification(notice: QualificationNotice) -> Notification:
    return Notification(
        dedupe_key=f"{notice.qualification_id}:{notice.kind}:{notice.key}:{notice.recipient.value}",
        recipient=notice.recipient, recipient_id=notice.recipient_id, kind=notice.kind, payload=dict(notice.payload),
        subject="qualification", subject_id=notice.qualification_id,
    )


def _proof_row(qualification_id, submission, path, proofs, verification: Verification, at) -> dict:
    return {
        "qualification_id": qualification_id, "submission": submission, "proof_path": path, "proofs": proofs,
        "passed": verification.passed, "problems": [p.model_dump() for p in verification.problems],
        "valid_until": verification.valid_until, "submitted_at": at,
    }
