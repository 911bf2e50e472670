"""Notifications delivered: from a workflow's decision to the party's webhook receiver answering 2xx.

Each vendor registers its endpoint through `POST /v1/endpoints`, pointing at a `WebhookReceiver` in
this process (it verifies every POST with the `standardwebhooks` package and applies each
`webhook-id` once). A latency is the receiver's clock at arrival less this process's clock just
before the deciding workflow is started: one clock.

- Steady rate: a `NotifyingDecision` workflow (bench.bare_delivery) started every 1/rate s decides on a
  panel dispatch and calls `enqueue_notification` on the cyberins worker, as the service's workflows
  do; cyberins stores the event, plans its delivery and runs `EventDeliveryWorkflow`. Bare: a
  `BareWebhook` workflow at the same rate POSTs a body of the same size, signed the same way.
- Dispatch surge: as many of each started at once (50 start calls at a time); the clock stops at the
  last 2xx.
- Incident surge: `bench.surge.cyberins_surge` with the panel vendors' endpoints registered; the
  clock stops when every `incident.dispatch.requested` event of its incidents has reached the
  receiver. Bare: `BareIncidentWebhook`, the bare incident's shape whose dispatch POSTs the webhook.

Each run is checked item by item (bench.delivered), and notes the load average and the CPU time
each process spent per item.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from activities.delivery import webhook_body
from api.client import ApiClient
from api.parties import PartyKind
from api.provisioning import issue_credentials, new_webhook_secret
from bench import surge
from bench.api_load import Cast
from bench.bare_delivery import (
    BareIncidentWebhook,
    BareWebhook,
    Decision,
    IncidentWithWebhook,
    NotifyingDecision,
    WebhookPost,
)
from bench.delivered import (
    DISPATCH,
    Delivered,
    counted,
    dispatch_events,
    phases,
    until_last,
    until_received,
    until_settled,
    watched,
)
from bench.report import spread
from bench.stack import Stack
from contracts.queues import WorkQueue
from devstack.webhook_receiver import WebhookReceiver
from domain.notifications import event_id_for
from storage.models import PartyEventRow

# The API takes http://127.0.0.1 endpoints only with this (production demands https).
SETTINGS = {"CYBERINS_WEBHOOK_HTTP_LOOPBACK": "true"}
IN_FLIGHT = 50  # start calls at a time in a surge, as bench.surge makes them
# The issue's goals: p99 at a steady rate under 2 s; a surge's deliveries done within 1.5 times bare.
P99_GOAL_MS = 2_000
SURGE_GOAL = 1.5


@dataclass
class Rig:
    """The receivers, the vendor of the steady rate and the dispatch surge, and the bench's worker."""

    stack: Stack
    cyberins: WebhookReceiver
    bare: WebhookReceiver
    vendor: str = field(default_factory=lambda: f"bench-vendor-{uuid.uuid4().hex[:6]}")
    bare_secret: str = field(default_factory=new_webhook_secret)
    task_queue: str = ""  # the bench.bare_delivery worker's
    endpoints: list[tuple[ApiClient, str]] = field(default_factory=list)

    def decide(self, key: str) -> tuple[str, Callable[[], Awaitable[Any]]]:
        """A panel dispatch to the vendor, worded as the incident workflow words it: its event id, and
        the start of the workflow that decides it."""
        dedupe_key = f"bench:emergency_dispatch:{key}:vendor"
        notification = {"dedupe_key": dedupe_key, "recipient": "vendor", "recipient_id": self.vendor,
                        "kind": "emergency_dispatch", "payload": {"incident_id": f"inc-bench-{key}"}}
        decision = Decision(database_queue=WorkQueue.DATABASE.of(self.stack.task_queue), notification=notification)
        event_id = event_id_for(dedupe_key, PartyKind.VENDOR.value, self.vendor)
        return event_id, lambda: self.stack.temporal.start_workflow(
            NotifyingDecision.run, decision, id=f"decide-{key}", task_queue=self.task_queue)

    def post(self, key: str) -> WebhookPost:
        """The bare webhook: the body cyberins sends for a dispatch, the same size, signed the same way."""
        webhook_id = event_id_for(key, "vendor", "bare")
        event = PartyEventRow(event_id=webhook_id, event_type=DISPATCH, subject="incident",
                              subject_id=f"inc-bench-{key}", urgent=True, occurred_at=datetime.now(UTC),
                              payload={"incident_id": f"inc-bench-{key}"})
        return WebhookPost(url=self.bare.url, secret=self.bare_secret, webhook_id=webhook_id,
                           body=webhook_body(event).decode())

    def bare_webhook(self, key: str) -> tuple[str, Callable[[], Awaitable[Any]]]:
        post = self.post(key)
        return post.webhook_id, lambda: self.stack.temporal.start_workflow(
            BareWebhook.run, post, id=f"bare-webhook-{key}", task_queue=self.task_queue)

    def processes(self) -> dict[str, Callable[[int, str], bool]]:
        """The processes whose CPU time a run counts, each recognised by its pid or command line."""
        stack, port = self.stack, self.stack.temporal.service_client.config.target_host.rsplit(":", 1)[1]
        worker, api = (stack.worker.pid if stack.worker else -1), (stack.api.pid if stack.api else -1)
        return {
            "cyberins worker": lambda pid, command: pid == worker,
            "cyberins api": lambda pid, command: pid == api,
            "bench worker": lambda pid, command: "bench.bare_delivery" in command and self.task_queue in command,
            "Temporal": lambda pid, command: "start-dev" in command and f"--port {port} " in command,
            "PostgreSQL": lambda pid, command: str(stack.logs / "pg") in command,
            "bench (receivers)": lambda pid, command: pid == os.getpid(),
        }


