"""What the delivery fault tests share: a receiver that is down for a number of tries of each event and
can hold its answers, a `cyberins worker` process set up to deliver, and what the database and the
receiver say was delivered."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from contracts.parties import Notification, Party
from devstack.webhook_receiver import WebhookReceiver
from storage.models import DeliveryAttemptRow, DeliveryRow, PartyEventRow
from tests.faults.processes import BIN, Process, start, worker_env

VENDOR = ("vendor", "vendor-7")

_this_try: ContextVar[int] = ContextVar("this_try")


@dataclass
class FlakyReceiver(WebhookReceiver):
    """A `WebhookReceiver` that answers by how often it has seen the request's `webhook-id`:
    `answer_try(n)` is the status for the n-th request carrying the same id, so one event's retries
    meet the outage the schedule meant them to meet, whatever time the server believes it is. With
    `hold_seconds` each request waits that long before it is answered: it is in flight, and a fault
    can strike while the receiver has taken the event but the sender has not heard back."""

    answer_try: Callable[[int], int] = lambda n: 204
    hold_seconds: float = 0.0
    tries: Counter[str] = field(default_factory=Counter)  # requests per webhook-id, answered or not
    held: int = 0  # requests waiting for their answer now

    def __post_init__(self) -> None:
        self.answer = lambda _request_number: self.answer_try(_this_try.get())

    async def _receive(self, request: Request) -> Response:
        webhook_id = request.headers.get("webhook-id", "")
        self.tries[webhook_id] += 1
        _this_try.set(self.tries[webhook_id])  # each request runs in a task of its own
        # Taken in full before the hold: a sender that dies meanwhile leaves the event with the
        # receiver, which applies it (the body is kept for the verification after the hold).
        await request.body()
        if self.hold_seconds:
            self.held += 1
            try:
                await asyncio.sleep(self.hold_seconds)
            finally:
                self.held -= 1
        return await super()._receive(request)

    def sent_twice(self) -> dict[str, int]:
        """Ids the receiver took (answered 2xx) more than once, with how often."""
        taken = Counter(received.webhook_id for received in self.deliveries)
        return {webhook_id: n for webhook_id, n in taken.items() if n > 1}


def policy_bound_notices(count: int) -> list[Notification]:
    """`count` distinct events for the vendor, not urgent, so that no e-mail fallback joins in."""
    run = uuid.uuid4().hex[:8]
    return [
        Notification(
            dedupe_key=f"pol-{run}-{n}:policy_bound:1:vendor", policy_id=f"pol-{run}-{n}", recipient=Party.VENDOR,
            recipient_id=VENDOR[1], kind="policy_bound", payload={"term_number": 1},
        )
        for n in range(count)
    ]


def delivering_worker_process(
    folder: Path, number: int, *, database_url: str, temporal_address: str, task_queue: str, schedule: str,
) -> Process:
    """`cyberins worker` as production runs it, the delivery settings from the environment."""
    env = worker_env(
        database_url=database_url, temporal_address=temporal_address, namespace="default", task_queue=task_queue,
        payment_url="", state_dir=folder / "state",
    )
    env.update(
        CYBERINS_WEBHOOK_RETRY_SCHEDULE=schedule,
        CYBERINS_WEBHOOK_HTTP_LOOPBACK="true",
        CYBERINS_WEBHOOK_TIMEOUT_SECONDS="5",
        CYBERINS_OPERATOR_EMAILS="ops@cyberins.test",
        CYBERINS_SMTP_PORT="1",  # no mail server: these tests deliver by webhook only
    )
    return start(f"worker-{number}", [str(BIN / "cyberins"), "worker"], folder, env)


async def delivery_rows(sessions, event_ids: list[str]) -> dict[str, DeliveryRow]:
    """Each event's one webhook delivery."""
    async with sessions() as session:
        rows = list(await session.scalars(select(DeliveryRow).where(DeliveryRow.event_id.in_(event_ids))))
    assert all(row.channel == "webhook" for row in rows), [(r.event_id, r.channel) for r in rows]
    by_event = {row.event_id: row for row in rows}
    assert len(by_event) == len(rows), "an event has more than one delivery"
    return by_event


async def attempts_of(sessions, event_ids: list[str]) -> dict[str, list[DeliveryAttemptRow]]:
    """Every attempt logged for each event, in the order they were logged."""
    async with sessions() as session:
        rows = await session.scalars(
            select(DeliveryAttemptRow).where(DeliveryAttemptRow.event_id.in_(event_ids)).order_by(DeliveryAttemptRow.id)
        )
        found: dict[str, list[DeliveryAttemptRow]] = {event_id: [] for event_id in event_ids}
        for row in rows:
            found[row.event_id].append(row)
    return found


async def operator_events(sessions) -> list[PartyEventRow]:
    async with sessions() as session:
        return list(await session.scalars(
            select(PartyEventRow).where(PartyEventRow.party_kind == "operator").order_by(PartyEventRow.id)
        ))


async def all_delivered(sessions, event_ids: list[str]) -> bool:
    rows = await delivery_rows(sessions, event_ids)
    return len(rows) == len(event_ids) and all(row.status == "delivered" for row in rows.values())
