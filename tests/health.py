"""Is the system healthy, whatever the HTTP answers said? Asked of Temporal, after the fact.

`probe` lists the workflows in scope through visibility (open ones, and those closed since `since`)
and, a few at a time, reads each one's history and description. It reports:

* every WorkflowTaskFailed event since `since` (workflow code that raised, a payload it could not
  decode, non-determinism): the workflow is stuck until someone deploys a fix;
* every workflow closed as Failed or TimedOut, apart from deliberate refusals, which are listed on
  their own: a non-retryable ApplicationError whose type is a code ("unknown_policy", "Refused"),
  not the name of a Python exception ("ValueError", "DataError");
* every pending activity past its `max_attempts`th attempt, with its last failure, and the ones
  retrying below that (not yet a problem: they may still succeed);
* optionally, every signal, accepted update and start that a client sent (`messages`), so that a
  test can check that a request the API refused left nothing in a workflow's history.

Workflow task failures and activity retries happen after the request that caused them returned;
`settle` waits for the scope to go quiet, and `healthy_after` settles, lets retrying activities
either succeed or pass `max_attempts` (bounded), then probes. After a schemathesis run, say:

    started = datetime.now(UTC)
    ... run ...
    await assert_healthy(api_stack.temporal, task_queue=api_stack.task_queue, since=started)
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T")
MAX_ATTEMPTS = 5
CONCURRENCY = 8  # reads at once: a busy dev server answers bursts with errors
# An ApplicationError type that names a Python exception is a crash, not a decision.
_EXCEPTION_TYPE = re.compile(r"(Error|Exception|Warning|Exit|Interrupt|StopIteration)$")
_FAILED = (WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TIMED_OUT)


@dataclass(frozen=True)
class TaskFailure:
    workflow_id: str
    run_id: str
    workflow_type: str
    at: datetime
    cause: str
    message: str

    def __str__(self) -> str:
        return f"{self.workflow_type} {self.workflow_id}: workflow task failed ({self.cause}): {self.message}"


@dataclass(frozen=True)
class ClosedFailure:
    workflow_id: str
    run_id: str
    workflow_type: str
    at: datetime | None
    status: str
    failure_type: str
    message: str

    def __str__(self) -> str:
        return f"{self.workflow_type} {self.workflow_id}: {self.status} ({self.failure_type}): {self.message}"


@dataclass(frozen=True)
class RetryingActivity:
    workflow_id: str
    run_id: str
    workflow_type: str
    activity_type: str
    attempt: int
    last_failure: str

    def __str__(self) -> str:
        return (f"{self.workflow_type} {self.workflow_id}: activity {self.activity_type} at attempt {self.attempt}: "
                f"{self.last_failure}")


@dataclass(frozen=True)
class ClientMessage:
    """A signal, an accepted update or a start, as the history records it."""

    workflow_id: str
    run_id: str
    at: datetime
    kind: str  # "start" | "signal" | "update"
    name: str
    identity: str  # the client's; a workflow's own signals (external) have none here
    event_id: int
    failed: bool = False  # an update its handler refused: recorded in the history, nothing changed


@dataclass
class HealthReport:
    workflows: int = 0
    task_failures: list[TaskFailure] = field(default_factory=list)
    failed: list[ClosedFailure] = field(default_factory=list)
    refusals: list[ClosedFailure] = field(default_factory=list)  # deliberate: not a problem
    stuck: list[RetryingActivity] = field(default_factory=list)  # past max_attempts
    retrying: list[RetryingActivity] = field(default_factory=list)  # failing, not yet past it
    messages: list[ClientMessage] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # workflows whose reads kept failing
    roots: dict[str, str] = field(default_factory=dict)  # workflow id → the id of the workflow that began its tree

    @property
    def problems(self) -> list[str]:
        return [str(p) for p in (*self.task_failures, *self.failed, *self.stuck)]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def describe(self, limit: int = 40) -> str:
        lines = [(f"{self.workflows} workflows: {len(self.task_failures)} workflow task failures, "
                  f"{len(self.failed)} failed, {len(self.stuck)} activities past attempt {MAX_ATTEMPTS}, "
                  f"{len(self.retrying)} retrying, {len(self.refusals)} deliberate refusals")]
        lines += [f"  {problem}"[:600] for problem in self.problems[:limit]]
        lines += [f"  (retrying) {activity}"[:600] for activity in self.retrying[:limit]]
        lines += [f"  (unreadable) {workflow}" for workflow in self.unreadable[:limit]]
        return "\n".join(lines)


def is_deliberate_refusal(failure: Failure) -> bool:
    """A non-retryable ApplicationError with a code for a type, anywhere in the cause chain."""
    current: Failure | None = failure
    while current is not None:
        if current.HasField("application_failure_info"):
            info = current.application_failure_info
            return bool(info.non_retryable and info.type and not _EXCEPTION_TYPE.search(info.type))
        current = current.cause if current.HasField("cause") else None
    return False


def failure_text(failure: Failure) -> tuple[str, str]:
    """(type, message) of a failure with its causes: 'ActivityError: ... <- DataError: ...'."""
    parts, first_type = [], ""
    current: Failure | None = failure
    while current is not None and len(parts) < 6:
        kind = current.application_failure_info.type if current.HasField("application_failure_info") else (
            current.WhichOneof("failure_info") or "failure")
        first_type = first_type or kind
        parts.append(f"{kind}: {current.message}")
        current = current.cause if current.HasField("cause") else None
    return first_type, " <- ".join(parts)


def scope_query(task_queue: str | None, since: datetime | None, *, started_since: bool) -> str:
    """Open workflows and those closed since `since`; with `started_since`, only those started since."""
    clauses = []
    if task_queue:
        clauses.append(f"TaskQueue = '{task_queue}'")
    if since is not None:
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        clauses.append(f"StartTime >= '{stamp}'" if started_since
                       else f"(ExecutionStatus = 'Running' OR CloseTime >= '{stamp}')")
    elif not started_since:
        clauses.append("ExecutionStatus = 'Running'")
    return " AND ".join(clauses)


async def _patiently(read: Callable[[], Awaitable[T]], attempts: int = 4) -> T:
    for attempt in range(attempts):
        try:
            return await read()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _client_for(client: Client, namespace: str | None) -> Client:
    if namespace is None or namespace == client.namespace:
        return client
    return Client(client.service_client, namespace=namespace, data_converter=client.data_converter)


async def list_scope(client: Client, query: str) -> list[WorkflowExecution]:
    return await _patiently(lambda: _collect(client.list_workflows(query, page_size=500)))


async def _collect(iterator) -> list:
    return [item async for item in iterator]


async def probe(
    client: Client,
    *,
    namespace: str | None = None,
    task_queue: str | None = None,
    since: datetime | None = None,
    started_since: bool = False,
    max_attempts: int = MAX_ATTEMPTS,
    collect_messages: bool = False,
    concurrency: int = CONCURRENCY,
) -> HealthReport:
    client = _client_for(client, namespace)
    executions = await list_scope(client, scope_query(task_queue, since, started_since=started_since))
    report = HealthReport(workflows=len(executions))
    gate = asyncio.Semaphore(concurrency)

    async def one(execution: WorkflowExecution) -> None:
        async with gate:
            try:
                await _read_one(client, execution, report, since, max_attempts, collect_messages)
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:  # deleted by retention meanwhile: nothing to say
                    report.unreadable.append(f"{execution.id} ({error.status.name}: {error.message})")

    await asyncio.gather(*(one(execution) for execution in executions))
    report.messages.sort(key=lambda message: message.at)
    return report


async def _read_one(client: Client, execution: WorkflowExecution, report: HealthReport, since: datetime | None,
                    max_attempts: int, collect_messages: bool) -> None:
    handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
    kind = execution.workflow_type
    report.roots[execution.id] = execution.root_id or execution.id
    history = await _patiently(lambda: _collect(handle.fetch_history_events()))
    for event in history:
        at = event.event_time.ToDatetime(tzinfo=UTC)
        if event.HasField("workflow_task_failed_event_attributes"):
            attributes = event.workflow_task_failed_event_attributes
            if since is None or at >= since:
                cause = WorkflowTaskFailedCause.Name(attributes.cause).removeprefix("WORKFLOW_TASK_FAILED_CAUSE_")
                report.task_failures.append(TaskFailure(
                    execution.id, execution.run_id, kind, at, cause, failure_text(attributes.failure)[1]))
        elif event.HasField("workflow_execution_failed_event_attributes"):
            failure = event.workflow_execution_failed_event_attributes.failure
            failure_type, message = failure_text(failure)
            closed = ClosedFailure(execution.id, execution.run_id, kind, at, "Failed", failure_type, message)
            (report.refusals if is_deliberate_refusal(failure) else report.failed).append(closed)
        elif event.HasField("workflow_execution_timed_out_event_attributes"):
            report.failed.append(ClosedFailure(execution.id, execution.run_id, kind, at, "TimedOut", "timeout",
                                               "the workflow ran past its execution or run timeout"))
        elif collect_messages and event.HasField("workflow_execution_update_completed_event_attributes"):
            completed = event.workflow_execution_update_completed_event_attributes
            if completed.outcome.HasField("failure"):
                report.messages = [
                    dataclasses.replace(m, failed=True)
                    if (m.run_id, m.event_id) == (execution.run_id, completed.accepted_event_id) else m
                    for m in report.messages
                ]
        elif collect_messages:
            message = _client_message(execution, event, at)
            if message is not None:
                report.messages.append(message)
    if execution.status == WorkflowExecutionStatus.RUNNING:
        description = await _patiently(handle.describe)
        for pending in description.raw_description.pending_activities:
            if pending.attempt <= 1 and not pending.HasField("last_failure"):
                continue
            retrying = RetryingActivity(
                execution.id, execution.run_id, kind, pending.activity_type.name, pending.attempt,
                failure_text(pending.last_failure)[1] if pending.HasField("last_failure") else "(no failure recorded)",
            )
            (report.stuck if pending.attempt > max_attempts else report.retrying).append(retrying)
    elif execution.status in _FAILED and not any(f.run_id == execution.run_id for f in (*report.failed, *report.refusals)):
        report.failed.append(ClosedFailure(execution.id, execution.run_id, kind, execution.close_time,
                                           execution.status.name, "", "(no failure event in the history)"))


def _client_message(execution: WorkflowExecution, event, at: datetime) -> ClientMessage | None:
    if event.HasField("workflow_execution_signaled_event_attributes"):
        signal = event.workflow_execution_signaled_event_attributes
        if signal.HasField("external_workflow_execution"):
            return None  # from another workflow, not from a client
        return ClientMessage(execution.id, execution.run_id, at, "signal", signal.signal_name, signal.identity,
                             event.event_id)
    if event.HasField("workflow_execution_update_accepted_event_attributes"):
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        return ClientMessage(execution.id, execution.run_id, at, "update", request.input.name, request.meta.identity,
                             event.event_id)
    if event.HasField("workflow_execution_started_event_attributes"):
        started = event.workflow_execution_started_event_attributes
        if started.HasField("parent_workflow_execution") or started.continued_execution_run_id:
            return None  # a child or a continued run: started by a workflow
        return ClientMessage(execution.id, execution.run_id, at, "start", execution.workflow_type, started.identity,
                             event.event_id)
    return None


async def settle(
    client: Client,
    *,
    namespace: str | None = None,
    task_queue: str | None = None,
    since: datetime | None = None,
    started_since: bool = False,
    quiet_seconds: float = 2.0,
    timeout: float = 30.0,
) -> bool:
    """Waits until no open workflow in scope has a workflow task to run or an activity on its first
    attempt, for `quiet_seconds` on end; True if that happened before `timeout`. A workflow task that
    keeps failing, or an activity retrying after a failure, counts as quiet: it is what `probe` finds."""
    client = _client_for(client, namespace)
    scope = scope_query(task_queue, since, started_since=started_since)
    deadline = time.monotonic() + timeout
    quiet_from: float | None = None
    while time.monotonic() < deadline:
        busy = await _busy(client, f"({scope}) AND ExecutionStatus = 'Running'" if scope else
                           "ExecutionStatus = 'Running'")
        now = time.monotonic()
        quiet_from = None if busy else (quiet_from or now)
        if quiet_from is not None and now - quiet_from >= quiet_seconds:
            return True
        await asyncio.sleep(0.5)
    return False


async def _busy(client: Client, query: str) -> bool:
    executions = await list_scope(client, query)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def working(execution: WorkflowExecution) -> bool:
        async with gate:
            try:
                description = await _patiently(client.get_workflow_handle(execution.id, run_id=execution.run_id).describe)
            except RPCError:
                return False
        raw = description.raw_description
        if raw.HasField("pending_workflow_task") and raw.pending_workflow_task.attempt <= 1:
            return True
        return any(pending.attempt <= 1 and not pending.HasField("last_failure") for pending in raw.pending_activities)

    return any(await asyncio.gather(*(working(execution) for execution in executions)))


async def healthy_after(
    client: Client,
    *,
    namespace: str | None = None,
    task_queue: str | None = None,
    since: datetime | None = None,
    started_since: bool = False,
    max_attempts: int = MAX_ATTEMPTS,
    settle_seconds: float = 30.0,
    retry_wait: float = 45.0,
    collect_messages: bool = False,
) -> HealthReport:
    """Settles, then gives activities that are failing up to `retry_wait` seconds to succeed or to pass
    `max_attempts` (with the default backoff, the sixth attempt starts ~31 s after the first), then
    probes. What still retries at the end is in `retrying`, not in `problems`."""
    scope = {"namespace": namespace, "task_queue": task_queue, "since": since, "started_since": started_since}
    await settle(client, **scope, timeout=settle_seconds)
    deadline = time.monotonic() + retry_wait
    while True:
        report = await probe(client, **scope, max_attempts=max_attempts, collect_messages=collect_messages)
        if not report.retrying or time.monotonic() > deadline:
            return report
        await asyncio.sleep(2)


async def assert_healthy(client: Client, *, task_queue: str | None = None, since: datetime | None = None,
                         started_since: bool = True, **options) -> HealthReport:
    """`healthy_after` for the workflows started since `since`, then an AssertionError naming every
    problem, and every activity still retrying, if there is one."""
    report = await healthy_after(client, task_queue=task_queue, since=since, started_since=started_since, **options)
    assert report.healthy and not report.retrying, report.describe()
    return report
