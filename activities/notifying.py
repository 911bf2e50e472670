"""The one path from a workflow's decision to each entitled party's event and its planned deliveries.

Every activity that tells a party something (a notification on its own, a timeline entry with the
notices it causes, the remediation sweep) stores it here, in its own transaction, and then starts
the delivery of what it stored. The recipient is the party the notification names, or every party
of its kind granted the object it is about, so an event reaches no party that may not see its object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from contracts.delivery import DeliverEvent, DeliveryPlan, DeliveryRules, DeliveryTarget
from contracts.parties import Notification, Party
from domain.findings import Severity
from domain.notifications import (
    EVENT_TYPES,
    Channel,
    EventType,
    Subject,
    event_id_for,
    subject_of,
    subscribed,
    visible_payload,
)
from logs import get_logger
from storage.repositories.deliveries import Subscriber
from storage.unit_of_work import UnitOfWork

log = get_logger(__name__)

OPERATORS = ("operator", "operators")
_GRANTED_SUBJECTS = frozenset({Subject.POLICY, Subject.INCIDENT, Subject.CLAIM, Subject.QUALIFICATION})


def party_kind_of(recipient: Party) -> str:
    """A provider seeking qualification calls the API with its insured key."""
    return "insured" if recipient is Party.PROVIDER else recipient.value


def event_type_for(kind: str) -> EventType:
    known = EVENT_TYPES.get(kind)
    if known is not None:
        return known
    # A kind without a documented type still reaches its party, under a name that says so, with nothing
    # of its payload: what may be shown is only ever decided by the catalogue.
    return EventType(f"other.{kind}", False, frozenset(), kind, kind)


def delivery_workflow_id(event_id: str, run_key: str | None = None) -> str:
    return f"deliver-{event_id}" if run_key is None else f"deliver-{event_id}-{run_key}"


async def start_delivery(
    client: Client, task_queue: str, event_id: str, *, run_key: str | None = None, targets: Sequence[str] | None = None,
    plan: DeliveryPlan | None = None, eager: bool = False,
) -> WorkflowHandle:
    """Start `EventDeliveryWorkflow` (workflows/delivery.py) for one event. Raises WorkflowAlreadyStartedError
    when this delivery runs or ran: an event is delivered once, and again only as a redelivery with its
    own `run_key`."""
    job = DeliverEvent(event_id=event_id, run_key=run_key, targets=list(targets) if targets is not None else None,
                       plan=plan)
    return await client.start_workflow(
        "EventDeliveryWorkflow", job, request_eager_start=eager,
        id=delivery_workflow_id(event_id, run_key), task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"Deliver {event_id}" + (" again" if run_key else ""),
    )


@dataclass
class Notifier:
    """Starts the durable delivery of stored events. Without a client (some activity tests) the events
    stay stored with their deliveries planned, and nothing is sent."""

    client: Client | None
    task_queue: str
    operator_addresses: Sequence[str] = field(default_factory=tuple)
    # With the rules, each new event's delivery starts with its plan: no activity has to read it back.
    rules: DeliveryRules | None = None
    # In a worker that polls the workflows' queue, the delivery's first task is handed to it directly.
    eager: bool = False
    _plans: dict[str, DeliveryPlan] = field(default_factory=dict, repr=False)

    async def emit(self, uow: UnitOfWork, notifications: Sequence[Notification]) -> list[str]:
        plans: dict[str, dict[str, Any]] = {}
        started = await emit(uow, notifications, operator_addresses=self.operator_addresses, planned=plans)
        if self.rules is not None:
            for event_id, (event, rows) in plans.items():
                self._plans[event_id] = _plan(event, rows, self.rules)
        return started

    async def deliver(self, event_ids: Sequence[str]) -> int:
        """Start each event's delivery; how many were started now (one running or run is left alone)."""
        plans = [self._plans.pop(event_id, None) for event_id in event_ids]
        if self.client is None:
            return 0
        started = 0
        for event_id, plan in zip(event_ids, plans, strict=True):
            try:
                await start_delivery(self.client, self.task_queue, event_id, plan=plan, eager=self.eager)
                started += 1
            except WorkflowAlreadyStartedError:
                pass  # a retried emission: its delivery already runs or ran
        return started


def _plan(event: dict[str, Any], rows: list[dict[str, Any]], rules: DeliveryRules) -> DeliveryPlan:
    return DeliveryPlan(
        event_id=event["event_id"], event_type=event["event_type"], urgent=event["urgent"],
        targets=[DeliveryTarget(channel=Channel(r["channel"]), target=r["target"], role=r["role"]) for r in rows],
        schedule_seconds=rules.schedule_seconds, fallback_after_seconds=rules.fallback_after_seconds,
        webhook_timeout_seconds=rules.webhook_timeout_seconds,
    )


