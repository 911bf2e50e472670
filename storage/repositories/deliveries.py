"""Each party's events and their deliveries: stored once, planned at emission, every attempt logged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    DeliveryAttemptRow,
    DeliveryRow,
    EmailRecipientRow,
    EndpointSecretRow,
    IncidentEventRow,
    IncidentRow,
    PartyEventRow,
    QualificationEventRow,
    QualificationRow,
    WebhookEndpointRow,
)

ROW_PAGE = 2_000  # rows per statement, well inside PostgreSQL's 32,767 parameters


@dataclass(frozen=True, slots=True)
class Subscriber:
    """Where one party wants its events: its live endpoints and e-mail addresses, with their types."""

    endpoints: list[tuple[str, list[str]]]
    addresses: list[tuple[str, list[str]]]


@dataclass(frozen=True, slots=True)
class Attempt:
    event_id: str
    channel: str
    target: str
    attempt: int
    at: datetime
    outcome: str
    status_code: int | None
    latency_ms: int
    error: str | None


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # -- Emission --------------------------------------------------------------------------------------

    async def store_events(self, events: list[dict[str, Any]]) -> set[str]:
        """Store each event unless it is stored already; the ids of those stored now."""
        stored: set[str] = set()
        for start in range(0, len(events), ROW_PAGE):
            statement = (
                insert(PartyEventRow).values(events[start : start + ROW_PAGE])
                .on_conflict_do_nothing().returning(PartyEventRow.event_id)
            )
            stored.update(await self._session.scalars(statement))
        return stored

    async def subscriber(self, party_kind: str, party_id: str) -> Subscriber:
        endpoints = await self._session.execute(
            select(WebhookEndpointRow.endpoint_id, WebhookEndpointRow.event_types).where(
                WebhookEndpointRow.party_kind == party_kind, WebhookEndpointRow.party_id == party_id,
                WebhookEndpointRow.status == "active",
            ).order_by(WebhookEndpointRow.endpoint_id)
        )
        addresses = await self._session.execute(
            select(EmailRecipientRow.address, EmailRecipientRow.event_types).where(
                EmailRecipientRow.party_kind == party_kind, EmailRecipientRow.party_id == party_id,
                EmailRecipientRow.status == "active",
            ).order_by(EmailRecipientRow.address)
        )
        return Subscriber([(e, list(t)) for e, t in endpoints], [(a, list(t)) for a, t in addresses])

    async def plan(self, deliveries: list[dict[str, Any]]) -> None:
        if deliveries:
            await self._session.execute(insert(DeliveryRow).on_conflict_do_nothing(), deliveries)

    async def with_work(self, event_ids: set[str]) -> list[str]:
        """Of these events, those with a delivery still to make, in the order they were stored."""
        if not event_ids:
            return []
        rows = await self._session.scalars(
            select(PartyEventRow.event_id).where(
                PartyEventRow.event_id.in_(sorted(event_ids)),
                PartyEventRow.event_id.in_(
                    select(DeliveryRow.event_id).where(DeliveryRow.status.in_(("pending", "standby")))
                ),
            ).order_by(PartyEventRow.id)
        )
        return list(rows)

    # -- Delivery --------------------------------------------------------------------------------------

    async def event(self, event_id: str) -> PartyEventRow | None:
        return await self._session.scalar(select(PartyEventRow).where(PartyEventRow.event_id == event_id))

    async def deliveries_of(self, event_id: str, statuses: tuple[str, ...] = ("pending", "standby")) -> list[DeliveryRow]:
        rows = await self._session.scalars(
            select(DeliveryRow).where(DeliveryRow.event_id == event_id, DeliveryRow.status.in_(statuses))
            .order_by(DeliveryRow.id)
        )
        return list(rows)

    async def endpoint(self, endpoint_id: str) -> WebhookEndpointRow | None:
        return await self._session.get(WebhookEndpointRow, endpoint_id)

    async def signing_secrets(self, endpoint_id: str, now: datetime) -> list[str]:
        """The endpoint's secrets still valid: the newest, and an old one within its overlap."""
        rows = await self._session.scalars(
            select(EndpointSecretRow.secret).where(
                EndpointSecretRow.endpoint_id == endpoint_id,
                or_(EndpointSecretRow.expires_at.is_(None), EndpointSecretRow.expires_at > now),
            ).order_by(EndpointSecretRow.id.desc())
        )
        return list(rows)

    async def record_attempt(self, attempt: Attempt, *, status: str | None = None) -> None:
        """Log the attempt and count it on its delivery, settling the delivery at `status` if given."""
        await self._session.execute(insert(DeliveryAttemptRow).values(
            {field: getattr(attempt, field) for field in Attempt.__slots__}
        ))
        values: dict[str, Any] = {"attempts": DeliveryRow.attempts + 1, "last_error": attempt.error,
                                  "updated_at": func.now()}
        if status is not None:
            values["status"] = status
            if status == "delivered":
                values["delivered_at"] = attempt.at
        await self._session.execute(
            update(DeliveryRow).where(
                DeliveryRow.event_id == attempt.event_id, DeliveryRow.channel == attempt.channel,
                DeliveryRow.target == attempt.target,
            ).values(**values)
        )

    async def settle(self, event_id: str, channel: str, target: str, status: str, *, at: datetime | None = None) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": func.now()}
        if status == "delivered":
            values["delivered_at"] = at
        await self._session.execute(
            update(DeliveryRow).where(
                DeliveryRow.event_id == event_id, DeliveryRow.channel == channel, DeliveryRow.target == target,
            ).values(**values)
        )

    async def endpoint_answered(self, endpoint_id: str) -> None:
        await self._session.execute(
            update(WebhookEndpointRow).where(
                WebhookEndpointRow.endpoint_id == endpoint_id, WebhookEndpointRow.failing_since.is_not(None)
            ).values(failing_since=None, updated_at=func.now())
        )

    async def endpoint_failed(self, endpoint_id: str, at: datetime, *, disable_after: timedelta) -> bool:
        """Note the failure; True when the endpoint has now failed for `disable_after` and is disabled."""
        await self._session.execute(
            update(WebhookEndpointRow).where(
                WebhookEndpointRow.endpoint_id == endpoint_id, WebhookEndpointRow.failing_since.is_(None)
            ).values(failing_since=at, updated_at=func.now())
        )
        disabled = await self._session.scalar(
            update(WebhookEndpointRow).where(
                WebhookEndpointRow.endpoint_id == endpoint_id, WebhookEndpointRow.status == "active",
                WebhookEndpointRow.failing_since <= at - disable_after,
            ).values(status="disabled", status_reason=f"failing since {at - disable_after:%Y-%m-%d %H:%M} UTC or earlier",
                     updated_at=func.now()).returning(WebhookEndpointRow.endpoint_id)
        )
        return disabled is not None

    async def disable(self, endpoint_id: str, reason: str) -> bool:
        disabled = await self._session.scalar(
            update(WebhookEndpointRow).where(
                WebhookEndpointRow.endpoint_id == endpoint_id, WebhookEndpointRow.status.in_(("active", "paused"))
            ).values(status="disabled", status_reason=reason, updated_at=func.now()).returning(WebhookEndpointRow.endpoint_id)
        )
        return disabled is not None

    async def language_of(self, party_kind: str, party_id: str, address: str) -> str:
        language = await self._session.scalar(
            select(EmailRecipientRow.language).where(
                EmailRecipientRow.party_kind == party_kind, EmailRecipientRow.party_id == party_id,
                EmailRecipientRow.address == address,
            )
        )
        return language or "zh"

    async def note_on_timeline(self, event: PartyEventRow, channel: str, fallback: bool, at: datetime) -> None:
        """An urgent notice delivered goes on its incident's or qualification's timeline: when, and how."""
        details = {"event_id": event.event_id, "event_type": event.event_type, "recipient": event.party_kind,
                   "channel": channel, "fallback": fallback}
        key = f"notice:{event.event_id}"
        if event.subject == "incident" and event.subject_id:
            table, column = IncidentEventRow, IncidentEventRow.incident_id
            exists = await self._session.scalar(select(IncidentRow.incident_id).where(IncidentRow.incident_id == event.subject_id))
        elif event.subject == "qualification" and event.subject_id:
            table, column = QualificationEventRow, QualificationEventRow.qualification_id
            exists = await self._session.scalar(
                select(QualificationRow.qualification_id).where(QualificationRow.qualification_id == event.subject_id)
            )
        else:
            return
        if exists is None:
            return
        await self._session.execute(
            insert(table).values({column.key: event.subject_id, "event_key": key, "kind": "notice_delivered", "at": at,
                                  "actor": None, "details": details}).on_conflict_do_nothing()
        )

    async def never_attempted(self, older_than: timedelta, *, limit: int) -> list[str]:
        """Events planned a while ago whose deliveries were never tried: their start was lost (a worker
        died between storing them and starting their delivery)."""
        rows = await self._session.scalars(
            select(DeliveryRow.event_id).where(
                DeliveryRow.status.in_(("pending", "standby")), DeliveryRow.attempts == 0,
                DeliveryRow.created_at < func.now() - older_than,
            ).group_by(DeliveryRow.event_id).order_by(func.min(DeliveryRow.id)).limit(limit)
        )
        return list(rows)
