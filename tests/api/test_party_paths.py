"""Each party's paths through the API beyond the demo's story: a referral the insurer decides, reads of
lists, limits and history, an offer disputed, an interim payment."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timezone

import pytest

from api.client import ApiClient, ApiError
from api.context import PartyKind
from domain.application import CoverageRequest
from domain.coverage import CoverageHead
from domain.money import Money
from tests.builders import application, assessment, risky_assessment
from tests.patience import patience


async def eventually(read, done, *, seconds: float = 30):
    for _ in range(int(patience(seconds) / 0.2)):
        current = await read()
        if done(current):
            return current
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition not reached; last: {current}")


@pytest.fixture
async def parties(api_stack):
    run = uuid.uuid4().hex[:6]
    issued = {
        "insured": await api_stack.credentials(PartyKind.INSURED, f"insured-{run}"),
        "vendor": await api_stack.credentials(PartyKind.VENDOR, f"vendor-{run}"),
        "insurer": await api_stack.credentials(PartyKind.INSURER, f"insurer-{run}"),
        "panel": await api_stack.credentials(PartyKind.VENDOR, "panel-ir-01"),
    }
    clients = {k: ApiClient(api_stack.base_url, v.token, webhook_secret=v.webhook_secret) for k, v in issued.items()}
    yield issued, clients
    for client in clients.values():
        await client.aclose()


async def apply(clients, issued) -> str:
    document = application(assessing_vendor_id=issued["vendor"].party_id, alternative_vendor_ids=[])
    response_cover = CoverageRequest(head=CoverageHead.EMERGENCY_RESPONSE, limit=Money.yuan(500_000))
    document = document.model_copy(update={"coverages": [*document.coverages, response_cover]})
    body = {"insurer_id": issued["insurer"].party_id, "application": document.model_dump(mode="json")}
    return (await clients["insured"].post("/v1/policies", body))["id"]


async def bind(clients, issued, policy_id: str) -> dict:
    await clients["vendor"].post(f"/v1/policies/{policy_id}/assessment", assessment(issued["vendor"].party_id).model_dump(mode="json"))
    status = await eventually(lambda: clients["insured"].get(f"/v1/policies/{policy_id}"), lambda s: s["quote"] is not None)
    await clients["insured"].post(f"/v1/policies/{policy_id}/quote-acceptance", {"quote_id": status["quote"]["quote_id"]})
    return await eventually(lambda: clients["insured"].get(f"/v1/policies/{policy_id}"), lambda s: s["phase"] == "in_force")


async def audit_actors(api_stack, claim_id: str) -> dict[str, list]:
    """The actors of the claim's audited inserts, by table (claim phases as (phase, actor) pairs)."""
    from sqlalchemy import text

    async with api_stack.sessions() as session:
        rows = (await session.execute(text(
            "SELECT a.table_name, a.actor, p.phase FROM audit_log a"
            " LEFT JOIN claim_phase_history p ON a.table_name = 'claim_phase_history'"
            "  AND p.id = (a.row_key::jsonb ->> 'id')::bigint"
            " WHERE a.claim_id = :claim AND a.operation = 'INSERT' ORDER BY a.seq"
        ), {"claim": claim_id})).all()
    found: dict[str, list] = {}
    for table, actor, phase in rows:
        named = json.loads(actor) if actor else {}
        party = {k: named.get(k) for k in ("party_kind", "party_id", "key_id")}
        found.setdefault(table, []).append((phase, party) if table == "claim_phase_history" else party)
    return found


def _acting_for(issued) -> dict:
    return {"party_kind": issued.party_kind.value, "party_id": issued.party_id, "key_id": issued.key_id}


async def test_the_insurer_decides_a_referral_and_every_party_lists_the_policy(parties):
    issued, clients = parties
    policy_id = await apply(clients, issued)
    receipt = await clients["vendor"].post(
        f"/v1/policies/{policy_id}/assessment", risky_assessment(issued["vendor"].party_id).model_dump(mode="json")
    )
    assert receipt["decision"] == "refer"
    with pytest.raises(ApiError) as refused:  # the insured cannot decide its own referral
        await clients["insured"].post(f"/v1/policies/{policy_id}/underwriting-decision",
                                      {"underwriter_id": "u1", "decision": "accept", "reason": "mine"})
    assert refused.value.status == 403

    decided = await clients["insurer"].post(
        f"/v1/policies/{policy_id}/underwriting-decision",
        {"underwriter_id": "uw-7", "decision": "accept", "reason": "controls plan agreed with the broker"},
    )
    assert decided["decision"] == "accept" and decided["premium"]["fen"] > 0
    status = await eventually(lambda: clients["insurer"].get(f"/v1/policies/{policy_id}"), lambda s: s["quote"] is not None)
    assert status["decision"] == "accept"

    for party in ("insured", "vendor", "insurer"):
        page = await clients[party].get("/v1/policies")
        assert policy_id in page["items"], party
    history = await clients["insurer"].get(f"/v1/policies/{policy_id}/history")
    updates = [e["name"] for e in history["events"] if e["event"] == "workflow_execution_update_accepted"]
    assert updates == ["submit_assessment", "decide_referral"]
    assert history["events"][0]["name"] == "PolicyWorkflow"