async def measure(stack: Stack, *, cast: Cast, seconds: float, rate: float, surge_size: int, incidents: int,
                  repeats: int, say=print) -> dict[str, Any]:
    """The whole benchmark, once at a steady rate and `repeats` times each surge; as the suite keeps it."""
    async with WebhookReceiver() as ours, WebhookReceiver() as bare:
        rig = Rig(stack, ours, bare)
        bare.secrets = [rig.bare_secret]
        try:
            for vendor in [rig.vendor, *await panel_vendors(stack, cast.policies)]:
                await register(rig, vendor)
            async with stack.bare_worker(module="bench.bare_delivery") as rig.task_queue:
                steady = {"cyberins": await steady_rate(rig, rig.decide, ours, seconds=seconds, rate=rate),
                          "bare": await steady_rate(rig, rig.bare_webhook, bare, seconds=seconds, rate=rate)}
                mine, theirs = steady["cyberins"].latency_ms, steady["bare"].latency_ms
                say(f"delivery at {rate:g}/s for {seconds:g} s: cyberins p50 {mine['p50']:.0f} ms, "
                    f"p99 {mine['p99']:.0f} ms; bare p50 {theirs['p50']:.0f} ms, p99 {theirs['p99']:.0f} ms; "
                    f"lost {steady['cyberins'].lost}, twice {steady['cyberins'].twice}")
                surges = []
                for repeat in range(repeats):
                    run = {"dispatch_cyberins": await dispatch_surge(rig, rig.decide, ours, surge_size),
                           "dispatch_bare": await dispatch_surge(rig, rig.bare_webhook, bare, surge_size),
                           "incident_bare": await incident_surge_bare(rig, incidents),
                           "incident_cyberins": await incident_surge_cyberins(rig, cast, incidents)}
                    surges.append(run)
                    say(f"delivery surge {repeat + 1}: {surge_size} dispatches at once, cyberins "
                        f"{run['dispatch_cyberins'].seconds:.1f} s, bare {run['dispatch_bare'].seconds:.1f} s; "
                        f"{incidents} incidents to the last dispatch delivered, cyberins "
                        f"{run['incident_cyberins'].seconds:.1f} s, bare {run['incident_bare'].seconds:.1f} s")
        finally:
            await retire(rig)
    return summary(steady, surges, rate=rate, seconds=seconds, surge_size=surge_size, incidents=incidents,
                   rejected=ours.rejected + bare.rejected)


