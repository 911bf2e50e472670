"""The issue's kinds of bad input, each refused at the API with a 422 naming the field, and nothing
already recorded changed: money beyond what PostgreSQL and the loss arithmetic hold, times without a
zone, in the future or given as numbers, NUL and control characters in a path or a body."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from api.client import ApiClient
from api.context import PartyKind
from domain.boundaries import MAX_FEN
from storage.unit_of_work import UnitOfWork
from tests.api.test_malformed_input import problem, valid_application
from tests.api.test_party_paths import apply, bind, eventually


@pytest.fixture(scope="module")
async def claim(api_stack):
    """A bound policy, an incident on it and a claim: the deepest objects a bad value could reach."""
    issued, clients = await api_stack.insured_vendor_insurer("door")
    policy_id = await apply(clients, issued)
    await bind(clients, issued, policy_id)
    incident = await clients["insured"].post("/v1/incidents", {
        "policy_id": policy_id, "reference": f"DOOR-{uuid.uuid4().hex[:6]}", "discovered_at": datetime.now(UTC).isoformat(),
        "grade": "general", "category": "malicious_program", "summary": "one encrypted file server",
    })
    claim_id = (await clients["insurer"].post("/v1/claims", {"incident_id": incident["id"]}))["id"]
    await eventually(lambda: clients["insurer"].get(f"/v1/claims/{claim_id}"), lambda s: s["policy_id"] == policy_id)
    yield clients, policy_id, incident["id"], claim_id
    for client in clients.values():
        await client.aclose()


def only_field(answer: httpx.Response, field: str) -> str:
    body = problem(answer, 422, answer.json().get("code", ""))
    assert body["code"] in ("invalid_request", "invalid_value"), body
    named = {error["field"] for error in body["errors"]}
    assert field in named, body
    return body["detail"]


@pytest.mark.parametrize("fen", [2**63, 2**64, MAX_FEN + 1, -1, "1000", 1e3])
async def test_a_loss_item_beyond_what_money_holds_is_422_and_the_claim_unchanged(claim, api_stack, fen):
    clients, _, _, claim_id = claim
    before = await _loss_items(api_stack, claim_id)
    answer = await clients["insurer"].post_raw(f"/v1/claims/{claim_id}/loss-items", {"items": [
        {"item_id": "huge", "head": "emergency_response", "amount": {"fen": fen, "currency": "CNY"}},
    ]})
    only_field(answer, "body.items[0].amount.fen")
    assert await _loss_items(api_stack, claim_id) == before
    # and the claim still takes a valid item at once
    item_id = f"ok-{uuid.uuid4().hex[:6]}"
    await clients["insurer"].post(f"/v1/claims/{claim_id}/loss-items", {"items": [
        {"item_id": item_id, "head": "emergency_response", "amount": {"fen": 100_000, "currency": "CNY"}},
    ]})
    assert await _loss_items(api_stack, claim_id) == [*before, item_id]


async def _loss_items(api_stack, claim_id: str) -> list[str]:
    async with UnitOfWork(api_stack.sessions) as uow:
        return [item.item_id for item in await uow.claims.loss_items(claim_id)]


async def test_a_coverage_limit_beyond_what_money_holds_is_422_and_no_policy_is_started(api_stack):
    issued = await api_stack.credentials(PartyKind.INSURED)
    async with ApiClient(api_stack.base_url, issued.token) as insured:
        body = {"insurer_id": "insurer-door", "application": valid_application()["application"]}
        body["application"]["coverages"][0]["limit"]["fen"] = 2**63
        only_field(await insured.post_raw("/v1/policies", body), "body.application.coverages[0].limit.fen")
        assert (await insured.get("/v1/policies"))["items"] == []


@pytest.mark.parametrize(
    "discovered_at",
    [
        "2026-12-03T09:30:00",  # no time zone
        (datetime.now(UTC) + timedelta(days=3650)).isoformat(),  # ten years ahead
        (datetime.now(UTC) + timedelta(minutes=30)).isoformat(),  # beyond the clock skew
        1_790_000_000,  # a bare integer
        "1790000000",  # the same as a string
        "1970-01-01T00:00:00+00:00",  # before any cyber policy
    ],
)
async def test_a_discovery_time_that_cannot_be_is_422_and_no_incident_is_opened(claim, discovered_at):
    clients, policy_id, _, _ = claim
    before = await clients["insured"].get("/v1/incidents")
    answer = await clients["insured"].post_raw("/v1/incidents", {
        "policy_id": policy_id, "reference": f"BAD-{uuid.uuid4().hex[:6]}", "discovered_at": discovered_at,
        "grade": "general", "category": "malicious_program", "summary": "when?",
    })
    only_field(answer, "body.discovered_at")
    assert await clients["insured"].get("/v1/incidents") == before


@pytest.mark.parametrize("event_id", ["bad%00id", "bell%07", "%7F"])
async def test_a_control_character_in_a_path_is_422_before_anything_is_looked_up(claim, event_id):
    clients, policy_id, _, _ = claim
    path = f"/v1/policies/{policy_id}/findings/{event_id}/resolution"
    answer = await clients["insured"].post_raw(path, {"resolution": "fixed"})
    only_field(answer, "path.vendor_event_id")
    # and a well-formed resolution on the same policy is answered at once (409: no such finding yet)
    fine = await clients["insured"].post_raw(f"/v1/policies/{policy_id}/findings/no-such-finding/resolution",
                                             {"resolution": "fixed"})
    assert fine.status_code in (404, 409), fine.text


@pytest.mark.parametrize(
    ("text", "kind"), [("a\x00b", "NUL"), ("a\x1bb", "U+001B"), ("a\x7fb", "U+007F")]
)
async def test_a_control_character_anywhere_in_a_body_is_422_naming_the_field(claim, text, kind):
    clients, policy_id, _, _ = claim
    answer = await clients["insured"].post_raw(f"/v1/policies/{policy_id}/cancellation", {"reason": text})
    assert kind in only_field(answer, "body.reason")
    assert (await clients["insured"].get(f"/v1/policies/{policy_id}"))["phase"] == "in_force"


async def test_a_huge_number_where_any_number_goes_is_422(claim):
    clients, _, incident_id, _ = claim
    answer = await clients["vendor"].post_raw(f"/v1/incidents/{incident_id}/evidence", {
        "evidence_id": "ev-1", "name": "disk image", "sha256": "a" * 64, "size_bytes": 2**63,
        "collected_by": "vendor", "collected_at": datetime.now(UTC).isoformat(),
    })
    only_field(answer, "body.size_bytes")

