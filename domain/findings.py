"""Security findings: what the vendor finds before and during cover, and how they are resolved."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.boundaries import PastInstant
from domain.errors import DomainRuleError


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class FindingKind(StrEnum):
    VULNERABILITY = "vulnerability"
    EXPOSED_SERVICE = "exposed_service"
    LEAKED_CREDENTIAL = "leaked_credential"
    MISCONFIGURATION = "misconfiguration"
    MALWARE_IOC = "malware_ioc"
    PHISHING_DOMAIN = "phishing_domain"


class Resolution(StrEnum):
    FIXED = "fixed"  # the vendor rescans to verify
    ACCEPTED_RISK = "accepted_risk"  # never for a critical finding
    THIRD_PARTY_RISK = "third_party_risk"
    FALSE_POSITIVE = "false_positive"


class FindingStatus(StrEnum):
    OPEN = "open"
    AWAITING_VERIFICATION = "awaiting_verification"  # insured says fixed; vendor to rescan
    FIXED = "fixed"  # vendor verified the fix
    ACCEPTED_RISK = "accepted_risk"
    THIRD_PARTY_RISK = "third_party_risk"
    FALSE_POSITIVE = "false_positive"

    @property
    def is_closed(self) -> bool:
        return self not in (FindingStatus.OPEN, FindingStatus.AWAITING_VERIFICATION)


class MonitoringFinding(BaseModel):
    """One finding as the vendor reports it. The vendor's event id makes a report idempotent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vendor_event_id: str = Field(min_length=1, max_length=128)
    kind: FindingKind
    severity: Severity
    asset: str = Field(min_length=1, max_length=255)
    title: str = Field(min_length=1, max_length=500)
    observed_at: PastInstant
    active_compromise: bool = Field(
        default=False, description="the vendor sees signs the asset is already compromised"
    )


def remediation_deadline(
    severity: Severity, received_at: datetime, deadline_minutes: dict[Severity, int | None]
) -> datetime | None:
    """When a finding must be fixed; None where the severity carries no deadline."""
    minutes = deadline_minutes.get(severity)
    return None if minutes is None else received_at + timedelta(minutes=minutes)


def reminder_time(deadline: datetime | None, lead_minutes: int) -> datetime | None:
    return None if deadline is None else deadline - timedelta(minutes=lead_minutes)


_RESOLUTION_STATUS = {
    Resolution.FIXED: FindingStatus.AWAITING_VERIFICATION,
    Resolution.ACCEPTED_RISK: FindingStatus.ACCEPTED_RISK,
    Resolution.THIRD_PARTY_RISK: FindingStatus.THIRD_PARTY_RISK,
    Resolution.FALSE_POSITIVE: FindingStatus.FALSE_POSITIVE,
}


def apply_resolution(status: FindingStatus, severity: Severity, resolution: Resolution) -> FindingStatus:
    """The status after the insured resolves a finding, or DomainRuleError naming why not."""
    if status.is_closed:
        raise DomainRuleError("finding_closed", f"the finding is already closed as {status.value}")
    if status is FindingStatus.AWAITING_VERIFICATION:
        raise DomainRuleError(
            "awaiting_verification", "the finding is marked fixed and waits for the vendor's rescan"
        )
    if resolution is Resolution.ACCEPTED_RISK and severity is Severity.CRITICAL:
        raise DomainRuleError(
            "critical_risk_not_acceptable",
            "a critical finding cannot be accepted as risk by the insured; fix it or show it is "
            "a third-party risk or a false positive",
        )
    return _RESOLUTION_STATUS[resolution]


def apply_verification(status: FindingStatus, fix_confirmed: bool) -> FindingStatus:
    """The vendor's rescan after a fix: confirmed closes it, not confirmed reopens it."""
    if status is not FindingStatus.AWAITING_VERIFICATION:
        raise DomainRuleError(
            "not_awaiting_verification", f"the finding is {status.value}, not awaiting verification"
        )
    return FindingStatus.FIXED if fix_confirmed else FindingStatus.OPEN


class FindingSummary(BaseModel):
    """Counts over a policy's findings; the detail lives in the database.

    Open, closed and total cover every term (an open finding stays open across renewal);
    `ever_overdue_by_severity` covers the current term only, as renewal judges that term.
    """

    model_config = ConfigDict(frozen=True)

    total: int = 0
    open_by_severity: dict[Severity, int] = Field(default_factory=dict)
    overdue_by_severity: dict[Severity, int] = Field(
        default_factory=dict, description="open now and past the remediation deadline"
    )
    ever_overdue_by_severity: dict[Severity, int] = Field(
        default_factory=dict, description="went past the deadline at some time in the term"
    )
    awaiting_verification: int = 0
    closed: int = 0
    escalations: int = 0

    def open_count(self, severity: Severity) -> int:
        return self.open_by_severity.get(severity, 0)

    def overdue_count(self, severity: Severity) -> int:
        return self.overdue_by_severity.get(severity, 0)

    def ever_overdue_count(self, severity: Severity) -> int:
        return self.ever_overdue_by_severity.get(severity, 0)
