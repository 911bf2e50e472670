"""Issue 15: no message sent straight to Temporal leaves a workflow failing its tasks, an activity
retrying for ever, or the messages after it waiting behind it.

Payloads go in as raw dicts, as any Temporal client could send them. Data that decoding lets through
but PostgreSQL refuses is made by activities that poison what the real activity writes (a NUL, a fen
past int64), so the real repository meets the real database error; the worker classifies it
(activities/failures.py) and the workflow refuses the update or records the rejection.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.claim import ClaimActivities
from activities.policy import PolicyActivities
from contracts.claim import Approval, LossItemsSubmission, OfferAnswer
from contracts.claim_activities import PayoutInstruction, PayoutReceipt, RecordLossItems
from contracts.incident import DispatchAcknowledgement, incident_id_for, incident_workflow_id
from contracts.policy import AssessmentSubmission, FindingResolutionRequest, MonitoringBatch
from contracts.policy_activities import (
    FindingChanged,
    FindingIntake,
    RecordAssessment,
    RecordFindings,
    ResolveFinding,
)
from domain.claim import ClaimRules
from domain.findings import Resolution
from domain.incident import IncidentGrade
from domain.money import Money
from tests.builders import assessment, monitoring_finding
from tests.properties.claim_stage import open_claim
from tests.properties.test_claim_regressions import RESPONDER_BILL
from tests.workflows.post_cover import hours, incident_report
from tests.workflows.support import bind, eventually, start_policy
from tests.workflows.test_post_cover_scenarios import covered_incident, incident_status
from worker import activities_for, build_worker
from workflows.claim import ClaimWorkflow
from workflows.gateway import NOT_DONE_IN_TIME, REQUEST_WAIT
from workflows.incident import IncidentWorkflow
from workflows.policy import PolicyWorkflow

PROMPTLY = 15  # seconds: a refusal or an answer, not a wait on retries


def poisoning_activities(session_factory, once: set[str]):
    """Activities that damage what the real one writes when an id starts with `poison`, or the first
    time they run when named in `once`."""
    policy, claims = PolicyActivities(session_factory), ClaimActivities(session_factory)

    def first_time(name: str) -> bool:
        if name in once:
            once.discard(name)
            return True
        return False

    @activity.defn(name="record_assessment")
    async def record_assessment(command: RecordAssessment) -> None:
        if first_time("record_assessment"):
            report = command.report.model_copy(update={"vendor_id": "vendor-a\x00"})
            command = command.model_copy(update={"report": report})
        await policy.record_assessment(command)

    @activity.defn(name="pay")
    async def pay(instruction: PayoutInstruction) -> PayoutReceipt:
        if first_time("pay"):  # as the payment service's refusal arrives (activities/claim.py)
            raise ApplicationError("the payee's account is closed", type="payment_refused", non_retryable=True)
        return await claims.pay(instruction)

    @activity.defn(name="resolve_finding")
    async def resolve_finding(command: ResolveFinding) -> FindingChanged:
        if command.vendor_event_id.startswith("poison"):
            command = command.model_copy(update={"vendor_event_id": f"{command.vendor_event_id}\x00"})
        if command.vendor_event_id.startswith("stuck"):
            raise ConnectionResetError("the database does not answer")  # transient: retried
        return await policy.resolve_finding(command)

    @activity.defn(name="record_findings")
    async def record_findings(command: RecordFindings) -> FindingIntake:
        findings = [
            r.model_copy(update={"finding": r.finding.model_copy(update={"title": "RDP\x00exposed"})})
            if r.finding.vendor_event_id.startswith("poison") else r
            for r in command.findings
        ]
        return await policy.record_findings(command.model_copy(update={"findings": findings}))

    @activity.defn(name="record_loss_items")
    async def record_loss_items(command: RecordLossItems) -> None:
        items = [
            i.model_copy(update={"amount": Money.model_construct(fen=2**63, currency="CNY")})
            if i.item_id.startswith("poison") else i
            for i in command.items
        ]
        await claims.record_loss_items(command.model_copy(update={"items": items}))

    return {f.__name__: f for f in (record_assessment, resolve_finding, record_findings, record_loss_items, pay)}


@asynccontextmanager
async def poisoning_worker(client, session_factory, task_queue, *, once: tuple[str, ...] = ()):
    replaced = poisoning_activities(session_factory, set(once))
    activities = [replaced.get(a.__name__, a) for a in activities_for(client, session_factory)]
    async with build_worker(client, session_factory, task_queue, activities=activities):
        yield


async def assert_serving(handle: WorkflowHandle) -> None:
    """No workflow task ever failed, and no activity is being retried."""
    kinds = [event.event_type async for event in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds
    pending = (await handle.describe()).raw_description.pending_activities
    assert [(a.activity_type.name, a.attempt) for a in pending if a.attempt > 1] == []


async def until_retried(handle: WorkflowHandle, activity_type: str, seconds: float = PROMPTLY) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        pending = (await handle.describe()).raw_description.pending_activities
        if any(a.activity_type.name == activity_type and a.attempt > 1 for a in pending):
            return
        assert asyncio.get_running_loop().time() < deadline, f"{activity_type} was never retried"
        await asyncio.sleep(0.05)


async def refused(update) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await asyncio.wait_for(update, PROMPTLY)
    assert isinstance(failed.value.cause, ApplicationError)
    return failed.value.cause


async def in_cover_with_findings(client, task_queue, *event_ids: str) -> WorkflowHandle:
    handle = await start_policy(client, task_queue)
    await bind(handle, assessment())
    await handle.signal(
        PolicyWorkflow.report_findings,
        MonitoringBatch(vendor_id="vendor-a", findings=[monitoring_finding(e) for e in event_ids]),
    )
    await eventually(handle, lambda s: s.findings.total == len(event_ids))
    return handle


async def test_a_resolution_the_database_refuses_is_refused_at_once_and_the_next_one_goes_through(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with poisoning_worker(client, session_factory, task_queue):
        handle = await in_cover_with_findings(client, task_queue, "ok-1", "ok-2")

        # As the issue saw it, sent straight to Temporal: refused (now at decoding), not retried for ever.
        await refused(handle.execute_update("resolve_finding", {"vendor_event_id": "ok-1\u0000", "resolution": "fixed"}))
        # Past decoding, PostgreSQL's "invalid byte sequence" is a refusal, not a retry.
        cause = await refused(handle.execute_update("resolve_finding", {"vendor_event_id": "poison-1", "resolution": "fixed"}))
        assert cause.type == "invalid_data" and "SQLSTATE 22021" in cause.message

        receipt = await asyncio.wait_for(handle.execute_update(
            PolicyWorkflow.resolve_finding, FindingResolutionRequest(vendor_event_id="ok-1", resolution=Resolution.FIXED)
        ), PROMPTLY)
        assert receipt.vendor_event_id == "ok-1"
        await assert_serving(handle)


async def test_a_finding_the_database_refuses_is_set_apart_and_its_neighbours_are_recorded(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with poisoning_worker(client, session_factory, task_queue):
        handle = await in_cover_with_findings(client, task_queue, "ok-0")
        batch = [monitoring_finding(e) for e in ("ok-1", "poison-1", "ok-2", "ok-3", "poison-2")]
        await handle.signal("report_findings", MonitoringBatch(vendor_id="vendor-a", findings=batch).model_dump(mode="json"))
        status = await eventually(handle, lambda s: s.findings.total == 4 and s.pending_findings == 0)
        assert status.findings_ignored == 2

        await handle.signal(PolicyWorkflow.report_findings, MonitoringBatch(vendor_id="vendor-a",
                                                                            findings=[monitoring_finding("ok-4")]))
        await eventually(handle, lambda s: s.findings.total == 5)
        await asyncio.wait_for(handle.execute_update(  # the findings' lock is free
            PolicyWorkflow.resolve_finding, FindingResolutionRequest(vendor_event_id="ok-4", resolution=Resolution.FIXED)
        ), PROMPTLY)
        assert (await handle.query(PolicyWorkflow.status)).phase.value == "in_force"
        await assert_serving(handle)


async def test_a_request_held_by_a_database_that_never_answers_is_refused_in_time_and_frees_the_lock(
    time_skipping_env, session_factory, task_queue
):
    env = time_skipping_env
    async with poisoning_worker(env.client, session_factory, task_queue):
        handle = await in_cover_with_findings(env.client, task_queue, "ok-1")
        stuck = asyncio.create_task(
            handle.execute_update("resolve_finding", {"vendor_event_id": "stuck-1", "resolution": "fixed"})
        )
        await until_retried(handle, "resolve_finding")  # it holds the findings' lock now
        behind = asyncio.create_task(handle.execute_update(
            PolicyWorkflow.resolve_finding, FindingResolutionRequest(vendor_event_id="ok-1", resolution=Resolution.FIXED)
        ))
        await asyncio.sleep(1)
        assert not behind.done()  # waiting for the findings' lock
        await env.sleep(REQUEST_WAIT + timedelta(seconds=30))
        cause = await refused(stuck)
        assert cause.type == NOT_DONE_IN_TIME
        assert (await asyncio.wait_for(behind, PROMPTLY)).vendor_event_id == "ok-1"
        await assert_serving(handle)


async def test_a_loss_item_past_int64_is_refused_and_the_claim_takes_the_next(
    time_skipping_env, session_factory, task_queue
):
    async with poisoning_worker(time_skipping_env.client, session_factory, task_queue):
        stage = await open_claim(time_skipping_env, session_factory, task_queue, notice="on_time", rules=ClaimRules())
        claim = stage.claim
        huge = {"item_id": "huge", "head": "emergency_response", "amount": {"fen": 2**63, "currency": "CNY"}}
        await refused(claim.execute_update("submit_loss_items", {"items": [huge]}))  # refused at decoding now
        poisoned = RESPONDER_BILL.model_copy(update={"item_id": "poison-1"})
        cause = await refused(claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[poisoned])))
        assert cause.type == "invalid_data" and "out of range" in cause.message

        status = await asyncio.wait_for(
            claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[RESPONDER_BILL])), PROMPTLY
        )
        assert status.phase.value == "gathering_loss"
        statement = await asyncio.wait_for(claim.execute_update(ClaimWorkflow.determine), PROMPTLY)
        assert statement.total_payable.fen > 0
        await assert_serving(claim)
        await assert_serving(stage.policy)


async def test_an_incident_that_cannot_have_been_discovered_yet_ends_once_and_may_be_reported_again(
    time_skipping_env, session_factory, task_queue
):
    env = time_skipping_env
    async with poisoning_worker(env.client, session_factory, task_queue):
        policy = await start_policy(env.client, task_queue)
        bound = await bind(policy, assessment())
        policy_id = policy.id.removeprefix("policy-")
        now = await env.get_current_time()
        report = incident_report(policy_id, now).model_dump(mode="json")
        # Ten years ahead is refused by the workflow's own clock; no zone and a bare number at decoding.
        for bad, refused_as in [((now + timedelta(days=3650)).isoformat(), {"time_in_future"}),
                                (now.replace(tzinfo=None).isoformat(), {"InvalidInput", "time_without_zone"}),
                                (int(now.timestamp()), {"InvalidInput"})]:
            reference = f"bad-{uuid.uuid4().hex[:6]}"
            incident_id = incident_id_for(policy_id, reference)
            handle = await env.client.start_workflow(
                "IncidentWorkflow",
                {"incident_id": incident_id, "report": {**report, "reference": reference, "discovered_at": bad}},
                id=incident_workflow_id(incident_id), task_queue=task_queue,
            )
            with pytest.raises(WorkflowFailureError) as failed:
                await asyncio.wait_for(handle.result(), PROMPTLY)
            cause = failed.value.cause
            assert isinstance(cause, ApplicationError) and cause.non_retryable and cause.type in refused_as
            assert "discover" in cause.message
            await assert_serving(handle)

        # The same reference with a time that can be: a new run, covered by the bound term.
        retried = await env.client.start_workflow(
            IncidentWorkflow.run, {"incident_id": incident_id, "report": {**report, "reference": reference}},
            id=incident_workflow_id(incident_id), task_queue=task_queue,
        )
        status = await eventually(retried, **incident_status(lambda s: s.covered is not None))
        assert status.covered and bound.term_start <= now


async def test_progress_from_the_future_is_dropped_and_counted_and_the_incident_keeps_serving(
    time_skipping_env, session_factory, task_queue
):
    env = time_skipping_env
    async with poisoning_worker(env.client, session_factory, task_queue):
        _, _, incident, discovered = await covered_incident(env, task_queue, grade=IncidentGrade.SIGNIFICANT)
        await eventually(incident, **incident_status(lambda s: s.dispatched_vendor == "panel-ir-01"))
        await incident.execute_update(IncidentWorkflow.acknowledge_dispatch, DispatchAcknowledgement(vendor_id="panel-ir-01"))
        now = await env.get_current_time()
        for event_id, at in [("p-future", now + timedelta(days=1)), ("p-before", discovered - timedelta(days=1))]:
            await incident.signal("post_progress", {"vendor_id": "panel-ir-01", "event_id": event_id,
                                                    "kind": "contained", "at": at.isoformat()})
        status = await eventually(incident, **incident_status(lambda s: s.progress_ignored == 2))
        assert status.contained_at is None

        filing = {"kind": "initial", "channel": "CAC portal", "reference": "R-1"}
        cause = await refused(incident.execute_update(
            "file_regulatory_report", {**filing, "filed_at": (now + hours(3)).isoformat()}
        ))
        assert "time_in_future" in cause.message
        await asyncio.wait_for(incident.execute_update("file_regulatory_report", {**filing, "filed_at": now.isoformat()}),
                               PROMPTLY)
        await incident.signal("post_progress", {"vendor_id": "panel-ir-01", "event_id": "p-now", "kind": "contained",
                                                "at": now.isoformat()})
        status = await eventually(incident, **incident_status(lambda s: s.contained_at is not None))
        assert status.progress_ignored == 2 and len(status.filings) == 1
        await assert_serving(incident)


async def test_an_assessment_the_database_refuses_goes_back_to_the_vendor_and_the_case_waits_for_another(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with poisoning_worker(client, session_factory, task_queue, once=("record_assessment",)):
        handle = await start_policy(client, task_queue)
        submission = AssessmentSubmission(report=assessment())
        cause = await refused(handle.execute_update(PolicyWorkflow.submit_assessment, submission))
        assert cause.type == "invalid_data" and cause.message.startswith("assessment refused: ")
        assert (await handle.query(PolicyWorkflow.status)).phase.value == "awaiting_assessment"

        receipt = await asyncio.wait_for(handle.execute_update(PolicyWorkflow.submit_assessment, submission), PROMPTLY)
        assert receipt.term_number == 1
        quote = (await eventually(handle, lambda s: s.quote is not None)).quote
        await handle.execute_update("accept_quote", {"quote_id": quote.quote_id})
        await eventually(handle, lambda s: s.phase.value == "in_force")
        await assert_serving(handle)


async def test_a_refused_payment_puts_the_offer_back_and_accepted_again_it_is_paid(
    time_skipping_env, session_factory, task_queue
):
    async with poisoning_worker(time_skipping_env.client, session_factory, task_queue, once=("pay",)):
        stage = await open_claim(time_skipping_env, session_factory, task_queue, notice="on_time", rules=ClaimRules())
        claim = stage.claim
        await claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[RESPONDER_BILL]))
        await claim.execute_update(ClaimWorkflow.determine)
        await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))

        cause = await refused(claim.execute_update(ClaimWorkflow.accept_offer, OfferAnswer()))
        assert cause.type == "payment_refused"
        status = await claim.query(ClaimWorkflow.status)
        assert status.phase.value == "offered" and status.paid.fen == 0  # not stuck in paying

        paid = await asyncio.wait_for(claim.execute_update(ClaimWorkflow.accept_offer, OfferAnswer()), PROMPTLY)
        assert paid.phase.value == "closed" and paid.paid == paid.statement.total_payable
        await assert_serving(claim)
        await assert_serving(stage.policy)
