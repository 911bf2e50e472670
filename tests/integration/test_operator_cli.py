"""The insurer's operator commands against a real Temporal dev server and a real worker.

Setup (a bound policy, an incident, a claim) goes through the Temporal client as the workflow tests
do; every step an operator takes runs the real `cyberins` command as a subprocess. The subprocesses
run in threads so that the worker in this test's event loop keeps answering them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from contracts.policy import AssessmentSubmission
from domain.application import CoverageRequest
from domain.coverage import CoverageHead
from domain.money import Money
from domain.rating import Decision
from tests.builders import application, assessment, risky_assessment
from tests.workflows.post_cover import incident_report, report_incident, start_claim
from tests.workflows.support import bind, eventually, running_worker, start_policy
from workflows.incident import IncidentWorkflow
from workflows.policy import PolicyWorkflow

REPO = Path(__file__).resolve().parents[2]
VISIBILITY_SECONDS = 20


class Operator:
    """Runs `cyberins` against the test's Temporal server, as an operator's terminal would."""

    def __init__(self, client) -> None:
        self.env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("TEMPORAL_", "CYBERINS_")) and k != "DATABASE_URL"
        }
        self.env.update(
            TEMPORAL_ADDRESS=client.service_client.config.target_host, TEMPORAL_NAMESPACE=client.namespace,
            COLUMNS="200",  # Rich tables fit whole ids on one line
        )

    async def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "cli.main", *args], cwd=REPO, env=self.env,
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result

    async def ok(self, *args: str) -> str:
        result = await self.run(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    async def json(self, *args: str):
        return json.loads(await self.ok(*args, "--json"))

    async def refused(self, *args: str, code: int = 1) -> str:
        """The one `error:` line of a refusal."""
        result = await self.run(*args)
        assert result.returncode == code, result.stdout + result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, result.stderr
        return errors[0]

    async def listed(self, *args: str, check) -> list[dict]:
        """Visibility lags the workflows: poll the listing (bounded) until `check` holds."""
        deadline = time.monotonic() + VISIBILITY_SECONDS
        while True:
            rows = await self.json(*args)
            if check(rows) or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.3)


def by_id(rows: list[dict], column: str) -> dict[str, dict]:
    return {row[column]: row for row in rows}


async def referred_policy(client, task_queue):
    handle = await start_policy(client, task_queue)
    receipt = await handle.execute_update(
        PolicyWorkflow.submit_assessment, AssessmentSubmission(report=risky_assessment())
    )
    assert receipt.decision is Decision.REFER
    await eventually(handle, lambda s: s.phase.value == "referred")
    return handle, handle.id.removeprefix("policy-")


async def test_an_underwriter_finds_a_referral_in_the_list_and_accepts_it(
    dev_client, session_factory, task_queue
):
    operator = Operator(dev_client)
    async with running_worker(dev_client, session_factory, task_queue):
        handle, policy_id = await referred_policy(dev_client, task_queue)

        listing = ("policy", "list", "--phase", "referred", "--industry", "industrial_internet",
                   "--limit", "1000")
        found = await operator.listed(*listing, check=lambda r: policy_id in by_id(r, "policy_id"))
        rows = by_id(found, "policy_id")
        row = rows[policy_id]
        assert row["phase"] == "referred" and row["industry"] == "industrial_internet"
        assert row["temporal_status"] == "running" and row["started_at"] and "risk_score" in row
        assert all(r["phase"] == "referred" for r in rows.values())
        table = await operator.ok("policy", "list", "--phase", "referred", "--limit", "1000")
        assert policy_id in table and "referred" in table and "Temporal visibility" in table
        in_force = await operator.json("policy", "list", "--phase", "in_force", "--limit", "1000")
        assert policy_id not in by_id(in_force, "policy_id")

        accepted = await operator.ok(
            "policy", "approve", policy_id, "--underwriter", "uw-7", "--reason", "controls plan agreed",
            "--premium-fen", "15000000",
        )
        assert f"Policy {policy_id}: referral accepted by uw-7." in accepted and "¥150,000.00" in accepted
        quoted = await eventually(handle, lambda s: s.phase.value == "quoted")
        assert quoted.quote.premium == Money.yuan(150_000)

        again = await operator.refused(
            "policy", "approve", policy_id, "--underwriter", "uw-8", "--reason", "again"
        )
        assert again == f"error: policy {policy_id} refused: the referral has already been decided"
        unknown = await operator.refused(
            "policy", "approve", "pol-000000000000", "--underwriter", "u", "--reason", "r"
        )
        assert unknown.startswith("error: no policy pol-000000000000")
        shown = await operator.json("policy", "show", policy_id)
        assert shown["phase"] == "quoted"


async def test_a_declined_referral_ends_the_policy(dev_client, session_factory, task_queue):
    operator = Operator(dev_client)
    async with running_worker(dev_client, session_factory, task_queue):
        handle, policy_id = await referred_policy(dev_client, task_queue)
        declined = await operator.ok(
            "policy", "approve", policy_id, "--underwriter", "uw-7", "--reason", "no MFA, no backups",
            "--decline",
        )
        assert f"Policy {policy_id}: referral declined by uw-7." in declined
        outcome = await handle.result()
        assert outcome.phase.value == "declined"
        rows = await operator.listed(
            "policy", "list", "--phase", "declined", "--limit", "1000",
            check=lambda r: policy_id in by_id(r, "policy_id"),
        )
        assert by_id(rows, "policy_id")[policy_id]["temporal_status"] == "completed"
        bad = await operator.refused(
            "policy", "approve", policy_id, "--underwriter", "u", "--reason", "r", "--decline",
            "--premium-fen", "1",
            code=2,
        )
        assert "--premium-fen" in bad


# Emergency response is the head interim payments are allowed on.
EMERGENCY_COVER = application(
    coverages=[
        *application().coverages,
        CoverageRequest(head=CoverageHead.EMERGENCY_RESPONSE, limit=Money.yuan(1_000_000)),
    ]
)


async def test_an_adjuster_works_a_claim_from_items_to_offer(
    dev_client, session_factory, task_queue, tmp_path
):
    operator = Operator(dev_client)
    async with running_worker(dev_client, session_factory, task_queue):
        policy = await start_policy(dev_client, task_queue, app=EMERGENCY_COVER)
        bound = await bind(policy, assessment())
        policy_id = policy.id.removeprefix("policy-")
        incident = await report_incident(dev_client, task_queue, incident_report(policy_id, bound.term_start))
        await eventually(incident, lambda s: s.covered is True, query=IncidentWorkflow.status)
        incident_id = incident.id.removeprefix("incident-")
        claim_id = (await start_claim(dev_client, task_queue, incident_id)).id.removeprefix("claim-")
        broken, items = tmp_path / "broken.json", tmp_path / "items.json"
        negative = {"item_id": "er", "head": "emergency_response", "amount": {"fen": -1}}
        broken.write_text(json.dumps({"items": [negative]}))
        items.write_text(json.dumps({"items": [
            {"item_id": "er-1", "head": "emergency_response",
             "amount": {"fen": 30_000_000, "currency": "CNY"}, "description": "panel response, 3 days"},
        ]}))

        # Independent commands run side by side: each subprocess spends seconds importing.
        in_force, riskier, nothing, early, invalid = await asyncio.gather(
            operator.listed(
                "policy", "list", "--phase", "in_force", "--limit", "1000",
                check=lambda r: policy_id in by_id(r, "policy_id"),
            ),
            operator.json("policy", "list", "--min-risk-score", str(bound.risk_score + 1), "--limit", "1000"),
            operator.refused("claim", "determine", claim_id),
            operator.refused("claim", "approve", claim_id, "--approver", "adj-1"),
            operator.run("claim", "add-items", claim_id, str(broken)),
        )
        assert by_id(in_force, "policy_id")[policy_id]["risk_score"] == bound.risk_score
        assert policy_id not in by_id(riskier, "policy_id")
        assert nothing == f"error: claim {claim_id} refused: there are no loss items to determine"
        assert early == (
            f"error: claim {claim_id} refused: "
            "the claim is gathering_loss; only a determined claim in review can be approved"
        )
        assert invalid.returncode == 2 and "is not a valid loss items submission" in invalid.stderr
        assert "items[0].amount.fen: Input should be greater than or equal to 0" in invalid.stderr

        gathered = await operator.json("claim", "add-items", claim_id, str(items))
        assert gathered["phase"] == "gathering_loss"
        statement = await operator.json("claim", "determine", claim_id)
        line = next(line for line in statement["lines"] if line["head"] == "emergency_response")
        payable = line["payable"]["fen"]
        assert 0 < payable <= 30_000_000 and statement["total_payable"]["fen"] == payable

        wrong_head, too_much = await asyncio.gather(
            operator.refused(
                "claim", "pay", claim_id, "--head", "ransomware_extortion", "--amount-fen", "100",
                "--approver", "adj-1",
            ),
            operator.refused(
                "claim", "pay", claim_id, "--head", "emergency_response", "--amount-fen", str(payable + 1),
                "--approver", "adj-1",
            ),
        )
        assert "interim payments are for emergency_response, not ransomware_extortion" in wrong_head
        assert f"would exceed the {payable} fen payable" in too_much
        paid = await operator.ok(
            "claim", "pay", claim_id, "--head", "emergency_response", "--amount-fen", "1000000",
            "--approver", "adj-1",
        )
        assert "¥10,000.00" in paid and "in_review" in paid

        offered = await operator.json("claim", "approve", claim_id, "--approver", "adj-1")
        assert offered["phase"] == "offered" and offered["approvals"] == ["adj-1"]

        twice, table, incident_table, incident_json, claims, incidents, overdue, unknown, unknown_show = (
            await asyncio.gather(
                operator.refused("claim", "approve", claim_id, "--approver", "adj-2"),
                operator.ok("claim", "show", claim_id),
                operator.ok("incident", "show", incident_id),
                operator.json("incident", "show", incident_id),
                operator.listed(
                    "claim", "list", "--policy-id", policy_id,
                    check=lambda r: [row["phase"] for row in r] == ["offered"],
                ),
                operator.listed("incident", "list", "--policy-id", policy_id, check=lambda r: len(r) == 1),
                operator.json("incident", "list", "--policy-id", policy_id, "--overdue"),
                operator.refused("claim", "approve", "clm-000000000000", "--approver", "adj-1"),
                operator.refused("claim", "show", "clm-000000000000"),
            )
        )
        assert twice.endswith("the claim is offered; only a determined claim in review can be approved")
        assert f"Claim {claim_id}" in table and "offered" in table
        assert "adj-1" in table and "¥10,000.00" in table
        assert f"Incident {incident_id}" in incident_table and "significant" in incident_table
        assert incident_json["covered"] is True and incident_json["incident_id"] == incident_id
        assert [(row["claim_id"], row["phase"], row["policy_id"]) for row in claims] == [
            (claim_id, "offered", policy_id)
        ]
        assert [(row["incident_id"], row["grade"], row["report_overdue"]) for row in incidents] == [
            (incident_id, "significant", False)
        ]
        assert overdue == []
        assert unknown.startswith("error: no claim clm-000000000000")
        assert unknown_show.startswith("error: no claim clm-000000000000")


async def test_a_list_filter_cannot_carry_query_text(dev_client) -> None:
    refused = await Operator(dev_client).refused("claim", "list", "--policy-id", "x' OR 'a' = 'a", code=2)
    assert refused.startswith("error: --policy-id: ")
