"""Webhook endpoints and e-mail recipients over real HTTP against the running API and its PostgreSQL.

Each party registers its own; the secret is shown at registration and rotation only; a rotated-out
secret keeps signing until its overlap ends; URLs cyberins may not call are refused naming `url`; and
no party can see or touch another's endpoint or recipient: it gets the very answer an unknown id gets.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from api.app import create_app
from api.client import ApiClient
from api.context import PartyKind, Services
from api.subscriptions import MAX_LIVE_ENDPOINTS
from storage.models import EndpointSecretRow, WebhookEndpointRow
from storage.unit_of_work import UnitOfWork

PROBLEM = "application/problem+json"
URL = "https://hooks.example.com/cyberins"
TYPES = ["incident.dispatch.requested", "policy.bound"]


@dataclass
class Party:
    kind: PartyKind
    id: str
    client: ApiClient


@pytest.fixture(scope="module")
async def parties(api_stack):
    made: dict[str, Party] = {}
    for name, kind in (
        ("owner", PartyKind.INSURED),
        ("other", PartyKind.INSURED),
        ("vendor", PartyKind.VENDOR),
        ("insurer", PartyKind.INSURER),
        ("platform", PartyKind.PLATFORM),
    ):
        issued = await api_stack.credentials(kind, f"{kind.value}-ep-{name}-{uuid.uuid4().hex[:6]}")
        made[name] = Party(
            kind,
            issued.party_id,
            ApiClient(api_stack.base_url, issued.token, webhook_secret=issued.webhook_secret),
        )
    yield made
    for party in made.values():
        await party.client.aclose()


async def register(client: ApiClient, url: str = URL, types: list[str] = TYPES, **extra) -> dict:
    return await client.post("/v1/endpoints", {"url": url, "event_types": types, **extra})


def refused_field(answer: httpx.Response, field: str) -> str:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert [error["field"] for error in problem["errors"]] == [field], problem
    return problem["errors"][0]["message"]


async def secrets_of(api_stack, endpoint_id: str) -> list[EndpointSecretRow]:
    async with UnitOfWork(api_stack.sessions) as uow:
        rows = await uow.session.scalars(
            select(EndpointSecretRow)
            .where(EndpointSecretRow.endpoint_id == endpoint_id)
            .order_by(EndpointSecretRow.id)
        )
        return list(rows)


async def test_a_registered_endpoint_is_listed_and_read_without_its_secret(api_stack, parties):
    owner = parties["owner"].client
    created = await register(owner, description="SOC intake")
    assert created["secret"].startswith("whsec_")
    assert (created["url"], created["event_types"], created["status"]) == (URL, TYPES, "active")
    assert (created["description"], created["status_reason"], created["failing_since"]) == (
        "SOC intake",
        None,
        None,
    )
    endpoint_id = created["endpoint_id"]

    listed = (await owner.get("/v1/endpoints"))["endpoints"]
    read = await owner.get(f"/v1/endpoints/{endpoint_id}")
    assert endpoint_id in [endpoint["endpoint_id"] for endpoint in listed]
    assert read == {key: value for key, value in created.items() if key != "secret"}
    for answer in (await owner.get_raw("/v1/endpoints"), await owner.get_raw(f"/v1/endpoints/{endpoint_id}")):
        assert "secret" not in answer.json() and created["secret"] not in answer.text
    assert [row.secret for row in await secrets_of(api_stack, endpoint_id)] == [created["secret"]]


async def test_every_kind_of_party_registers_its_own_and_a_vendor_signs_the_request(parties):
    for name in ("vendor", "insurer", "platform"):
        party = parties[name]
        created = await register(party.client, types=["*"])
        assert created["event_types"] == ["*"]
        assert [e["endpoint_id"] for e in (await party.client.get("/v1/endpoints"))["endpoints"]] == [
            created["endpoint_id"]
        ]


async def test_pause_resume_and_delete(api_stack, parties):
    owner = parties["owner"].client
    endpoint_id = (await register(owner))["endpoint_id"]
    paused = await owner.post(f"/v1/endpoints/{endpoint_id}/pause")
    assert (paused["status"], paused["status_reason"]) == ("paused", "paused by its party")
    assert (await owner.post(f"/v1/endpoints/{endpoint_id}/pause"))[
        "status"
    ] == "paused"  # already: no change
    resumed = await owner.post(f"/v1/endpoints/{endpoint_id}/resume")
    assert (resumed["status"], resumed["status_reason"]) == ("active", None)

    # Disabled by the deliveries after failing for days: pausing is refused, resuming forgets the failures.
    failing_since = datetime.now(UTC) - timedelta(days=6)
    async with UnitOfWork(api_stack.sessions) as uow:
        await uow.session.execute(
            update(WebhookEndpointRow)
            .where(WebhookEndpointRow.endpoint_id == endpoint_id)
            .values(status="disabled", status_reason="failing for too long", failing_since=failing_since)
        )
    disabled = await owner.get(f"/v1/endpoints/{endpoint_id}")
    assert (disabled["status"], disabled["status_reason"]) == ("disabled", "failing for too long")
    refusal = await owner.post_raw(f"/v1/endpoints/{endpoint_id}/pause")
    assert (refusal.status_code, refusal.json()["code"]) == (409, "endpoint_not_active")
    resumed = await owner.post(f"/v1/endpoints/{endpoint_id}/resume")
    assert (resumed["status"], resumed["status_reason"], resumed["failing_since"]) == ("active", None, None)

    deleted = await owner.delete_raw(f"/v1/endpoints/{endpoint_id}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await owner.get_raw(f"/v1/endpoints/{endpoint_id}")).status_code == 404
    assert endpoint_id not in [e["endpoint_id"] for e in (await owner.get("/v1/endpoints"))["endpoints"]]
    assert (await owner.delete_raw(f"/v1/endpoints/{endpoint_id}")).status_code == 404
    assert (await owner.post_raw(f"/v1/endpoints/{endpoint_id}/resume")).status_code == 404


async def test_a_rotated_out_secret_signs_until_its_overlap_ends(api_stack, parties):
    owner = parties["owner"].client
    created = await register(owner)
    endpoint_id, first = created["endpoint_id"], created["secret"]
    before = datetime.now(UTC)
    rotated = await owner.post(f"/v1/endpoints/{endpoint_id}/rotate-secret")
    second, until = rotated["secret"], datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert second.startswith("whsec_") and second != first
    assert (
        before + timedelta(hours=23, minutes=59) < until < datetime.now(UTC) + timedelta(hours=24, minutes=1)
    )
    rows = await secrets_of(api_stack, endpoint_id)
    assert [(row.secret, row.expires_at) for row in rows] == [(first, until), (second, None)]
    async with UnitOfWork(api_stack.sessions) as uow:  # what the deliveries sign with
        assert await uow.deliveries.signing_secrets(endpoint_id, datetime.now(UTC)) == [second, first]
        assert await uow.deliveries.signing_secrets(endpoint_id, until + timedelta(seconds=1)) == [second]

    third = (await owner.post(f"/v1/endpoints/{endpoint_id}/rotate-secret"))["secret"]
    rows = await secrets_of(api_stack, endpoint_id)
    assert [row.secret for row in rows] == [first, second, third]
    assert rows[0].expires_at == until  # its earlier end stands
    assert rows[1].expires_at is not None and rows[2].expires_at is None
    read = await owner.get_raw(f"/v1/endpoints/{endpoint_id}")
    assert not {first, second, third} & set(read.text.split('"'))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/cyberins", "https"),
        ("http://127.0.0.1:8080/hooks", "https"),  # loopback only where the settings allow it
        ("https://10.0.0.8/hooks", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://user:secret@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com/#x", "fragment"),
        ("hooks.example.com/cyberins", "absolute"),
    ],
)
async def test_a_url_cyberins_may_not_call_is_refused_naming_url(api_stack, parties, url, reason):
    owner = parties["owner"]
    before = len((await owner.client.get("/v1/endpoints"))["endpoints"])
    answer = await owner.client.post_raw("/v1/endpoints", {"url": url, "event_types": TYPES})
    assert reason in refused_field(answer, "body.url")
    assert url not in answer.text  # a problem never repeats the value sent
    assert len((await owner.client.get("/v1/endpoints"))["endpoints"]) == before


async def test_loopback_over_http_is_accepted_where_the_settings_allow_it(api_stack, parties, monkeypatch):
    """The same app and database in this process, with CYBERINS_WEBHOOK_HTTP_LOOPBACK set."""
    monkeypatch.setenv("CYBERINS_WEBHOOK_HTTP_LOOPBACK", "true")
    app = create_app()
    app.state.services = Services(api_stack.temporal, api_stack.sessions, api_stack.task_queue)
    issued = await api_stack.credentials(PartyKind.INSURED)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api",
        headers={"Authorization": f"Bearer {issued.token}"},
    ) as client:
        answer = await client.post(
            "/v1/endpoints", json={"url": "http://127.0.0.1:8080/hooks", "event_types": ["*"]}
        )
        assert answer.status_code == 201, answer.text
        answer = await client.post(
            "/v1/endpoints", json={"url": "http://hooks.example.com/", "event_types": ["*"]}
        )
        assert "https" in refused_field(answer, "body.url")


async def test_an_unknown_event_type_is_refused_naming_the_field_and_the_type(parties):
    owner = parties["owner"].client
    answer = await owner.post_raw(
        "/v1/endpoints", {"url": URL, "event_types": ["policy.bound", "policy.teleported"]}
    )
    message = refused_field(answer, "body.event_types")
    assert "policy.teleported" in message and "policy.bound" not in message
    for types in ([], ["x"] * 101):
        assert (await owner.post_raw("/v1/endpoints", {"url": URL, "event_types": types})).status_code == 422
    created = await register(owner, types=["policy.bound", "policy.bound", "*"])
    assert created["event_types"] == ["*"]


async def test_a_party_has_at_most_so_many_endpoints(api_stack):
    issued = await api_stack.credentials(PartyKind.INSURER)
    async with ApiClient(api_stack.base_url, issued.token) as client:
        for n in range(MAX_LIVE_ENDPOINTS):
            await register(client, url=f"{URL}/{n}")
        answer = await client.post_raw("/v1/endpoints", {"url": URL, "event_types": ["*"]})
        assert (answer.status_code, answer.json()["code"]) == (409, "too_many_endpoints")
        first = (await client.get("/v1/endpoints"))["endpoints"][0]["endpoint_id"]
        assert (await client.delete_raw(f"/v1/endpoints/{first}")).status_code == 204
        await register(client)


async def test_a_repeated_registration_is_one_endpoint_with_one_secret(parties):
    owner = parties["owner"].client
    key = f"register-{uuid.uuid4().hex}"
    first = await owner.post_raw("/v1/endpoints", {"url": URL, "event_types": TYPES}, key=key)
    again = await owner.post_raw("/v1/endpoints", {"url": URL, "event_types": TYPES}, key=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"


async def test_email_recipients_are_added_updated_listed_and_deleted(parties):
    owner = parties["owner"].client
    address = f"soc-{uuid.uuid4().hex[:6]}@Example.COM"
    added = await owner.post("/v1/email-recipients", {"address": address, "event_types": ["policy.bound"]})
    assert (added["address"], added["language"], added["status"]) == (address.lower(), "zh", "active")
    again = await owner.post("/v1/email-recipients", {"address": address, "language": "en"})
    assert again["recipient_id"] == added["recipient_id"]
    assert (again["event_types"], again["language"]) == (["*"], "en")
    listed = (await owner.get("/v1/email-recipients"))["recipients"]
    assert [r["recipient_id"] for r in listed if r["address"] == address.lower()] == [added["recipient_id"]]

    other = parties["other"].client
    assert (await other.delete_raw(f"/v1/email-recipients/{added['recipient_id']}")).status_code == 404
    assert added["recipient_id"] not in [
        r["recipient_id"] for r in (await other.get("/v1/email-recipients"))["recipients"]
    ]
    assert (await owner.delete_raw(f"/v1/email-recipients/{added['recipient_id']}")).status_code == 204
    assert (await owner.delete_raw(f"/v1/email-recipients/{added['recipient_id']}")).status_code == 404

    answer = await owner.post_raw("/v1/email-recipients", {"address": "not an address"})
    assert "spaces" in refused_field(answer, "body.address")
    answer = await owner.post_raw(
        "/v1/email-recipients", {"address": "ops@example.com", "event_types": ["nope.x"]}
    )
    assert "nope.x" in refused_field(answer, "body.event_types")


async def test_no_party_can_see_or_touch_another_partys_endpoint(api_stack, parties):
    owner = parties["owner"].client
    endpoint_id = (await register(owner))["endpoint_id"]
    unknown = f"ep-{uuid.uuid4().hex[:12]}"
    since = {"since": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}
    operations = [
        ("GET", "/v1/endpoints/{id}", None),
        ("GET", "/v1/endpoints/{id}/attempts", None),
        ("POST", "/v1/endpoints/{id}/pause", None),
        ("POST", "/v1/endpoints/{id}/resume", None),
        ("POST", "/v1/endpoints/{id}/rotate-secret", None),
        ("POST", "/v1/endpoints/{id}/recover", since),
        ("DELETE", "/v1/endpoints/{id}", None),
    ]
    before = await owner.get(f"/v1/endpoints/{endpoint_id}")
    secrets_before = await secrets_of(api_stack, endpoint_id)
    for name in ("other", "vendor", "insurer", "platform"):
        intruder = parties[name].client
        for method, template, body in operations:
            answers = []
            for target in (endpoint_id, unknown):
                path = template.format(id=target)
                answer = await (
                    intruder.get_raw(path)
                    if method == "GET"
                    else intruder.delete_raw(path)
                    if method == "DELETE"
                    else intruder.post_raw(path, body)
                )
                answers.append(answer)
            where = f"{name} {method} {template}"
            assert answers[0].status_code == 404 and answers[0].json()["code"] == "not_found", (
                where,
                answers[0].text,
            )
            assert answers[0].content.replace(endpoint_id.encode(), unknown.encode()) == answers[1].content, (
                where
            )
        assert endpoint_id not in (await intruder.get_raw("/v1/endpoints")).text
    assert await owner.get(f"/v1/endpoints/{endpoint_id}") == before
    assert [(s.secret, s.expires_at) for s in await secrets_of(api_stack, endpoint_id)] == [
        (s.secret, s.expires_at) for s in secrets_before
    ]
