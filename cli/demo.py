"""`cyberins demo`: the three-party chain, live, through the HTTP API.

apply → assess → bind → monitoring findings → ransomware incident → regulatory report → panel
response → forensics → claim → payout. Every step is an API call by the party who would make it,
printed as it happens, with a link to watch the workflow in the Temporal UI. Each party's webhook
receiver (cli/demo_receiver.py) prints what the service tells that party as it arrives.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.errors import fail

if TYPE_CHECKING:
    from rich.console import Console

    from api.client import ApiClient
    from cli.demo_receiver import Arrivals, DemoReceivers
    from devstack.webhook_receiver import WebhookReceiver
    from settings import Settings

PANEL_VENDOR = "panel-ir-01"  # first on the default schedule's emergency-response panel
WAIT_SECONDS = 60
SETTLE_SECONDS = 10.0  # the longest the demo waits at the end for webhooks still in flight
TOLD_SECONDS = 5.0  # the longest the panel vendor waits for its dispatch webhook before acting anyway


def application(vendor_id: str) -> dict[str, Any]:
    def cny(yuan: int) -> dict[str, Any]:
        return {"fen": yuan * 100, "currency": "CNY"}

    return {
        "organisation": {
            "name": "闽江精密机械制造有限公司 (demo)",
            "unified_social_credit_code": "91350100M000100Y43",
            "industry": "industrial_internet",
            "revenue_band": "1b_to_10b",
            "systems": [
                {"name": "ERP 企业资源计划系统", "mlps_level": 3},
                {"name": "MES 制造执行系统", "mlps_level": 3},
            ],
        },
        "coverages": [
            {"head": "business_interruption", "limit": cny(10_000_000)},
            {"head": "emergency_response", "limit": cny(2_000_000)},
            {"head": "ransomware_extortion", "limit": cny(5_000_000)},
            {"head": "data_breach_liability", "limit": cny(5_000_000)},
        ],
        "aggregate_limit": cny(20_000_000),
        "assessing_vendor_id": vendor_id,
    }


def assessment(vendor_id: str) -> dict[str, Any]:
    return {
        "vendor_id": vendor_id,
        "controls": {
            "mfa": True, "offline_backups": True, "edr": True, "patch_cadence_days": 14,
            "incident_response_plan": True, "security_staff": 4,
            "annual_security_spend": {"fen": 120_000_000, "currency": "CNY"},
            "payment_dual_authorisation": True, "security_awareness_training": True,
        },
        "scan_findings": [
            {"kind": "misconfiguration", "severity": "medium", "asset": "portal.example.cn", "title": "TLS 1.0 still enabled"}
        ],
        "mlps_results": [{"system_name": "MES 制造执行系统", "level": 3, "outcome": "good", "tested_on": "2026-04-12"}],
    }


class Story:
    """Prints numbered steps; each step names the party acting and what came back."""

    def __init__(self, console: Console, settings: Settings, namespace: str, pause: float = 0.0) -> None:
        self.console, self.settings, self.namespace, self.pause = console, settings, namespace, pause
        self.number = 0

    async def step(self, party: str, text: str) -> None:
        if self.pause:  # asleep without blocking: the webhook receivers share this loop
            await asyncio.sleep(self.pause)
        self.number += 1
        self.console.print(f"[bold cyan]{self.number:>2}.[/] [bold]{party:<13}[/] {text}")

    def result(self, text: str) -> None:
        self.console.print(f"               [green]→[/] {text}")

    def link(self, workflow_id: str) -> None:
        self.console.print(f"               [dim]watch: {self.settings.workflow_url(self.namespace, workflow_id)}[/]")


async def eventually(read: Callable[[], Awaitable[dict]], done: Callable[[dict], bool], what: str) -> dict:
    """Polls a read endpoint until `done`; workflows move on their own after a call returns."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        current = await read()
        if done(current):
            return current
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {WAIT_SECONDS} s for {what}; is the worker running?")
        await asyncio.sleep(0.3)


def yuan(money: dict | None) -> str:
    """An amount as the API's JSON gives it (`{"fen", "currency"}`), as the rest of the CLI prints money."""
    from domain.money import format_fen

    return "—" if money is None else format_fen(money["fen"], money.get("currency", "CNY"))


