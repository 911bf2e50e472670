"""What reached a webhook receiver, item by item, and what PostgreSQL holds of it (bench.delivery).

Every id reached the receiver (else it is lost) and none reached it twice (the receiver applies each
`webhook-id` once; a repeat is counted as a duplicate). For cyberins, PostgreSQL holds each delivery
as delivered after exactly one delivered attempt, and its log dates the steps an event went through.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text

from bench.report import cpu_seconds, spread
from bench.stack import Stack
from devstack.webhook_receiver import WebhookReceiver
from domain.notifications import EVENT_TYPES

DISPATCH = EVENT_TYPES["emergency_dispatch"].name  # incident.dispatch.requested, urgent
# Waiting ends when nothing has arrived for this long (a failed attempt's first retry comes after
# 5 s); what has not arrived by then is lost.
QUIET_SECONDS = 120


@dataclass
class Delivered:
    """One run: what reached the receiver, item by item, how long it took, and what it cost."""

    sent: int
    delivered: int
    lost: int  # never reached the receiver with a 2xx
    twice: int  # ids that reached it more than once (applied once: the receiver dedupes)
    duplicates: int  # the repeated arrivals
    unsettled: int = 0  # cyberins: not held as delivered, after one delivered attempt, in PostgreSQL
    seconds: float = 0.0  # a surge: from its start to the last 2xx
    milestones_s: float | None = None  # the incident surge: until every incident had its dispatch decided
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p90, p99, max
    phases_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # cyberins: where the time went
    start_lag_ms: float = 0.0  # the latest start behind its schedule (the generator's own lateness)
    load: list[float] = field(default_factory=list)  # 1-minute load average before and after
    cpu_ms_per_item: dict[str, float] = field(default_factory=dict)  # by process

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.unsettled == 0


@contextmanager
def watched(processes: dict[str, Callable[[int, str], bool]]) -> Iterator[dict[str, Any]]:
    """The load average before and after, and each process's CPU time (per item once `counted`)."""
    figures: dict[str, Any] = {"load": [round(os.getloadavg()[0], 2)]}
    before = cpu_seconds(processes)
    yield figures
    after = cpu_seconds(processes)
    figures["load"].append(round(os.getloadavg()[0], 2))
    figures["cpu_ms_per_item"] = {name: after[name] - before[name] for name in processes}


async def until_received(receiver: WebhookReceiver, ids: list[str], *, quiet: float = QUIET_SECONDS) -> None:
    """Until every id has reached the receiver, or nothing has arrived for `quiet` seconds."""
    wanted, arrived, since = set(ids), -1, time.monotonic()
    while not wanted <= receiver.applied.keys() and time.monotonic() - since < quiet:
        if len(receiver.deliveries) != arrived:
            arrived, since = len(receiver.deliveries), time.monotonic()
        await asyncio.sleep(0.1)


def until_last(receiver: WebhookReceiver, ids: list[str], started: datetime) -> float:
    last = max((receiver.applied[i].received_at for i in ids if i in receiver.applied), default=started)
    return round((last - started).total_seconds(), 2)


def counted(receiver: WebhookReceiver, ids: list[str], *, cpu_ms_per_item: dict[str, float] | None = None,
            **figures: Any) -> Delivered:
    wanted = set(ids)
    arrivals = Counter(d.webhook_id for d in receiver.deliveries if d.webhook_id in wanted)
    delivered = sum(1 for i in wanted if i in receiver.applied)
    cpu = {name: round(seconds * 1000 / max(len(ids), 1), 2) for name, seconds in (cpu_ms_per_item or {}).items()}
    return Delivered(sent=len(ids), delivered=delivered, lost=len(wanted) - delivered,
                     twice=sum(1 for n in arrivals.values() if n > 1),
                     duplicates=sum(n - 1 for n in arrivals.values() if n > 1), cpu_ms_per_item=cpu, **figures)


async def until_settled(stack: Stack, ids: list[str], *, seconds: float = 30) -> int:
    """The worker records a delivery after the receiver has answered: wait for it, then count what is not."""
    deadline = time.monotonic() + seconds
    while (missing := await unsettled(stack, ids)) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return missing


async def unsettled(stack: Stack, ids: list[str]) -> int:
    """Events of `ids` without one webhook delivery held as delivered after exactly one delivered attempt."""
    async with stack.sessions() as session:
        settled = (await session.execute(text(
            "SELECT count(*) FROM deliveries d WHERE d.event_id = ANY(:ids) AND d.channel = 'webhook' "
            "AND d.status = 'delivered' AND (SELECT count(*) FROM delivery_attempts a WHERE a.event_id = d.event_id "
            "AND a.target = d.target AND a.outcome = 'delivered') = 1"
        ), {"ids": ids})).scalar_one()
    return len(set(ids)) - settled


async def phases(
    stack: Stack, receiver: WebhookReceiver, ids: list[str], emitted: list[datetime]
) -> dict[str, dict[str, float]]:
    """Where each event's time went: until the decision (the deciding workflow's `workflow.now()`), the
    event stored (its transaction's start), the first attempt begun, the receiver reached; `post` is
    the attempt's own HTTP time, `from_decision` all of it after the decision."""
    async with stack.sessions() as session:
        rows = (await session.execute(text(
            "SELECT e.event_id, e.occurred_at, e.created_at, a.at, a.latency_ms FROM party_events e "
            "JOIN delivery_attempts a ON a.event_id = e.event_id AND a.attempt = 1 AND a.channel = 'webhook' "
            "WHERE e.event_id = ANY(:ids)"
        ), {"ids": ids})).all()
    sent = dict(zip(ids, emitted, strict=True))
    steps: dict[str, list[float]] = defaultdict(list)
    for event_id, decided, stored, attempted, post_ms in rows:
        received = receiver.applied.get(event_id)
        if received is None:
            continue
        for name, since, until in (("decided", sent[event_id], decided), ("stored", decided, stored),
                                   ("attempted", stored, attempted), ("answered", attempted, received.received_at),
                                   ("from_decision", decided, received.received_at)):
            steps[name].append((until - since).total_seconds() * 1000)
        steps["post"].append(float(post_ms))
    return {name: spread(values) for name, values in steps.items()}


async def dispatch_events(stack: Stack, policies: list[str], *, since: datetime) -> list[str]:
    """The panel dispatches told to vendors about the incidents of these policies since `since`."""
    async with stack.sessions() as session:
        return list((await session.execute(text(
            "SELECT e.event_id FROM party_events e JOIN incidents i ON i.incident_id = e.subject_id "
            "WHERE i.policy_id = ANY(:policies) AND e.event_type = :type AND e.occurred_at >= :since"
        ), {"policies": policies, "type": DISPATCH, "since": since})).scalars())
