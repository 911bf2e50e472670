"""API keys, signed vendor pushes and replays, over real HTTP against the running API.

Every refusal is a 401 problem document with the stable `code` a client can act on; a replayed
webhook-id or Idempotency-Key gets the first answer and reaches Temporal once.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from api import provisioning
from api.client import ApiClient
from api.context import PartyKind
from api.provisioning import IssuedCredentials
from api.signatures import MAX_SIGNATURES, TOLERANCE_SECONDS, decode_secret, sign
from contracts.policy import policy_workflow_id
from tests import builders

PROBLEM = "application/problem+json"


def application_body(insurer_id: str, vendor_id: str) -> dict[str, Any]:
    application = builders.application(
        organisation=builders.organisation(unified_social_credit_code=builders.uscc(secrets.randbelow(10**9))),
        assessing_vendor_id=vendor_id,
        alternative_vendor_ids=[],
    )
    return {"insurer_id": insurer_id, "application": application.model_dump(mode="json")}


def findings_body(policy_id: str, *event_ids: str) -> bytes:
    findings = [{**builders.monitoring_finding(e).model_dump(mode="json"), "policy_id": policy_id} for e in event_ids]
    return json.dumps({"findings": findings}).encode()


def signed(secret: str, body: bytes, *, webhook_id: str | None = None, timestamp: int | None = None) -> dict[str, str]:
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(decode_secret(secret), webhook_id, timestamp, body),
    }


async def _eventually(read, done, *, seconds: float = 30):
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await read()
        if done(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


@dataclass
class Stage:
    """A vendor assigned to a policy in force, and the means to push to it and look at it."""

    api_stack: Any
    http: httpx.AsyncClient
    insured: ApiClient
    vendor: IssuedCredentials
    vendor_client: ApiClient
    insurer_id: str
    policy_id: str = ""

    async def bind_policy(self) -> Stage:
        """Another policy of the same parties, in force."""
        insured, vendor_id = self.insured, self.vendor.party_id
        policy = (await insured.post("/v1/policies", application_body(self.insurer_id, vendor_id)))["id"]
        await self.vendor_client.post(f"/v1/policies/{policy}/assessment", builders.assessment(vendor_id).model_dump(mode="json"))
        quoted = await _eventually(lambda: insured.get(f"/v1/policies/{policy}"), lambda s: s["quote"] is not None)
        await insured.post(f"/v1/policies/{policy}/quote-acceptance", {"quote_id": quoted["quote"]["quote_id"]})
        bound = await _eventually(lambda: insured.get(f"/v1/policies/{policy}"), lambda s: s["phase"] == "in_force")
        assert bound["phase"] == "in_force", bound
        return replace(self, policy_id=policy)

    async def push(self, body: bytes, headers: dict[str, str], *, token: str | None = None) -> httpx.Response:
        return await self.http.post(
            "/v1/findings", content=body,
            headers={"Authorization": f"Bearer {token or self.vendor.token}", "Content-Type": "application/json", **headers},
        )

    async def findings_signals(self) -> int:
        handle = self.api_stack.temporal.get_workflow_handle(policy_workflow_id(self.policy_id))
        return len([
            event
            async for event in handle.fetch_history_events()
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            and event.workflow_execution_signaled_event_attributes.signal_name == "findings_stored"
        ])

    async def findings_total(self) -> int:
        return (await self.insured.get(f"/v1/policies/{self.policy_id}"))["findings"]["total"]


@pytest.fixture(scope="module")
async def stage(api_stack):
    suffix = uuid.uuid4().hex[:8]
    insured = await api_stack.credentials(PartyKind.INSURED, f"insured-push-{suffix}")
    vendor = await api_stack.credentials(PartyKind.VENDOR, f"vendor-push-{suffix}")
    async with (
        ApiClient(api_stack.base_url, insured.token) as insured_client,
        ApiClient(api_stack.base_url, vendor.token, webhook_secret=vendor.webhook_secret) as vendor_client,
        httpx.AsyncClient(base_url=api_stack.base_url, timeout=60) as http,
    ):
        unbound = Stage(api_stack, http, insured_client, vendor, vendor_client, f"insurer-push-{suffix}")
        yield await unbound.bind_policy()


def assert_refused(response: httpx.Response, code: str, status: int = 401) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == code, response.text
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


# -- API keys ------------------------------------------------------------------------------------------


async def test_missing_malformed_and_unknown_keys_are_refused(api_stack):
    issued = await api_stack.credentials(PartyKind.INSURED)
    key_id = issued.key_id
    cases = {
        None: "missing_api_key",
        "Basic dXNlcjpwYXNz": "missing_api_key",  # not a bearer token at all
        "Bearer": "missing_api_key",  # the scheme without a key
        "Bearer not-a-key": "malformed_api_key",
        f"Bearer {issued.token}x": "malformed_api_key",
        f"Bearer cyk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}": "invalid_api_key",
        f"Bearer cyk_{key_id}_{secrets.token_urlsafe(32)}": "invalid_api_key",  # a real key id, another secret
    }
    async with httpx.AsyncClient(base_url=api_stack.base_url) as http:
        for authorization, code in cases.items():
            headers = {} if authorization is None else {"Authorization": authorization}
            assert_refused(await http.get("/v1/policies", headers=headers), code)
            body = application_body("insurer-x", "vendor-x")
            assert_refused(await http.post("/v1/policies", json=body, headers={**headers, "Idempotency-Key": "k"}), code)
        ok = await http.get("/v1/policies", headers={"Authorization": f"Bearer {issued.token}"})
        assert ok.status_code == 200, ok.text


async def test_a_revoked_key_is_refused_from_then_on(api_stack):
    issued = await api_stack.credentials(PartyKind.INSURER)
    headers = {"Authorization": f"Bearer {issued.token}"}
    async with httpx.AsyncClient(base_url=api_stack.base_url) as http:
        assert (await http.get("/v1/claims", headers=headers)).status_code == 200
        assert await provisioning.revoke_key(api_stack.sessions, issued.key_id)
        assert_refused(await http.get("/v1/claims", headers=headers), "invalid_api_key")


# -- Signed pushes -------------------------------------------------------------------------------------


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key != name}


async def test_unsigned_stale_or_malformed_pushes_are_refused_and_deliver_nothing(stage):
    body = findings_body(stage.policy_id, "evt-refused")
    secret = stage.vendor.webhook_secret

    def good() -> dict[str, str]:
        return signed(secret, body)

    # Timestamps are taken when each push is sent. 302 s ahead of our clock is still more than 300 s
    # ahead of the server's even when its clock reads a second later than ours did.
    cases = {
        "another secret": (lambda: signed(provisioning.new_webhook_secret(), body), "bad_signature"),
        "a changed body": (lambda: signed(secret, body + b" "), "bad_signature"),
        "301 s old": (lambda: signed(secret, body, timestamp=int(time.time()) - TOLERANCE_SECONDS - 1), "timestamp_too_old"),
        "301 s ahead": (
            lambda: signed(secret, body, timestamp=int(time.time()) + TOLERANCE_SECONDS + 2), "timestamp_in_future"
        ),
        "no webhook-id": (lambda: _without(good(), "webhook-id"), "missing_header"),
        "no webhook-timestamp": (lambda: _without(good(), "webhook-timestamp"), "missing_header"),
        "no webhook-signature": (lambda: _without(good(), "webhook-signature"), "missing_header"),
        "no headers at all": (dict, "missing_header"),
        "a word for a timestamp": (lambda: {**good(), "webhook-timestamp": "yesterday"}, "malformed_timestamp"),
        "a signature not base64": (lambda: {**good(), "webhook-signature": "v1,***not-base64***"}, "malformed_signature"),
        "too many signatures": (
            lambda: {**good(), "webhook-signature": " ".join([good()["webhook-signature"]] * (MAX_SIGNATURES + 1))},
            "malformed_signature",
        ),
        "a webhook-id too long": (lambda: {**good(), "webhook-id": "x" * 300}, "malformed_webhook_id"),
    }
    signals = await stage.findings_signals()
    for name, (headers, code) in cases.items():
        answer = await stage.push(body, headers())
        assert answer.status_code == 401, (name, answer.text)
        assert_refused(answer, code)
    assert await stage.findings_signals() == signals


async def test_a_vendor_without_an_active_secret_is_refused(api_stack, stage):
    bare = await provisioning.issue_credentials(
        api_stack.sessions, PartyKind.VENDOR, f"vendor-bare-{uuid.uuid4().hex[:8]}", webhook_secret=False
    )
    body = findings_body(stage.policy_id, "evt-bare")
    answer = await stage.push(body, signed(provisioning.new_webhook_secret(), body), token=bare.token)
    assert_refused(answer, "no_webhook_secret")


async def test_a_second_secret_signs_while_active_and_not_after_revocation(api_stack, stage):
    vendor_id, first = stage.vendor.party_id, stage.vendor.webhook_secret
    secret_id, second = await provisioning.add_webhook_secret(api_stack.sessions, vendor_id)

    async def push_signed_by(secret: str) -> httpx.Response:
        body = findings_body(stage.policy_id, f"evt-rotation-{uuid.uuid4().hex[:8]}")
        return await stage.push(body, signed(secret, body))

    assert (await push_signed_by(second)).status_code == 202
    assert (await push_signed_by(first)).status_code == 202  # both active during the rotation
    assert await provisioning.revoke_webhook_secret(api_stack.sessions, vendor_id, secret_id)
    signals = await stage.findings_signals()
    assert_refused(await push_signed_by(second), "bad_signature")
    assert await stage.findings_signals() == signals
    assert (await push_signed_by(first)).status_code == 202


async def test_a_replayed_webhook_id_gets_the_first_answer_and_is_applied_once(stage):
    stage = await stage.bind_policy()  # a policy of its own, which no other test pushes findings to
    events = [f"evt-replay-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    body = findings_body(stage.policy_id, *events)
    webhook_id = f"msg_{uuid.uuid4().hex}"
    total, signals = await stage.findings_total(), await stage.findings_signals()
    assert (total, signals) == (0, 0)

    first = await stage.push(body, signed(stage.vendor.webhook_secret, body, webhook_id=webhook_id))
    assert first.status_code == 202, first.text
    assert "idempotent-replayed" not in first.headers
    # Resent later, so with a fresh timestamp and signature: the same push all the same.
    await asyncio.sleep(1.1)
    again = await stage.push(body, signed(stage.vendor.webhook_secret, body, webhook_id=webhook_id))
    assert again.status_code == 202, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() == {
        "findings": 3, "policies": 1, "signals": 1, "delivered": [{"policy_id": stage.policy_id, "findings": 3, "signals": 1}],
    }

    counted = await _eventually(stage.findings_total, lambda n: n >= total + len(events))
    assert counted == total + len(events)
    assert await stage.findings_signals() == signals + 1

    other_body = findings_body(stage.policy_id, f"evt-other-{uuid.uuid4().hex[:6]}")
    reused = await stage.push(other_body, signed(stage.vendor.webhook_secret, other_body, webhook_id=webhook_id))
    assert_refused(reused, "key_reused", status=422)
    assert await stage.findings_signals() == signals + 1
    assert await stage.findings_total() == total + len(events)


# -- Idempotency-Key -----------------------------------------------------------------------------------


async def test_an_idempotency_key_returns_the_first_policy_and_refuses_another_body(api_stack):
    insured = await api_stack.credentials(PartyKind.INSURED)
    key = str(uuid.uuid4())
    body = application_body("insurer-idem", "vendor-idem")
    async with ApiClient(api_stack.base_url, insured.token) as client:
        first = await client.post_raw("/v1/policies", body, key=key)
        again = await client.post_raw("/v1/policies", body, key=key)
        assert first.status_code == again.status_code == 201, (first.text, again.text)
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"

        changed = await client.post_raw("/v1/policies", application_body("insurer-idem", "vendor-other"), key=key)
        assert_refused(changed, "key_reused", status=422)
        assert (await client.get("/v1/policies"))["items"] == [first.json()["id"]]


async def test_ten_concurrent_creates_with_one_key_make_one_policy(api_stack):
    insured = await api_stack.credentials(PartyKind.INSURED)
    key = str(uuid.uuid4())
    body = application_body("insurer-race", "vendor-race")
    async with ApiClient(api_stack.base_url, insured.token) as client:
        answers = await asyncio.gather(*(client.post_raw("/v1/policies", body, key=key) for _ in range(10)))
        assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
        ids = {a.json()["id"] for a in answers}
        assert len(ids) == 1, ids
        # One request did the work; the other nine waited for it and replayed its answer.
        assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 9
        (policy_id,) = ids
        assert (await client.get("/v1/policies"))["items"] == [policy_id]
        status = await client.get(f"/v1/policies/{policy_id}")
        assert status["phase"] == "awaiting_assessment"
    description = await api_stack.temporal.get_workflow_handle(policy_workflow_id(policy_id)).describe()
    assert description.workflow_type == "PolicyWorkflow"