# (party, event type, object id) -> once that party's receiver has the event, or after a short wait
Told = Callable[[str, str, str], Awaitable[object]]


async def run_story(story: Story, insured: ApiClient, vendor: ApiClient, panel: ApiClient, insurer: ApiClient,
                    vendor_id: str, insurer_id: str, told: Told | None = None) -> dict[str, str]:
    """The whole chain; returns the ids it made (policy, incident, claim)."""
    await story.step("insured", "applies for cyber cover (投保)")
    policy = await insured.post("/v1/policies", {"insurer_id": insurer_id, "application": application(vendor_id)})
    policy_id = policy["id"]
    story.result(f"policy {policy_id} is awaiting its security assessment")
    story.link(policy["workflow_id"])

    await story.step("vendor", "submits the pre-cover assessment (保前评估), signed")
    receipt = await vendor.post(f"/v1/policies/{policy_id}/assessment", assessment(vendor_id))
    story.result(f"risk score {receipt['risk_score']}, decision {receipt['decision']}")
    status = await eventually(lambda: insured.get(f"/v1/policies/{policy_id}"), lambda s: s["quote"] is not None, "a quote")
    quote = status["quote"]
    story.result(f"quote {quote['quote_id']}: premium {yuan(quote['premium'])}")

    await story.step("insured", "accepts the quote")
    accepted = await insured.post(f"/v1/policies/{policy_id}/quote-acceptance", {"quote_id": quote["quote_id"]})
    for code in accepted["outstanding_remediations"]:
        await story.step("vendor", f"verifies the condition of binding {code} is fixed")
        await vendor.post(f"/v1/policies/{policy_id}/prebind-remediations", {"code": code})
    status = await eventually(lambda: insured.get(f"/v1/policies/{policy_id}"), lambda s: s["phase"] == "in_force", "binding")
    story.result(f"bound: policy number {status['policy_number']}, in force until {status['term_end']}")

    await story.step("vendor", "reports monitoring findings (保中监测) in one batch")
    now = datetime.now(UTC)
    findings = [
        {"policy_id": policy_id, "vendor_event_id": f"demo-{uuid.uuid4().hex[:10]}", "kind": kind, "severity": severity,
         "asset": asset, "title": title, "observed_at": now.isoformat()}
        for kind, severity, asset, title in [
            ("vulnerability", "critical", "vpn.example.cn", "VPN gateway missing a remote-code-execution patch"),
            ("leaked_credential", "high", "mail.example.cn", "Staff mailbox credentials in a paste-site dump"),
            ("exposed_service", "medium", "203.0.113.10:3389", "RDP reachable from the internet"),
        ]
    ]
    delivered = await vendor.post("/v1/findings", {"findings": findings})
    story.result(f"{delivered['findings']} findings delivered to {delivered['policies']} policy in {delivered['signals']} signal")
    status = await eventually(
        lambda: insured.get(f"/v1/policies/{policy_id}"), lambda s: s["findings"]["total"] == 3, "the findings to be stored"
    )
    story.result(f"open by severity: {status['findings']['open_by_severity']}")

    await story.step("insured", "fixes the RDP exposure; the vendor's rescan confirms it")
    rdp = findings[2]["vendor_event_id"]
    await insured.post(f"/v1/policies/{policy_id}/findings/{rdp}/resolution", {"resolution": "fixed"})
    verified = await vendor.post(f"/v1/policies/{policy_id}/findings/{rdp}/verification", {"fix_confirmed": True})
    story.result(f"finding {rdp}: {verified['previous_status']} → {verified['status']}")

    discovered = datetime.now(UTC)
    await story.step("insured", "reports ransomware on the MES servers (出险报案)")
    incident = await insured.post("/v1/incidents", {
        "policy_id": policy_id, "reference": f"MJ-SEC-{secrets.token_hex(3)}", "discovered_at": discovered.isoformat(),
        "grade": "significant", "category": "malicious_program", "region": "fujian",
        "summary": "Ransomware encrypted the MES file servers; production line 2 stopped.",
        "affected_systems": ["MES 制造执行系统"],
    })
    incident_id = incident["id"]
    current = await eventually(
        lambda: insured.get(f"/v1/incidents/{incident_id}"), lambda s: s["dispatched_vendor"] is not None, "dispatch"
    )
    story.result(f"incident {incident_id}: covered={current['covered']}, report to the authorities due "
                 f"{current['report_deadline']}, panel vendor {current['dispatched_vendor']} dispatched")
    story.link(incident["workflow_id"])

    await story.step("insured", "files the initial report to the authorities (网络安全事件报告)")
    await insured.post(f"/v1/incidents/{incident_id}/regulatory-filings", {
        "kind": "initial", "channel": "provincial CAC portal", "reference": f"FJ-{secrets.token_hex(3)}",
        "filed_at": datetime.now(UTC).isoformat(),
    })

    if told is not None:  # the vendor acts on the dispatch webhook: show it arrive first
        await told("panel vendor", "incident.dispatch.requested", incident_id)
    await story.step("panel vendor", f"{PANEL_VENDOR} takes the dispatch (应急响应)")
    responding = await panel.post(f"/v1/incidents/{incident_id}/acknowledgement", {})
    story.result(f"incident phase {responding['phase']}")
    for kind in ("contained", "restored"):
        await story.step("panel vendor", f"reports the incident {kind}")
        await panel.post(f"/v1/incidents/{incident_id}/progress", {
            "event_id": f"{kind}-{incident_id}", "kind": kind, "at": datetime.now(UTC).isoformat(),
        })
    await eventually(lambda: insured.get(f"/v1/incidents/{incident_id}"), lambda s: s["restored_at"] is not None, "restoration")

    await story.step("panel vendor", "registers evidence and submits forensics (溯源取证)")
    image = b"MES disk image (demo)"
    await panel.post(f"/v1/incidents/{incident_id}/evidence", {
        "evidence_id": "ev-mes-1", "name": "MES disk image", "sha256": hashlib.sha256(image).hexdigest(),
        "size_bytes": len(image), "collected_by": PANEL_VENDOR, "collected_at": datetime.now(UTC).isoformat(),
    })
    await panel.post(f"/v1/incidents/{incident_id}/forensics", {
        "vendor_id": PANEL_VENDOR, "root_cause": "unpatched VPN gateway", "attack_vector": "exploited VPN",
        "first_intrusion_at": discovered.isoformat(), "evidence_ids": ["ev-mes-1"],
    })

    await story.step("insurer", "opens the claim (理赔) and enters the loss items")
    claim = await insurer.post("/v1/claims", {"incident_id": incident_id})
    claim_id = claim["id"]
    story.link(claim["workflow_id"])
    await eventually(lambda: insurer.get(f"/v1/claims/{claim_id}"), lambda s: s["policy_id"] is not None, "the claim's basis")
    await insurer.post(f"/v1/claims/{claim_id}/loss-items", {"items": [
        {"item_id": "ransom", "head": "ransomware_extortion", "amount": {"fen": 30_000_000, "currency": "CNY"},
         "description": "ransom paid with the insurer's consent"},
        {"item_id": "response", "head": "emergency_response", "amount": {"fen": 8_000_000, "currency": "CNY"},
         "vendor_id": PANEL_VENDOR, "description": "panel vendor's emergency response"},
    ]})
    await insurer.post(f"/v1/claims/{claim_id}/conditions",
                       {"ransom_paid_with_insurer_consent": True, "police_report_filed": True})

    await story.step("insurer", "determines the loss (定损) against the policy's limits")
    statement = await insurer.post(f"/v1/claims/{claim_id}/determination")
    story.result(f"payable {yuan(statement['total_payable'])}")

    await story.step("insurer", "approves the statement")
    approved = await insurer.post(f"/v1/claims/{claim_id}/approvals", {"approver_id": "adjuster-demo"})
    story.result(f"claim phase {approved['phase']}")

    await story.step("insured", "accepts the offer; the payout follows")
    paid = await insured.post(f"/v1/claims/{claim_id}/offer/acceptance", {})
    story.result(f"claim {paid['phase']}: paid {yuan(paid['paid'])} in {paid['payouts']} payout(s)")
    return {"policy": policy_id, "incident": incident_id, "claim": claim_id}


