"""The vendor's pre-cover risk assessment (保前评估)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.boundaries import PartyId, PastDay
from domain.findings import FindingKind, Severity
from domain.money import Money


class SecurityControls(BaseModel):
    """Questionnaire answers on the controls that drive rating and product rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mfa: bool
    offline_backups: bool
    edr: bool
    patch_cadence_days: int = Field(ge=0, le=3650, description="days between patch cycles")
    incident_response_plan: bool
    security_staff: int = Field(ge=0)
    annual_security_spend: Money
    payment_dual_authorisation: bool = Field(
        default=False, description="two people approve outgoing payments (social engineering control)"
    )
    security_awareness_training: bool = False


class ScanFinding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FindingKind
    severity: Severity
    asset: str = Field(min_length=1, max_length=255)
    title: str = Field(min_length=1, max_length=500)


class MlpsOutcome(StrEnum):
    """测评 result: 优 / 良 / 中 / 差, as grades of a passing or failing assessment."""

    EXCELLENT = "excellent"
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


class MlpsTestResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    system_name: str = Field(min_length=1, max_length=200)
    level: int = Field(ge=1, le=5)
    outcome: MlpsOutcome
    tested_on: PastDay


class AssessmentReport(BaseModel):
    """What the assessing vendor sends back; the rating works only from this and the application."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vendor_id: PartyId
    controls: SecurityControls
    scan_findings: list[ScanFinding] = Field(default_factory=list, max_length=10_000)
    mlps_results: list[MlpsTestResult] = Field(default_factory=list)

    def scan_count(self, severity: Severity) -> int:
        return sum(1 for f in self.scan_findings if f.severity is severity)
