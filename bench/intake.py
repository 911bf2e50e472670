"""Monitoring intake: findings a second through the API's batch endpoint, stored and applied, against
bare Temporal fed one finding per signal and 500 findings per signal.

cyberins: the vendor posts signed batches (`POST /v1/findings`) across its policies, a few at a time;
the clock stops when PostgreSQL holds every distinct finding and every policy's status counts them with
nothing pending. Some findings are sent again in a later batch: each must count once.
Bare: `client.signal_workflow` into trivial workflows that count what they receive (`BareMonitor`); the
clock stops when their queries add up to everything sent.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import text

from api.signatures import decode_secret, sign
from bench.api_load import Cast
from bench.bare import BareMonitor, MonitorInput
from bench.stack import Stack
from contracts.policy import policy_workflow_id
from workflows.policy import PolicyWorkflow

SEVERITIES = ["low", "medium", "high", "critical"]


@dataclass
class Throughput:
    findings: int
    signals: int
    seconds: float
    lost: int = 0
    twice: int = 0
    accepted_seconds: float | None = None  # cyberins: until the API had answered every post

    @property
    def per_second(self) -> float:
        return self.findings / self.seconds if self.seconds else 0.0


def finding(event_id: str, rng: random.Random) -> dict:
    return {
        "vendor_event_id": event_id, "kind": "exposed_service", "severity": rng.choice(SEVERITIES),
        "asset": f"host-{rng.randint(1, 500)}.example.cn", "title": "service reachable from the internet",
        "observed_at": datetime.now(UTC).isoformat(),
    }


# -- cyberins -----------------------------------------------------------------------------------------


async def cyberins_intake(stack: Stack, cast: Cast, *, findings: int, per_post: int, policies_per_post: int,
                          in_flight: int, resent_share: float = 0.01, seed: int = 0) -> Throughput:
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    posts: list[list[dict]] = []
    sent: list[dict] = []
    while len(sent) < findings:
        policies = rng.sample(cast.policies, k=min(policies_per_post, len(cast.policies)))
        body = []
        for i in range(min(per_post, findings - len(sent))):
            item = {"policy_id": policies[i % len(policies)], **finding(f"in-{run}-{len(sent)}", rng)}
            body.append(item)
            sent.append(item)
        if posts and resent_share:  # a vendor resends some of what it sent before
            body.extend(rng.sample(posts[-1], k=int(len(posts[-1]) * resent_share)))
        posts.append(body)
    per_policy = Counter(item["policy_id"] for item in sent)
    before = await _stored(stack, cast.policies)
    wanted = {policy: before.get(policy, 0) + per_policy[policy] for policy in cast.policies}
    bodies = [json.dumps({"findings": body}).encode() for body in posts]
    secret = decode_secret(cast.vendor.webhook_secret or "")
    gate = asyncio.Semaphore(in_flight)
    signals = 0

    async with httpx.AsyncClient(base_url=stack.base_url, timeout=300) as http:
        async def post(body: bytes) -> None:
            nonlocal signals
            async with gate:
                webhook_id, timestamp = f"msg_{uuid.uuid4().hex}", int(time.time())
                answer = await http.post("/v1/findings", content=body, headers={
                    "Authorization": f"Bearer {cast.vendor.token}", "Content-Type": "application/json",
                    "webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
                    "webhook-signature": sign(secret, webhook_id, timestamp, body),
                })
                answer.raise_for_status()
                signals += answer.json()["signals"]

        started = time.monotonic()
        await asyncio.gather(*(post(body) for body in bodies))
        accepted = time.monotonic() - started
        stored, applied = await _until_applied(stack, wanted)
        seconds = time.monotonic() - started
    lost = sum(max(wanted[p] - min(stored.get(p, 0), applied[p]), 0) for p in wanted)
    twice = sum(max(max(stored.get(p, 0), applied[p]) - wanted[p], 0) for p in wanted)
    return Throughput(findings=len(sent), signals=signals, seconds=seconds, lost=lost, twice=twice,
                      accepted_seconds=accepted)


async def _stored(stack: Stack, policies: list[str]) -> dict[str, int]:
    async with stack.sessions() as session:
        rows = await session.execute(
            text("SELECT policy_id, count(*) FROM findings WHERE policy_id = ANY(:ids) GROUP BY policy_id"),
            {"ids": policies},
        )
        return dict(rows.all())


async def _applied(stack: Stack, policies: list[str]) -> dict[str, tuple[int, int]]:
    """Per policy, from its workflow's status query: (findings counted, findings still pending)."""
    async def one(policy: str) -> tuple[int, int]:
        handle = stack.temporal.get_workflow_handle(policy_workflow_id(policy))
        status = await handle.query(PolicyWorkflow.status)
        return status.findings.total, status.pending_findings

    return dict(zip(policies, await asyncio.gather(*(one(p) for p in policies)), strict=True))


async def _until_applied(stack: Stack, wanted: dict[str, int], *, seconds: float = 900):
    """Waits until PostgreSQL holds `wanted` findings in all, then until every status has nothing pending."""
    deadline = time.monotonic() + seconds
    total = sum(wanted.values())
    while sum((stored := await _stored(stack, list(wanted))).values()) < total:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sum(stored.values())} of {total} findings stored after {seconds:.0f} s")
        await asyncio.sleep(0.2)
    while True:
        applied = await _applied(stack, list(wanted))
        if all(pending == 0 and counted >= wanted[p] for p, (counted, pending) in applied.items()):
            return await _stored(stack, list(wanted)), {p: counted for p, (counted, _) in applied.items()}
        if time.monotonic() > deadline:
            raise TimeoutError(f"statuses not applied after {seconds:.0f} s: {applied}")
        await asyncio.sleep(0.2)


# -- bare Temporal ------------------------------------------------------------------------------------


async def bare_intake(stack: Stack, task_queue: str, *, findings: int, per_signal: int, workflows: int,
                      in_flight: int, seed: int = 0) -> Throughput:
    rng = random.Random(seed)
    client = stack.temporal
    run = uuid.uuid4().hex[:6]
    handles = [
        await client.start_workflow(BareMonitor.run, MonitorInput(), id=f"bare-monitor-{run}-{i}", task_queue=task_queue)
        for i in range(workflows)
    ]
    signals = [
        (handles[s % workflows], [finding(f"bare-{run}-{s}-{i}", rng) for i in range(per_signal)])
        for s in range(findings // per_signal)
    ]
    gate = asyncio.Semaphore(in_flight)

    async def send(handle, batch: list[dict]) -> None:
        async with gate:
            await handle.signal(BareMonitor.findings, batch)

    try:
        started = time.monotonic()
        await asyncio.gather(*(send(handle, batch) for handle, batch in signals))
        wanted = len(signals) * per_signal
        while (counted := sum(await asyncio.gather(*(h.query(BareMonitor.total) for h in handles)))) < wanted:
            await asyncio.sleep(0.2)
        seconds = time.monotonic() - started
    finally:
        await asyncio.gather(*(h.terminate("benchmark over") for h in handles), return_exceptions=True)
    return Throughput(findings=wanted, signals=len(signals), seconds=seconds, twice=max(counted - wanted, 0))
