"""Endpoints, addresses and a worker that delivers, for the delivery tests."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager

from sqlalchemy import select, text

from activities.notifying import Notifier
from api.provisioning import new_webhook_secret
from contracts.parties import Notification, Party
from settings import Settings
from storage.models import DeliveryRow, EmailRecipientRow, EndpointSecretRow, WebhookEndpointRow
from storage.unit_of_work import UnitOfWork
from tests.patience import patience
from worker import activities_for, build_worker, delivery_activities


def delivery_settings(**overrides) -> Settings:
    values = {"webhook_retry_schedule": "0s,1s,1s", "urgent_fallback_seconds": 2, "webhook_timeout_seconds": 5,
              "webhook_http_loopback": True, "operator_emails": "ops@cyberins.test", "smtp_host": "127.0.0.1",
              "smtp_port": 1}
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def delivering_worker(client, sessions, task_queue: str, settings: Settings):
    activities = activities_for(client, sessions, task_queue=task_queue, settings=settings)
    async with build_worker(client, sessions, task_queue, activities=activities):
        notifier, _ = delivery_activities(client, sessions, task_queue, settings)  # as the worker's own
        yield notifier


async def register_endpoint(sessions, party: tuple[str, str], url: str, types: list[str], *, status: str = "active") -> tuple[str, str]:
    endpoint_id, secret = f"ep_{secrets.token_hex(8)}", new_webhook_secret()
    async with UnitOfWork(sessions) as uow:
        uow.session.add(WebhookEndpointRow(endpoint_id=endpoint_id, party_kind=party[0], party_id=party[1], url=url,
                                           event_types=types, status=status))
        await uow.session.flush()
        uow.session.add(EndpointSecretRow(endpoint_id=endpoint_id, secret=secret))
    return endpoint_id, secret


async def register_address(sessions, party: tuple[str, str], address: str, types: list[str], language: str = "zh") -> None:
    async with UnitOfWork(sessions) as uow:
        uow.session.add(EmailRecipientRow(party_kind=party[0], party_id=party[1], address=address, event_types=types,
                                          language=language, status="active"))


def dispatch_to(vendor_id: str, *, incident_id: str | None = None, key: str | None = None) -> Notification:
    incident_id = incident_id or f"inc-{uuid.uuid4().hex[:10]}"
    return Notification(
        dedupe_key=f"pol-x:emergency_dispatch:{key or uuid.uuid4().hex}:vendor", policy_id="pol-x",
        recipient=Party.VENDOR, recipient_id=vendor_id, kind="emergency_dispatch", payload={"incident_id": incident_id},
    )


async def emit(sessions, notifier: Notifier, notifications: list[Notification]) -> list[str]:
    async with UnitOfWork(sessions) as uow:
        started = await notifier.emit(uow, notifications)
    await notifier.deliver(started)
    return started


async def deliveries(sessions, event_id: str) -> list[DeliveryRow]:
    async with sessions() as session:
        return list(await session.scalars(select(DeliveryRow).where(DeliveryRow.event_id == event_id).order_by(DeliveryRow.id)))


async def until(check: Callable, *, seconds: float = 60, what: str = "condition"):
    """Poll an async or plain check until it is truthy; generous for a busy machine."""
    deadline = asyncio.get_running_loop().time() + patience(seconds)
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached within {seconds} s")
        await asyncio.sleep(0.1)


async def scalar(sessions, sql: str, **params):
    async with sessions() as session:
        return (await session.execute(text(sql), params)).scalar()
