"""Platform qualification by insurance (docs/domain.md), time-skipped, with a real worker, PostgreSQL
and the policy workflow the provider's cover is bound by."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from calendars.china import published_calendar
from contracts.policy import CancellationRequest
from contracts.qualification import (
    CertificateSubmission,
    InsurerContact,
    PlatformContact,
    PlatformDecision,
    PolicyProofSubmission,
    QualificationStatus,
    Withdrawal,
)
from domain.policy import CancellingParty, local_date
from domain.qualification import (
    Document,
    MlpsCertificate,
    PolicyProofs,
    ProofPath,
    QualificationApplication,
    QualificationPhase,
    QualificationRules,
)
from domain.working_calendar import business_deadline
from tests.builders import VALID_USCC, assessment
from tests.workflows.support import bind, running_worker, start_policy
from workflows import search_attributes
from workflows.policy import PolicyWorkflow
from workflows.qualification import QualificationWorkflow
from workflows.starting import apply_for_qualification

INSURER = "ins-pingan-sz"


def application(path: ProofPath = ProofPath.CYBER_LIABILITY_POLICY) -> QualificationApplication:
    return QualificationApplication(
        provider_id=f"prov-{uuid.uuid4().hex[:8]}", unified_social_credit_code=VALID_USCC, proof_path=path,
        insurer_id=INSURER if path is ProofPath.CYBER_LIABILITY_POLICY else None,
    )


def document(n: int) -> Document:
    return Document(document_id=f"doc-{n}", sha256=f"{n:064x}", size_bytes=4096)


def proofs(policy_number: str) -> PolicyProofSubmission:
    return PolicyProofSubmission(proofs=PolicyProofs(
        policy_number=policy_number, inquiry_form=document(1), assessment_report=document(2),
        policy_document=document(3),
    ))


async def status(handle: WorkflowHandle) -> QualificationStatus:
    return await handle.query(QualificationWorkflow.status)


async def until_status(handle: WorkflowHandle, check, *, seconds: float = 30) -> QualificationStatus:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        current = await status(handle)
        if check(current):
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never reached; last status {current}")
        await asyncio.sleep(0.05)


async def rows(session_factory, sql: str, **params) -> list[tuple]:
    async with session_factory() as session:
        return [tuple(row) for row in await session.execute(text(sql), params)]


async def events(session_factory, qualification_id: str) -> list[str]:
    found = await rows(session_factory, "SELECT kind FROM qualification_events WHERE qualification_id = :q ORDER BY id",
                       q=qualification_id)
    return [kind for (kind,) in found]


async def notices(session_factory, qualification_id: str, *, including=(), seconds: float = 30):
    """The qualification's notifications, once those in `including` are among them (they are
    written a moment after the phase they announce)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await rows(
            session_factory,
            "SELECT kind, recipient, recipient_id FROM notification_outbox WHERE qualification_id = :q ORDER BY id",
            q=qualification_id,
        )
        if set(including) <= set(found):
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"missing {set(including) - set(found)}; the outbox has {found}")
        await asyncio.sleep(0.05)


async def event_time(session_factory, qualification_id: str, kind: str) -> datetime:
    ((at,),) = await rows(session_factory, "SELECT at FROM qualification_events WHERE qualification_id = :q "
                                           "AND kind = :k", q=qualification_id, k=kind)
    return at


async def refused(update) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as refusal:
        await update
    return refusal.value.cause.message


async def contact_overdue(handle) -> bool | None:
    """What the operators' search attribute says of the qualification's contact."""
    return (await handle.describe()).typed_search_attributes.get(search_attributes.CONTACT_OVERDUE)


