"""The demo's webhook receivers: one per party, on a free loopback port, registered through the API as
that party's endpoint. Each delivery is printed as it arrives, between the story's steps, and summed
up at the end, so the demo shows who was told what (the panel vendor of its dispatch above all).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import httpx
from rich.console import Console

from devstack.webhook_receiver import Received, WebhookReceiver

if TYPE_CHECKING:
    from api.client import ApiClient
    from api.provisioning import IssuedCredentials

DESCRIPTION = "cyberins demo receiver"
INSURED_DESK = "it-desk@insured.demo.example"
INDENT = "    "


@dataclass
class PartyReceiver:
    """One party's receiver, the client that registers it, and the endpoint it became."""

    label: str
    credentials: IssuedCredentials
    client: ApiClient
    receiver: WebhookReceiver
    endpoint_id: str | None = None
    deleted: bool = False  # its endpoint, when the demo ended

    @property
    def party_id(self) -> str:
        return self.credentials.party_id


@dataclass(frozen=True)
class Arrivals:
    """How the wait at the end went: of the webhooks planned to the demo's endpoints, how many arrived."""

    arrived: int
    planned: int
    waited_seconds: float


class DemoReceivers:
    """Receivers for the demo's parties, open for the length of the story. Without them (the API
    refused to register one) the story goes on untouched and nothing here prints again."""

    def __init__(
        self, console: Console, base_url: str, parties: list[tuple[str, IssuedCredentials, ApiClient]],
        receiver_factory: Callable[[], WebhookReceiver] | None = None,
    ) -> None:
        make = receiver_factory or WebhookReceiver
        self.console, self.base_url = console, base_url
        self.parties = [PartyReceiver(label, issued, client, make()) for label, issued, client in parties]
        self.live = False

    async def open(self) -> bool:
        """Start and register every receiver; if one cannot be, say why once, and carry on without."""
        from api.client import ApiError

        try:
            for party in self.parties:
                await party.receiver.start()
                party.receiver.on_delivery = partial(self._print, party.label)
                answer = await party.client.post(
                    "/v1/endpoints", {"url": party.receiver.url, "event_types": ["*"], "description": DESCRIPTION}
                )
                party.endpoint_id = answer["endpoint_id"]
                party.receiver.secrets = [answer["secret"]]
                if party.label == "insured":  # and a person at the insured, so that `cyberins mail` shows mail
                    await party.client.post("/v1/email-recipients", {"address": INSURED_DESK, "event_types": ["*"]})
        except (ApiError, httpx.HTTPError, KeyError, OSError) as error:  # OSError: no port to listen on
            self.console.print(f"[yellow]webhooks off:[/] {_why_not(error)}; the story runs without receivers.")
            await self.close()
            return False
        self.live = True
        where = ", ".join(f"{p.label} :{p.receiver.port}" for p in self.parties)
        self.console.print(f"[bold]webhooks[/] to local receivers, each registered by its party: {where}; "
                           f"e-mail to the insured's {INSURED_DESK} (see `cyberins mail`)")
        return True

    def _print(self, label: str, received: Received) -> None:
        check = "[green](verified)[/]" if received.verified else "[red](NOT verified)[/]"
        self.console.print(
            f"{INDENT}[magenta]⇢[/] webhook to {label}: [bold]{received.event_type}[/]  [dim]{received.webhook_id}[/]  {check}"
        )

    async def told(self, label: str, event_type: str, object_id: str, seconds: float) -> bool:
        """Wait, at most `seconds`, until the party's receiver has the event about `object_id`, so that
        the story shows a party told before it acts on what it was told."""
        [party] = [p for p in self.parties if p.label == label]
        deadline = time.monotonic() + seconds
        while self.live and time.monotonic() < deadline:
            if any(r.event_type == event_type and r.data.get("object_id") == object_id
                   for r in party.receiver.applied.values()):
                return True
            await asyncio.sleep(0.05)
        return False

    async def settle(self, database_url: str, seconds: float) -> Arrivals | None:
        """Wait, at most `seconds`, for every webhook the service has planned to the demo's endpoints,
        then print what each party received. The plan is read afresh each time: a workflow may still
        be telling a party something after the story's last call returned."""
        if not self.live:
            return None
        from sqlalchemy.exc import SQLAlchemyError

        from storage.db import create_session_factory

        engine, sessions = create_session_factory(database_url, pool_size=1)
        started = time.monotonic()
        try:
            while True:
                planned = await self._planned(sessions)
                arrived = planned & self._applied()
                if arrived == planned or time.monotonic() - started >= seconds:
                    break
                await asyncio.sleep(0.2)
        except (OSError, SQLAlchemyError) as error:
            self.console.print(f"[yellow]webhooks:[/] cannot read which deliveries are planned ({type(error).__name__})")
            return None
        finally:
            await engine.dispose()
        arrivals = Arrivals(len(arrived), len(planned), time.monotonic() - started)
        self._summarise(arrivals)
        return arrivals

    async def _planned(self, sessions) -> set[tuple[str, str]]:
        """(endpoint, event) of every webhook delivery planned to the demo's endpoints."""
        from sqlalchemy import select

        from domain.notifications import Channel
        from storage.models import DeliveryRow

        endpoints = [p.endpoint_id for p in self.parties if p.endpoint_id]
        async with sessions() as session:
            rows = await session.execute(
                select(DeliveryRow.target, DeliveryRow.event_id)
                .where(DeliveryRow.channel == Channel.WEBHOOK.value, DeliveryRow.target.in_(endpoints))
            )
            return {(target, event_id) for target, event_id in rows}

    def _applied(self) -> set[tuple[str, str]]:
        return {(p.endpoint_id, webhook_id) for p in self.parties if p.endpoint_id for webhook_id in p.receiver.applied}

    def _summarise(self, arrivals: Arrivals) -> None:
        late = arrivals.planned - arrivals.arrived
        waited = f"after {arrivals.waited_seconds:.1f} s" if arrivals.waited_seconds >= 0.5 else "by the story's end"
        heard = f"{arrivals.arrived} of {arrivals.planned} planned webhook(s) arrived {waited}"
        if late:
            heard += f"; [yellow]{late} still in flight[/] (see `deliveries` in the database)"
        self.console.print(f"[bold]Webhooks:[/] {heard}.")
        width = max(len(p.label) for p in self.parties)
        for party in self.parties:
            received = list(party.receiver.applied.values())
            kinds = Counter(r.event_type for r in received)
            listed = ", ".join(kind if n == 1 else f"{kind} ×{n}" for kind, n in kinds.items()) or "nothing"
            self.console.print(f"{INDENT}{party.label:<{width}}  {len(received):>2}  {listed}")
        repeated = sum(len(p.receiver.deliveries) - len(p.receiver.applied) for p in self.parties)
        if repeated:
            self.console.print(f"{INDENT}{repeated} repeated webhook-id(s) answered and not applied again")
        refused = sum(p.receiver.rejected for p in self.parties)
        unverified = sum(not r.verified for p in self.parties for r in p.receiver.applied.values())
        if refused or unverified:
            self.console.print(f"{INDENT}[red]{refused + unverified} request(s) did not verify and were refused[/]")
        elif arrivals.arrived:
            self.console.print(
                f"{INDENT}each verified with its endpoint's secret by the standardwebhooks reference package, "
                "and applied once by its webhook-id"
            )

    async def close(self) -> None:
        """Delete the endpoints, then stop the receivers. The panel vendor is the same party in every
        run: its stale endpoints would have the service retry closed ports for days, and count towards
        its limit of live endpoints."""
        for party in self.parties:
            if party.endpoint_id is not None and not party.deleted:
                await self._delete(party)
        for party in self.parties:
            await party.receiver.stop()
        self.live = False

    async def _delete(self, party: PartyReceiver) -> None:
        # DELETE by hand: api.client.ApiClient has only GET and POST.
        headers = {"Authorization": f"Bearer {party.credentials.token}"}
        try:
            async with httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=10) as http:
                answer = await http.delete(f"/v1/endpoints/{party.endpoint_id}")
            answer.raise_for_status()
        except httpx.HTTPError as error:
            self.console.print(f"[yellow]webhooks:[/] could not delete the {party.label}'s endpoint {party.endpoint_id} "
                               f"({type(error).__name__}: {error}); delete it with DELETE /v1/endpoints/{party.endpoint_id}")
        else:
            party.deleted = True


def _why_not(error: Exception) -> str:
    from api.client import ApiError

    if isinstance(error, ApiError) and error.status == 404:
        return "this API has no /v1/endpoints to register a receiver with"
    if isinstance(error, ApiError):
        detail = str(error.problem.get("detail") or error.problem)
        if error.status == 422 and "loopback" in detail:
            return (f"the API refused an http://127.0.0.1 endpoint ({detail}); it takes one only with "
                    "CYBERINS_WEBHOOK_HTTP_LOOPBACK=true, as `cyberins dev` sets it")
        return f"the API refused to register the demo's receiver ({error.status} {error.problem.get('code', '')}: {detail})"
    if isinstance(error, KeyError):
        return f"the API's answer to registering an endpoint has no {error}"
    return f"could not register the demo's receiver ({type(error).__name__}: {error})"
