"""Bare Temporal for the delivery benchmark, and the deciding workflow that drives cyberins, on one
worker process of the bench's own (as `bench.bare` runs):

- `BareWebhook`: one workflow per notification whose one activity POSTs the webhook itself, signed as
  cyberins signs (Standard Webhooks, the `standardwebhooks` package) with a body of the same size;
- `BareIncidentWebhook`: `bench.bare.BareIncident`'s shape (two steps, then two branches of two steps
  and a timer), whose dispatch branch POSTs that webhook instead of its no-op notice;
- `NotifyingDecision`: a workflow that decides to notify, as cyberins' workflows do: it calls the
  `enqueue_notification` activity on the cyberins worker's database queue with the decision's
  `workflow.now()`. Nothing of cyberins runs here; the activity runs in `cyberins worker`.

    python -m bench.bare_delivery --task-queue bare-1 --address 127.0.0.1:7233
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from bench.bare import ACTIVITY_TIMEOUT, LONG_TIMER, Step, bare_step

with workflow.unsafe.imports_passed_through():
    import httpx
    from standardwebhooks.webhooks import Webhook

# cyberins' defaults: a 2xx within 15 s counts (webhook_timeout_seconds); an enqueue_notification call
# as the workflows' gateway makes it (20 s, retried every 1 to 30 s).
WEBHOOK_TIMEOUT_SECONDS = 15.0
ENQUEUE_TIMEOUT = timedelta(seconds=20)
ENQUEUE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
POST_WEBHOOK = "post_webhook"


@dataclass
class WebhookPost:
    url: str
    secret: str
    webhook_id: str
    body: str


@dataclass
class IncidentWithWebhook:
    incident: str
    dispatch: WebhookPost


@dataclass
class Decision:
    """A notification as `contracts.parties.Notification` takes it (without `at`, set at decision time),
    and the cyberins queue its activity runs on."""

    database_queue: str
    notification: dict


@workflow.defn(name="BareWebhook")
class BareWebhook:
    @workflow.run
    async def run(self, post: WebhookPost) -> None:
        await workflow.execute_activity(POST_WEBHOOK, post, start_to_close_timeout=ACTIVITY_TIMEOUT)


@workflow.defn(name="BareIncidentWebhook")
class BareIncidentWebhook:
    @workflow.run
    async def run(self, job: IncidentWithWebhook) -> None:
        await self._step(job.incident, "load_cover")
        await self._step(job.incident, "record_incident")
        await asyncio.gather(self._clock(job.incident), self._dispatch(job))
        await workflow.wait_condition(lambda: False)

    async def _clock(self, incident: str) -> None:
        await self._step(incident, "clock_event")
        await self._step(incident, "clock_notify")
        await workflow.sleep(LONG_TIMER)

    async def _dispatch(self, job: IncidentWithWebhook) -> None:
        await self._step(job.incident, "dispatch_event")
        await workflow.execute_activity(POST_WEBHOOK, job.dispatch, start_to_close_timeout=ACTIVITY_TIMEOUT)
        await workflow.sleep(LONG_TIMER)

    @staticmethod
    async def _step(incident: str, name: str) -> None:
        await workflow.execute_activity(bare_step, Step(incident, name), start_to_close_timeout=ACTIVITY_TIMEOUT)


@workflow.defn(name="NotifyingDecision")
class NotifyingDecision:
    @workflow.run
    async def run(self, decision: Decision) -> None:
        notification = {**decision.notification, "at": workflow.now().isoformat()}
        await workflow.execute_activity(
            "enqueue_notification", notification, task_queue=decision.database_queue,
            start_to_close_timeout=ENQUEUE_TIMEOUT, retry_policy=ENQUEUE_RETRY,
        )


class WebhookPoster:
    """One HTTP client for the process, with httpx's default limits, as cyberins' delivery activities have."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    @activity.defn(name=POST_WEBHOOK)
    async def post(self, post: WebhookPost) -> None:
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json", "user-agent": "bare-webhooks/1",
            "webhook-id": post.webhook_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(post.secret).sign(post.webhook_id, now, post.body),
        }
        answer = await self.http.post(post.url, content=post.body.encode(), headers=headers,
                                      timeout=WEBHOOK_TIMEOUT_SECONDS)
        if not 200 <= answer.status_code < 300:
            raise ApplicationError(f"answered {answer.status_code}")  # retried, as cyberins tries again


WORKFLOWS = [BareWebhook, BareIncidentWebhook, NotifyingDecision]


async def serve(address: str, namespace: str, task_queue: str) -> None:
    client = await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    async with (
        httpx.AsyncClient(follow_redirects=False) as http,
        Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=[WebhookPoster(http).post, bare_step]),
    ):
        print("bare worker polling", task_queue, flush=True)
        await stopping.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_delivery", description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    parser.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.address, args.namespace, args.task_queue))


if __name__ == "__main__":
    main()
