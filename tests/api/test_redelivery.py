"""Sending events again, end to end: the API (or the administrator's CLI) plans the delivery and starts
its workflow `deliver-<event id>-<run key>`, the stack's own worker POSTs the event to a receiver
listening in this test, signed with the endpoint's secret and with the event's id as `webhook-id`,
and the attempt shows in the delivery log. A repeat with the same Idempotency-Key starts nothing.

The receiver is on loopback over plain http, which the API refuses outside development: the endpoint
is registered with `cyberins endpoints add`, run as the administrator runs it, in development mode.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from activities.notifying import emit
from api.client import ApiClient
from api.context import PartyKind
from api.server import server
from contracts.parties import Notification, Party
from devstack.ports import free_port
from domain.notifications import event_id_for
from storage.unit_of_work import UnitOfWork
from tests.api.conftest import CYBERINS
from tests.patience import patience

RUN_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass
class Receiver:
    """A webhook receiver: keeps every request, answers 204."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        self.received.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def of(self, event_id: str) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for headers, body in self.received if headers.get("webhook-id") == event_id]


@pytest.fixture(scope="module")
async def receiver():
    made, port = Receiver(), free_port()
    running = server(made, "127.0.0.1", port)
    task = asyncio.create_task(running.serve())
    while not running.started:
        await asyncio.sleep(0.05)
    made.url = f"http://127.0.0.1:{port}/hooks"
    yield made
    running.should_exit = True
    await task


