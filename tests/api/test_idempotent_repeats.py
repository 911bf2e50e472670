"""Concurrent repeats of an idempotent POST, over real HTTP: every repeat gets the first answer byte for
byte (status, content type, body) and the request takes effect once.

Each kind of replayable POST is covered: creating a policy, an incident or a claim with an
Idempotency-Key, updating a policy or a claim with one, and a vendor's signed push, whose webhook-id is
its replay key. An answer stored before its bytes were kept (migration 0008) still replays.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text

from api.client import ApiClient
from api.context import PartyKind
from storage.repositories import StoredAnswer
from storage.unit_of_work import UnitOfWork
from tests import builders
from tests.api.test_party_paths import bind, eventually
from tests.api.test_pushes_and_keys import application_body

REPEATS = 20


async def repeated(send: Callable[[], Awaitable[httpx.Response]], status: int) -> httpx.Response:
    """Sends the same request REPEATS times at once; all must get one answer, and one of them first."""
    answers = await asyncio.gather(*(send() for _ in range(REPEATS)))
    assert [a.status_code for a in answers] == [status] * REPEATS, [a.text for a in answers]
    bodies = {a.content for a in answers}
    assert len(bodies) == 1, f"{len(bodies)} different bodies: {sorted(bodies)}"
    assert {a.headers["content-type"] for a in answers} == {"application/json"}
    replayed = [a.headers.get("idempotent-replayed") == "true" for a in answers]
    assert replayed.count(False) == 1, "exactly one request does the work; the others replay its answer"
    return answers[replayed.index(False)]


async def history_names(client: ApiClient, path: str, event: str) -> list[str]:
    return [e["name"] for e in (await client.get(f"{path}/history"))["events"] if e["event"] == event]


@pytest.fixture(scope="module")
async def parties(api_stack):
    issued, clients = await api_stack.insured_vendor_insurer("repeat")
    yield issued, clients
    for client in clients.values():
        await client.aclose()


async def apply(parties) -> str:
    issued, clients = parties
    body = application_body(issued["insurer"].party_id, issued["vendor"].party_id)
    return (await clients["insured"].post("/v1/policies", body))["id"]


@pytest.fixture(scope="module")
async def in_force(parties) -> str:
    """A policy in force, reached without repeats; the tests below repeat what follows."""
    issued, clients = parties
    policy_id = await apply(parties)
    await bind(clients, issued, policy_id)
    return policy_id


def incident_report(policy_id: str) -> dict:
    return {
        "policy_id": policy_id, "reference": f"REP-{uuid.uuid4().hex[:6]}",
        "discovered_at": datetime.now(UTC).isoformat(), "grade": "general", "category": "malicious_program",
        "summary": "ransomware on one file server",
    }


async def test_concurrent_repeats_of_an_application_get_one_answer_and_start_one_policy(api_stack):
    insured = await api_stack.credentials(PartyKind.INSURED)
    body, key = application_body("insurer-repeat", "vendor-repeat"), str(uuid.uuid4())
    async with ApiClient(api_stack.base_url, insured.token) as client:
        first = await repeated(lambda: client.post_raw("/v1/policies", body, key=key), 201)
        assert (await client.get("/v1/policies"))["items"] == [first.json()["id"]]
        started = await history_names(client, f"/v1/policies/{first.json()['id']}", "workflow_execution_started")
    assert started == ["PolicyWorkflow"]


async def test_concurrent_repeats_of_a_signed_assessment_get_one_answer_and_assess_once(parties):
    issued, clients = parties
    policy_id = await apply(parties)
    report = builders.assessment(issued["vendor"].party_id).model_dump(mode="json")
    webhook_id = f"msg_{uuid.uuid4().hex}"

    first = await repeated(
        lambda: clients["vendor"].post_raw(f"/v1/policies/{policy_id}/assessment", report, key=webhook_id), 200
    )
    assert first.json()["decision"] == "accept"
    updates = await history_names(clients["insured"], f"/v1/policies/{policy_id}", "workflow_execution_update_accepted")
    assert updates == ["submit_assessment"]


async def test_concurrent_repeats_of_a_quote_acceptance_get_one_answer_and_bind_once(parties):
    issued, clients = parties
    insured, policy_id = clients["insured"], await apply(parties)
    await clients["vendor"].post(
        f"/v1/policies/{policy_id}/assessment", builders.assessment(issued["vendor"].party_id).model_dump(mode="json")
    )
    quoted = await eventually(lambda: insured.get(f"/v1/policies/{policy_id}"), lambda s: s["quote"] is not None)
    acceptance, key = {"quote_id": quoted["quote"]["quote_id"]}, str(uuid.uuid4())

    accept = f"/v1/policies/{policy_id}/quote-acceptance"
    first = await repeated(lambda: insured.post_raw(accept, acceptance, key=key), 200)
    assert first.json()["policy_number"] == (await insured.get(f"/v1/policies/{policy_id}"))["policy_number"]
    updates = await history_names(insured, f"/v1/policies/{policy_id}", "workflow_execution_update_accepted")
    assert updates == ["submit_assessment", "accept_quote"]


async def test_concurrent_repeats_of_an_incident_report_get_one_answer_and_report_one_incident(parties, in_force):
    _, clients = parties
    report, key = incident_report(in_force), str(uuid.uuid4())
    before = set((await clients["insured"].get("/v1/incidents"))["items"])

    first = await repeated(lambda: clients["insured"].post_raw("/v1/incidents", report, key=key), 201)
    assert set((await clients["insured"].get("/v1/incidents"))["items"]) - before == {first.json()["id"]}


async def test_concurrent_repeats_of_a_claim_get_one_answer_and_start_one_claim(parties, in_force):
    _, clients = parties
    incident_id = (await clients["insured"].post("/v1/incidents", incident_report(in_force)))["id"]
    key = str(uuid.uuid4())
    before = set((await clients["insurer"].get("/v1/claims"))["items"])

    first = await repeated(lambda: clients["insurer"].post_raw("/v1/claims", {"incident_id": incident_id}, key=key), 201)
    claim_id = first.json()["id"]
    assert set((await clients["insurer"].get("/v1/claims"))["items"]) - before == {claim_id}
    started = await history_names(clients["insurer"], f"/v1/claims/{claim_id}", "workflow_execution_started")
    assert started == ["ClaimWorkflow"]


async def test_concurrent_repeats_of_loss_items_get_one_answer_and_record_them_once(parties, in_force):
    _, clients = parties
    insurer = clients["insurer"]
    incident_id = (await clients["insured"].post("/v1/incidents", incident_report(in_force)))["id"]
    claim_id = (await insurer.post("/v1/claims", {"incident_id": incident_id}))["id"]
    await eventually(lambda: insurer.get(f"/v1/claims/{claim_id}"), lambda s: s["phase"] == "gathering_loss")
    items = {"items": [
        {"item_id": "ransom", "head": "ransomware_extortion", "amount": {"fen": 30_000_000, "currency": "CNY"}},
        {"item_id": "downtime", "head": "business_interruption", "amount": {"fen": 12_000_000, "currency": "CNY"}},
    ]}
    key = str(uuid.uuid4())

    first = await repeated(lambda: insurer.post_raw(f"/v1/claims/{claim_id}/loss-items", items, key=key), 200)
    assert first.json()["claim_id"] == claim_id
    updates = await history_names(insurer, f"/v1/claims/{claim_id}", "workflow_execution_update_accepted")
    assert updates == ["submit_loss_items"]
    recorded = await history_names(insurer, f"/v1/claims/{claim_id}", "activity_task_scheduled")
    assert recorded.count("record_loss_items") == 1


async def test_concurrent_repeats_of_a_signed_findings_push_get_one_answer_and_signal_once(parties, in_force):
    _, clients = parties
    events = [f"evt-repeat-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    findings = {"findings": [
        {**builders.monitoring_finding(event).model_dump(mode="json"), "policy_id": in_force} for event in events
    ]}
    webhook_id = f"msg_{uuid.uuid4().hex}"

    first = await repeated(lambda: clients["vendor"].post_raw("/v1/findings", findings, key=webhook_id), 202)
    assert first.json()["signals"] == 1
    signals = await history_names(clients["insured"], f"/v1/policies/{in_force}", "workflow_execution_signaled")
    assert signals.count("findings_stored") == 1


async def test_an_answer_stored_before_its_bytes_were_kept_is_replayed_from_its_json(api_stack):
    """Rows written before migration 0008 hold only the JSON; a repeat still gets that answer."""
    insured = await api_stack.credentials(PartyKind.INSURED)
    body = json.dumps(application_body("insurer-legacy", "vendor-legacy")).encode()
    key, answer = str(uuid.uuid4()), {"id": "pol-legacy", "workflow_id": "policy-pol-legacy", "temporal_ui": None}
    fingerprint = hashlib.sha256(b"POST /v1/policies\n" + body).hexdigest()
    async with UnitOfWork(api_stack.sessions) as uow:
        await uow.api.store_answer(
            "insured", insured.party_id, "idempotency", key, StoredAnswer(fingerprint, 201, answer, body=None)
        )
    headers = {"Authorization": f"Bearer {insured.token}", "Content-Type": "application/json", "Idempotency-Key": key}

    async with httpx.AsyncClient(base_url=api_stack.base_url, timeout=60) as http:
        replayed = await http.post("/v1/policies", content=body, headers=headers)
        listed = await http.get("/v1/policies", headers={"Authorization": f"Bearer {insured.token}"})
    assert replayed.status_code == 201, replayed.text
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == answer  # in JSONB's key order: the bytes of such a first answer are gone
    assert listed.json()["items"] == []  # replayed, not applied


async def test_a_retry_after_the_first_answer_was_lost_is_the_same_update_and_applies_once(parties, in_force, api_stack):
    """The update went through but its answer was never stored (say the API died before its commit):
    the retry with the same key carries the same update id, so Temporal answers it without applying
    it a second time."""
    _, clients = parties
    insurer = clients["insurer"]
    incident_id = (await clients["insured"].post("/v1/incidents", incident_report(in_force)))["id"]
    claim_id = (await insurer.post("/v1/claims", {"incident_id": incident_id}))["id"]
    await eventually(lambda: insurer.get(f"/v1/claims/{claim_id}"), lambda s: s["phase"] == "gathering_loss")
    items = {"items": [{"item_id": "lost-answer", "head": "ransomware_extortion",
                        "amount": {"fen": 1_000_000, "currency": "CNY"}}]}
    key = str(uuid.uuid4())
    first = await insurer.post_raw(f"/v1/claims/{claim_id}/loss-items", items, key=key)
    assert first.status_code == 200, first.text
    async with UnitOfWork(api_stack.sessions) as uow:  # the answer is lost
        await uow.session.execute(text("DELETE FROM api_requests WHERE key = :key"), {"key": key})

    retried = await insurer.post_raw(f"/v1/claims/{claim_id}/loss-items", items, key=key)

    assert retried.status_code == 200 and retried.json()["claim_id"] == claim_id, retried.text
    updates = await history_names(insurer, f"/v1/claims/{claim_id}", "workflow_execution_update_accepted")
    assert updates == ["submit_loss_items"]
