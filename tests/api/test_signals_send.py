"""`cyberins signals send` against the real API stack: a vendor's file of 12,000 findings on three
policies, sent in batches, counted once however often it is sent; bad files and refusals explained.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.client import ApiClient
from api.context import PartyKind
from tests import builders
from tests.patience import patience

REPO = Path(__file__).resolve().parents[2]
FINDINGS = 12_000


@dataclass
class Vendor:
    id: str
    env: dict[str, str]
    client: ApiClient
    policies: list[str]


def application_body(insurer_id: str, vendor_id: str) -> dict:
    application = builders.application(
        organisation=builders.organisation(unified_social_credit_code=builders.uscc(secrets.randbelow(10**9))),
        assessing_vendor_id=vendor_id,
        alternative_vendor_ids=[],
    )
    return {"insurer_id": insurer_id, "application": application.model_dump(mode="json")}


async def eventually(read, done, *, seconds: float = 60):
    deadline = asyncio.get_running_loop().time() + patience(seconds)
    while True:
        value = await read()
        if done(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.3)


async def bound_policy(insured: ApiClient, vendor: ApiClient, insurer_id: str, vendor_id: str) -> str:
    policy = (await insured.post("/v1/policies", application_body(insurer_id, vendor_id)))["id"]
    report = builders.assessment(vendor_id).model_dump(mode="json")
    await vendor.post(f"/v1/policies/{policy}/assessment", report)

    def status():
        return insured.get(f"/v1/policies/{policy}")

    quoted = await eventually(status, lambda s: s["quote"] is not None)
    await insured.post(f"/v1/policies/{policy}/quote-acceptance", {"quote_id": quoted["quote"]["quote_id"]})
    bound = await eventually(status, lambda s: s["phase"] == "in_force")
    assert bound["phase"] == "in_force", bound
    return policy


@pytest.fixture(scope="module")
async def vendor(api_stack):
    """A monitoring vendor with three policies in force, and the environment its terminal would have."""
    tag = uuid.uuid4().hex[:8]
    issued = await api_stack.credentials(PartyKind.VENDOR, f"vendor-signals-{tag}")
    insured_key = await api_stack.credentials(PartyKind.INSURED, f"insured-signals-{tag}")
    insurer_key = await api_stack.credentials(PartyKind.INSURER, f"insurer-signals-{tag}")
    client = ApiClient(api_stack.base_url, issued.token, webhook_secret=issued.webhook_secret)
    async with ApiClient(api_stack.base_url, insured_key.token) as insured:
        policies = await asyncio.gather(
            *(bound_policy(insured, client, insurer_key.party_id, issued.party_id) for _ in range(3))
        )
    env = {**api_stack.env, "CYBERINS_API_KEY": issued.token}
    env["CYBERINS_WEBHOOK_SECRET"] = issued.webhook_secret
    try:
        yield Vendor(issued.party_id, env, client, list(policies))
    finally:
        await client.aclose()


def send(vendor: Vendor, path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "signals", "send", str(path), *options],
        cwd=REPO, env=vendor.env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def finding(policy_id: str, event_id: str, **overrides) -> dict:
    return {
        "policy_id": policy_id, "vendor_event_id": event_id, "kind": "exposed_service", "severity": "low",
        "asset": f"host-{event_id}.example.cn", "title": "RDP exposed to the internet",
        "observed_at": "2026-05-01T08:00:00+08:00", **overrides,
    }


def write_lines(path: Path, lines: list[dict | str]) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


async def totals(vendor: Vendor) -> dict[str, dict]:
    return {policy: await vendor.client.get(f"/v1/policies/{policy}") for policy in vendor.policies}


def counted(statuses: dict[str, dict]) -> dict[str, int]:
    return {policy: status["findings"]["total"] for policy, status in statuses.items()}


async def test_a_file_of_12000_findings_counts_each_finding_once_however_often_it_is_sent(vendor, tmp_path):
    run = uuid.uuid4().hex[:8]
    path = write_lines(
        tmp_path / "findings.jsonl",
        [finding(vendor.policies[i % 3], f"evt-{run}-{i}") for i in range(FINDINGS)],
    )
    each = FINDINGS // 3
    expected = dict.fromkeys(vendor.policies, each)

    first = send(vendor, path, "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["findings"], report["batches"], report["policies"]) == (FINDINGS, 3, 3)
    assert report["replayed_batches"] == 0
    assert report["signals"] == 9  # each 5,000-line batch reaches each of the three policies as one signal
    statuses = await eventually(lambda: totals(vendor), lambda s: counted(s) == expected)
    assert counted(statuses) == expected
    assert all(s["pending_findings"] == 0 and s["findings_ignored"] == 0 for s in statuses.values())

    # The same file again: the same webhook-ids, answered from the API's stored answers.
    again = send(vendor, path)
    assert again.returncode == 0, again.stderr
    assert f"Sent {FINDINGS} findings in 3 batches for 3 policies." in again.stdout
    assert "3 batches had been sent before and were applied once." in again.stdout
    # In other batches the ids differ and every finding reaches its policy again: the vendor event
    # ids still count each finding once.
    rebatched = send(vendor, path, "--batch-size", "7000", "--json")
    assert rebatched.returncode == 0, rebatched.stderr
    resent = json.loads(rebatched.stdout)
    assert (resent["batches"], resent["replayed_batches"]) == (2, 0)
    # One new finding per policy, sent last: a policy applies its signals in order, so once these
    # count, everything sent before them has been counted too.
    sentinel = write_lines(tmp_path / "last.jsonl", [finding(p, f"evt-{run}-last") for p in vendor.policies])
    assert send(vendor, sentinel).returncode == 0
    after = dict.fromkeys(vendor.policies, each + 1)
    assert counted(await eventually(lambda: totals(vendor), lambda s: counted(s) == after)) == after


async def test_a_bad_line_is_named_and_nothing_is_sent(vendor, tmp_path):
    before = counted(await totals(vendor))
    run = uuid.uuid4().hex[:8]
    bad = finding(vendor.policies[0], f"evt-{run}-bad", severity="urgent")
    del bad["asset"]
    path = write_lines(
        tmp_path / "findings.jsonl",
        [
            finding(vendor.policies[0], f"evt-{run}-1"), "", bad, "{not json",
            finding(vendor.policies[1], f"evt-{run}-2"),
        ],
    )
    result = send(vendor, path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "has 2 invalid line(s); nothing was sent" in result.stderr
    assert "line 3: severity: Input should be 'critical', 'high', 'medium', 'low' or 'info'" in result.stderr
    assert "line 3: asset: Field required" in result.stderr
    assert "line 4: not valid JSON" in result.stderr
    assert "urgent" not in result.stderr  # fields named, values never echoed
    assert result.stdout == ""
    await asyncio.sleep(1)
    assert counted(await totals(vendor)) == before


async def test_the_apis_refusal_is_printed_with_where_the_file_stopped(vendor, tmp_path):
    run = uuid.uuid4().hex[:8]
    lines = [finding(vendor.policies[0], f"evt-{run}-{i}") for i in range(4)]
    lines.append(finding("pol-000000000000", f"evt-{run}-stranger"))
    path = write_lines(tmp_path / "findings.jsonl", lines)
    result = send(vendor, path, "--batch-size", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(
        "error: the API refused batch 3 (lines 5 to 5): "
        "404 not_found: no policy pol-000000000000 that you can see;"
    )
    assert "the 2 batches (4 findings) before it were accepted; sending the file again is safe" in (
        result.stderr
    )

    wrong_secret = {**vendor.env, "CYBERINS_WEBHOOK_SECRET": "whsec_" + "A" * 44}
    refused = subprocess.run(
        [sys.executable, "-m", "cli.main", "signals", "send", str(path)],
        cwd=REPO, env=wrong_secret, capture_output=True, text=True, timeout=120, check=False,
    )
    assert refused.returncode == 1 and "error: the API refused batch 1 (lines 1 to 5): 401" in refused.stderr


def test_without_credentials_nothing_is_read_or_sent(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CYBERINS_")}
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "signals", "send", str(write_lines(tmp_path / "f.jsonl", ["{}"]))],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 2 and "error: the vendor's API key is needed" in result.stderr
