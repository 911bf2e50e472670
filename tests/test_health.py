"""The health probe (tests/health.py) finds what it looks for: a workflow task that fails, a workflow
that fails apart from a deliberate refusal, an activity past its 5th attempt, and the signals and
starts a client sent. Small workflows of its own on a queue of its own, on the session's dev server."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.health import probe


@activity.defn(name="health_probe_always_fails")
async def always_fails() -> None:
    raise RuntimeError("the database refuses this value")


@workflow.defn(name="HealthProbeCrashes")
class Crashes:
    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("boom in workflow code")  # not a FailureError: the workflow task fails, again and again


@workflow.defn(name="HealthProbeRefuses")
class Refuses:
    @workflow.run
    async def run(self, failure_type: str) -> None:
        raise ApplicationError("not this one", type=failure_type, non_retryable=True)


@workflow.defn(name="HealthProbeRetries")
class Retries:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(always_fails, start_to_close_timeout=timedelta(seconds=5), retry_policy=RetryPolicy(
            initial_interval=timedelta(milliseconds=50), backoff_coefficient=1.0))

    @workflow.signal
    def poke(self) -> None:
        pass


async def test_the_health_probe_finds_failed_tasks_failed_workflows_stuck_activities_and_messages(dev_server_env):
    client, queue, started = dev_server_env.client, f"health-probe-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    worker = Worker(client, task_queue=queue, workflows=[Crashes, Refuses, Retries], activities=[always_fails],
                    workflow_runner=UnsandboxedWorkflowRunner())
    async with worker:
        run = uuid.uuid4().hex[:8]
        handles = [
            await client.start_workflow(Crashes.run, id=f"crash-{run}", task_queue=queue),
            await client.start_workflow(Refuses.run, "unknown_policy", id=f"refuse-{run}", task_queue=queue),
            await client.start_workflow(Refuses.run, "ZeroDivisionError", id=f"fail-{run}", task_queue=queue),
            await client.start_workflow(Retries.run, id=f"retry-{run}", task_queue=queue),
        ]
        await handles[3].signal(Retries.poke)
        deadline = time.monotonic() + 60
        while True:
            report = await probe(client, task_queue=queue, since=started, started_since=True, collect_messages=True)
            if (report.task_failures and report.stuck and len(report.failed) + len(report.refusals) >= 2
                    or time.monotonic() > deadline):
                break
            await asyncio.sleep(0.5)
        for handle in (handles[0], handles[3]):
            await handle.terminate("the probe's own test is over")
    # Open ones and those closed since: all four again (terminated is no failure), by the other query.
    closed_since = await probe(client, task_queue=queue, since=started)
    assert closed_since.workflows == 4 and len(closed_since.task_failures) == 1, closed_since.describe()
    assert report.workflows == 4 and not report.healthy, report.describe()
    assert [(f.workflow_id, "boom in workflow code" in f.message) for f in report.task_failures] == [(f"crash-{run}", True)]
    assert [(f.workflow_id, f.failure_type) for f in report.failed] == [(f"fail-{run}", "ZeroDivisionError")]
    assert [(f.workflow_id, f.failure_type) for f in report.refusals] == [(f"refuse-{run}", "unknown_policy")]
    assert [(a.workflow_id, a.activity_type) for a in report.stuck] == [(f"retry-{run}", "health_probe_always_fails")]
    assert report.stuck[0].attempt > 5 and "the database refuses this value" in report.stuck[0].last_failure
    signals = [(m.workflow_id, m.name) for m in report.messages if m.kind == "signal"]
    assert signals == [(f"retry-{run}", "poke")]
    assert {m.workflow_id for m in report.messages if m.kind == "start"} == {h.id for h in handles}
