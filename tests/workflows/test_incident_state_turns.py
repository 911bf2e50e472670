"""The incident's messages and its background work take turns, and the background work is kept:
closure waits for the evidence being registered, and a failure in the emergency response fails the
run where operators see it instead of vanishing with its task."""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateStage
from temporalio.worker import (
    Interceptor,
    StartLocalActivityInput,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from activities.failures import ActivityFailures
from contracts.incident import EvidenceSubmission, IncidentClosure
from contracts.incident_activities import EvidenceRegistered, IncidentEventKind, RegisterEvidence
from contracts.queues import WorkQueue
from domain.incident import Evidence
from tests.builders import assessment
from tests.workflows.post_cover import incident_report, report_incident
from tests.workflows.support import bind, start_policy
from tests.workflows.test_post_cover_scenarios import covered_incident
from worker import WORKFLOWS, activities_for, build_worker
from workflows.incident import IncidentWorkflow

PATIENCE = 90  # seconds: generous on a busy machine; a local activity held up delays the next message ~10 s


class Gate:
    """Holds an activity until the test lets it go."""

    def __init__(self) -> None:
        self.reached, self.opened = asyncio.Event(), asyncio.Event()


@asynccontextmanager
async def worker_with_gated_evidence(client, session_factory, task_queue, gate: Gate):
    activities = activities_for(client, session_factory, task_queue=task_queue)
    real = next(a for a in activities if a.__name__ == "register_evidence")

    @activity.defn(name="register_evidence")
    async def register_evidence(command: RegisterEvidence) -> EvidenceRegistered:
        gate.reached.set()
        await gate.opened.wait()
        return await real(command)

    replaced = [register_evidence if a.__name__ == "register_evidence" else a for a in activities]
    async with build_worker(client, session_factory, task_queue, activities=replaced):
        yield


async def test_closure_waits_for_the_evidence_being_registered(time_skipping_env, session_factory, task_queue):
    env, gate = time_skipping_env, Gate()
    async with worker_with_gated_evidence(env.client, session_factory, task_queue, gate):
        _, _, incident, discovered = await covered_incident(env, task_queue)  # 一般: closes without reports
        await env.sleep(timedelta(minutes=5))
        image = b"firewall logs"
        evidence = Evidence(evidence_id="ev-fw-1", name="firewall logs", sha256=hashlib.sha256(image).hexdigest(),
                            size_bytes=len(image), collected_by="insured-it", collected_at=discovered + timedelta(minutes=1))
        registering = asyncio.create_task(
            incident.execute_update(IncidentWorkflow.register_evidence, EvidenceSubmission(evidence=evidence))
        )
        await asyncio.wait_for(gate.reached.wait(), PATIENCE)
        closing = await asyncio.wait_for(incident.start_update(
            IncidentWorkflow.close, IncidentClosure(reason="contained by the insured"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        ), PATIENCE)
        gate.opened.set()

        receipt = await asyncio.wait_for(registering, PATIENCE)
        closed = await asyncio.wait_for(closing.result(), PATIENCE)
        final = await asyncio.wait_for(incident.result(), PATIENCE)

    assert receipt.evidence_id == "ev-fw-1"
    # The closure took its turn after the registration it was sent behind, and says so.
    assert closed.phase.value == "closed" and closed.evidence == 1
    assert final.phase.value == "closed" and final.evidence == 1


class _DispatchDeskDown(Interceptor):
    """Makes the emergency response's first dispatch raise inside the workflow, as a defect there would."""

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput):
        return _Inbound


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class _Outbound(WorkflowOutboundInterceptor):
    def start_local_activity(self, input: StartLocalActivityInput):
        if input.activity == "record_incident_event" and input.args[0].kind == IncidentEventKind.VENDOR_DISPATCHED:
            raise RuntimeError("the dispatch desk cannot be reached")
        return super().start_local_activity(input)


@asynccontextmanager
async def worker_whose_dispatch_fails(client, session_factory, task_queue):
    activities = activities_for(client, session_factory, task_queue=task_queue)
    workflows = Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities,
                       interceptors=[ActivityFailures(), _DispatchDeskDown()])
    others = build_worker(client, session_factory, task_queue, activities=activities,
                          queues=frozenset(WorkQueue) - {WorkQueue.WORKFLOW})
    async with others, workflows:
        yield


async def failed_tasks(handle: WorkflowHandle) -> list[str]:
    return [
        event.workflow_task_failed_event_attributes.failure.message
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


async def test_a_failure_in_the_emergency_response_fails_the_run_visibly(time_skipping_env, session_factory, task_queue):
    env = time_skipping_env
    async with worker_whose_dispatch_fails(env.client, session_factory, task_queue):
        policy = await start_policy(env.client, task_queue)
        bound = await bind(policy, assessment())
        await env.sleep(timedelta(days=10))
        report = incident_report(policy.id.removeprefix("policy-"), bound.term_start + timedelta(days=10))
        incident = await report_incident(env.client, task_queue, report)

        deadline = asyncio.get_running_loop().time() + PATIENCE
        while not (failures := await failed_tasks(incident)):
            assert asyncio.get_running_loop().time() < deadline, "the emergency response's failure vanished"
            await asyncio.sleep(0.2)
        await incident.terminate("test over")
    assert any("the dispatch desk cannot be reached" in message for message in failures), failures
