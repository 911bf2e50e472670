"""Delivering one party's event to every endpoint and address planned for it, durably.

Each webhook is tried at once and then on the schedule (Svix's by default: 5 s, 5 min, 30 min, 2 h,
5 h, 10 h, 10 h), with the same `webhook-id` every time, until one attempt gets a 2xx, the receiver
answers 410 Gone, or its endpoint is paused or disabled. After the last attempt the delivery has
failed and the operators are told. An urgent event whose webhooks have not answered within the
fallback minute is sent by e-mail to the party's other addresses as well. The workflow survives worker
and server restarts like any other; its history is small (at most a few activities per target).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.delivery import MAIL_REFUSED, DeliveryActivities
    from activities.notifying import delivery_workflow_id, start_delivery  # noqa: F401 (the API starts from here)
    from contracts.delivery import (
        AttemptDelivery,
        AttemptResult,
        DeliverEvent,
        DeliveryGivenUp,
        DeliveryPlan,
        DeliveryReport,
        DeliveryTarget,
        FallbackNotNeeded,
    )
    from contracts.queues import WorkQueue
    from domain.notifications import Channel, Outcome
    from workflows.gateway import DATABASE_RETRY, DATABASE_TIMEOUT

# A try that breaks on our side (the database, a worker that died mid-POST) is retried a few times
# before it counts as one failed attempt of the schedule.
ATTEMPT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10),
                            maximum_attempts=4)


# Not sandboxed: it is small, calls nothing but the workflow API and imports only passed-through
# modules, and one runs per event, so building a sandbox for each was a tenth of a worker's time.
@workflow.defn(sandboxed=False)
class EventDeliveryWorkflow:
    def __init__(self) -> None:
        self.webhook_answered = False
        self.webhooks_done = 0
        self.report: dict[str, list[str]] = {"delivered": [], "failed": [], "skipped": []}

    @workflow.run
    async def run(self, job: DeliverEvent) -> DeliveryReport:
        plan: DeliveryPlan = job.plan or await workflow.execute_activity_method(
            DeliveryActivities.plan_delivery, job, task_queue=self._queue(WorkQueue.DATABASE),
            start_to_close_timeout=DATABASE_TIMEOUT, retry_policy=DATABASE_RETRY, summary="plan the delivery",
        )
        primary = [t for t in plan.targets if t.role == "primary"]
        fallback = [t for t in plan.targets if t.role == "fallback"]
        webhooks = [t for t in primary if t.channel is Channel.WEBHOOK]
        work = [self._webhook(plan, t) if t.channel is Channel.WEBHOOK else self._email(plan, t) for t in primary]
        if fallback:
            work.append(self._fallback(plan, fallback, len(webhooks)))
        await asyncio.gather(*work)
        return DeliveryReport(event_id=plan.event_id, **self.report)

    async def _webhook(self, plan: DeliveryPlan, target: DeliveryTarget) -> None:
        attempts = 0
        try:
            for number, delay in enumerate(plan.schedule_seconds, start=1):
                if delay:
                    await workflow.sleep(timedelta(seconds=delay), summary=f"webhook attempt {number}")
                attempts = number
                result = await self._try(plan, target, number, DeliveryActivities.attempt_webhook)
                if result.outcome is Outcome.DELIVERED:
                    self.webhook_answered = True
                    self.report["delivered"].append(target.target)
                    return
                if result.outcome in (Outcome.GONE, Outcome.INACTIVE):
                    self.report["skipped" if result.outcome is Outcome.INACTIVE else "failed"].append(target.target)
                    return
            await self._give_up(plan, target, attempts, "the retry schedule ran out")
        finally:
            self.webhooks_done += 1

    async def _try(self, plan: DeliveryPlan, target: DeliveryTarget, number: int, method) -> AttemptResult:
        """One POST, as a local activity: made by the worker running this workflow, with no task through
        the server (most of a delivery's cost when it runs as a regular activity). A worker that dies
        mid-POST leaves the workflow task to time out; the next worker makes the attempt again."""
        try:
            return await workflow.execute_local_activity_method(
                method, AttemptDelivery(event_id=plan.event_id, channel=target.channel, target=target.target, attempt=number),
                start_to_close_timeout=timedelta(seconds=plan.webhook_timeout_seconds + 15), retry_policy=ATTEMPT_RETRY,
                summary=f"{target.channel.value} attempt {number}",
            )
        except ActivityError:
            return AttemptResult(outcome=Outcome.FAILED, error="the attempt could not be made")

    async def _email(self, plan: DeliveryPlan, target: DeliveryTarget, *, fallback: bool = False) -> None:
        """On the same schedule as a webhook: a mail server that is away is tried again, a refusal is final."""
        attempts = 0
        for number, delay in enumerate(plan.schedule_seconds, start=1):
            if delay:
                await workflow.sleep(timedelta(seconds=delay), summary=f"e-mail attempt {number}")
            attempts = number
            try:
                result: AttemptResult = await workflow.execute_activity_method(
                    DeliveryActivities.send_email,
                    AttemptDelivery(event_id=plan.event_id, channel=Channel.EMAIL, target=target.target,
                                    attempt=number, fallback=fallback),
                    task_queue=self._queue(WorkQueue.DELIVERY), start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=ATTEMPT_RETRY, summary="e-mail" + (" (fallback)" if fallback else ""),
                )
            except ActivityError as error:
                if isinstance(error.cause, ApplicationError) and error.cause.type == MAIL_REFUSED:
                    await self._give_up(plan, target, attempts, "the mail server refused the message")
                    return
                continue  # the attempt could not be made: it counts as failed
            if result.outcome in (Outcome.DELIVERED, Outcome.INACTIVE):
                self.report["delivered" if result.outcome is Outcome.DELIVERED else "skipped"].append(target.target)
                return
        await self._give_up(plan, target, attempts, "the mail server did not take the message")

    async def _fallback(self, plan: DeliveryPlan, targets: list[DeliveryTarget], webhooks: int) -> None:
        """E-mail too, unless a webhook answers within the fallback time (at once when there is none)."""
        if webhooks:
            try:
                await workflow.wait_condition(
                    lambda: self.webhook_answered or self.webhooks_done == webhooks,
                    timeout=timedelta(seconds=plan.fallback_after_seconds), timeout_summary="urgent fallback",
                )
            except TimeoutError:
                pass
        if self.webhook_answered:
            await workflow.execute_activity_method(
                DeliveryActivities.skip_fallbacks, FallbackNotNeeded(event_id=plan.event_id, targets=[t.target for t in targets]),
                task_queue=self._queue(WorkQueue.DATABASE), start_to_close_timeout=DATABASE_TIMEOUT,
                retry_policy=DATABASE_RETRY, summary="fallback not needed",
            )
            return
        await asyncio.gather(*(self._email(plan, t, fallback=True) for t in targets))

    async def _give_up(self, plan: DeliveryPlan, target: DeliveryTarget, attempts: int, reason: str) -> None:
        self.report["failed"].append(target.target)
        await workflow.execute_activity_method(
            DeliveryActivities.give_up_delivery,
            DeliveryGivenUp(event_id=plan.event_id, channel=target.channel, target=target.target, attempts=attempts,
                            reason=reason),
            task_queue=self._queue(WorkQueue.DATABASE), start_to_close_timeout=DATABASE_TIMEOUT,
            retry_policy=DATABASE_RETRY, summary="delivery failed",
        )

    @staticmethod
    def _queue(kind: WorkQueue) -> str:
        return kind.of(workflow.info().task_queue)
