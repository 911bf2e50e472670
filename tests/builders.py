"""Valid business documents for tests, each overridable where a test needs a variation."""

from __future__ import annotations

from datetime import date, datetime, timezone

from domain.application import (
    CoverageRequest,
    InformationSystem,
    Organisation,
    PolicyApplication,
    uscc_check_character,
)
from domain.assessment import AssessmentReport, MlpsOutcome, MlpsTestResult, ScanFinding, SecurityControls
from domain.coverage import CoverageHead, Industry, RevenueBand
from domain.findings import FindingKind, MonitoringFinding, Severity
from domain.money import Money

VALID_USCC = "91350100M000100Y43"


def uscc(seed: int) -> str:
    body = f"9131000{seed:010d}"[:17]
    return body + uscc_check_character(body)


def organisation(**overrides) -> Organisation:
    values = dict(
        name="Test Manufacturing Co",
        unified_social_credit_code=VALID_USCC,
        industry=Industry.INDUSTRIAL_INTERNET,
        revenue_band=RevenueBand.FROM_100M_TO_1B,
        systems=[
            InformationSystem(name="MES", mlps_level=3),
            InformationSystem(name="ERP", mlps_level=2),
        ],
    )
    values.update(overrides)
    return Organisation(**values)


def application(**overrides) -> PolicyApplication:
    values = dict(
        organisation=organisation(),
        coverages=[
            CoverageRequest(head=CoverageHead.BUSINESS_INTERRUPTION, limit=Money.yuan(2_000_000)),
            CoverageRequest(head=CoverageHead.RANSOMWARE_EXTORTION, limit=Money.yuan(1_000_000)),
            CoverageRequest(head=CoverageHead.FRAUD_SOCIAL_ENGINEERING, limit=Money.yuan(500_000)),
            CoverageRequest(head=CoverageHead.DATA_BREACH_LIABILITY, limit=Money.yuan(3_000_000)),
        ],
        aggregate_limit=Money.yuan(5_000_000),
        assessing_vendor_id="vendor-a",
        alternative_vendor_ids=["vendor-b"],
    )
    values.update(overrides)
    return PolicyApplication(**values)


def controls(**overrides) -> SecurityControls:
    values = dict(
        mfa=True,
        offline_backups=True,
        edr=True,
        patch_cadence_days=14,
        incident_response_plan=True,
        security_staff=3,
        annual_security_spend=Money.yuan(800_000),
        payment_dual_authorisation=True,
        security_awareness_training=True,
    )
    values.update(overrides)
    return SecurityControls(**values)


def assessment(vendor_id: str = "vendor-a", **overrides) -> AssessmentReport:
    values = dict(
        vendor_id=vendor_id,
        controls=controls(),
        scan_findings=[],
        mlps_results=[MlpsTestResult(system_name="MES", level=3, outcome=MlpsOutcome.GOOD, tested_on=date(2026, 3, 1))],
    )
    values.update(overrides)
    return AssessmentReport(**values)


def risky_assessment(vendor_id: str = "vendor-a") -> AssessmentReport:
    """Scores in the referral band with the default rules."""
    return assessment(
        vendor_id,
        controls=controls(mfa=False, offline_backups=False, edr=False, patch_cadence_days=60),
    )


def scan_finding(severity: Severity = Severity.CRITICAL, asset: str = "vpn.example.cn") -> ScanFinding:
    return ScanFinding(kind=FindingKind.VULNERABILITY, severity=severity, asset=asset, title="CVE-2024-0001 on VPN")


def monitoring_finding(
    event_id: str,
    severity: Severity = Severity.HIGH,
    *,
    active_compromise: bool = False,
    observed_at: datetime | None = None,
) -> MonitoringFinding:
    return MonitoringFinding(
        vendor_event_id=event_id,
        kind=FindingKind.MALWARE_IOC if active_compromise else FindingKind.EXPOSED_SERVICE,
        severity=severity,
        asset=f"host-{event_id}",
        title="RDP exposed to the internet",
        observed_at=observed_at or datetime(2026, 1, 1, tzinfo=timezone.utc),
        active_compromise=active_compromise,
    )
