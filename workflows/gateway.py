"""How the workflows reach their activities: one place for timeouts, retries, counting, and what an
activity's failure means for the workflow.

Three ways to call, by who is waiting:
* `call_refusable`, from update handlers: a refusal, or no answer within REQUEST_WAIT, fails the update.
* `attempt`, from the run and signal paths: a refusal comes back as `Refused`, to be recorded as a
  rejection; the workflow never fails for it. `record` is the same for writes of its own bookkeeping.
* `call`: anything else propagates. Only transient failures are retried (activities/failures.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities
    from contracts.parties import Notification, Party
    from contracts.queues import queue_of

ResultT = TypeVar("ResultT")

# Database writes are short; retry them for as long as it takes. Bad data and broken rules are not
# retried (activities/failures.py): they reach the workflow as a refusal at once.
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
    schedule_to_close: timedelta | None = None
    database: bool = False  # a short write: run as a local activity when the gateway has local_writes


DATABASE = ActivityOptions(start_to_close=DATABASE_TIMEOUT, retry=DATABASE_RETRY, database=True)
# A request (an update) waits at most this long for its activity, then is refused with "try again":
# a database down for an hour must not hold the caller, nor every later message queued behind the
# same lock, for an hour. Writes are idempotent, so sending the request again is always safe.
REQUEST_WAIT = timedelta(minutes=1)
NOT_DONE_IN_TIME = "not_done_in_time"
GAVE_UP = (RetryState.TIMEOUT, RetryState.MAXIMUM_ATTEMPTS_REACHED)
REQUEST = ActivityOptions(
    start_to_close=DATABASE_TIMEOUT, retry=DATABASE_RETRY, schedule_to_close=REQUEST_WAIT, database=True
)
# A payout waits on the payment service (its client gives up after 20 s). The activity heartbeats
# while it waits, so a worker that dies mid-payment is given up on after 10 s, not 30, and the
# payout is sent again, with the same idempotency key, from another worker. Retried for as long as
# the payment service is down; a refusal is non-retryable.
PAYMENT = ActivityOptions(
    start_to_close=timedelta(seconds=30),
    heartbeat=timedelta(seconds=10),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60)),
)


@dataclass(frozen=True)
class Refused:
    """An activity that no retry can make succeed (a broken rule, bad data), in the activity's words."""

    type: str
    reason: str

    def error(self, prefix: str = "") -> ApplicationError:
        """As the failure of an update, or of a run whose input was refused."""
        return ApplicationError(f"{prefix}{self.reason}", type=self.type, non_retryable=True)


def refused_by(err: ActivityError) -> Refused | None:
    """The permanent refusal behind an activity's failure; None for a cancellation or a time-out."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.non_retryable:
        return Refused(type=cause.type or "refused", reason=cause.message)
    return None


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
            if self.local_writes and options.database:
                return await workflow.execute_local_activity_method(
                    method, arg, start_to_close_timeout=options.start_to_close, retry_policy=options.retry,
                    schedule_to_close_timeout=options.schedule_to_close, summary=summary,
                )
            return await workflow.execute_activity_method(
                method,
                arg,
                task_queue=queue_of(method.__name__).of(workflow.info().task_queue),
                start_to_close_timeout=options.start_to_close,
                schedule_to_close_timeout=options.schedule_to_close,
                heartbeat_timeout=options.heartbeat,
                retry_policy=options.retry,
                summary=summary,
            )
        finally:
            self.in_flight -= 1

    async def call_refusable(
        self, method: Callable[[Any, Any], Awaitable[ResultT]], arg: Any, *, summary: str,
        options: ActivityOptions = REQUEST,
    ) -> ResultT:
        """For update handlers: a rule the activity refused fails the update (saying why), not the workflow,
        and so does an activity not done within REQUEST_WAIT. Change state only after this returns."""
        try:
            return await self.call(method, arg, summary=summary, options=options)
        except ActivityError as err:
            refused = refused_by(err)
            if refused is not None:
                raise refused.error() from None
            # Retried until REQUEST_WAIT ran out: the last failure was transient, whatever it was.
            if err.retry_state in GAVE_UP or isinstance(err.cause, TimeoutError):
                raise ApplicationError(
                    f"not done in time ({summary}); nothing is lost by sending it again", type=NOT_DONE_IN_TIME,
                    non_retryable=True,
                ) from None
            raise

    async def attempt(
        self, method: Callable[[Any, Any], Awaitable[ResultT]], arg: Any, *, summary: str,
        options: ActivityOptions = DATABASE,
    ) -> ResultT | Refused:
        """For the run and signal paths, where a failure would fail the whole workflow: transient
        errors are retried as `call` does, a permanent refusal is logged and returned for the caller
        to record as a rejection and move on. The log names the activity and the failure's type; the
        reason stays out of it (a payment service's words, say, may quote an account)."""
        try:
            return await self.call(method, arg, summary=summary, options=options)
        except ActivityError as err:
            refused = refused_by(err)
            if refused is None:
                raise
            workflow.logger.warning(
                "activity refused its data; the workflow carries on without it",
                extra={"activity": method.__name__, "failure_type": refused.type},
            )
            return refused

    async def record(self, method: Callable[[Any, Any], Awaitable[Any]], arg: Any, *, summary: str) -> bool:
        """A write the workflow makes of its own accord (a phase, a timeline entry, a notification): if
        its data is refused, the workflow's own state remains the record and it carries on."""
        return not isinstance(await self.attempt(method, arg, summary=summary), Refused)

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
        await self.record(PolicyActivities.enqueue_notification, notification, summary=f"notify {recipient.value}: {kind}")

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
            at=workflow.now(),
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
