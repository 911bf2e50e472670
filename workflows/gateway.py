"""How the policy workflow reaches its activities: one place for timeouts, retries and counting."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.messages import Notification, Party
    from activities.policy import PolicyActivities
    from workflows.queues import queue_of

ResultT = TypeVar("ResultT")

# Database writes are short; retry them for as long as it takes, rule violations are non-retryable.
DATABASE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# The longest write, 10,000 stored findings (monitoring.STORED_WRITE), takes about a second on 2 busy
# cores. The timeout is also how long a write held by a worker that died waits to be retried: at 60 s
# it was most of the recovery time after a kill -9 (tests/faults/test_worker_crash.py).
DATABASE_TIMEOUT = timedelta(seconds=20)


@dataclass(frozen=True)
class ActivityOptions:
    start_to_close: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None


DATABASE = ActivityOptions(start_to_close=DATABASE_TIMEOUT, retry=DATABASE_RETRY)
# A payout waits on the payment service (its client gives up after 20 s). The activity heartbeats
# while it waits, so a worker that dies mid-payment is given up on after 10 s, not 30, and the
# payout is sent again, with the same idempotency key, from another worker. Retried for as long as
# the payment service is down; a refusal is non-retryable.
PAYMENT = ActivityOptions(
    start_to_close=timedelta(seconds=30),
    heartbeat=timedelta(seconds=10),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60)),
)


class ActivityGateway:
    """Runs activities and counts those in flight, so continue-as-new never cuts one off.

    With `local_writes`, database calls run as local activities: in the worker that holds the
    workflow, recorded as one marker event, with no activity task through the server. For short
    writes that is most of their cost (the catastrophe surge measured it). A workflow turns it on
    behind a patch, so histories recorded before keep their activity tasks on replay.
    """

    def __init__(self, policy_id: str) -> None:
        self.policy_id = policy_id
        self.in_flight = 0
        self.local_writes = False

    async def call(
        self,
        method: Callable[[Any, Any], Awaitable[ResultT]],
        arg: Any,
        *,
        summary: str,
        options: ActivityOptions = DATABASE,
    ) -> ResultT:
        self.in_flight += 1
        try:
            if self.local_writes and options is DATABASE:
                return await workflow.execute_local_activity_method(
                    method, arg, start_to_close_timeout=options.start_to_close, retry_policy=options.retry,
                    summary=summary,
                )
            return await workflow.execute_activity_method(
                method,
                arg,
                task_queue=queue_of(method.__name__).of(workflow.info().task_queue),
                start_to_close_timeout=options.start_to_close,
                heartbeat_timeout=options.heartbeat,
                retry_policy=options.retry,
                summary=summary,
            )
        finally:
            self.in_flight -= 1

    async def call_refusable(
        self, method: Callable[[Any, Any], Awaitable[ResultT]], arg: Any, *, summary: str
    ) -> ResultT:
        """For update handlers: a rule the activity refused fails the update (saying why), not the workflow."""
        try:
            return await self.call(method, arg, summary=summary)
        except ActivityError as err:
            if isinstance(err.cause, ApplicationError):
                raise ApplicationError(err.cause.message, type=err.cause.type, non_retryable=True) from None
            raise

    async def notify(
        self,
        kind: str,
        recipient: Party,
        key: str,
        *,
        recipient_id: str | None = None,
        **payload: str | int | bool | None,
    ) -> None:
        """Write a notification to the outbox; `key` makes it unique within this policy."""
        notification = self.notification(kind, recipient, key, recipient_id=recipient_id, **payload)
        await self.call(PolicyActivities.enqueue_notification, notification, summary=f"notify {recipient.value}: {kind}")

    def notification(
        self, kind: str, recipient: Party, key: str, *, recipient_id: str | None = None, **payload: str | int | bool | None
    ) -> Notification:
        return Notification(
            dedupe_key=f"{self.policy_id}:{kind}:{key}:{recipient.value}",
            policy_id=self.policy_id,
            recipient=recipient,
            recipient_id=recipient_id,
            kind=kind,
            payload=payload,
        )


async def condition_or_deadline(condition: Callable[[], bool], deadline: datetime | None, *, summary: str) -> bool:
    """Wait until `condition` holds (True) or `deadline` passes (False); no deadline waits forever."""
    if condition():
        return True
    if deadline is None:
        await workflow.wait_condition(condition)
        return True
    remaining = deadline - workflow.now()
    if remaining <= timedelta(0):
        return False
    try:
        await workflow.wait_condition(condition, timeout=remaining, timeout_summary=summary)
    except asyncio.TimeoutError:
        return condition()
    return True