async def emit(
    uow: UnitOfWork, notifications: Sequence[Notification], *, operator_addresses: Sequence[str] = (),
    planned: dict[str, Any] | None = None,
) -> list[str]:
    """Store the notifications and each party's event, plan their deliveries; the ids of events with a
    delivery to make (including those stored by an earlier try of the same work). `planned` receives
    each new event with its delivery rows."""
    if not notifications:
        return []
    from storage.repositories.outbox import OutboxEntry

    await uow.outbox.enqueue([
        OutboxEntry(
            dedupe_key=n.dedupe_key, policy_id=n.policy_id or None,
            qualification_id=n.subject_id if n.subject == Subject.QUALIFICATION.value else None,
            recipient=n.recipient.value, recipient_id=n.recipient_id, kind=n.kind, payload=dict(n.payload),
        )
        for n in notifications
    ])
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = []
    for notification in notifications:
        event_type = event_type_for(notification.kind)
        subject, subject_id = _subject(notification)
        for party_kind, party_id in await _recipients(uow, notification, subject, subject_id):
            events.append({
                "event_id": event_id_for(notification.dedupe_key, party_kind, party_id),
                "dedupe_key": notification.dedupe_key, "event_type": event_type.name,
                "party_kind": party_kind, "party_id": party_id, "subject": subject.value, "subject_id": subject_id,
                "urgent": event_type.urgent, "occurred_at": notification.at or now,
                "payload": visible_payload(event_type, dict(notification.payload)),
            })
    stored = await uow.deliveries.store_events(events) if events else set()
    subscribers: dict[tuple[str, str], Subscriber] = {}
    deliveries: list[dict[str, Any]] = []
    with_work: list[str] = []
    for event in events:
        if event["event_id"] not in stored:
            continue  # planned when it was first stored
        party = (event["party_kind"], event["party_id"])
        if party not in subscribers:
            subscribers[party] = await uow.deliveries.subscriber(*party)
        extra = operator_addresses if party == OPERATORS else ()
        rows = plan_deliveries(event, subscribers[party], extra_addresses=extra)
        if rows:
            deliveries.extend(rows)
            with_work.append(event["event_id"])
            if planned is not None:
                planned[event["event_id"]] = (event, rows)
    await uow.deliveries.plan(deliveries)
    earlier = {event["event_id"] for event in events} - stored  # a retry: their delivery may not have started
    return with_work + (await uow.deliveries.with_work(earlier) if earlier else [])


def plan_deliveries(
    event: dict[str, Any], subscriber: Subscriber, *, extra_addresses: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Each endpoint and address subscribed to the type; for an urgent event every other address too,
    held back as a fallback in case no webhook answers in time."""
    name = event["event_type"]
    rows = [
        _delivery(event, Channel.WEBHOOK, endpoint, "primary")
        for endpoint, types in subscriber.endpoints if subscribed(types, name)
    ]
    addresses = [(a, types) for a, types in subscriber.addresses] + [(a, ["*"]) for a in extra_addresses]
    chosen: set[str] = set()
    for address, types in addresses:
        if address in chosen:
            continue
        if subscribed(types, name):
            rows.append(_delivery(event, Channel.EMAIL, address, "primary"))
            chosen.add(address)
    if event["urgent"]:
        for address, _ in addresses:
            if address not in chosen:
                rows.append(_delivery(event, Channel.EMAIL, address, "fallback"))
                chosen.add(address)
    return rows


def _delivery(event: dict[str, Any], channel: Channel, target: str, role: str) -> dict[str, Any]:
    return {
        "event_id": event["event_id"], "channel": channel.value, "target": target, "role": role,
        "status": "pending" if role == "primary" else "standby", "attempts": 0,
    }


def _subject(notification: Notification) -> tuple[Subject, str | None]:
    if notification.subject is not None:
        return Subject(notification.subject), notification.subject_id
    return subject_of(dict(notification.payload), notification.policy_id or None)


async def _recipients(
    uow: UnitOfWork, notification: Notification, subject: Subject, subject_id: str | None
) -> list[tuple[str, str]]:
    if notification.recipient is Party.OPERATOR:
        return [OPERATORS]
    kind = party_kind_of(notification.recipient)
    if notification.recipient_id:
        return [(kind, notification.recipient_id)]
    if subject not in _GRANTED_SUBJECTS or subject_id is None:
        return []
    parties = {p for p in await uow.api.grantees(subject.value, subject_id) if p[0] == kind}
    if not parties and subject is not Subject.POLICY and notification.policy_id:
        parties = {p for p in await uow.api.grantees(Subject.POLICY.value, notification.policy_id) if p[0] == kind}
    if not parties:
        log.info("a notification has no party to go to", kind=notification.kind, subject=subject.value)
    return sorted(parties)


def remediation_notifications(policy_id: str, reminders: list, overdue: list) -> list[Notification]:
    """A reminder to the insured per finding coming due; an overdue notice per finding past due (rows of
    storage.repositories.findings.DueFinding). The insurer also hears of overdue criticals: they raise
    the retention at claim time. Keyed by finding, kind and recipient: a repeated sweep adds nothing."""
    notices = [(f, "remediation_reminder", Party.INSURED) for f in reminders]
    for finding in overdue:
        notices.append((finding, "remediation_overdue", Party.INSURED))
        if finding.severity == Severity.CRITICAL.value:
            notices.append((finding, "remediation_overdue", Party.INSURER))
    return [
        Notification(
            dedupe_key=f"finding:{finding.id}:{kind}:{recipient.value}", policy_id=policy_id, recipient=recipient,
            kind=kind, payload={
                "vendor_event_id": finding.vendor_event_id, "severity": finding.severity, "asset": finding.asset,
                "title": finding.title, "deadline_at": finding.deadline_at.isoformat() if finding.deadline_at else None,
            },
        )
        for finding, kind, recipient in notices
    ]


async def resume_lost_deliveries(sessions, notifier: Notifier, *, older_than: timedelta, limit: int = 200) -> int:
    """Start the deliveries whose start was lost; how many were started (one running or run is left alone)."""
    async with UnitOfWork(sessions) as uow:
        stalled = await uow.deliveries.never_attempted(older_than, limit=limit)
    return await notifier.deliver(stalled)