def summary(steady: dict[str, Delivered], surges: list[dict[str, Delivered]], *, rate: float, seconds: float,
            surge_size: int, incidents: int, rejected: int) -> dict[str, Any]:
    medians = {key: statistics.median(run[key].seconds for run in surges) for key in surges[0]}
    ours, bare = steady["cyberins"], steady["bare"]
    every = [ours, bare, *(item for run in surges for item in run.values())]
    return {
        "rate_per_s": rate, "duration_s": seconds, "surge_size": surge_size, "incidents": incidents,
        "steady": {side: asdict(result) for side, result in steady.items()},
        "surges": [{name: asdict(result) for name, result in run.items()} for run in surges],
        "ratio_p50": ours.latency_ms["p50"] / bare.latency_ms["p50"],
        "ratio_p99": ours.latency_ms["p99"] / bare.latency_ms["p99"],
        "p99_goal_ms": P99_GOAL_MS, "p99_met": ours.latency_ms["p99"] < P99_GOAL_MS,
        "median_seconds": medians,
        "dispatch_ratio": medians["dispatch_cyberins"] / medians["dispatch_bare"],
        "incident_ratio": medians["incident_cyberins"] / medians["incident_bare"],
        "surge_goal_ratio": SURGE_GOAL,
        "lost": sum(r.lost for r in every), "twice": sum(r.twice for r in every),
        "duplicates": sum(r.duplicates for r in every), "unsettled": sum(r.unsettled for r in every),
        "rejected": rejected, "passed": all(r.exact for r in every) and rejected == 0,
    }


# -- Steady rate and dispatch surge: either side, by how it starts an item ----------------------------

Starter = Callable[[str], tuple[str, Callable[[], Awaitable[Any]]]]  # key -> (webhook id, start)


