"""Platform qualification through the API: the provider (an insured's key) applies and proves its
cover, the platform contacts and decides, the insurer the intent form names records its contact."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from api.client import ApiClient, ApiError
from api.context import PartyKind
from tests.api.test_party_paths import apply, bind, eventually
from tests.builders import VALID_USCC

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def parties(api_stack):
    run = uuid.uuid4().hex[:6]
    issued = {
        "insured": await api_stack.credentials(PartyKind.INSURED, f"provider-{run}"),
        "vendor": await api_stack.credentials(PartyKind.VENDOR, f"vendor-{run}"),
        "insurer": await api_stack.credentials(PartyKind.INSURER, f"insurer-{run}"),
        "platform": await api_stack.credentials(PartyKind.PLATFORM, f"platform-{run}"),
    }
    clients = {k: ApiClient(api_stack.base_url, v.token, webhook_secret=v.webhook_secret) for k, v in issued.items()}
    yield issued, clients
    for client in clients.values():
        await client.aclose()


def document(n: int) -> dict:
    return {"document_id": f"doc-{n}", "sha256": f"{n:064x}", "size_bytes": 2048}


async def test_a_provider_is_qualified_by_its_bound_policy(parties):
    issued, clients = parties
    provider, platform, insurer = clients["insured"], clients["platform"], clients["insurer"]
    request = {
        "reference": "console-7", "platform_id": issued["platform"].party_id, "insurer_id": issued["insurer"].party_id,
        "unified_social_credit_code": VALID_USCC,
    }
    created = await provider.post("/v1/qualifications", request)
    again = await provider.post("/v1/qualifications", request)
    assert again["id"] == created["id"]  # the same reference is the same application
    qualification = created["id"]
    for party in ("insured", "platform", "insurer"):
        assert qualification in (await clients[party].get("/v1/qualifications"))["items"], party
    assert qualification not in (await clients["vendor"].get("/v1/qualifications"))["items"]

    with pytest.raises(ApiError) as early:
        await platform.post(f"/v1/qualifications/{qualification}/platform-decision", {"approve": True, "reason": "ok"})
    assert early.value.status == 409 and "record the contact first" in early.value.problem["detail"]
    await eventually(lambda: platform.get(f"/v1/qualifications/{qualification}"), lambda s: s["platform_contact"])
    await platform.post(f"/v1/qualifications/{qualification}/platform-contact", {"note": "called the CISO"})
    decided = await platform.post(f"/v1/qualifications/{qualification}/platform-decision",
                                  {"approve": True, "reason": "chose the liability policy"})
    assert decided["phase"] == "insurer_contact"
    sent = await eventually(lambda: insurer.get(f"/v1/qualifications/{qualification}"), lambda s: s["insurer_contact"])
    assert sent["intent_id"] and sent["insurer_contact"]["due"] and not sent["insurer_contact"]["escalated"]
    contacted = await insurer.post(f"/v1/qualifications/{qualification}/insurer-contact", {})
    assert contacted["phase"] == "awaiting_proofs"

    policy_id = await apply(clients, issued)
    bound = await bind(clients, issued, policy_id)
    proofs = {"policy_number": bound["policy_number"], "inquiry_form": document(1), "assessment_report": document(2),
              "policy_document": document(3)}
    qualified = await provider.post(f"/v1/qualifications/{qualification}/policy-proofs", proofs)
    assert qualified["phase"] == "qualified", qualified["last_problems"]
    assert qualified["qualified_until"][:10] == bound["term_end"][:10]

    await provider.post(f"/v1/policies/{policy_id}/cancellation", {"reason": "moving insurer"})
    await platform.post(f"/v1/qualifications/{qualification}/recheck", None)
    suspended = await eventually(lambda: platform.get(f"/v1/qualifications/{qualification}"),
                                 lambda s: s["phase"] == "suspended")
    assert "cancelled" in suspended["suspended_reason"]
    history = await platform.get(f"/v1/qualifications/{qualification}/history")
    assert history["events"][0]["name"] == "QualificationWorkflow"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"unified_social_credit_code": "91350100M000100Y4X"}, 422, "invalid_request"),
        ({"insurer_id": None}, 422, "insurer_required"),
        ({"platform_id": "has spaces"}, 422, "invalid_request"),
    ],
)
async def test_a_bad_application_is_refused_saying_what_is_wrong(parties, change, status, code):
    issued, clients = parties
    request = {
        "reference": f"bad-{uuid.uuid4().hex[:6]}", "platform_id": issued["platform"].party_id,
        "insurer_id": issued["insurer"].party_id, "unified_social_credit_code": VALID_USCC, **change,
    }
    with pytest.raises(ApiError) as refused:
        await clients["insured"].post("/v1/qualifications", request)
    assert (refused.value.status, refused.value.problem["code"]) == (status, code)
    assert (await clients["platform"].get("/v1/qualifications"))["items"] == []


async def test_only_the_platform_decides_and_only_a_provider_applies(parties):
    issued, clients = parties
    with pytest.raises(ApiError) as wrong:
        await clients["platform"].post("/v1/qualifications", {
            "reference": "x", "platform_id": "p", "insurer_id": "i", "unified_social_credit_code": VALID_USCC,
        })
    assert wrong.value.status == 403


def provider_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "provider", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


async def test_a_provider_applies_and_proves_its_cover_from_the_command_line(parties, api_stack, tmp_path):
    issued, clients = parties
    env = {**api_stack.env, "CYBERINS_API_KEY": issued["insured"].token}
    apply_args = ["apply", "--platform", issued["platform"].party_id, "--credit-code", VALID_USCC,
                  "--reference", "cli-1", "--insurer", issued["insurer"].party_id]
    applied = await asyncio.to_thread(provider_cli, env, *apply_args)
    assert applied.returncode == 0, applied.stderr
    qualification = applied.stdout.split("qualification ")[1].rstrip(".\n")
    again = await asyncio.to_thread(provider_cli, env, *apply_args)
    assert again.stdout == applied.stdout  # the same reference is the same application

    platform = clients["platform"]
    await eventually(lambda: platform.get(f"/v1/qualifications/{qualification}"), lambda s: s["platform_contact"])
    await platform.post(f"/v1/qualifications/{qualification}/platform-contact", {})
    await platform.post(f"/v1/qualifications/{qualification}/platform-decision", {"approve": True, "reason": "ok"})
    await eventually(lambda: platform.get(f"/v1/qualifications/{qualification}"), lambda s: s["insurer_contact"])
    await clients["insurer"].post(f"/v1/qualifications/{qualification}/insurer-contact", {})
    bound = await bind(clients, issued, await apply(clients, issued))

    files = {}
    for name in ("inquiry", "report", "policy"):
        files[name] = tmp_path / f"{name}.pdf"
        files[name].write_bytes(f"%PDF {name} {uuid.uuid4()}".encode())
    proof_args = ["proofs", qualification, "--policy-number", bound["policy_number"], "--inquiry-form",
                  str(files["inquiry"]), "--assessment-report", str(files["report"]), "--policy-document",
                  str(files["policy"])]
    proved = await asyncio.to_thread(provider_cli, env, *proof_args)
    assert proved.returncode == 0, proved.stderr
    assert f"Qualification {qualification}: qualified." in proved.stdout

    wrong = await asyncio.to_thread(provider_cli, env, "apply", "--platform", "p1", "--credit-code", "91350100M000100Y4X",
                                    "--reference", "cli-2", "--insurer", "i1")
    assert wrong.returncode == 2 and "unified_social_credit_code" in wrong.stderr
    keyless = await asyncio.to_thread(provider_cli, {k: v for k, v in env.items() if k != "CYBERINS_API_KEY"},
                                      *apply_args)
    assert keyless.returncode == 2 and "API key is needed" in keyless.stderr
