"""Where a party hears of its events, and sending events again: one set of rules for the API's routes
and the administrator's CLI, so that neither door accepts what the other refuses."""

from __future__ import annotations

import asyncio
import secrets as random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.provisioning import new_webhook_secret
from domain.endpoints import check_endpoint_url
from domain.notifications import subscribed
from storage.models import WebhookEndpointRow
from storage.repositories.endpoints import Party
from storage.unit_of_work import UnitOfWork
from workflows.delivery import delivery_workflow_id, start_delivery

# A party with more endpoints than this has a problem no further endpoint solves; each is a POST per event.
MAX_LIVE_ENDPOINTS = 20
RECOVERY_BATCH = 1_000
STARTS_AT_ONCE = 16


class Refused(Exception):
    """What the endpoint's or the party's state does not allow; `code` is stable for clients."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


def new_endpoint_id() -> str:
    return f"ep-{random.token_hex(6)}"


def new_run_key() -> str:
    return f"r{random.token_hex(12)}"


async def register_endpoint(
    uow: UnitOfWork,
    party: Party,
    endpoint_id: str,
    *,
    url: str,
    event_types: list[str],
    description: str | None,
    http_loopback: bool,
) -> tuple[WebhookEndpointRow, str]:
    """The endpoint and its first signing secret. An id already the party's (a retried request) gives
    that endpoint and its current secret: the same answer, not a second endpoint."""
    check_endpoint_url(url, http_loopback=http_loopback)
    existing = await uow.endpoints.get(party, endpoint_id)
    if existing is None:
        if await uow.endpoints.count_live(party) >= MAX_LIVE_ENDPOINTS:
            raise Refused(
                "too_many_endpoints",
                f"a party may have at most {MAX_LIVE_ENDPOINTS} endpoints; delete one first",
            )
        secret = new_webhook_secret()
        if await uow.endpoints.add(
            party, endpoint_id, url=url, event_types=event_types, description=description, secret=secret
        ):
            row = await uow.endpoints.get(party, endpoint_id)
            assert row is not None
            return row, secret
        existing = await uow.endpoints.get(party, endpoint_id)
        if existing is None:  # the id is someone else's, or deleted: never theirs to see
            raise Refused("endpoint_id_taken", f"endpoint id {endpoint_id} cannot be used; try again")
    secret = await uow.endpoints.current_secret(endpoint_id)
    assert secret is not None, endpoint_id
    return existing, secret


async def pause(uow: UnitOfWork, endpoint: WebhookEndpointRow, *, by: str) -> WebhookEndpointRow:
    if endpoint.status == "disabled":
        raise Refused(
            "endpoint_not_active",
            f"endpoint {endpoint.endpoint_id} is disabled ({endpoint.status_reason}); "
            "resume it to have it deliver again",
        )
    if endpoint.status == "paused":
        return endpoint
    return await uow.endpoints.set_status(endpoint.endpoint_id, "paused", reason=f"paused by {by}")


async def rotate(uow: UnitOfWork, endpoint_id: str, *, overlap: timedelta) -> tuple[str, datetime]:
    secret, until = new_webhook_secret(), datetime.now(UTC) + overlap
    await uow.endpoints.rotate(endpoint_id, secret, previous_expire_at=until)
    return secret, until


def redelivery_targets(
    endpoints: Sequence[WebhookEndpointRow], event_type: str, chosen: str | None
) -> list[str]:
    """The endpoint asked for, which must be active; else every active one subscribed to the type."""
    if chosen is not None:
        endpoint = next((e for e in endpoints if e.endpoint_id == chosen), None)
        if endpoint is None:
            raise LookupError(chosen)
        if endpoint.status != "active":
            raise Refused("endpoint_not_active", f"endpoint {chosen} is {endpoint.status}; resume it first")
        return [chosen]
    active = [e for e in endpoints if e.status == "active"]
    if not active:
        raise Refused("no_active_endpoint", "you have no active webhook endpoint to deliver to")
    targets = [e.endpoint_id for e in active if subscribed(list(e.event_types), event_type)]
    if not targets:
        raise Refused(
            "no_active_endpoint", f"none of your active webhook endpoints subscribes to {event_type}"
        )
    return targets


async def start_deliveries(
    client: Client, task_queue: str, event_ids: Sequence[str], run_key: str, *, targets: Sequence[str]
) -> list[str]:
    """A delivery workflow per event, a few at a time; one started already under this run key (a
    retried request) is left to run. Raises the first failure once its batch has been tried."""
    workflow_ids = []
    for start in range(0, len(event_ids), STARTS_AT_ONCE):
        batch = event_ids[start : start + STARTS_AT_ONCE]
        outcomes = await asyncio.gather(
            *(start_delivery(client, task_queue, event_id, run_key=run_key, targets=targets) for event_id in batch),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, WorkflowAlreadyStartedError):
                raise outcome
        workflow_ids += [delivery_workflow_id(event_id, run_key) for event_id in batch]
    return workflow_ids