async def steady_rate(rig: Rig, starter: Starter, receiver: WebhookReceiver, *, seconds: float, rate: float) -> Delivered:
    """Item i started at i / rate s, whatever the earlier ones are doing (open loop)."""
    run = uuid.uuid4().hex[:6]
    items = [starter(f"{run}-{i}") for i in range(int(seconds * rate))]
    loop = asyncio.get_running_loop()
    emitted: list[datetime] = [datetime.now(UTC)] * len(items)
    lags: list[float] = []

    async def one(i: int, due: float) -> None:
        lags.append(loop.time() - due)
        emitted[i] = datetime.now(UTC)
        await items[i][1]()

    with watched(rig.processes()) as machine:
        began, tasks = loop.time(), []
        for i in range(len(items)):
            due = began + i / rate
            if (delay := due - loop.time()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        ids = [webhook_id for webhook_id, _ in items]
        await until_received(receiver, ids)
    arrived = [receiver.applied.get(i) for i in ids]
    latencies = [(r.received_at - at).total_seconds() * 1000 for r, at in zip(arrived, emitted, strict=True) if r]
    result = counted(receiver, ids, latency_ms=spread(latencies), start_lag_ms=round(max(lags) * 1000, 1), **machine)
    if receiver is rig.cyberins:
        result.unsettled = await until_settled(rig.stack, ids)
        result.phases_ms = await phases(rig.stack, receiver, ids, emitted)
    return result


async def dispatch_surge(rig: Rig, starter: Starter, receiver: WebhookReceiver, count: int) -> Delivered:
    run = uuid.uuid4().hex[:6]
    items = [starter(f"{run}-{i}") for i in range(count)]
    ids = [webhook_id for webhook_id, _ in items]
    with watched(rig.processes()) as machine:
        started = datetime.now(UTC)
        await at_once([start for _, start in items])
        await until_received(receiver, ids)
    result = counted(receiver, ids, seconds=until_last(receiver, ids, started), **machine)
    if receiver is rig.cyberins:
        result.unsettled = await until_settled(rig.stack, ids)
    return result


# -- Incident surge ------------------------------------------------------------------------------------


async def incident_surge_cyberins(rig: Rig, cast: Cast, incidents: int) -> Delivered:
    """The catastrophe surge as `bench.surge` runs it, timed on to the last panel dispatch delivered."""
    with watched(rig.processes()) as machine:
        started = datetime.now(UTC)
        milestones = await surge.cyberins_surge(rig.stack, cast, incidents=incidents, in_flight=IN_FLIGHT)
        ids = await dispatch_events(rig.stack, cast.policies, since=started)
        await until_received(rig.cyberins, ids)
    result = counted(rig.cyberins, ids, seconds=until_last(rig.cyberins, ids, started),
                     milestones_s=round(milestones, 2), **machine)
    result.lost += incidents - len(ids)  # an incident whose dispatch no event announced
    result.sent = incidents
    result.unsettled = await until_settled(rig.stack, ids)
    return result


async def incident_surge_bare(rig: Rig, incidents: int) -> Delivered:
    run = uuid.uuid4().hex[:6]
    jobs = [IncidentWithWebhook(f"surge-{run}-{i}", rig.post(f"{run}-{i}")) for i in range(incidents)]
    ids = [job.dispatch.webhook_id for job in jobs]
    with watched(rig.processes()) as machine:
        started = datetime.now(UTC)
        handles = await at_once([
            lambda job=job: rig.stack.temporal.start_workflow(
                BareIncidentWebhook.run, job, id=f"bare-incident-webhook-{job.incident}", task_queue=rig.task_queue)
            for job in jobs
        ])
        await until_received(rig.bare, ids)
    await asyncio.gather(*(h.terminate("benchmark over") for h in handles), return_exceptions=True)
    return counted(rig.bare, ids, seconds=until_last(rig.bare, ids, started), **machine)


async def at_once(starts: Sequence[Callable[[], Awaitable[Any]]], in_flight: int = IN_FLIGHT) -> list[Any]:
    gate = asyncio.Semaphore(in_flight)

    async def one(start: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await start()

    return await asyncio.gather(*(one(start) for start in starts))


# -- The vendors' endpoints ----------------------------------------------------------------------------


async def panel_vendors(stack: Stack, policies: list[str]) -> list[str]:
    """The emergency-response panel on these policies' schedules: whom their incidents dispatch to."""
    async with stack.sessions() as session:
        return sorted((await session.execute(text(
            "SELECT DISTINCT jsonb_array_elements_text(schedule -> 'panel_vendor_ids') FROM policies "
            "WHERE policy_id = ANY(:ids)"
        ), {"ids": policies})).scalars())


async def register(rig: Rig, vendor: str) -> None:
    """The vendor registers its endpoint with its own key, as a party does; the receiver learns the secret."""
    issued = await issue_credentials(rig.stack.sessions, PartyKind.VENDOR, vendor, label="delivery benchmark")
    client = ApiClient(rig.stack.base_url, issued.token, webhook_secret=issued.webhook_secret)
    answer = await client.post("/v1/endpoints", {"url": rig.cyberins.url, "event_types": [DISPATCH],
                                                 "description": "delivery benchmark"})
    rig.cyberins.secrets.append(answer["secret"])
    rig.endpoints.append((client, answer["endpoint_id"]))


async def retire(rig: Rig) -> None:
    """Delete the endpoints: a later benchmark on the stack must not deliver to a closed port."""
    for client, endpoint_id in rig.endpoints:
        try:
            await client.delete(f"/v1/endpoints/{endpoint_id}")
        finally:
            await client.aclose()