async def cyberins(api_stack, *args: str) -> str:
    environment = {**api_stack.env, "CYBERINS_WEBHOOK_HTTP_LOOPBACK": "true"}
    process = await asyncio.create_subprocess_exec(
        str(CYBERINS), *args, env=environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, (args, out.decode(), err.decode())
    return out.decode()


@dataclass
class Subscriber:
    party_id: str
    client: ApiClient
    endpoint_id: str
    secret: str


@pytest.fixture
async def subscriber(api_stack, receiver):
    issued = await api_stack.credentials(PartyKind.INSURER)
    added = json.loads(
        await cyberins(
            api_stack,
            "endpoints",
            "add",
            "--party",
            f"insurer:{issued.party_id}",
            "--url",
            receiver.url,
            "--types",
            "claim.offer.made,claim.disputed",
            "--json",
        )
    )
    async with ApiClient(api_stack.base_url, issued.token) as client:
        yield Subscriber(issued.party_id, client, added["endpoint_id"], added["secret"])


async def store(api_stack, party_id: str, kind: str = "claim_offer") -> str:
    """An event for the insurer, stored as the workflows store it: its delivery planned, not started."""
    key = f"redelivery:{uuid.uuid4().hex}"
    notification = Notification(
        dedupe_key=key,
        recipient=Party.INSURER,
        recipient_id=party_id,
        kind=kind,
        payload={"claim_id": f"clm-{uuid.uuid4().hex[:6]}"},
    )
    async with UnitOfWork(api_stack.sessions) as uow:
        await emit(uow, [notification])
    return event_id_for(key, PartyKind.INSURER.value, party_id)


async def eventually(read, done, what: str, seconds: float = 60) -> Any:
    deadline = asyncio.get_running_loop().time() + patience(seconds)
    while True:
        value = await read()
        if done(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"{what}: {value!r}"
        await asyncio.sleep(0.2)


async def test_a_redelivered_event_arrives_signed_and_is_logged_and_a_repeat_starts_nothing(
    api_stack, receiver, subscriber
):
    event_id = await store(api_stack, subscriber.party_id)
    key = f"redeliver-{uuid.uuid4().hex}"
    answer = await subscriber.client.post_raw(f"/v1/events/{event_id}/redeliver", {}, key=key)
    assert answer.status_code == 202, answer.text
    redelivery = answer.json()
    assert redelivery["endpoint_ids"] == [subscriber.endpoint_id]
    workflow_id = redelivery["workflow_id"]
    run_key = workflow_id.removeprefix(f"deliver-{event_id}-")
    assert workflow_id != run_key and RUN_KEY.match(run_key)
    assert (await api_stack.temporal.get_workflow_handle(workflow_id).describe()).id == workflow_id

    async def received():
        return receiver.of(event_id)

    [(headers, body)] = await eventually(received, lambda got: got, "the receiver got the event")
    Webhook(subscriber.secret).verify(body, headers)  # raises unless signed with the endpoint's secret
    assert json.loads(body)["type"] == "claim.offer.made" and json.loads(body)["data"]["event_id"] == event_id

    log = await eventually(
        lambda: subscriber.client.get(f"/v1/events/{event_id}/deliveries"),
        lambda got: got["deliveries"][0]["status"] == "delivered",
        "the delivery logged",
    )
    [delivery] = log["deliveries"]
    assert (delivery["channel"], delivery["target"], delivery["role"]) == (
        "webhook",
        subscriber.endpoint_id,
        "primary",
    )
    assert [(a["outcome"], a["status_code"], a["event_id"]) for a in delivery["attempts"]] == [
        ("delivered", 204, event_id)
    ]
    attempts = (await subscriber.client.get(f"/v1/endpoints/{subscriber.endpoint_id}/attempts"))["attempts"]
    assert [a["id"] for a in attempts] == [a["id"] for a in delivery["attempts"]]

    again = await subscriber.client.post_raw(f"/v1/events/{event_id}/redeliver", {}, key=key)
    assert (again.status_code, again.content, again.headers["idempotent-replayed"]) == (
        202,
        answer.content,
        "true",
    )
    fresh = await subscriber.client.post(
        f"/v1/events/{event_id}/redeliver", {"endpoint_id": subscriber.endpoint_id}
    )
    assert fresh["workflow_id"] != workflow_id
    await eventually(received, lambda got: len(got) == 2, "the second redelivery arrived")
    await asyncio.sleep(1)
    assert len(receiver.of(event_id)) == 2  # the repeat sent nothing


async def test_redelivery_needs_an_active_endpoint_of_the_callers_own(api_stack, subscriber):
    event_id = await store(api_stack, subscriber.party_id)
    other = await api_stack.credentials(PartyKind.INSURER)
    async with ApiClient(api_stack.base_url, other.token) as stranger:
        others = await stranger.post(
            "/v1/endpoints", {"url": "https://hooks.example.com/x", "event_types": ["*"]}
        )
        answer = await subscriber.client.post_raw(
            f"/v1/events/{event_id}/redeliver", {"endpoint_id": others["endpoint_id"]}
        )
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
    await subscriber.client.post(f"/v1/endpoints/{subscriber.endpoint_id}/pause")
    answer = await subscriber.client.post_raw(
        f"/v1/events/{event_id}/redeliver", {"endpoint_id": subscriber.endpoint_id}
    )
    assert (answer.status_code, answer.json()["code"]) == (409, "endpoint_not_active")
    answer = await subscriber.client.post_raw(f"/v1/events/{event_id}/redeliver", {})
    assert (answer.status_code, answer.json()["code"]) == (409, "no_active_endpoint")
    answer = await subscriber.client.post_raw(
        f"/v1/endpoints/{subscriber.endpoint_id}/recover", {"since": datetime.now(UTC).isoformat()}
    )
    assert (answer.status_code, answer.json()["code"]) == (409, "endpoint_not_active")


async def test_recovery_sends_every_subscribed_event_since_a_time(api_stack, receiver, subscriber):
    before = await store(api_stack, subscriber.party_id)
    await asyncio.sleep(0.05)
    since = datetime.now(UTC)
    wanted = [await store(api_stack, subscriber.party_id, kind) for kind in ("claim_offer", "claim_disputed")]
    unsubscribed = await store(api_stack, subscriber.party_id, "late_notice_on_claim")
    answer = await subscriber.client.post(
        f"/v1/endpoints/{subscriber.endpoint_id}/recover",
        {"since": (since - timedelta(milliseconds=1)).isoformat()},
    )
    assert answer == {"endpoint_id": subscriber.endpoint_id, "redelivered": 2, "more": False, "next": None}
    for event_id in wanted:
        await eventually(lambda event_id=event_id: asyncio.sleep(0, receiver.of(event_id)), bool, event_id)
    assert not receiver.of(before) and not receiver.of(unsubscribed)


async def test_the_administrator_lists_and_redelivers_a_partys_events(api_stack, receiver, subscriber):
    event_id = await store(api_stack, subscriber.party_id)
    listed = json.loads(
        await cyberins(api_stack, "events", "list", "--party", f"insurer:{subscriber.party_id}", "--json")
    )
    assert event_id in [event["id"] for event in listed]
    said = await cyberins(api_stack, "events", "redeliver", event_id)
    assert subscriber.endpoint_id in said and f"deliver-{event_id}-" in said
    await eventually(lambda: asyncio.sleep(0, receiver.of(event_id)), bool, "the CLI's redelivery arrived")
    endpoints = json.loads(
        await cyberins(api_stack, "endpoints", "list", "--party", f"insurer:{subscriber.party_id}", "--json")
    )
    assert [e["endpoint_id"] for e in endpoints] == [subscriber.endpoint_id]
    assert "secret" not in endpoints[0]
