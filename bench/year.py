"""A year of monitoring: 100,000 findings into one policy over a time-skipped term.

The Temporal time-skipping test server runs the term; PostgreSQL is real; `cyberins worker` runs as
a process of its own so that its peak memory (VmHWM) is its own. The vendor's findings arrive as the
API stores them (a `finding_batches` row and a `findings_stored` signal per batch), in bursts spread
over the term, each burst resending some of the last one. After the term ends the policy must hold
exactly the distinct findings sent, no run's history may exceed 10,240 events, and the worker's peak
memory is compared with a bare worker fed the same signals over the same skipped time.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.bare import BareMonitor, MonitorInput
from bench.intake import finding
from bench.lifecycle import all_runs
from bench.stack import PROJECT, migrated_database, peak_rss_kib, service_env
from cli.demo import application, assessment
from contracts.policy import (
    AssessmentSubmission,
    PolicyWorkflowInput,
    QuoteAcceptance,
    StoredBatch,
    StoredFindings,
    policy_workflow_id,
)
from devstack.processes import spawn, stop
from domain.application import PolicyApplication
from domain.assessment import AssessmentReport
from domain.findings import MonitoringFinding
from storage.db import create_session_factory
from storage.repositories.finding_batches import IncomingBatch
from storage.unit_of_work import UnitOfWork
from workflows import search_attributes
from workflows.policy import PolicyWorkflow

BIN = Path(sys.executable).parent
HISTORY_LIMIT = 10_240
VENDOR = "vendor-year"


@dataclass
class YearResult:
    findings_sent: int
    distinct: int
    signals: int
    in_status: int
    in_database: int
    phase: str
    runs: int
    longest_history: int
    worker_peak_rss_kib: int | None
    bare_peak_rss_kib: int | None
    seconds: float
    bare_seconds: float

    @property
    def exact(self) -> bool:
        return self.in_status == self.in_database == self.distinct

    @property
    def passed(self) -> bool:
        return self.exact and self.longest_history <= HISTORY_LIMIT and self.phase == "expired"


@dataclass
class Plan:
    findings: int = 100_000
    bursts: int = 40
    per_signal: int = 50
    resent_share: float = 0.01

    @property
    def signals_per_burst(self) -> int:
        return self.findings // self.bursts // self.per_signal


async def year_of_monitoring(plan: Plan, *, say=print) -> YearResult:
    async with _time_skipped_stack(say=say) as (env, sessions, database_url, folder):
        started = time.monotonic()
        async with _worker(["cyberins", "worker"], env, database_url, folder) as (task_queue, worker):
            handle = await _bound_policy(env.client, task_queue)
            sent, distinct, signals = await _cyberins_term(env, handle, sessions, plan, say=say)
            status = await _until_expired(env, handle)
            runs, longest = await _runs(env.client, handle.id)
            rss = peak_rss_kib(worker)
        seconds = time.monotonic() - started
        policy_id = handle.id.removeprefix("policy-")
        async with sessions() as session:
            in_database = (await session.execute(
                text("SELECT count(*) FROM findings WHERE policy_id = :p"), {"p": policy_id}
            )).scalar_one()

        started = time.monotonic()
        async with _worker([sys.executable, "-m", "bench.bare"], env, database_url, folder) as (task_queue, bare):
            await _bare_term(env, task_queue, plan)
            bare_rss = peak_rss_kib(bare)
        bare_seconds = time.monotonic() - started
    return YearResult(
        findings_sent=sent, distinct=distinct, signals=signals, in_status=status.findings.total,
        in_database=in_database, phase=status.phase.value, runs=runs, longest_history=longest,
        worker_peak_rss_kib=rss, bare_peak_rss_kib=bare_rss, seconds=seconds, bare_seconds=bare_seconds,
    )


async def _cyberins_term(env: WorkflowEnvironment, handle: WorkflowHandle, sessions, plan: Plan, *, say):
    """Bursts spread evenly over the year, each resending a share of the one before."""
    policy_id = handle.id.removeprefix("policy-")
    gap = timedelta(days=360) / plan.bursts
    sent = signals = 0
    previous: list[MonitoringFinding] = []
    for burst in range(plan.bursts):
        batches = []
        fresh = [_finding(f"y-{burst}-{i}", i) for i in range(plan.signals_per_burst * plan.per_signal)]
        for i in range(plan.signals_per_burst):
            batches.append(fresh[i * plan.per_signal : (i + 1) * plan.per_signal])
        resent = previous[: int(len(previous) * plan.resent_share)]
        if resent:
            batches.append(resent)
        incoming = [IncomingBatch.of(policy_id, VENDOR, batch) for batch in batches]
        async with UnitOfWork(sessions) as uow:
            await uow.finding_batches.store(incoming)
        for batch in incoming:
            await handle.signal(PolicyWorkflow.findings_stored, StoredFindings(
                vendor_id=VENDOR, batches=[StoredBatch(batch_id=batch.batch_id, findings=batch.finding_count)],
            ))
        sent += sum(b.finding_count for b in incoming)
        signals += len(incoming)
        previous = fresh
        await _until_written(handle)
        await env.sleep(gap)
        if burst % 10 == 9:
            say(f"year: burst {burst + 1} of {plan.bursts}, {sent} findings sent")
    distinct = plan.bursts * plan.signals_per_burst * plan.per_signal
    return sent, distinct, signals


async def _bare_term(env: WorkflowEnvironment, task_queue: str, plan: Plan) -> None:
    handle = await env.client.start_workflow(
        BareMonitor.run, MonitorInput(), id=f"bare-year-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    gap = timedelta(days=360) / plan.bursts
    counted = 0
    for burst in range(plan.bursts):
        for i in range(plan.signals_per_burst):
            batch = [_finding(f"b-{burst}-{i}-{n}", n).model_dump(mode="json") for n in range(plan.per_signal)]
            await handle.signal(BareMonitor.findings, batch)
            counted += len(batch)
        while await handle.query(BareMonitor.total) < counted:
            await asyncio.sleep(0.05)
        await env.sleep(gap)
    await handle.terminate("benchmark over")


def _finding(event_id: str, n: int) -> MonitoringFinding:
    return MonitoringFinding.model_validate(finding(event_id, random.Random(n)))


async def _until_written(handle: WorkflowHandle, *, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while (status := await handle.query(PolicyWorkflow.status)).pending_findings:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{status.pending_findings} findings still pending after {seconds:.0f} s")
        await asyncio.sleep(0.05)


async def _until_expired(env: WorkflowEnvironment, handle: WorkflowHandle):
    for _ in range(100):
        status = await handle.query(PolicyWorkflow.status)
        if status.phase.value not in ("in_force", "renewing"):
            return status
        await env.sleep(timedelta(days=3))
    raise TimeoutError(f"the term did not end; phase {status.phase.value}")


async def _runs(client: Client, workflow_id: str) -> tuple[int, int]:
    """How many runs the workflow has had, and the longest history among them."""
    histories = await all_runs(client, workflow_id)
    return len(histories), max(len(h.events) for h in histories)


async def _bound_policy(client: Client, task_queue: str) -> WorkflowHandle:
    policy_id = f"pol-year-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        PolicyWorkflow.run,
        PolicyWorkflowInput(policy_id=policy_id, application=PolicyApplication.model_validate(application(VENDOR))),
        id=policy_workflow_id(policy_id), task_queue=task_queue,
    )
    await handle.execute_update(
        PolicyWorkflow.submit_assessment, AssessmentSubmission(report=AssessmentReport.model_validate(assessment(VENDOR)))
    )
    while (status := await handle.query(PolicyWorkflow.status)).quote is None:
        await asyncio.sleep(0.05)
    await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=status.quote.quote_id))
    while (await handle.query(PolicyWorkflow.status)).phase.value != "in_force":
        await asyncio.sleep(0.05)
    return handle


@asynccontextmanager
async def _time_skipped_stack(*, say) -> AsyncIterator[tuple]:
    folder = Path(tempfile.mkdtemp(prefix="cyberins-year-"))
    async with AsyncExitStack() as stack:
        stack.callback(shutil.rmtree, folder, True)
        database_url = await migrated_database(stack, folder, "cyberins_year")
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(BIN / "temporal-test-server"), data_converter=pydantic_data_converter
        )
        stack.push_async_callback(env.shutdown)
        await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: key.indexed_value_type for key in search_attributes.ALL},
        ))
        engine, sessions = create_session_factory(database_url)
        stack.push_async_callback(engine.dispose)
        say(f"year: time-skipping server and PostgreSQL in {folder}")
        yield env, sessions, database_url, folder


@asynccontextmanager
async def _worker(command: list[str], env: WorkflowEnvironment, database_url: str, folder: Path):
    task_queue = f"year-{uuid.uuid4().hex[:8]}"
    target = env.client.service_client.config.target_host
    if command[0] == "cyberins":
        command = [str(BIN / "cyberins"), *command[1:]]
    else:
        command = [*command, "--task-queue", task_queue, "--address", target, "--namespace", env.client.namespace]
    environment = service_env(database_url, env.client, task_queue, folder)
    process = spawn(command, log=folder / f"{task_queue}.log", env=environment, cwd=PROJECT)
    try:
        await asyncio.sleep(2)  # the worker connects and polls; the first task waits for it otherwise
        if process.poll() is not None:
            raise RuntimeError((folder / f"{task_queue}.log").read_text()[-3000:])
        yield task_queue, process
    finally:
        await asyncio.to_thread(stop, process, 30)