async def _provision(settings: Settings) -> dict[str, Any]:
    """Fresh keys for the demo's four parties, issued straight into the database as an administrator would."""
    from api.parties import PartyKind
    from api.provisioning import issue_credentials
    from cli.database import operator_actor
    from storage.audit import acting_as
    from storage.db import create_session_factory

    run = secrets.token_hex(3)
    engine, sessions = create_session_factory(settings.effective_database_url, pool_size=1)
    try:
        with acting_as(operator_actor()):
            return {
                "insured": await issue_credentials(sessions, PartyKind.INSURED, f"demo-insured-{run}", label="cyberins demo"),
                "vendor": await issue_credentials(sessions, PartyKind.VENDOR, f"demo-vendor-{run}", label="cyberins demo"),
                "panel": await issue_credentials(sessions, PartyKind.VENDOR, PANEL_VENDOR, label="cyberins demo"),
                "insurer": await issue_credentials(sessions, PartyKind.INSURER, f"demo-insurer-{run}", label="cyberins demo"),
            }
    except OSError as error:
        fail(f"cannot reach the database to issue the demo's keys ({error}); is `make dev` running?")
    finally:
        await engine.dispose()


@dataclass
class DemoRun:
    """What a run made (policy, incident, claim) and, when they were registered, its webhook receivers."""

    ids: dict[str, str]
    receivers: DemoReceivers
    arrivals: Arrivals | None


