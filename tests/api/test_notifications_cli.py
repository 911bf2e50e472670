"""The administrator's `cyberins endpoints` and `cyberins email`, run as a subprocess against the stack's
database: the API's own rules, a secret printed once, the operators' own addresses, and what a party
then sees through the API."""

from __future__ import annotations

import asyncio
import json

from api.client import ApiClient
from api.context import PartyKind
from tests.api.conftest import CYBERINS


async def run(api_stack, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(CYBERINS),
        *args,
        env=api_stack.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, out.decode(), err.decode()


async def test_the_cli_refuses_what_the_api_refuses(api_stack):
    issued = await api_stack.credentials(PartyKind.VENDOR)
    party = f"vendor:{issued.party_id}"
    for args, said in [
        (
            ["endpoints", "add", "--party", party, "--url", "http://127.0.0.1:9/hooks"],
            "--url: a webhook URL must use https",
        ),
        (["endpoints", "add", "--party", party, "--url", "https://10.1.2.3/"], "private"),
        (
            [
                "endpoints",
                "add",
                "--party",
                party,
                "--url",
                "https://hooks.example.com/",
                "--types",
                "policy.nope",
            ],
            "--types: unknown event types: policy.nope",
        ),
        (
            ["endpoints", "add", "--party", "operator:someone", "--url", "https://hooks.example.com/"],
            "--party",
        ),
        (["endpoints", "add", "--party", "insured", "--url", "https://hooks.example.com/"], "--party"),
        (["email", "add", "--party", party, "not-an-address"], "exactly one @"),
    ]:
        code, out, err = await run(api_stack, *args)
        assert (code, out) == (2, ""), (args, out, err)
        assert said in err, (args, err)
    code, out, err = await run(api_stack, "endpoints", "pause", "ep-000000000000")
    assert code == 1 and "no endpoint ep-000000000000" in err


async def test_what_the_administrator_registers_the_party_sees_and_manages(api_stack):
    issued = await api_stack.credentials(PartyKind.PLATFORM)
    party = f"platform:{issued.party_id}"
    code, out, err = await run(
        api_stack,
        "endpoints",
        "add",
        "--party",
        party,
        "--url",
        "https://hooks.example.com/p",
        "--types",
        "qualification.applied,qualification.granted",
    )
    assert code == 0, err
    endpoint_id = out.split()[1]
    secret = next(line.strip() for line in out.splitlines() if line.strip().startswith("whsec_"))
    code, out, err = await run(
        api_stack, "email", "add", "--party", party, "Ops@Platform.Example.com", "--language", "en"
    )
    assert code == 0 and "Ops@platform.example.com" in out, err
    async with ApiClient(api_stack.base_url, issued.token) as client:
        [endpoint] = (await client.get("/v1/endpoints"))["endpoints"]
        assert (endpoint["endpoint_id"], endpoint["event_types"]) == (
            endpoint_id,
            ["qualification.applied", "qualification.granted"],
        )
        assert secret not in json.dumps(endpoint)
        [recipient] = (await client.get("/v1/email-recipients"))["recipients"]
        assert (recipient["address"], recipient["language"]) == ("Ops@platform.example.com", "en")
        code, out, err = await run(api_stack, "endpoints", "pause", endpoint_id)
        assert code == 0, err
        assert (await client.get(f"/v1/endpoints/{endpoint_id}"))[
            "status_reason"
        ] == "paused by an administrator"
        code, out, err = await run(api_stack, "endpoints", "rotate", endpoint_id)
        assert code == 0 and "whsec_" in out and secret not in out, err
        await client.post(f"/v1/endpoints/{endpoint_id}/resume")
        code, out, err = await run(api_stack, "endpoints", "list", "--party", party, "--json")
        assert [(e["endpoint_id"], e["status"]) for e in json.loads(out)] == [(endpoint_id, "active")]
        code, out, err = await run(api_stack, "endpoints", "delete", endpoint_id)
        assert code == 0, err
        assert (await client.get("/v1/endpoints"))["endpoints"] == []


async def test_the_operators_addresses_are_the_clis_alone(api_stack):
    code, out, err = await run(
        api_stack,
        "email",
        "add",
        "--party",
        "operator:operators",
        "duty@cyberins.example.com",
        "--types",
        "delivery.failed",
    )
    assert code == 0, err
    code, out, err = await run(api_stack, "email", "list", "--party", "operator:operators", "--json")
    listed = json.loads(out)
    assert [r["event_types"] for r in listed if r["address"] == "duty@cyberins.example.com"] == [
        ["delivery.failed"]
    ]
    recipient_id = next(r["recipient_id"] for r in listed if r["address"] == "duty@cyberins.example.com")
    code, out, err = await run(api_stack, "email", "delete", str(recipient_id))
    assert code == 0, err
