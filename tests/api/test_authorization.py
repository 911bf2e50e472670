"""Authorization over real HTTP: a party that may not see an object can neither touch it nor learn it exists.

Party A (an insured, its vendor and its insurer) owns a bound policy, an incident on it and a claim on
the incident. Every other party, and every A party of a kind an operation is not for, calls every
object-scoped operation on A's objects. An operation for another kind of party answers 403 before any
lookup (api/context.py `party`); otherwise the answer is 404, byte for byte the answer for an id that
does not exist. Afterwards A's three workflows have exactly the history and status they had before.

A party's own records (its webhook endpoints, e-mail recipients and events) are no one else's: every
other party, of whatever kind, gets 404 for each operation on A's insured's, byte for byte the answer
for an unknown id, and A's records are as they were afterwards.

The operations come from the app's OpenAPI document, so a new route fails
`test_every_operation_is_in_the_matrix_or_declared_unscoped` until it is placed here.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from activities.notifying import emit
from api.app import create_app
from api.client import ApiClient
from api.context import ObjectKind, PartyKind
from contracts.claim import claim_workflow_id
from contracts.incident import incident_workflow_id
from contracts.parties import Notification
from contracts.parties import Party as Recipient
from contracts.policy import policy_workflow_id
from contracts.qualification import qualification_workflow_id
from domain.coverage import CoverageHead
from domain.money import Money
from domain.notifications import event_id_for
from storage.unit_of_work import UnitOfWork
from tests import builders

INSURED, VENDOR, INSURER, PLATFORM = PartyKind.INSURED, PartyKind.VENDOR, PartyKind.INSURER, PartyKind.PLATFORM
ANYONE = frozenset(PartyKind)
POLICY, INCIDENT, CLAIM, QUALIFICATION = ObjectKind.POLICY, ObjectKind.INCIDENT, ObjectKind.CLAIM, ObjectKind.QUALIFICATION
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
PROBLEM = "application/problem+json"

# Which kinds of party each object-scoped operation is for; any other kind gets 403.
PARTIES_OF: dict[tuple[str, str], frozenset[PartyKind]] = {
    ("GET", "/v1/policies/{policy_id}"): ANYONE,
    ("GET", "/v1/policies/{policy_id}/history"): ANYONE,
    ("GET", "/v1/policies/{policy_id}/limits"): ANYONE,
    ("POST", "/v1/policies/{policy_id}/assessment"): frozenset({VENDOR}),
    ("POST", "/v1/policies/{policy_id}/prebind-remediations"): frozenset({VENDOR}),
    ("POST", "/v1/policies/{policy_id}/underwriting-decision"): frozenset({INSURER}),
    ("POST", "/v1/policies/{policy_id}/quote-acceptance"): frozenset({INSURED}),
    ("POST", "/v1/policies/{policy_id}/findings/{vendor_event_id}/resolution"): frozenset({INSURED}),
    ("POST", "/v1/policies/{policy_id}/findings/{vendor_event_id}/verification"): frozenset({VENDOR}),
    ("POST", "/v1/policies/{policy_id}/cancellation"): frozenset({INSURED, INSURER}),
    ("POST", "/v1/findings"): frozenset({VENDOR}),
    ("POST", "/v1/incidents"): frozenset({INSURED, VENDOR}),
    ("GET", "/v1/incidents/{incident_id}"): ANYONE,
    ("GET", "/v1/incidents/{incident_id}/history"): ANYONE,
    ("GET", "/v1/incidents/{incident_id}/timeline"): ANYONE,
    ("POST", "/v1/incidents/{incident_id}/acknowledgement"): frozenset({VENDOR}),
    ("POST", "/v1/incidents/{incident_id}/progress"): frozenset({VENDOR}),
    ("POST", "/v1/incidents/{incident_id}/regulatory-filings"): frozenset({INSURED}),
    ("POST", "/v1/incidents/{incident_id}/evidence"): frozenset({VENDOR}),
    ("POST", "/v1/incidents/{incident_id}/forensics"): frozenset({VENDOR}),
    ("POST", "/v1/incidents/{incident_id}/closure"): frozenset({INSURER}),
    ("POST", "/v1/claims"): frozenset({INSURER}),
    ("GET", "/v1/claims/{claim_id}"): ANYONE,
    ("GET", "/v1/claims/{claim_id}/history"): ANYONE,
    ("POST", "/v1/claims/{claim_id}/loss-items"): frozenset({INSURER}),
    ("POST", "/v1/claims/{claim_id}/conditions"): frozenset({INSURER}),
    ("POST", "/v1/claims/{claim_id}/determination"): frozenset({INSURER}),
    ("POST", "/v1/claims/{claim_id}/approvals"): frozenset({INSURER}),
    ("POST", "/v1/claims/{claim_id}/denial"): frozenset({INSURER}),
    ("POST", "/v1/claims/{claim_id}/interim-payments"): frozenset({INSURER}),
    ("POST", "/v1/claims/{claim_id}/closure"): frozenset({INSURER}),
    ("POST", "/v1/claims/{claim_id}/offer/acceptance"): frozenset({INSURED}),
    ("POST", "/v1/claims/{claim_id}/offer/dispute"): frozenset({INSURED}),
    ("GET", "/v1/qualifications/{qualification_id}"): ANYONE,
    ("GET", "/v1/qualifications/{qualification_id}/history"): ANYONE,
    ("GET", "/v1/qualifications/{qualification_id}/timeline"): ANYONE,
    ("POST", "/v1/qualifications/{qualification_id}/platform-contact"): frozenset({PLATFORM}),
    ("POST", "/v1/qualifications/{qualification_id}/platform-decision"): frozenset({PLATFORM}),
    ("POST", "/v1/qualifications/{qualification_id}/insurer-contact"): frozenset({INSURER}),
    ("POST", "/v1/qualifications/{qualification_id}/policy-proofs"): frozenset({INSURED}),
    ("POST", "/v1/qualifications/{qualification_id}/mlps-certificate"): frozenset({INSURED}),
    ("POST", "/v1/qualifications/{qualification_id}/withdrawal"): frozenset({INSURED}),
    ("POST", "/v1/qualifications/{qualification_id}/recheck"): frozenset({PLATFORM, INSURER}),
}
# Operations that name their object in the body rather than the path.
BODY_SCOPED = {("POST", "/v1/findings"): POLICY, ("POST", "/v1/incidents"): POLICY, ("POST", "/v1/claims"): INCIDENT}
# Creating a policy names nobody else's object; lists show only the caller's own (tested below).
NOT_OBJECT_SCOPED = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("POST", "/v1/policies"),
    ("GET", "/v1/policies"),
    ("GET", "/v1/incidents"),
    ("GET", "/v1/claims"),
    ("POST", "/v1/qualifications"),
    ("GET", "/v1/qualifications"),
    ("POST", "/v1/endpoints"),
    ("GET", "/v1/endpoints"),
    ("POST", "/v1/email-recipients"),
    ("GET", "/v1/email-recipients"),
    ("GET", "/v1/events"),
}
# Operations on one of a party's own records, by the path parameter naming it; all are for every kind.
OWN_RECORDS: dict[tuple[str, str], str] = {
    ("GET", "/v1/endpoints/{endpoint_id}"): "endpoint_id",
    ("DELETE", "/v1/endpoints/{endpoint_id}"): "endpoint_id",
    ("POST", "/v1/endpoints/{endpoint_id}/pause"): "endpoint_id",
    ("POST", "/v1/endpoints/{endpoint_id}/resume"): "endpoint_id",
    ("POST", "/v1/endpoints/{endpoint_id}/rotate-secret"): "endpoint_id",
    ("GET", "/v1/endpoints/{endpoint_id}/attempts"): "endpoint_id",
    ("POST", "/v1/endpoints/{endpoint_id}/recover"): "endpoint_id",
    ("DELETE", "/v1/email-recipients/{recipient_id}"): "recipient_id",
    ("GET", "/v1/events/{event_id}"): "event_id",
    ("GET", "/v1/events/{event_id}/deliveries"): "event_id",
    ("POST", "/v1/events/{event_id}/redeliver"): "event_id",
}
OWN_BODIES: dict[tuple[str, str], Callable[[dict[str, str]], dict[str, Any]]] = {
    ("POST", "/v1/endpoints/{endpoint_id}/recover"): lambda _: {"since": (NOW - timedelta(days=1)).isoformat()},
    ("POST", "/v1/events/{event_id}/redeliver"): lambda records: {"endpoint_id": records["endpoint_id"]},
}
PATH_OBJECTS = {"policy_id": POLICY, "incident_id": INCIDENT, "claim_id": CLAIM, "qualification_id": QUALIFICATION}
# Kinds that get 404 even with a grant on the object: vendors see findings, never money.
HIDDEN_FROM = {("GET", "/v1/policies/{policy_id}/limits"): {VENDOR}}
# Which of A's parties hold a grant on each of A's objects (the claim is the insurer's and the insured's).
# A platform sees only the qualifications made to it.
A_GRANTS = {
    POLICY: frozenset({INSURED, VENDOR, INSURER}), INCIDENT: frozenset({INSURED, VENDOR, INSURER}),
    CLAIM: frozenset({INSURED, INSURER}), QUALIFICATION: frozenset({INSURED, INSURER, PLATFORM}),
}

NOW = datetime.now(UTC).replace(microsecond=0)
MONEY = Money.yuan(1_000).model_dump(mode="json")

# A valid body for each operation that takes one, so that the answer is about authorization and never
# about the body: (caller's party id, the object named) -> JSON.
Body = Callable[[str, str], dict[str, Any]]
BODIES: dict[tuple[str, str], Body] = {
    ("POST", "/v1/policies/{policy_id}/assessment"): lambda me, _: builders.assessment(me).model_dump(mode="json"),
    ("POST", "/v1/policies/{policy_id}/prebind-remediations"): lambda me, _: {"code": "mfa"},
    ("POST", "/v1/policies/{policy_id}/underwriting-decision"): lambda me, _: {
        "underwriter_id": me, "decision": "accept", "reason": "fine"
    },
    ("POST", "/v1/policies/{policy_id}/quote-acceptance"): lambda me, policy: {"quote_id": f"{policy}-t1"},
    ("POST", "/v1/policies/{policy_id}/findings/{vendor_event_id}/resolution"): lambda me, _: {"resolution": "fixed"},
    ("POST", "/v1/policies/{policy_id}/findings/{vendor_event_id}/verification"): lambda me, _: {"fix_confirmed": True},
    ("POST", "/v1/policies/{policy_id}/cancellation"): lambda me, _: {"reason": "no longer needed"},
    ("POST", "/v1/findings"): lambda me, policy: {
        "findings": [{**builders.monitoring_finding("evt-authz").model_dump(mode="json"), "policy_id": policy}]
    },
    ("POST", "/v1/incidents"): lambda me, policy: incident_body(policy, reference="authz"),
    ("POST", "/v1/incidents/{incident_id}/progress"): lambda me, _: {
        "event_id": "progress-1", "kind": "note", "at": NOW.isoformat()
    },
    ("POST", "/v1/incidents/{incident_id}/regulatory-filings"): lambda me, _: {
        "kind": "initial", "channel": "portal", "reference": "filing-1", "filed_at": NOW.isoformat()
    },
    ("POST", "/v1/incidents/{incident_id}/evidence"): lambda me, _: {
        "evidence_id": "ev-1", "name": "disk image", "sha256": "ab" * 32, "size_bytes": 1,
        "collected_by": me, "collected_at": NOW.isoformat(),
    },
    ("POST", "/v1/incidents/{incident_id}/forensics"): lambda me, _: {
        "vendor_id": me, "root_cause": "phishing", "attack_vector": "email",
        "first_intrusion_at": (NOW - timedelta(days=1)).isoformat(),
    },
    ("POST", "/v1/incidents/{incident_id}/closure"): lambda me, _: {"reason": "resolved"},
    ("POST", "/v1/claims"): lambda me, incident: {"incident_id": incident},
    ("POST", "/v1/claims/{claim_id}/loss-items"): lambda me, _: {
        "items": [{"item_id": "item-1", "head": CoverageHead.EMERGENCY_RESPONSE.value, "amount": MONEY}]
    },
    ("POST", "/v1/claims/{claim_id}/conditions"): lambda me, _: {"police_report_filed": True},
    ("POST", "/v1/claims/{claim_id}/approvals"): lambda me, _: {"approver_id": me},
    ("POST", "/v1/claims/{claim_id}/denial"): lambda me, _: {"approver_id": me, "reasons": ["excluded"]},
    ("POST", "/v1/claims/{claim_id}/interim-payments"): lambda me, _: {
        "head": CoverageHead.EMERGENCY_RESPONSE.value, "amount": MONEY, "approver_id": me
    },
    ("POST", "/v1/claims/{claim_id}/closure"): lambda me, _: {"reason": "done"},
    ("POST", "/v1/claims/{claim_id}/offer/acceptance"): lambda me, _: {},
    ("POST", "/v1/claims/{claim_id}/offer/dispute"): lambda me, _: {"reason": "too low"},
    ("POST", "/v1/qualifications/{qualification_id}/platform-contact"): lambda me, _: {"note": "called"},
    ("POST", "/v1/qualifications/{qualification_id}/platform-decision"): lambda me, _: {"approve": True, "reason": "ok"},
    ("POST", "/v1/qualifications/{qualification_id}/insurer-contact"): lambda me, _: {},
    ("POST", "/v1/qualifications/{qualification_id}/policy-proofs"): lambda me, _: {
        "policy_number": "CYB-2026-000001",
        **{name: {"document_id": name, "sha256": f"{n:064x}", "size_bytes": 10}
           for n, name in enumerate(["inquiry_form", "assessment_report", "policy_document"], start=1)},
    },
    ("POST", "/v1/qualifications/{qualification_id}/mlps-certificate"): lambda me, _: {
        "certificate_number": "C-1", "system_name": "portal", "level": 2, "issued_on": "2026-01-01",
        "valid_until": "2027-12-31",
    },
    ("POST", "/v1/qualifications/{qualification_id}/withdrawal"): lambda me, _: {"reason": "changed my mind"},
}


def incident_body(policy_id: str, *, reference: str) -> dict[str, Any]:
    return {
        "policy_id": policy_id, "reference": reference, "grade": "general",
        "discovered_at": datetime.now(UTC).isoformat(),  # within the term just bound
        "category": "malicious_program", "summary": "ransomware on a file server",
    }


def application_body(insurer_id: str, vendor_id: str) -> dict[str, Any]:
    application = builders.application(
        organisation=builders.organisation(unified_social_credit_code=builders.uscc(secrets.randbelow(10**9))),
        assessing_vendor_id=vendor_id,
        alternative_vendor_ids=[],
    )
    return {"insurer_id": insurer_id, "application": application.model_dump(mode="json")}


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path) -> OpenAPI operation, for every operation the app serves."""
    paths = create_app().openapi()["paths"]
    return {
        (method.upper(), path): operation
        for path, item in paths.items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def scope_of(operation: tuple[str, str]) -> ObjectKind | None:
    if operation in BODY_SCOPED:
        return BODY_SCOPED[operation]
    named = re.findall(r"{(\w+)}", operation[1])
    return next((PATH_OBJECTS[name] for name in named if name in PATH_OBJECTS), None)


def test_every_operation_is_in_the_matrix_or_declared_unscoped():
    served = operations()
    unplaced = sorted(set(served) - set(PARTIES_OF) - NOT_OBJECT_SCOPED - set(OWN_RECORDS))
    assert not unplaced, f"add these to PARTIES_OF (and BODIES), OWN_RECORDS or NOT_OBJECT_SCOPED: {unplaced}"
    stale = sorted((set(PARTIES_OF) | NOT_OBJECT_SCOPED | set(OWN_RECORDS)) - set(served))
    assert not stale, f"no longer served, remove them here: {stale}"
    for operation in PARTIES_OF:
        assert scope_of(operation) is not None, f"{operation} names no policy, incident or claim"
        if "requestBody" in served[operation]:
            assert operation in BODIES, f"{operation} takes a body: add a valid one to BODIES"
    for operation in NOT_OBJECT_SCOPED:
        assert scope_of(operation) is None, f"{operation} names an object: it belongs in the matrix"
    for operation, parameter in OWN_RECORDS.items():
        assert "{" + parameter + "}" in operation[1], operation
        if "requestBody" in served[operation]:
            assert operation in OWN_BODIES, f"{operation} takes a body: add a valid one to OWN_BODIES"


# -- The parties and A's objects ---------------------------------------------------------------------


@dataclass
class Party:
    name: str
    kind: PartyKind
    id: str
    client: ApiClient


@dataclass
class World:
    a: dict[PartyKind, Party]
    b: dict[PartyKind, Party]
    objects: dict[ObjectKind, str]  # A's
    b_policy: str

    @property
    def workflow_ids(self) -> list[str]:
        ids = self.objects
        return [policy_workflow_id(ids[POLICY]), incident_workflow_id(ids[INCIDENT]), claim_workflow_id(ids[CLAIM]),
                qualification_workflow_id(ids[QUALIFICATION])]


async def _party(api_stack, name: str, kind: PartyKind) -> Party:
    issued = await api_stack.credentials(kind, f"{kind.value}-{name}-{uuid.uuid4().hex[:8]}")
    client = ApiClient(api_stack.base_url, issued.token, webhook_secret=issued.webhook_secret)
    return Party(f"{kind.value} {name}", kind, issued.party_id, client)


async def _eventually(read, done, *, seconds: float = 30):
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await read()
        if done(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


async def _settled(api_stack, workflow_ids: list[str]) -> None:
    """Waits until the workflows stop writing history by themselves: no task or activity pending and
    the same history twice in a row."""
    last = None
    for _ in range(100):
        current = []
        for workflow_id in workflow_ids:
            raw = (await api_stack.temporal.get_workflow_handle(workflow_id).describe()).raw_description
            busy = raw.HasField("pending_workflow_task") or len(raw.pending_activities) > 0
            current.append((busy, len(await _events(api_stack, workflow_id))))
        if current == last and not any(busy for busy, _ in current):
            return
        last = current
        await asyncio.sleep(0.5)
    raise AssertionError(f"A's workflows kept changing: {workflow_ids}")


async def _events(api_stack, workflow_id: str) -> list[tuple[int, int]]:
    handle = api_stack.temporal.get_workflow_handle(workflow_id)
    return [(event.event_id, event.event_type) async for event in handle.fetch_history_events()]


@pytest.fixture(scope="module")
async def world(api_stack):
    a = {kind: await _party(api_stack, "A", kind) for kind in PartyKind}
    b = {kind: await _party(api_stack, "B", kind) for kind in PartyKind}
    try:
        insured, vendor, insurer = a[INSURED].client, a[VENDOR].client, a[INSURER].client
        policy = (await insured.post("/v1/policies", application_body(a[INSURER].id, a[VENDOR].id)))["id"]
        receipt = await vendor.post(f"/v1/policies/{policy}/assessment", builders.assessment(a[VENDOR].id).model_dump(mode="json"))
        assert receipt["decision"] == "accept", receipt
        quoted = await _eventually(lambda: insured.get(f"/v1/policies/{policy}"), lambda s: s["quote"] is not None)
        await insured.post(f"/v1/policies/{policy}/quote-acceptance", {"quote_id": quoted["quote"]["quote_id"]})
        bound = await _eventually(lambda: insured.get(f"/v1/policies/{policy}"), lambda s: s["phase"] == "in_force")
        assert bound["phase"] == "in_force", bound
        incident = (await insured.post("/v1/incidents", incident_body(policy, reference=f"ref-{uuid.uuid4().hex[:8]}")))["id"]
        claim = (await insurer.post("/v1/claims", {"incident_id": incident}))["id"]
        b_policy = (await b[INSURED].client.post("/v1/policies", application_body(b[INSURER].id, b[VENDOR].id)))["id"]
        qualification = (await insured.post("/v1/qualifications", {
            "reference": f"q-{uuid.uuid4().hex[:8]}", "platform_id": a[PLATFORM].id, "insurer_id": a[INSURER].id,
            "unified_social_credit_code": builders.VALID_USCC,
        }))["id"]
        built = World(a, b, {POLICY: policy, INCIDENT: incident, CLAIM: claim, QUALIFICATION: qualification}, b_policy)
        await _settled(api_stack, built.workflow_ids)
        # Open workflows, so that a message delivered by mistake would show in their histories.
        claim_status = await insurer.get(f"/v1/claims/{claim}")
        assert claim_status["phase"] == "gathering_loss", claim_status
        assert (await insured.get(f"/v1/incidents/{incident}"))["phase"] == "reported"
        yield built
    finally:
        for party in [*a.values(), *b.values()]:
            await party.client.aclose()


# -- Sending one operation ---------------------------------------------------------------------------


def unknown_like(object_id: str) -> str:
    """An id of the same shape and length that names nothing."""
    prefix, _, rest = object_id.partition("-")
    return f"{prefix}-{secrets.token_hex(len(rest))[: len(rest)]}"


async def call(party: Party, operation: tuple[str, str], object_id: str) -> httpx.Response:
    method, template = operation
    kind = scope_of(operation)
    path = template.replace("{vendor_event_id}", "evt-authz")
    for name, object_kind in PATH_OBJECTS.items():
        if object_kind is kind:
            path = path.replace("{" + name + "}", object_id)
    if method == "GET":
        return await party.client.get_raw(path)
    body = BODIES[operation](party.id, object_id) if operation in BODIES else None
    return await party.client.post_raw(path, body)


def expected_status(party: Party, operation: tuple[str, str], owner: bool) -> int | None:
    """403 for a kind the operation is not for; 404 for anyone without sight of the object;
    None for an A party that may really act (not part of the matrix)."""
    if party.kind not in PARTIES_OF[operation]:
        return 403
    sees = owner and party.kind in A_GRANTS[scope_of(operation)] and party.kind not in HIDDEN_FROM.get(operation, ())
    return None if sees else 404


def _headers(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name != "date"}


async def _snapshot(api_stack, world: World) -> dict[str, Any]:
    a = world.a[INSURED].client
    return {
        "events": {wid: await _events(api_stack, wid) for wid in world.workflow_ids},
        "policy": await a.get(f"/v1/policies/{world.objects[POLICY]}"),
        "incident": await a.get(f"/v1/incidents/{world.objects[INCIDENT]}"),
        "claim": await a.get(f"/v1/claims/{world.objects[CLAIM]}"),
        "qualification": await a.get(f"/v1/qualifications/{world.objects[QUALIFICATION]}"),
    }


async def test_a_insured_reads_every_object_the_matrix_refuses_to_others(world):
    """The positive control: the ids in the matrix are real and visible to A's insured."""
    insured = world.a[INSURED]
    for operation in PARTIES_OF:
        if operation[0] == "GET":
            answer = await call(insured, operation, world.objects[scope_of(operation)])
            assert answer.status_code == 200, (operation, answer.text)


async def test_no_other_party_can_touch_or_detect_a_objects(api_stack, world):
    before = await _snapshot(api_stack, world)
    callers = [(party, False) for party in world.b.values()] + [(party, True) for party in world.a.values()]
    failures: list[str] = []
    checked = {403: 0, 404: 0}
    for operation in PARTIES_OF:
        object_id = world.objects[scope_of(operation)]
        for party, owner in callers:
            expected = expected_status(party, operation, owner)
            if expected is None:
                continue
            checked[expected] += 1
            answer = await call(party, operation, object_id)
            where = f"{party.name} {operation[0]} {operation[1]}"
            if answer.status_code != expected or answer.headers.get("content-type") != PROBLEM:
                failures.append(f"{where}: {answer.status_code} {answer.headers.get('content-type')} {answer.text[:200]}")
                continue
            code = answer.json()["code"]
            if code != ("wrong_party" if expected == 403 else "not_found"):
                failures.append(f"{where}: code {code}")
            unknown = unknown_like(object_id)
            twin = await call(party, operation, unknown)
            if (
                twin.status_code != answer.status_code
                or twin.content.replace(unknown.encode(), object_id.encode()) != answer.content
                or _headers(twin) != _headers(answer)
            ):
                failures.append(f"{where}: an unknown id answers differently: {twin.status_code} {twin.text[:200]}")
    after = await _snapshot(api_stack, world)

    assert not failures, "\n".join(failures)
    assert checked[403] > 0 and checked[404] > 0, checked
    # No signal or update reached A's workflows: not one history event more, not one status field changed.
    # (An update refused by a workflow's validator leaves no history, but would have answered 409, not 404.)
    assert after == before


async def _all_ids(client: ApiClient, path: str) -> list[str]:
    ids, after = [], None
    while True:
        page = await client.get(path, after=after, limit=2)
        ids += page["items"]
        after = page["next_after"]
        if after is None:
            return ids


async def test_lists_show_only_the_callers_own_objects(world):
    a_ids = set(world.objects.values())
    for party in world.b.values():
        seen = {path: await _all_ids(party.client, path) for path in ("/v1/policies", "/v1/incidents", "/v1/claims")}
        assert not a_ids & {i for ids in seen.values() for i in ids}, (party.name, seen)
        assert seen["/v1/policies"] == ([] if party.kind is PLATFORM else [world.b_policy]), (party.name, seen)
    # A's vendor sees A's policy and incident, but the claim is the insured's and the insurer's.
    vendor = world.a[VENDOR].client
    assert world.objects[POLICY] in await _all_ids(vendor, "/v1/policies")
    assert world.objects[INCIDENT] in await _all_ids(vendor, "/v1/incidents")
    assert world.objects[CLAIM] not in await _all_ids(vendor, "/v1/claims")
    for kind in (INSURED, INSURER):
        client = world.a[kind].client
        assert world.objects[CLAIM] in await _all_ids(client, "/v1/claims")
        assert world.b_policy not in await _all_ids(client, "/v1/policies")
    # The platform applied to sees the qualification and nothing of the policy behind it.
    platform = world.a[PLATFORM].client
    assert await _all_ids(platform, "/v1/qualifications") == [world.objects[QUALIFICATION]]
    assert await _all_ids(platform, "/v1/policies") == []
    for party in world.b.values():
        assert await _all_ids(party.client, "/v1/qualifications") == [], party.name


# -- A party's own records ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def own_records(api_stack, world) -> dict[str, str]:
    """A's insured's webhook endpoint, e-mail recipient and one event of its own."""
    insured = world.a[INSURED]
    endpoint = await insured.client.post("/v1/endpoints", {"url": "https://hooks.example.com/a", "event_types": ["*"]})
    recipient = await insured.client.post("/v1/email-recipients", {"address": "soc@a.example.com"})
    key = f"authz:{uuid.uuid4().hex}"
    async with UnitOfWork(api_stack.sessions) as uow:
        await emit(uow, [Notification(dedupe_key=key, recipient=Recipient.INSURED, recipient_id=insured.id,
                                      kind="policy_bound", payload={"term_number": 1})])
    return {"endpoint_id": endpoint["endpoint_id"], "recipient_id": str(recipient["recipient_id"]),
            "event_id": event_id_for(key, INSURED.value, insured.id)}


def unknown_record(parameter: str, record_id: str) -> str:
    """An id of the same shape and length that is no one's."""
    if parameter == "recipient_id":
        return "9" * len(record_id) if record_id != "9" * len(record_id) else "8" * len(record_id)
    prefix = record_id[:4] if parameter == "event_id" else record_id[:3]
    return prefix + "".join(secrets.choice("abcdef234567") for _ in record_id[len(prefix):])


async def call_own(party: Party, operation: tuple[str, str], records: dict[str, str], record_id: str) -> httpx.Response:
    method, template = operation
    path = template.replace("{" + OWN_RECORDS[operation] + "}", record_id)
    if method == "GET":
        return await party.client.get_raw(path)
    if method == "DELETE":
        return await party.client.delete_raw(path)
    return await party.client.post_raw(path, OWN_BODIES[operation](records) if operation in OWN_BODIES else None)


async def _own_snapshot(world: World, records: dict[str, str]) -> dict[str, Any]:
    a = world.a[INSURED].client
    return {
        "endpoint": await a.get(f"/v1/endpoints/{records['endpoint_id']}"),
        "recipients": await a.get("/v1/email-recipients"),
        "event": await a.get(f"/v1/events/{records['event_id']}"),
        "deliveries": await a.get(f"/v1/events/{records['event_id']}/deliveries"),
    }


async def test_no_other_party_can_touch_or_detect_a_partys_own_records(world, own_records):
    insured = world.a[INSURED]
    for operation, parameter in OWN_RECORDS.items():  # the positive control: they are real and A's
        if operation[0] == "GET":
            answer = await call_own(insured, operation, own_records, own_records[parameter])
            assert answer.status_code == 200, (operation, answer.text)
    before = await _own_snapshot(world, own_records)
    others = [*world.b.values(), *(party for kind, party in world.a.items() if kind is not INSURED)]
    failures = []
    for operation, parameter in OWN_RECORDS.items():
        record_id = own_records[parameter]
        unknown = unknown_record(parameter, record_id)
        for party in others:
            where = f"{party.name} {operation[0]} {operation[1]}"
            answer = await call_own(party, operation, own_records, record_id)
            if (answer.status_code, answer.headers.get("content-type")) != (404, PROBLEM) or answer.json()["code"] != "not_found":
                failures.append(f"{where}: {answer.status_code} {answer.text[:200]}")
                continue
            twin = await call_own(party, operation, own_records, unknown)
            if twin.content.replace(unknown.encode(), record_id.encode()) != answer.content or _headers(twin) != _headers(answer):
                failures.append(f"{where}: an unknown id answers differently: {twin.status_code} {twin.text[:200]}")
    assert not failures, "\n".join(failures)
    assert await _own_snapshot(world, own_records) == before


async def test_lists_of_own_records_show_only_the_callers(world, own_records):
    for party in [*world.b.values(), *(p for kind, p in world.a.items() if kind is not INSURED)]:
        for path in ("/v1/endpoints", "/v1/email-recipients", "/v1/events"):
            answer = await party.client.get_raw(path)
            assert answer.status_code == 200, answer.text
            assert not {own_records["endpoint_id"], own_records["event_id"]} & set(re.findall(r"[\w-]+", answer.text))
            assert "soc@a.example.com" not in answer.text, (party.name, path)
