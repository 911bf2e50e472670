"""Real objects for the health fuzz to aim at, made through the API as the parties make them: policies
in each pre-cover phase, in force with an open finding, with a finding fixed and awaiting the
vendor's rescan, and one to cancel; a reportable incident its panel vendor took and a general one to
close; claims in review, determined and offered; qualifications at each step. A route's path
parameters point at the object in the phase its update expects, so a bad value gets as deep as it
can, and each body is valid for that object (`body`), so that only the bad value is wrong.

`renew` makes a fresh object of a name when an accepted request moved the old one on.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from activities.notifying import emit
from api.client import ApiClient, ApiError
from api.context import PartyKind
from contracts.claim import claim_workflow_id
from contracts.incident import incident_workflow_id
from contracts.parties import Notification, Party
from contracts.policy import policy_workflow_id
from contracts.qualification import qualification_workflow_id
from domain.application import CoverageRequest
from domain.coverage import CoverageHead
from domain.findings import Severity
from domain.money import Money
from domain.notifications import event_id_for
from storage.unit_of_work import UnitOfWork
from tests import builders
from tests.patience import patience

WAIT_SECONDS = 90  # a busy two-core machine: the worker may take a while to get to a workflow (x patience)
WORKFLOW_ID = {"policy": policy_workflow_id, "incident": incident_workflow_id, "claim": claim_workflow_id,
               "qualification": qualification_workflow_id}
# The object a path parameter points at, by parameter, and where a route's update expects another phase.
DEFAULT_TARGET = {"policy_id": "policy:bound", "incident_id": "incident:reportable", "claim_id": "claim:review",
                  "qualification_id": "qualification:review"}
ROUTE_TARGET = {
    "POST /v1/policies/{policy_id}/assessment": "policy:fresh",
    "POST /v1/policies/{policy_id}/underwriting-decision": "policy:referred",
    "POST /v1/policies/{policy_id}/quote-acceptance": "policy:quoted",
    "POST /v1/policies/{policy_id}/prebind-remediations": "policy:conditions",
    "POST /v1/policies/{policy_id}/cancellation": "policy:cancel",
    "POST /v1/policies/{policy_id}/findings/{vendor_event_id}/verification": "policy:fixed",
    "POST /v1/incidents/{incident_id}/closure": "incident:general",  # a reportable one waits for its reports
    "POST /v1/claims/{claim_id}/approvals": "claim:determined",
    "POST /v1/claims/{claim_id}/interim-payments": "claim:determined",
    "POST /v1/claims/{claim_id}/offer/acceptance": "claim:offered",
    "POST /v1/claims/{claim_id}/offer/dispute": "claim:offered",
    "POST /v1/qualifications/{qualification_id}/platform-decision": "qualification:contacted",
    "POST /v1/qualifications/{qualification_id}/insurer-contact": "qualification:insurer",
    "POST /v1/qualifications/{qualification_id}/policy-proofs": "qualification:proofs",
    "POST /v1/qualifications/{qualification_id}/mlps-certificate": "qualification:mlps",
}

# A party's own records, by path parameter: the insured's (every route on them is sent as the insured).
OWN_RECORDS = ("endpoint_id", "recipient_id", "event_id")
# Objects a valid body names (its policy_id, incident_id), by schema.
BODY_TARGETS = {"IncidentReportBody": "policy:bound", "FindingsBatch": "policy:bound",
                "ClaimRequest": "incident:reportable", "PolicyProofs": "policy:bound"}
# What an object is made on: a fresh one of these first when it is stale.
PARENT = {"incident": "policy:bound", "claim": "incident:reportable"}


def target_of(route: str, parameter: str) -> str | None:
    """The object a path parameter of `route` ("POST /v1/...") points at; None for other parameters."""
    return ROUTE_TARGET.get(route, DEFAULT_TARGET[parameter]) if parameter in DEFAULT_TARGET else None


async def eventually(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], what: str) -> Any:
    deadline, last = time.monotonic() + patience(WAIT_SECONDS), None
    while time.monotonic() < deadline:
        try:
            last = await read()
            if done(last):
                return last
        except ApiError as error:
            last = error
        await asyncio.sleep(0.25)
    raise AssertionError(f"fuzz world: {what} not reached in {WAIT_SECONDS} s; last: {last!r}"[:1500])


def _ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def _document(n: int) -> dict:
    return {"document_id": f"doc-{n}", "sha256": f"{n:064x}", "size_bytes": 2048}


class World:
    def __init__(self, stack) -> None:
        self.stack, self.run = stack, uuid.uuid4().hex[:6]
        self.parties: dict[str, Any] = {}
        self.clients: dict[str, ApiClient] = {}
        self.ids: dict[str, str] = {}
        self.facts: dict[str, str] = {}

    # -- Parties -----------------------------------------------------------------------------------

    async def _party(self, role: str, kind: PartyKind, party_id: str) -> None:
        issued = await self.stack.credentials(kind, party_id)
        self.parties[role] = issued
        self.clients[role] = ApiClient(self.stack.base_url, issued.token, webhook_secret=issued.webhook_secret)

    async def build(self) -> None:
        for role, kind in (("insured", PartyKind.INSURED), ("vendor", PartyKind.VENDOR),
                           ("insurer", PartyKind.INSURER), ("platform", PartyKind.PLATFORM)):
            await self._party(role, kind, f"fz-{role}-{self.run}")
        names = ["policy:bound", "policy:fresh", "policy:referred", "policy:quoted", "policy:conditions",
                 "policy:cancel", "policy:fixed", "qualification:review", "qualification:contacted",
                 "qualification:insurer", "qualification:proofs", "qualification:mlps"]
        await asyncio.gather(*(self.renew(name) for name in names))
        await asyncio.gather(self.renew("incident:reportable"), self.renew("incident:general"))
        await asyncio.gather(*(self.renew(name) for name in ("claim:review", "claim:determined", "claim:offered")))
        await self._own_records()

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    def party_id(self, role: str) -> str:
        return self.parties[role].party_id

    def workflow_id(self, name: str) -> str:
        return WORKFLOW_ID[name.split(":")[0]](self.ids[name])

    async def status(self, name: str) -> dict:
        kind = name.split(":")[0]
        return await self.clients["insured"].get(f"/v1/{'policies' if kind == 'policy' else kind + 's'}/{self.ids[name]}")

    # -- Objects -----------------------------------------------------------------------------------

    async def renew(self, name: str) -> str:
        kind, _, stage = name.partition(":")
        make = {"policy": self._policy, "incident": self._incident, "claim": self._claim,
                "qualification": self._qualification}[kind]
        self.ids[name] = await make(stage)
        return self.ids[name]

    async def _policy(self, stage: str) -> str:
        insured, vendor = self.clients["insured"], self.clients["vendor"]
        policy = (await insured.post("/v1/policies", self.application()))["id"]
        if stage == "fresh":
            return policy
        report = (builders.risky_assessment if stage == "referred" else builders.assessment)(self.party_id("vendor"))
        if stage == "conditions":
            report = report.model_copy(update={"scan_findings": [builders.scan_finding(Severity.CRITICAL)]})
        receipt = await vendor.post(f"/v1/policies/{policy}/assessment", report.model_dump(mode="json"))
        if stage == "referred":
            assert receipt["decision"] == "refer", receipt
            return policy
        quoted = await eventually(lambda: insured.get(f"/v1/policies/{policy}"), lambda s: s["quote"], "a quote")
        self.facts[f"quote:{stage}"] = quoted["quote"]["quote_id"]
        if stage in ("quoted", "conditions"):
            return policy
        await insured.post(f"/v1/policies/{policy}/quote-acceptance", {"quote_id": quoted["quote"]["quote_id"]})
        bound = await eventually(lambda: insured.get(f"/v1/policies/{policy}"), lambda s: s["phase"] == "in_force",
                                 "in force")
        if stage == "bound":
            self.facts["policy_number"], self.facts["term_start"] = bound["policy_number"], bound["term_start"]
        if stage in ("bound", "fixed"):  # with a finding: open, or fixed and awaiting the vendor's rescan
            event = f"evt-world-{uuid.uuid4().hex[:8]}"
            finding = {**builders.monitoring_finding(event, observed_at=datetime.now(UTC) - timedelta(hours=1))
                       .model_dump(mode="json"), "policy_id": policy}
            await vendor.post("/v1/findings", {"findings": [finding]})
            await eventually(lambda: insured.get(f"/v1/policies/{policy}"), lambda s: s["findings"]["total"] >= 1,
                             "the finding recorded")
            self.facts[f"finding:policy:{stage}"] = event
        if stage == "fixed":
            await insured.post(f"/v1/policies/{policy}/findings/{event}/resolution", {"resolution": "fixed"})
        return policy

    async def _incident(self, stage: str) -> str:
        insured = self.clients["insured"]
        report = {**self.incident_report(f"world-{uuid.uuid4().hex[:6]}"), "grade": stage.replace("reportable", "significant")}
        incident = (await insured.post("/v1/incidents", report))["id"]
        status = await eventually(lambda: insured.get(f"/v1/incidents/{incident}"), lambda s: s["dispatched_vendor"],
                                  "a panel vendor dispatched")
        panel = status["dispatched_vendor"]
        if "panel" not in self.parties or self.party_id("panel") != panel:
            await self._party("panel", PartyKind.VENDOR, panel)
        await self.clients["panel"].get(f"/v1/incidents/{incident}")  # the dispatched vendor's first look grants it
        await self.clients["panel"].post(f"/v1/incidents/{incident}/acknowledgement", {})
        return incident

    async def _claim(self, stage: str) -> str:
        insurer = self.clients["insurer"]
        claim = (await insurer.post("/v1/claims", {"incident_id": self.ids["incident:reportable"]}))["id"]
        await eventually(lambda: insurer.get(f"/v1/claims/{claim}"), lambda s: s["policy_id"], "the claim's basis")
        await insurer.post(f"/v1/claims/{claim}/loss-items", self.loss_items("world"))
        if stage in ("determined", "offered"):
            await insurer.post(f"/v1/claims/{claim}/determination")
        if stage == "offered":
            await insurer.post(f"/v1/claims/{claim}/approvals", {"approver_id": "adjuster-fz"})
        return claim

    async def _qualification(self, stage: str) -> str:
        provider, platform, insurer = self.clients["insured"], self.clients["platform"], self.clients["insurer"]
        request = self.qualification_request(f"world-{uuid.uuid4().hex[:6]}")
        if stage == "mlps":
            request = {**request, "proof_path": "mlps_certificate", "insurer_id": None}
        qualification = (await provider.post("/v1/qualifications", request))["id"]
        path = f"/v1/qualifications/{qualification}"
        await eventually(lambda: platform.get(path), lambda s: s["platform_contact"], "the platform's contact due")
        if stage == "review":
            return qualification
        await platform.post(f"{path}/platform-contact", {"note": "called"})
        if stage == "contacted":
            return qualification
        await platform.post(f"{path}/platform-decision", {"approve": True, "reason": "fuzz world"})
        if stage == "mlps":
            return qualification
        await eventually(lambda: insurer.get(path), lambda s: s["insurer_contact"], "the intent form")
        if stage == "proofs":
            await insurer.post(f"{path}/insurer-contact", {})
        return qualification

    async def _own_records(self) -> None:
        """The insured's webhook endpoint (to a host that never resolves), e-mail recipient, and an event
        of its own, stored as the workflows store them. The address hears only of a type no insured is
        sent: the stack has no mail server, and a redelivery sends whatever of its event is pending, so
        an e-mail planned for it would keep its activity retrying."""
        insured = self.clients["insured"]
        endpoint = await insured.post("/v1/endpoints", self.endpoint_request("world"))
        recipient = await insured.post("/v1/email-recipients", {"address": f"fz-{self.run}@example.com",
                                                                "event_types": ["pilot.report.overdue"]})
        key = f"fuzz-world:{self.run}"
        async with UnitOfWork(self.stack.sessions) as uow:
            await emit(uow, [Notification(dedupe_key=key, recipient=Party.INSURED, recipient_id=self.party_id("insured"),
                                          kind="policy_bound", payload={"term_number": 1})])
        self.facts["endpoint_id"], self.facts["recipient_id"] = endpoint["endpoint_id"], str(recipient["recipient_id"])
        self.facts["event_id"] = event_id_for(key, PartyKind.INSURED.value, self.party_id("insured"))

    def endpoint_request(self, tag: str) -> dict:
        return {"url": f"https://hooks.cyberins.invalid/fz-{tag}", "event_types": ["policy.bound"], "description": "fuzz"}

    # -- Valid bodies, by schema name; `tag` makes ids and references unique per request ------------

    def application(self) -> dict:
        document = builders.application(assessing_vendor_id=self.party_id("vendor"),
                                        alternative_vendor_ids=[f"fz-alt-{self.run}"])
        cover = CoverageRequest(head=CoverageHead.EMERGENCY_RESPONSE, limit=Money.yuan(500_000))
        document = document.model_copy(update={"coverages": [*document.coverages, cover]})
        return {"insurer_id": self.party_id("insurer"), "application": document.model_dump(mode="json")}

    def incident_report(self, tag: str) -> dict:
        # Discovered in the term, which began when the policy was bound, a moment ago.
        discovered = max(datetime.now(UTC) - timedelta(seconds=1),
                         datetime.fromisoformat(self.facts["term_start"]) + timedelta(milliseconds=1))
        return {"policy_id": self.ids["policy:bound"], "reference": f"fz-{tag}", "discovered_at": discovered.isoformat(),
                "grade": "significant", "category": "malicious_program", "summary": "ransomware on one file server",
                "affected_systems": ["MES"], "region": "Shanghai"}

    def loss_items(self, tag: str) -> dict:
        return {"items": [
            {"item_id": f"bi-{tag}", "head": "business_interruption", "amount": None,
             "business_interruption": {"net_profit_per_hour": {"fen": 100_000, "currency": "CNY"},
                                       "continuing_expenses_per_hour": {"fen": 50_000, "currency": "CNY"},
                                       "outage_start": _ago(minutes=2), "outage_end": _ago(minutes=1)},
             "evidence_refs": ["ev-1"], "vendor_id": None, "description": "plant stopped"},
            {"item_id": f"er-{tag}", "head": "emergency_response", "amount": {"fen": 8_000_000, "currency": "CNY"},
             "business_interruption": None, "evidence_refs": [], "vendor_id": self.parties.get("panel") and
             self.party_id("panel"), "description": "response"},
        ]}

    def qualification_request(self, tag: str) -> dict:
        return {"reference": f"fz-{tag}", "platform_id": self.party_id("platform"),
                "unified_social_credit_code": builders.VALID_USCC, "proof_path": "cyber_liability_policy",
                "insurer_id": self.party_id("insurer"), "requested_limit": {"fen": 100_000_000, "currency": "CNY"},
                "existing_provider": False}

    def body(self, schema: str, tag: str) -> dict | None:
        """A valid body for the schema, in this world; None for a schema no example covers."""
        vendor, panel = self.party_id("vendor"), self.parties.get("panel") and self.party_id("panel")
        examples: dict[str, Callable[[], dict]] = {
            "PolicyApplicationRequest": self.application,
            "AssessmentReport": lambda: builders.assessment(
                vendor, scan_findings=[builders.scan_finding(Severity.LOW)]).model_dump(mode="json"),
            "PrebindRemediationBody": lambda: {"code": "scan-1"},
            "UnderwriterDecision": lambda: {"underwriter_id": "uw-fz", "decision": "accept", "reason": "plan agreed",
                                            "premium_override": {"fen": 5_000_000, "currency": "CNY"}},
            "QuoteAcceptance": lambda: {"quote_id": self.facts["quote:quoted"]},
            "FindingResolutionBody": lambda: {"resolution": "fixed", "note": "patched"},
            "FindingsBatch": lambda: {"findings": [{**builders.monitoring_finding(
                f"evt-{tag}", observed_at=datetime.now(UTC) - timedelta(hours=1)).model_dump(mode="json"),
                "policy_id": self.ids["policy:bound"]}]},
            "IncidentReportBody": lambda: self.incident_report(tag),
            "ProgressBody": lambda: {"event_id": f"p-{tag}", "kind": "note", "at": _ago(seconds=1), "note": "working"},
            "RegulatoryFiling": lambda: {"kind": "initial", "channel": "portal", "reference": f"r-{tag}",
                                         "filed_at": _ago(seconds=1)},
            "Evidence": lambda: {"evidence_id": f"ev-{tag}", "name": "disk image", "sha256": "ab" * 32,
                                 "size_bytes": 4096, "collected_by": panel, "collected_at": _ago(seconds=1)},
            "ForensicsReport": lambda: {
                "vendor_id": panel, "root_cause": "phishing", "attack_vector": "email", "first_intrusion_at": _ago(days=2),
                "state_backed": False, "attribution_indicators": ["ioc-1"], "personal_data_records_affected": 10,
                "outage_windows": [{"system": "MES", "start": _ago(hours=30), "end": _ago(hours=25)}],
                "exploited_assets": ["vpn"], "evidence_ids": []},
            "ClaimRequest": lambda: {"incident_id": self.ids["incident:reportable"], "third_party": "Acme Trading Co"},
            "LossItemsSubmission": lambda: self.loss_items(tag),
            "InterimPaymentRequest": lambda: {"head": "emergency_response", "amount": {"fen": 100_000, "currency": "CNY"},
                                              "approver_id": "adjuster-fz"},
            "Denial": lambda: {"approver_id": "adjuster-fz", "reasons": ["not covered"]},
            "QualificationRequest": lambda: self.qualification_request(tag),
            "PolicyProofs": lambda: {"policy_number": self.facts["policy_number"], "inquiry_form": _document(1),
                                     "assessment_report": _document(2), "policy_document": _document(3)},
            "MlpsCertificate": lambda: {"certificate_number": f"c-{tag}", "system_name": "MES", "level": 3,
                                        "issued_on": (datetime.now(UTC).date() - timedelta(days=30)).isoformat(),
                                        "valid_until": (datetime.now(UTC).date() + timedelta(days=300)).isoformat()},
        }
        examples |= {
            "EndpointRequest": lambda: self.endpoint_request(tag),
            "EmailRecipientRequest": lambda: {"address": f"fz-{tag}@example.com", "event_types": ["pilot.report.overdue"],
                                              "language": "en"},
            "RedeliveryRequest": lambda: {"endpoint_id": self.facts["endpoint_id"]},
            "RecoveryRequest": lambda: {"since": _ago(minutes=5)},
        }
        make = examples.get(schema)
        return make() if make else None