async def test_a_provider_qualifies_by_a_bound_liability_policy_and_is_suspended_when_it_is_cancelled(
    time_skipping_env, session_factory, task_queue
):
    env, client = time_skipping_env, time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        policy = await start_policy(client, task_queue)
        bound = await bind(policy, assessment())

        qualification_id, handle = await apply_for_qualification(client, task_queue, application(), "console-1")
        applied = await until_status(handle, lambda s: s.platform_contact is not None)
        expected_due = business_deadline(published_calendar(), applied.applied_at, 1)
        assert applied.platform_contact.due == expected_due.due
        assert applied.phase is QualificationPhase.PLATFORM_REVIEW

        # The platform is late: a reminder before the end of the working day, an escalation after it.
        await env.sleep(applied.platform_contact.due - applied.applied_at + timedelta(minutes=1))
        late = await until_status(handle, lambda s: s.platform_contact.escalated)
        assert late.platform_contact.reminded
        # The operator's view of overdue contacts lists it until the contact is made.
        assert await contact_overdue(handle) is True
        assert await refused(handle.execute_update(
            QualificationWorkflow.platform_decide, PlatformDecision(operator_id="ops-1", approve=True, reason="ok")
        )) == "the platform decides after it has contacted the provider; record the contact first"

        await handle.execute_update(QualificationWorkflow.platform_contacted, PlatformContact(operator_id="ops-1"))
        assert await contact_overdue(handle) is False
        approved = await handle.execute_update(
            QualificationWorkflow.platform_decide,
            PlatformDecision(operator_id="ops-1", approve=True, reason="provider chose the liability policy"),
        )
        assert approved.phase is QualificationPhase.INSURER_CONTACT
        sent = await until_status(handle, lambda s: s.insurer_contact is not None)
        assert sent.intent_id is not None
        approved_at = await event_time(session_factory, qualification_id, "approved")
        assert sent.insurer_contact.due == business_deadline(published_calendar(), approved_at, 3).due
        (intent,) = await rows(session_factory, "SELECT insurer_id, unified_social_credit_code FROM intent_forms "
                                                "WHERE qualification_id = :q", q=qualification_id)
        assert intent == (INSURER, VALID_USCC)

        assert "another insurer" in await refused(handle.execute_update(
            QualificationWorkflow.insurer_contacted, InsurerContact(insurer_id="ins-other")
        ))
        contacted = await handle.execute_update(QualificationWorkflow.insurer_contacted, InsurerContact(insurer_id=INSURER))
        assert contacted.phase is QualificationPhase.AWAITING_PROOFS

        wrong = await handle.execute_update(QualificationWorkflow.submit_policy_proofs, proofs("CYB-0000-NOPE"))
        assert wrong.phase is QualificationPhase.AWAITING_PROOFS
        assert [p.code for p in wrong.last_problems] == ["policy_not_found"]

        qualified = await handle.execute_update(QualificationWorkflow.submit_policy_proofs, proofs(bound.policy_number))
        assert qualified.phase is QualificationPhase.QUALIFIED and qualified.last_problems == []
        assert qualified.qualified_until == bound.term_end

        await policy.execute_update(
            PolicyWorkflow.cancel, CancellationRequest(cancelled_by=CancellingParty.INSURED, reason="switching insurer")
        )
        await handle.signal(QualificationWorkflow.policy_changed)
        suspended = await until_status(handle, lambda s: s.phase is QualificationPhase.SUSPENDED)
        assert "cancelled" in suspended.suspended_reason

        await notices(session_factory, qualification_id, including=[("qualification_suspended", "platform", None)])
        assert await events(session_factory, qualification_id) == [
            "applied", "platform_contact_due", "platform_contact_reminded", "platform_contact_escalated",
            "platform_contacted", "approved", "intent_form_sent", "insurer_contact_due", "insurer_contacted",
            "proofs_refused", "qualified", "suspended",
        ]
        sent_notices = await notices(session_factory, qualification_id, including=[
            ("platform_contact_overdue", "platform", None), ("intent_form", "insurer", INSURER),
            ("qualification_suspended", "provider", None), ("qualification_suspended", "platform", None),
        ])
        assert not any(kind == "insurer_contact_overdue" for kind, _, _ in sent_notices)  # contacted in time
        ((phase, policy_id),) = await rows(
            session_factory, "SELECT phase, policy_id FROM qualifications WHERE qualification_id = :q", q=qualification_id
        )
        assert phase == "suspended" and policy_id == policy.id.removeprefix("policy-")