async def run_demo(
    console: Console, settings: Settings, *, pause: float = 0.0, settle_seconds: float = SETTLE_SECONDS,
    receiver_factory: Callable[[], WebhookReceiver] | None = None,
) -> DemoRun:
    """Provision the parties, open a webhook receiver for each, tell the story, wait briefly for the
    webhooks still in flight and sum them up."""
    import httpx

    from api.client import ApiClient, ApiError
    from cli.demo_receiver import DemoReceivers

    credentials = await _provision(settings)
    base = settings.api_base_url
    clients = {
        name: ApiClient(base, issued.token, webhook_secret=issued.webhook_secret) for name, issued in credentials.items()
    }
    console.print(f"[bold]cyberins demo[/] against {base}; open {settings.ui_base_url} to watch the workflows.")
    receivers = DemoReceivers(console, base, [
        (label, credentials[name], clients[name])
        for name, label in (("insured", "insured"), ("vendor", "vendor"), ("panel", "panel vendor"), ("insurer", "insurer"))
    ], receiver_factory)
    story = Story(console, settings, namespace="default", pause=pause)
    try:
        await receivers.open()
        ids = await run_story(
            story, clients["insured"], clients["vendor"], clients["panel"], clients["insurer"],
            credentials["vendor"].party_id, credentials["insurer"].party_id,
            told=partial(receivers.told, seconds=TOLD_SECONDS) if receivers.live else None,
        )
        arrivals = await receivers.settle(settings.effective_database_url, settle_seconds)
        return DemoRun(ids, receivers, arrivals)
    except ApiError as error:
        fail(f"step {story.number} was refused: {error}")
    except TimeoutError as error:
        fail(f"step {story.number}: {error}")
    except (OSError, httpx.TransportError) as error:
        fail(f"cannot reach the API at {base} ({error}); is `make dev` running?")
    finally:
        await receivers.close()
        for client in clients.values():
            await client.aclose()


def demo(
    pause: Annotated[float, typer.Option(help="Seconds to pause between steps, to follow along in the UI")] = 0.0,
) -> None:
    """Run the three-party story through the API of a running `make dev`, printing each step and each
    webhook a party receives (its receiver runs here, on loopback)."""
    from rich.console import Console

    from cli.running import run_async
    from settings import get_settings

    console = Console(highlight=False, soft_wrap=True)
    ids = run_async(run_demo(console, get_settings(), pause=pause)).ids
    console.print(f"[bold green]Done.[/] policy {ids['policy']}, incident {ids['incident']}, claim {ids['claim']}")
