"""Activity inputs built on the shared documents in tests/builders.py."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from contracts.claim_activities import PayoutInstruction
from contracts.incident_activities import IncidentReport, RecordIncident
from contracts.parties import Party
from contracts.policy_activities import BindPolicy, ReceivedFinding, RecordApplication, RecordFindings
from domain.application import PolicyApplication
from domain.coverage import CoverageHead
from domain.findings import MonitoringFinding, Severity
from domain.incident import (
    CoverageCheck,
    Evidence,
    ForensicsReport,
    IncidentCategory,
    IncidentGrade,
    check_coverage,
)
from domain.loss import LossItem
from domain.money import Money
from domain.policy import BoundPolicy, Quote
from domain.rating import UnderwritingResult, underwrite
from domain.rules import PolicyRules, RemediationRules
from tests import builders as documents
from tests.builders import assessment

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
YEAR = 365 * DAY
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

__all__ = [
    "DAY",
    "SHA256",
    "T0",
    "YEAR",
    "application",
    "assessment",
    "bind_policy",
    "evidence",
    "finding",
    "forensics",
    "incident_report",
    "loss_item",
    "payout",
    "policy_id",
    "quote",
    "record_application",
    "record_findings",
    "record_incident",
]


def policy_id() -> str:
    return f"policy-{uuid.uuid4().hex[:12]}"


def application(
    credit_code: str = documents.VALID_USCC, name: str = "上海示例信息技术有限公司"
) -> PolicyApplication:
    return documents.application(
        organisation=documents.organisation(name=name, unified_social_credit_code=credit_code)
    )


def underwriting_result() -> UnderwritingResult:
    return underwrite(application(), assessment(), PolicyRules(), term_start=date(2026, 3, 1))


def quote(term_number: int = 1, quote_id: str | None = None) -> Quote:
    result = underwriting_result()
    assert result.schedule is not None
    return Quote(
        quote_id=quote_id or f"quote-{uuid.uuid4().hex[:8]}",
        term_number=term_number,
        premium=result.premium,
        schedule=result.schedule,
        risk_score=result.risk_score,
        issued_at=T0,
        expires_at=T0 + 30 * DAY,
    )


def finding(
    event_id: str,
    severity: Severity = Severity.HIGH,
    *,
    active_compromise: bool = False,
    asset: str | None = None,
) -> MonitoringFinding:
    found = documents.monitoring_finding(
        event_id, severity, active_compromise=active_compromise, observed_at=T0 - timedelta(hours=1)
    )
    return found if asset is None else found.model_copy(update={"asset": asset})


def record_findings(
    policy: str, findings: list[MonitoringFinding], *, received_at: datetime = T0, term_number: int = 1
) -> RecordFindings:
    return RecordFindings(
        policy_id=policy,
        term_number=term_number,
        findings=[ReceivedFinding(finding=f, received_at=received_at) for f in findings],
        rules=RemediationRules(),
    )


def bind_policy(policy: str, term_number: int = 1) -> BindPolicy:
    """Term n runs for a year from T0 + (n - 1) years."""
    start = T0 + (term_number - 1) * YEAR
    return BindPolicy(
        policy_id=policy,
        quote=quote(term_number=term_number, quote_id=f"{policy}-q{term_number}"),
        term_start=start,
        term_end=start + YEAR,
    )


def record_application(policy: str, **organisation: object) -> RecordApplication:
    """The default application, its organisation changed by keyword (operates_critical_infrastructure=True)."""
    return RecordApplication(
        policy_id=policy,
        application=documents.application(organisation=documents.organisation(**organisation)),
        received_at=T0 - 10 * DAY,
    )


def incident_report(
    policy: str, *, reference: str = "INC-1", discovered_at: datetime = T0 + 10 * DAY
) -> IncidentReport:
    return IncidentReport(
        policy_id=policy,
        reported_by=Party.INSURED,
        reporter_id="insured-ciso",
        reference=reference,
        discovered_at=discovered_at,
        grade=IncidentGrade.SIGNIFICANT,
        category=IncidentCategory.MALICIOUS_PROGRAM,
        summary="ransomware encrypted the MES file servers",
        affected_systems=["MES"],
        region="shanghai",
    )


def record_incident(
    incident_id: str,
    report: IncidentReport,
    policy: BoundPolicy | None = None,
    *,
    received_at: datetime | None = None,
) -> RecordIncident:
    """The incident with the coverage check its report gets against `policy` (None: not covered)."""
    received_at = received_at or report.discovered_at + timedelta(hours=2)
    coverage: CoverageCheck = check_coverage(
        policy, discovered_at=report.discovered_at, reported_at=received_at
    )
    return RecordIncident(
        incident_id=incident_id,
        report=report,
        coverage=coverage,
        term_number=None if policy is None else policy.term_number,
        received_at=received_at,
    )


def evidence(evidence_id: str = "ev-1", **overrides: object) -> Evidence:
    values: dict[str, object] = {
        "evidence_id": evidence_id,
        "name": "memory image of mes-fs-01",
        "sha256": SHA256,
        "size_bytes": 8_589_934_592,
        "collected_by": "panel-ir-01:analyst-7",
        "collected_at": T0 + 10 * DAY + timedelta(hours=3),
    }
    values.update(overrides)
    return Evidence(**values)


def forensics(*exploited_assets: str, **overrides: object) -> ForensicsReport:
    values: dict[str, object] = {
        "vendor_id": "panel-ir-01",
        "root_cause": "unpatched VPN appliance",
        "attack_vector": "CVE-2024-0001 on the VPN",
        "first_intrusion_at": T0 + 8 * DAY,
        "exploited_assets": list(exploited_assets),
        "personal_data_records_affected": 1_200,
    }
    values.update(overrides)
    return ForensicsReport(**values)


def loss_item(
    item_id: str, yuan: int, head: CoverageHead = CoverageHead.RANSOMWARE_EXTORTION, **overrides: object
) -> LossItem:
    return LossItem(item_id=item_id, head=head, amount=Money.yuan(yuan), **overrides)


def payout(claim_id: str, sequence: int = 1, yuan: int = 120_000) -> PayoutInstruction:
    return PayoutInstruction(
        claim_id=claim_id, sequence=sequence, amount=Money.yuan(yuan), requested_at=T0 + 40 * DAY
    )
