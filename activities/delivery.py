"""Delivering one party's event: a signed Standard Webhooks POST or an e-mail, each attempt logged.

The workflow (workflows/delivery.py) decides when to try; these activities make one try each and say
how it went. A receiver's failure is an answer, not an error: it comes back as an `AttemptResult` so
the workflow's own schedule, not the activity's retry policy, paces the retries.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notifying import OPERATORS, Notifier
from contracts.delivery import (
    AttemptDelivery,
    AttemptResult,
    DeliverEvent,
    DeliveryGivenUp,
    DeliveryPlan,
    DeliveryRules,
    DeliveryTarget,
    FallbackNotNeeded,
)
from contracts.parties import Notification, Party
from domain.endpoints import check_delivery_address
from domain.notifications import Channel, Outcome, Subject
from logs import get_logger
from storage.models import PartyEventRow
from storage.repositories.deliveries import Attempt
from storage.unit_of_work import UnitOfWork

log = get_logger(__name__)

MAIL_REFUSED = "MailRefused"  # the mail server refused the message for good: not retried
MAX_ERROR = 300


def webhook_body(event: PartyEventRow) -> bytes:
    """The Standard Webhooks payload: type, timestamp, and data holding what the party may see."""
    data = {"event_id": event.event_id, "object": event.subject, "object_id": event.subject_id,
            "urgent": event.urgent, **event.payload}
    body = {"type": event.event_type, "timestamp": event.occurred_at.astimezone(UTC).isoformat(), "data": data}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def signature_header(secrets: list[str], event_id: str, at: datetime, body: bytes) -> str:
    """One `v1,` signature per valid secret, so a receiver holding either side of a rotation verifies."""
    text = body.decode()
    return " ".join(Webhook(secret).sign(event_id, at, text) for secret in secrets)


class DeliveryActivities:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], notifier: Notifier, rules: DeliveryRules, *,
        http: httpx.AsyncClient | None = None, send_mail: Callable | None = None,
    ) -> None:
        self._sessions = sessions
        self._notifier = notifier
        self._rules = rules
        self._http = http or httpx.AsyncClient(follow_redirects=False)
        self._send_mail = send_mail  # (event, address, language, fallback) -> None; raises MailNotSent

    @activity.defn
    async def plan_delivery(self, job: DeliverEvent) -> DeliveryPlan:
        async with UnitOfWork(self._sessions) as uow:
            event = await uow.deliveries.event(job.event_id)
            rows = await uow.deliveries.deliveries_of(job.event_id) if event is not None else []
        if job.targets is not None:  # a redelivery: its endpoints only
            rows = [r for r in rows if r.channel == Channel.WEBHOOK.value and r.target in job.targets]
        if event is None:
            raise ApplicationError(f"no event {job.event_id}", type="UnknownEvent", non_retryable=True)
        return DeliveryPlan(
            event_id=event.event_id, event_type=event.event_type, urgent=event.urgent,
            targets=[DeliveryTarget(channel=Channel(r.channel), target=r.target, role=r.role) for r in rows],
            schedule_seconds=self._rules.schedule_seconds, fallback_after_seconds=self._rules.fallback_after_seconds,
            webhook_timeout_seconds=self._rules.webhook_timeout_seconds,
        )

    @activity.defn
    async def attempt_webhook(self, job: AttemptDelivery) -> AttemptResult:
        now = datetime.now(UTC)
        async with UnitOfWork(self._sessions) as uow:
            event = await uow.deliveries.event(job.event_id)
            endpoint = await uow.deliveries.endpoint(job.target)
            secrets = await uow.deliveries.signing_secrets(job.target, now) if endpoint is not None else []
        if event is None or endpoint is None or endpoint.status != "active" or not secrets:
            result = AttemptResult(outcome=Outcome.INACTIVE, error=f"endpoint {endpoint.status if endpoint else 'gone'}")
            await self._settle(job, result, latency_ms=0, at=now, event=event)
            return result
        body = webhook_body(event)
        headers = {
            "content-type": "application/json", "user-agent": "cyberins-webhooks/1",
            "webhook-id": event.event_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature_header(secrets, event.event_id, now, body),
        }
        started = time.monotonic()
        refused = None if self._rules.internal_addresses else await _internal_address(endpoint.url)
        if refused is not None:
            result = AttemptResult(outcome=Outcome.FAILED, error=refused)
            await self._settle(job, result, latency_ms=0, at=now, event=event)
            return result
        try:
            answer = await self._http.post(endpoint.url, content=body, headers=headers,
                                           timeout=self._rules.webhook_timeout_seconds)
            code = answer.status_code
            outcome = Outcome.DELIVERED if 200 <= code < 300 else Outcome.GONE if code == 410 else Outcome.FAILED
            result = AttemptResult(outcome=outcome, status_code=code,
                                   error=None if outcome is Outcome.DELIVERED else f"answered {code}")
        except httpx.HTTPError as error:
            result = AttemptResult(outcome=Outcome.FAILED, error=_describe(error))
        latency = int((time.monotonic() - started) * 1000)
        await self._settle(job, result, latency_ms=latency, at=now, event=event,
                           endpoint_failing=endpoint.failing_since is not None)
        return result

    @activity.defn
    async def send_email(self, job: AttemptDelivery) -> AttemptResult:
        from mail.smtp import MailNotSent

        now = datetime.now(UTC)
        async with UnitOfWork(self._sessions) as uow:
            event = await uow.deliveries.event(job.event_id)
            language = await uow.deliveries.language_of(event.party_kind, event.party_id, job.target) if event else "zh"
        if event is None or self._send_mail is None:
            result = AttemptResult(outcome=Outcome.INACTIVE, error="no mail server is configured")
            await self._settle(job, result, latency_ms=0, at=now, event=event)
            return result
        started = time.monotonic()
        try:
            await self._send_mail(event, job.target, language, job.fallback)
            result = AttemptResult(outcome=Outcome.DELIVERED)
        except MailNotSent as error:
            # A server away or busy is an answer, tried again on the workflow's schedule; a refusal is final.
            result = AttemptResult(outcome=Outcome.FAILED, error=str(error)[:MAX_ERROR])
            await self._settle(job, result, latency_ms=int((time.monotonic() - started) * 1000), at=now, event=event,
                               final=error.permanent)
            if error.permanent:
                raise ApplicationError(result.error or "refused", type=MAIL_REFUSED, non_retryable=True) from None
            return result
        await self._settle(job, result, latency_ms=int((time.monotonic() - started) * 1000), at=now, event=event)
        return result

    @activity.defn
    async def give_up_delivery(self, failure: DeliveryGivenUp) -> None:
        """The schedule ran out: the delivery is failed, counted, and the operators are told."""
        async with UnitOfWork(self._sessions) as uow:
            await uow.deliveries.settle(failure.event_id, failure.channel.value, failure.target, "failed")
            event = await uow.deliveries.event(failure.event_id)
            started: list[str] = []
            if event is not None and (event.party_kind, event.party_id) != OPERATORS:
                started = await self._notifier.emit(uow, [Notification(
                    dedupe_key=f"delivery-failed:{failure.event_id}:{failure.channel.value}:{failure.target}",
                    recipient=Party.OPERATOR, kind="delivery_failed", subject=Subject.DELIVERY.value,
                    subject_id=failure.event_id,
                    payload={"event_id": failure.event_id, "event_type": event.event_type,
                             "endpoint_id": failure.target if failure.channel is Channel.WEBHOOK else None,
                             "attempts": failure.attempts},
                )])
        activity.metric_meter().create_counter(
            "cyberins_notification_deliveries_failed", "deliveries given up after their whole schedule"
        ).add(1, {"channel": failure.channel.value})
        log.warning("delivery failed", event_id=failure.event_id, channel=failure.channel.value,
                    attempts=failure.attempts, reason=failure.reason)
        await self._notifier.deliver(started)

    @activity.defn
    async def skip_fallbacks(self, skipped: FallbackNotNeeded) -> None:
        async with UnitOfWork(self._sessions) as uow:
            for target in skipped.targets:
                await uow.deliveries.settle(skipped.event_id, Channel.EMAIL.value, target, "skipped")

    async def _settle(
        self, job: AttemptDelivery, result: AttemptResult, *, latency_ms: int, at: datetime,
        event: PartyEventRow | None, final: bool = False, endpoint_failing: bool = True,
    ) -> None:
        """Log the attempt and what it means for the delivery and, for a webhook, its endpoint."""
        if event is None:
            return
        started: list[str] = []
        status = {Outcome.DELIVERED: "delivered", Outcome.INACTIVE: "skipped", Outcome.GONE: "failed"}.get(
            result.outcome, "failed" if final else None
        )
        async with UnitOfWork(self._sessions) as uow:
            await uow.deliveries.record_attempt(Attempt(
                event_id=job.event_id, channel=job.channel.value, target=job.target, attempt=job.attempt, at=at,
                outcome=result.outcome.value, status_code=result.status_code, latency_ms=latency_ms,
                error=result.error[:MAX_ERROR] if result.error else None,
            ), status=status)
            if result.outcome is Outcome.DELIVERED:
                if job.channel is Channel.WEBHOOK and endpoint_failing:
                    await uow.deliveries.endpoint_answered(job.target)
                if event.urgent:
                    await uow.deliveries.note_on_timeline(event, job.channel.value, job.fallback, at)
            elif result.outcome is Outcome.INACTIVE or final:
                pass
            elif job.channel is Channel.WEBHOOK:
                disabled = (
                    await uow.deliveries.disable(job.target, "the receiver answered 410 Gone")
                    if result.outcome is Outcome.GONE
                    else await uow.deliveries.endpoint_failed(job.target, at, disable_after=self._rules.disable_after)
                )
                if disabled:
                    started = await self._endpoint_disabled(uow, event, job.target, result)
        await self._notifier.deliver(started)

    async def _endpoint_disabled(self, uow: UnitOfWork, event: PartyEventRow, endpoint_id: str, result: AttemptResult) -> list[str]:
        reason = "answered 410 Gone" if result.outcome is Outcome.GONE else "failed for too long"
        log.warning("webhook endpoint disabled", endpoint_id=endpoint_id, reason=reason)
        return await self._notifier.emit(uow, [Notification(
            dedupe_key=f"endpoint-disabled:{endpoint_id}:{event.event_id}", recipient=Party(event.party_kind),
            recipient_id=event.party_id, kind="endpoint_disabled", subject=Subject.ENDPOINT.value, subject_id=endpoint_id,
            payload={"endpoint_id": endpoint_id, "reason": reason},
        )])


def mail_sender(smtp) -> Callable:
    """Renders an event for one address and sends it through the mail server in `smtp` (mail/smtp.py)."""
    from mail.render import MailEvent, render_event
    from mail.smtp import send_mail

    async def send(event: PartyEventRow, address: str, language: str, fallback: bool) -> None:
        mail_event = MailEvent(
            event_id=event.event_id, event_type=event.event_type, subject=event.subject, subject_id=event.subject_id,
            occurred_at=event.occurred_at, urgent=event.urgent, payload=dict(event.payload),
            recipient_kind=event.party_kind,
        )
        message = render_event(mail_event, language=language, to=address, sender=smtp.sender, fallback=fallback)
        await send_mail(smtp, message)

    return send


async def _internal_address(url: str) -> str | None:
    """Why the URL's host may not be delivered to now (it resolves to an internal address), or None. A
    name that does not resolve is left to the POST, which fails and is retried like any other."""
    parts = urlsplit(url)
    try:
        resolved = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443,
                                                                 type=socket.SOCK_STREAM)
    except OSError:
        return None
    for *_, sockaddr in resolved:
        try:
            check_delivery_address(sockaddr[0])
        except ValueError as error:
            return str(error)
    return None


def _describe(error: httpx.HTTPError) -> str:
    kind = type(error).__name__
    return f"{kind}: {error}"[:MAX_ERROR] if str(error) else kind
