"""What a party manages of its own notifications: webhook endpoints and their secrets, e-mail recipients,
its event feed, and the log of deliveries; plus redelivery. Every read is scoped to one party, so
another party's records are simply not found."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    DeliveryAttemptRow,
    DeliveryRow,
    EmailRecipientRow,
    EndpointSecretRow,
    PartyEventRow,
    WebhookEndpointRow,
)

Party = tuple[str, str]  # (party_kind, party_id)
LIVE = ("active", "paused", "disabled")  # a deleted endpoint is kept for its log, and shown to no one
# An id is taken when a row is inserted, not when its transaction commits: an event with a lower id can
# become visible after a higher one was read, and a reader whose cursor passed it would never see it.
# So a cursor only moves over events stored by transactions older than every one still writing.
SETTLED = text("age(party_events.xmin) > age(pg_snapshot_xmin(pg_current_snapshot())::xid)")


class EndpointRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # -- Webhook endpoints -----------------------------------------------------------------------------

    async def add(
        self,
        party: Party,
        endpoint_id: str,
        *,
        url: str,
        event_types: list[str],
        description: str | None,
        secret: str,
    ) -> bool:
        """False when the id is taken already (a retried registration): nothing is added then."""
        added = await self._session.scalar(
            insert(WebhookEndpointRow)
            .values(
                endpoint_id=endpoint_id,
                party_kind=party[0],
                party_id=party[1],
                url=url,
                event_types=event_types,
                description=description,
                status="active",
            )
            .on_conflict_do_nothing()
            .returning(WebhookEndpointRow.endpoint_id)
        )
        if added is None:
            return False
        self._session.add(EndpointSecretRow(endpoint_id=endpoint_id, secret=secret))
        await self._session.flush()
        return True

    async def of_party(self, party: Party | None) -> list[WebhookEndpointRow]:
        """The party's live endpoints, oldest first; every party's when `party` is None (the administrator)."""
        query = select(WebhookEndpointRow).where(WebhookEndpointRow.status.in_(LIVE))
        if party is not None:
            query = query.where(*_owned_by(party))
        rows = await self._session.scalars(
            query.order_by(WebhookEndpointRow.created_at, WebhookEndpointRow.endpoint_id)
        )
        return list(rows)

    async def count_live(self, party: Party) -> int:
        return (
            await self._session.scalar(
                select(func.count())
                .select_from(WebhookEndpointRow)
                .where(*_owned_by(party), WebhookEndpointRow.status.in_(LIVE))
            )
            or 0
        )

    async def get(self, party: Party | None, endpoint_id: str) -> WebhookEndpointRow | None:
        """The endpoint unless deleted; of that party only, unless `party` is None (the administrator)."""
        query = select(WebhookEndpointRow).where(
            WebhookEndpointRow.endpoint_id == endpoint_id, WebhookEndpointRow.status.in_(LIVE)
        )
        if party is not None:
            query = query.where(*_owned_by(party))
        return await self._session.scalar(query)

    async def set_status(
        self, endpoint_id: str, status: str, *, reason: str | None = None
    ) -> WebhookEndpointRow:
        """Active again forgets the failures that disabled it: its five days start afresh."""
        values: dict[str, Any] = {"status": status, "status_reason": reason, "updated_at": func.now()}
        if status == "active":
            values["failing_since"] = None
        row = await self._session.scalar(
            update(WebhookEndpointRow)
            .where(WebhookEndpointRow.endpoint_id == endpoint_id)
            .values(**values)
            .returning(WebhookEndpointRow)
        )
        assert row is not None, endpoint_id
        await self._session.refresh(row)
        return row

    async def rotate(self, endpoint_id: str, secret: str, *, previous_expire_at: datetime) -> None:
        """The new secret signs from now on; the current ones sign beside it until `previous_expire_at`,
        so a receiver has time to switch. Ones already expiring keep their earlier end."""
        await self._session.execute(
            update(EndpointSecretRow)
            .where(EndpointSecretRow.endpoint_id == endpoint_id, EndpointSecretRow.expires_at.is_(None))
            .values(expires_at=previous_expire_at)
        )
        self._session.add(EndpointSecretRow(endpoint_id=endpoint_id, secret=secret))
        await self._session.flush()

    async def current_secret(self, endpoint_id: str) -> str | None:
        return await self._session.scalar(
            select(EndpointSecretRow.secret)
            .where(EndpointSecretRow.endpoint_id == endpoint_id, EndpointSecretRow.expires_at.is_(None))
            .order_by(EndpointSecretRow.id.desc())
            .limit(1)
        )

    # -- E-mail recipients -----------------------------------------------------------------------------

    async def add_recipient(
        self, party: Party, address: str, *, event_types: list[str], language: str
    ) -> EmailRecipientRow:
        """An address already there takes the new types and language, and is active again."""
        row = await self._session.scalar(
            insert(EmailRecipientRow)
            .values(
                party_kind=party[0],
                party_id=party[1],
                address=address,
                event_types=event_types,
                language=language,
                status="active",
            )
            .on_conflict_do_update(
                constraint="uq_email_recipients_address",
                set_={"event_types": event_types, "language": language, "status": "active"},
            )
            .returning(EmailRecipientRow)
        )
        assert row is not None
        await self._session.refresh(row)
        return row

    async def recipients_of(self, party: Party | None) -> list[EmailRecipientRow]:
        query = select(EmailRecipientRow).order_by(EmailRecipientRow.id)
        if party is not None:
            query = query.where(
                EmailRecipientRow.party_kind == party[0], EmailRecipientRow.party_id == party[1]
            )
        return list(await self._session.scalars(query))

    async def delete_recipient(self, party: Party | None, recipient_id: int) -> bool:
        statement = delete(EmailRecipientRow).where(EmailRecipientRow.id == recipient_id)
        if party is not None:
            statement = statement.where(
                EmailRecipientRow.party_kind == party[0], EmailRecipientRow.party_id == party[1]
            )
        return await self._session.scalar(statement.returning(EmailRecipientRow.id)) is not None

    # -- The feed and the delivery log -----------------------------------------------------------------

    async def feed(
        self, party: Party, *, after: int, types: list[str] | None, limit: int
    ) -> list[PartyEventRow]:
        """The party's settled events after the cursor, by id: no page skips or repeats one."""
        query = select(PartyEventRow).where(
            PartyEventRow.party_kind == party[0],
            PartyEventRow.party_id == party[1],
            PartyEventRow.id > after,
            SETTLED,
        )
        if types:
            query = query.where(PartyEventRow.event_type.in_(types))
        return list(await self._session.scalars(query.order_by(PartyEventRow.id).limit(limit)))

    async def event(self, party: Party | None, event_id: str) -> PartyEventRow | None:
        query = select(PartyEventRow).where(PartyEventRow.event_id == event_id)
        if party is not None:
            query = query.where(PartyEventRow.party_kind == party[0], PartyEventRow.party_id == party[1])
        return await self._session.scalar(query)

    async def deliveries(self, event_id: str) -> list[DeliveryRow]:
        rows = await self._session.scalars(
            select(DeliveryRow).where(DeliveryRow.event_id == event_id).order_by(DeliveryRow.id)
        )
        return list(rows)

    async def event_attempts(self, event_id: str) -> list[DeliveryAttemptRow]:
        rows = await self._session.scalars(
            select(DeliveryAttemptRow)
            .where(DeliveryAttemptRow.event_id == event_id)
            .order_by(DeliveryAttemptRow.id)
        )
        return list(rows)

    async def endpoint_attempts(
        self, endpoint_id: str, *, after: int, limit: int
    ) -> list[DeliveryAttemptRow]:
        rows = await self._session.scalars(
            select(DeliveryAttemptRow)
            .where(
                DeliveryAttemptRow.channel == "webhook",
                DeliveryAttemptRow.target == endpoint_id,
                DeliveryAttemptRow.id > after,
            )
            .order_by(DeliveryAttemptRow.id)
            .limit(limit)
        )
        return list(rows)

    # -- Redelivery ------------------------------------------------------------------------------------

    async def plan_redelivery(self, event_ids: list[str], endpoint_ids: list[str]) -> None:
        """Each event to each endpoint pending again, whatever became of it before: a redelivery is
        asked for because the first did not reach, or was lost after it reached."""
        rows = [
            {
                "event_id": event_id,
                "channel": "webhook",
                "target": endpoint_id,
                "role": "primary",
                "status": "pending",
                "attempts": 0,
            }
            for event_id in event_ids
            for endpoint_id in endpoint_ids
        ]
        if not rows:
            return
        statement = insert(DeliveryRow)
        await self._session.execute(
            statement.on_conflict_do_update(
                constraint="uq_deliveries_target",
                set_={"status": "pending", "role": "primary", "updated_at": func.now()},
            ),
            rows,
        )

    async def events_since(
        self, party: Party, since: datetime, *, types: list[str] | None, after: int, limit: int
    ) -> list[PartyEventRow]:
        """The party's events that occurred at or after `since`, of these types (None: all), by id."""
        query = select(PartyEventRow).where(
            PartyEventRow.party_kind == party[0],
            PartyEventRow.party_id == party[1],
            PartyEventRow.occurred_at >= since,
            PartyEventRow.id > after,
            SETTLED,
        )
        if types is not None:
            query = query.where(PartyEventRow.event_type.in_(types))
        return list(await self._session.scalars(query.order_by(PartyEventRow.id).limit(limit)))


def _owned_by(party: Party) -> tuple[Any, Any]:
    return WebhookEndpointRow.party_kind == party[0], WebhookEndpointRow.party_id == party[1]