async def test_an_insurer_that_does_not_call_within_three_working_days_is_escalated(
    time_skipping_env, session_factory, task_queue
):
    env, client = time_skipping_env, time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        qualification_id, handle = await apply_for_qualification(client, task_queue, application(), "console-2")
        await until_status(handle, lambda s: s.platform_contact is not None)
        await handle.execute_update(QualificationWorkflow.platform_contacted, PlatformContact(operator_id="ops-1"))
        await handle.execute_update(
            QualificationWorkflow.platform_decide, PlatformDecision(operator_id="ops-1", approve=True, reason="ok")
        )
        sent = await until_status(handle, lambda s: s.insurer_contact is not None)
        assert not sent.platform_contact.escalated  # the platform was in time
        due = sent.insurer_contact.due
        start = await event_time(session_factory, qualification_id, "approved")
        assert due == business_deadline(published_calendar(), start, 3).due

        await env.sleep(due - start + timedelta(minutes=1))
        overdue = await until_status(handle, lambda s: s.insurer_contact.escalated)
        assert overdue.insurer_contact.reminded and overdue.phase is QualificationPhase.INSURER_CONTACT
        await notices(session_factory, qualification_id, including=[
            ("insurer_contact_reminder", "insurer", INSURER), ("insurer_contact_overdue", "platform", None),
            ("insurer_contact_overdue", "insurer", INSURER),
        ])
        # Late is not never: the insurer's contact still moves the qualification on.
        contacted = await handle.execute_update(QualificationWorkflow.insurer_contacted, InsurerContact(insurer_id=INSURER))
        assert contacted.phase is QualificationPhase.AWAITING_PROOFS


async def test_the_mlps_certificate_path_is_reminded_before_expiry_and_suspended_after_it(
    time_skipping_env, session_factory, task_queue
):
    env, client = time_skipping_env, time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        qualification_id, handle = await apply_for_qualification(
            client, task_queue, application(ProofPath.MLPS_CERTIFICATE), "console-3"
        )
        applied = await until_status(handle, lambda s: s.platform_contact is not None)
        assert await refused(handle.execute_update(QualificationWorkflow.submit_policy_proofs, proofs("CYB-1"))) == (
            "this application proves security by mlps_certificate, not cyber_liability_policy"
        )
        await handle.execute_update(QualificationWorkflow.platform_contacted, PlatformContact(operator_id="ops-1"))
        approved = await handle.execute_update(
            QualificationWorkflow.platform_decide, PlatformDecision(operator_id="ops-1", approve=True, reason="MLPS")
        )
        assert approved.phase is QualificationPhase.AWAITING_PROOFS and approved.intent_id is None

        today = local_date(applied.applied_at)
        low = MlpsCertificate(certificate_number="C-1", system_name="portal", level=1,
                              issued_on=today - timedelta(days=300), valid_until=today + timedelta(days=70))
        refused_low = await handle.execute_update(
            QualificationWorkflow.submit_mlps_certificate, CertificateSubmission(certificate=low)
        )
        assert [p.code for p in refused_low.last_problems] == ["mlps_level_too_low"]
        good = low.model_copy(update={"level": 2})
        qualified = await handle.execute_update(
            QualificationWorkflow.submit_mlps_certificate, CertificateSubmission(certificate=good)
        )
        assert qualified.phase is QualificationPhase.QUALIFIED
        assert local_date(qualified.qualified_until) == good.valid_until + timedelta(days=1)
        # A recheck asked for where there is no policy to check changes nothing, and breaks nothing:
        # the workflow still takes updates afterwards.
        await handle.signal(QualificationWorkflow.policy_changed)
        resubmitted = await handle.execute_update(
            QualificationWorkflow.submit_mlps_certificate, CertificateSubmission(certificate=good)
        )
        assert resubmitted.phase is QualificationPhase.QUALIFIED and resubmitted.submissions == 3

        await env.sleep(qualified.qualified_until - applied.applied_at + timedelta(hours=1))
        suspended = await until_status(handle, lambda s: s.phase is QualificationPhase.SUSPENDED)
        assert "expired" in suspended.suspended_reason
        reminded = await rows(
            session_factory,
            "SELECT details->>'days' FROM qualification_events WHERE qualification_id = :q AND kind = 'renewal_reminded' "
            "ORDER BY id", q=qualification_id,
        )
        assert [int(days) for (days,) in reminded] == [60, 30, 7]

        retested = local_date(qualified.qualified_until)
        renewed = good.model_copy(update={"certificate_number": "C-2", "issued_on": retested,
                                          "valid_until": retested + timedelta(days=700)})
        back = await handle.execute_update(
            QualificationWorkflow.submit_mlps_certificate, CertificateSubmission(certificate=renewed)
        )
        assert back.phase is QualificationPhase.QUALIFIED, back.last_problems
        assert local_date(back.qualified_until) == retested + timedelta(days=701)


