"""`cyberins demo` end to end: the three-party story through the API of a running stack."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import text

from contracts.claim import ClaimStatus, claim_workflow_id
from tests.api.conftest import CYBERINS


async def test_demo_tells_the_whole_story_and_pays_once(api_stack):
    process = await asyncio.create_subprocess_exec(
        str(CYBERINS), "demo", env=api_stack.env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 240)
    printed = output.decode()
    assert process.returncode == 0, printed
    for step in ("applies for cyber cover", "pre-cover assessment", "bound: policy number", "monitoring findings",
                 "reports ransomware", "initial report to the authorities", "takes the dispatch", "forensics",
                 "opens the claim", "determines the loss", "accepts the offer"):
        assert step in printed, f"missing step {step!r}:\n{printed}"
    if api_stack.env.get("CYBERINS_WEBHOOK_HTTP_LOOPBACK", "").lower() in ("1", "true"):
        assert "⇢ webhook to panel vendor: incident.dispatch.requested" in printed and "Webhooks:" in printed, printed
    else:
        # An API that takes https endpoints only: the demo says why it has no receivers, once, and tells
        # the story all the same (tests/notifications/test_demo_receiver.py runs it with them).
        assert printed.count("webhooks off:") == 1, printed
        assert "⇢ webhook" not in printed and "Webhooks:" not in printed, printed
    claim_id = re.search(r"claim (clm-[0-9a-f]{12})", printed.strip().splitlines()[-1]).group(1)

    status = await api_stack.temporal.get_workflow_handle(claim_workflow_id(claim_id)).query(
        "status", result_type=ClaimStatus
    )
    assert status.phase.value == "closed" and status.paid is not None and status.paid.fen > 0
    assert status.statement is not None and status.paid == status.statement.total_payable
    async with api_stack.sessions() as session:
        payouts = await session.scalar(text("SELECT count(*) FROM payouts WHERE claim_id = :c"), {"c": claim_id})
    assert payouts == 1