async def test_an_offer_disputed_then_an_interim_payment_and_the_limits_show_it(parties, api_stack):
    issued, clients = parties
    policy_id = await apply(clients, issued)
    await bind(clients, issued, policy_id)
    discovered = datetime.now(timezone.utc)
    incident = await clients["insured"].post("/v1/incidents", {
        "policy_id": policy_id, "reference": f"T-{uuid.uuid4().hex[:6]}", "discovered_at": discovered.isoformat(),
        "grade": "general", "category": "malicious_program", "summary": "ransomware on one file server",
    })
    # the insurer sees the incident it insures; the policy's vendor too
    assert incident["id"] in (await clients["insurer"].get("/v1/incidents"))["items"]
    claim = await clients["insurer"].post("/v1/claims", {"incident_id": incident["id"]})
    claim_id = claim["id"]
    await eventually(lambda: clients["insurer"].get(f"/v1/claims/{claim_id}"), lambda s: s["policy_id"] == policy_id)
    assert claim_id in (await clients["insured"].get("/v1/claims"))["items"]

    await clients["insurer"].post(f"/v1/claims/{claim_id}/loss-items", {"items": [
        {"item_id": "ransom", "head": "ransomware_extortion", "amount": {"fen": 30_000_000, "currency": "CNY"}},
        {"item_id": "response", "head": "emergency_response", "amount": {"fen": 8_000_000, "currency": "CNY"},
         "vendor_id": "panel-ir-01"},
    ]})
    await clients["insurer"].post(
        f"/v1/claims/{claim_id}/conditions", {"ransom_paid_with_insurer_consent": True, "police_report_filed": True}
    )
    statement = await clients["insurer"].post(f"/v1/claims/{claim_id}/determination")
    payable = statement["total_payable"]["fen"]
    assert payable > 0
    limits = await clients["insured"].get(f"/v1/policies/{policy_id}/limits")
    assert limits[0]["reserved"]["fen"] == payable

    # Who decides is the key that signed the request: a body that names someone else is refused.
    with pytest.raises(ApiError) as named_in_body:
        await clients["insurer"].post(f"/v1/claims/{claim_id}/approvals", {
            "approver_id": "adjuster-1",
            "on_behalf_of": {"party_kind": "insurer", "party_id": "someone-else", "key_id": "k-forged"},
        })
    assert named_in_body.value.status == 422
    assert [e["field"] for e in named_in_body.value.problem["errors"]] == ["body.on_behalf_of"]
    await clients["insurer"].post(f"/v1/claims/{claim_id}/approvals", {"approver_id": "adjuster-1"})
    disputed = await clients["insured"].post(f"/v1/claims/{claim_id}/offer/dispute", {"reason": "the BI loss is missing"})
    assert disputed["phase"] == "in_review" and disputed["disputes"] == 1

    paid = await clients["insurer"].post(f"/v1/claims/{claim_id}/interim-payments", {
        "head": "emergency_response", "amount": {"fen": 2_000_000, "currency": "CNY"}, "approver_id": "adjuster-1",
    })
    assert paid["paid"]["fen"] == 2_000_000 and paid["payouts"] == 1

    # The audit trail answers "who approved this payout", and who put the offer up and disputed it.
    insurer, insured = issued["insurer"], issued["insured"]
    actors = await audit_actors(api_stack, claim_id)
    assert actors["payouts"] == [_acting_for(insurer)]
    by_phase = dict(actors["claim_phase_history"])
    assert by_phase["offered"] == _acting_for(insurer) and by_phase["in_review"] == _acting_for(insured)
    with pytest.raises(ApiError) as vendor_reads_money:
        await clients["vendor"].get(f"/v1/policies/{policy_id}/limits")
    assert vendor_reads_money.value.status == 404


async def test_an_incident_reported_by_the_vendor_is_one_incident_and_reaches_the_dispatched_panel_vendor(
    parties, api_stack
):
    issued, clients = parties
    policy_id = await apply(clients, issued)
    await bind(clients, issued, policy_id)
    report = {
        "policy_id": policy_id, "reference": "SOC-4711", "discovered_at": datetime.now(timezone.utc).isoformat(),
        "grade": "general", "category": "network_attack", "summary": "DDoS on the portal",
    }
    first = await clients["vendor"].post("/v1/incidents", report)
    again = await clients["vendor"].post("/v1/incidents", report)  # a new webhook-id, the same reference
    assert first["id"] == again["id"]
    status = await clients["insured"].get(f"/v1/incidents/{first['id']}")
    assert status["policy_id"] == policy_id
    outsider = await api_stack.credentials(PartyKind.VENDOR)
    async with ApiClient(api_stack.base_url, outsider.token, webhook_secret=outsider.webhook_secret) as stranger:
        with pytest.raises(ApiError) as hidden:
            await stranger.get(f"/v1/incidents/{first['id']}")
        assert hidden.value.status == 404
    # the panel vendor sees the incident once it is dispatched to it, and not through any grant before
    await eventually(
        lambda: clients["insured"].get(f"/v1/incidents/{first['id']}"), lambda s: s["dispatched_vendor"] == "panel-ir-01"
    )
    responding = await clients["panel"].post(f"/v1/incidents/{first['id']}/acknowledgement", {})
    assert responding["acknowledged_by"] == "panel-ir-01" and responding["phase"] == "responding"
    assert first["id"] in (await clients["panel"].get("/v1/incidents"))["items"]