async def test_a_withdrawn_application_ends_and_refuses_what_follows(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        qualification_id, handle = await apply_for_qualification(client, task_queue, application(), "console-4")
        again, same = await apply_for_qualification(
            client, task_queue, application().model_copy(update={"provider_id": (await _provider(handle))}), "console-4"
        )
        assert again == qualification_id and same.result_run_id == handle.result_run_id  # one application, one workflow
        await until_status(handle, lambda s: s.platform_contact is not None)
        withdrawn = await handle.execute_update(QualificationWorkflow.withdraw, Withdrawal(reason="chose MLPS after all"))
        assert withdrawn.phase is QualificationPhase.WITHDRAWN
        final = await handle.result()
        assert final.phase is QualificationPhase.WITHDRAWN and final.closing_reason == "chose MLPS after all"


async def _provider(handle: WorkflowHandle) -> str:
    return (await status(handle)).provider_id


async def test_a_long_qualification_continues_as_new_and_keeps_its_state(time_skipping_env, session_factory, task_queue):
    """Daily rechecks for two months with a run limited to 100 events: several runs, one qualification."""
    env, client = time_skipping_env, time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        policy = await start_policy(client, task_queue)
        bound = await bind(policy, assessment())
        rules = QualificationRules(history_events_per_run=100)
        qualification_id, handle = await apply_for_qualification(client, task_queue, application(), "long", rules)
        await until_status(handle, lambda s: s.platform_contact is not None)
        await handle.execute_update(QualificationWorkflow.platform_contacted, PlatformContact(operator_id="ops-1"))
        await handle.execute_update(
            QualificationWorkflow.platform_decide, PlatformDecision(operator_id="ops-1", approve=True, reason="ok")
        )
        await until_status(handle, lambda s: s.insurer_contact is not None)
        await handle.execute_update(QualificationWorkflow.insurer_contacted, InsurerContact(insurer_id=INSURER))
        qualified = await handle.execute_update(QualificationWorkflow.submit_policy_proofs, proofs(bound.policy_number))
        assert qualified.phase is QualificationPhase.QUALIFIED

        await env.sleep(timedelta(days=60))
        latest = client.get_workflow_handle(handle.id)
        description = await latest.describe()
        assert description.run_id != handle.first_execution_run_id, "never continued as new"
        now = await latest.query(QualificationWorkflow.status)
        assert now.phase is QualificationPhase.QUALIFIED
        assert (now.qualified_until, now.submissions, now.policy_number) == (
            qualified.qualified_until, qualified.submissions, qualified.policy_number
        )
        rechecks = await rows(session_factory, "SELECT count(*) FROM qualification_proofs WHERE qualification_id = :q",
                              q=qualification_id)
        assert rechecks == [(1,)]  # proofs are stored once per submission, never per recheck

        await policy.execute_update(
            PolicyWorkflow.cancel, CancellationRequest(cancelled_by=CancellingParty.INSURER, reason="non-payment")
        )
        await env.sleep(timedelta(days=1, hours=1))  # the next daily recheck finds it
        suspended = await until_status(latest, lambda s: s.phase is QualificationPhase.SUSPENDED)
        assert "cancelled" in suspended.suspended_reason
