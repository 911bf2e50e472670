"""The API never accepts a batch of findings that the policy would drop: it says which policy and why,
and stores and signals nothing."""

import pytest

from tests import builders
from tests.api.conftest import api_stack  # noqa: F401  (the API stack, shared with tests/api)
from tests.api.test_party_paths import bind, eventually
from tests.api.test_pushes_and_keys import application_body


def findings_for(policy_id: str, *events: str) -> dict:
    return {"findings": [{**builders.monitoring_finding(e).model_dump(mode="json"), "policy_id": policy_id} for e in events]}


async def signals_of(client, policy_id: str) -> list[str]:
    history = await client.get(f"/v1/policies/{policy_id}/history")
    return [e["name"] for e in history["events"] if e["event"] == "workflow_execution_signaled"]


@pytest.fixture
async def parties(api_stack):  # noqa: F811
    issued, clients = await api_stack.insured_vendor_insurer("walkthrough")
    yield issued, clients
    for client in clients.values():
        await client.aclose()


async def test_findings_for_a_policy_not_in_cover_are_refused_naming_it_and_nothing_is_stored(parties):
    issued, clients = parties
    body = application_body(issued["insurer"].party_id, issued["vendor"].party_id)
    policy_id = (await clients["insured"].post("/v1/policies", body))["id"]

    early = await clients["vendor"].post_raw("/v1/findings", findings_for(policy_id, "too-early"))
    assert early.status_code == 409, early.text
    problem = early.json()
    assert problem["code"] == "refused" and problem["reason"] == "not_in_force"
    assert policy_id in problem["detail"] and "awaiting_assessment" in problem["detail"]
    assert await signals_of(clients["insured"], policy_id) == []
    assert (await clients["insured"].get(f"/v1/policies/{policy_id}"))["findings_ignored"] == 0

    await bind(clients, issued, policy_id)
    taken = await clients["vendor"].post_raw("/v1/findings", findings_for(policy_id, "in-cover"))
    assert taken.status_code == 202, taken.text
    applied = await eventually(
        lambda: clients["insured"].get(f"/v1/policies/{policy_id}"), lambda s: s["findings"]["total"] == 1
    )
    assert applied["findings_ignored"] == 0 and applied["dropped_findings"] == []
