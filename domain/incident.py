"""Incidents after cover (保后应急处置, 溯源取证): grading, the authorities' clocks, evidence, forensics.

Reporting rules follow 《国家网络安全事件报告管理办法》 (in force 2025-11-01), docs/domain.md, "Reporting to the authorities"; the
figures are configuration (`ReportingRules`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.boundaries import CLOCK_SKEW, EARLIEST, PartyId, PastInstant, not_in_future
from domain.errors import DomainRuleError
from domain.policy import BoundPolicy, local_date


class IncidentGrade(StrEnum):
    """The operator grades its own incident."""

    ESPECIALLY_MAJOR = "especially_major"  # 特别重大
    MAJOR = "major"  # 重大
    SIGNIFICANT = "significant"  # 较大
    GENERAL = "general"  # 一般

    @property
    def must_be_reported(self) -> bool:
        return self is not IncidentGrade.GENERAL

    @property
    def escalated_by_receiver(self) -> bool:
        """重大 and 特别重大 are escalated by the receiving department."""
        return self in (IncidentGrade.MAJOR, IncidentGrade.ESPECIALLY_MAJOR)


class IncidentCategory(StrEnum):
    """GB/T 20986-2023's ten categories (names to be checked against the standard's text)."""

    MALICIOUS_PROGRAM = "malicious_program"
    NETWORK_ATTACK = "network_attack"
    DATA_SECURITY = "data_security"
    INFORMATION_CONTENT_SECURITY = "information_content_security"
    EQUIPMENT_FACILITY_FAILURE = "equipment_facility_failure"
    VIOLATION_OF_OPERATION_RULES = "violation_of_operation_rules"
    SECURITY_HAZARD = "security_hazard"
    ABNORMAL_BEHAVIOUR = "abnormal_behaviour"
    FORCE_MAJEURE = "force_majeure"
    OTHER = "other"


class OperatorType(StrEnum):
    CRITICAL_INFRASTRUCTURE = "critical_infrastructure"  # 关键信息基础设施运营者
    STATE_ORGAN = "state_organ"  # 党政机关
    OTHER = "other"


def operator_type(*, operates_critical_infrastructure: bool, is_state_organ: bool) -> OperatorType:
    """The strictest clock applies when an operator is both."""
    if operates_critical_infrastructure:
        return OperatorType.CRITICAL_INFRASTRUCTURE
    if is_state_organ:
        return OperatorType.STATE_ORGAN
    return OperatorType.OTHER


class ReportingRules(BaseModel):
    model_config = ConfigDict(frozen=True)

    deadline_minutes: dict[OperatorType, int] = Field(
        default_factory=lambda: {
            OperatorType.CRITICAL_INFRASTRUCTURE: 60,
            OperatorType.STATE_ORGAN: 120,
            OperatorType.OTHER: 240,
        }
    )
    reminder_lead_minutes: int = Field(default=20, ge=0)
    closing_report_working_days: int = Field(default=5, gt=0, description="2023 draft: 5 working days")


def report_deadline(discovered_at: datetime, operator: OperatorType, rules: ReportingRules) -> datetime:
    return discovered_at + timedelta(minutes=rules.deadline_minutes[operator])


def add_working_days(start: datetime, days: int) -> datetime:
    """Monday to Friday only; the Chinese holiday calendar (调休) arrives with the platform issue."""
    moment, added = start, 0
    while added < days:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            added += 1
    return moment


class CoverageCheck(BaseModel):
    """What the policy says about an incident at the time it is reported."""

    model_config = ConfigDict(frozen=True)

    in_force_at_discovery: bool
    before_retroactive_date: bool
    late_notice: bool
    notice_minutes: int
    notes: list[str]

    @property
    def covered(self) -> bool:
        return self.in_force_at_discovery


def check_coverage(
    policy: BoundPolicy | None, *, discovered_at: datetime, reported_at: datetime, cancelled_at: datetime | None = None
) -> CoverageCheck:
    """Claims-made-and-reported: the incident must be discovered and reported while the term is in force.

    Late notice is recorded, never ignored: the policy's notice condition decides what follows.
    """
    if reported_at < discovered_at:
        raise DomainRuleError("reported_before_discovery", "an incident cannot be reported before it was discovered")
    notice_minutes = int((reported_at - discovered_at).total_seconds() // 60)
    if policy is None:
        return CoverageCheck(
            in_force_at_discovery=False, before_retroactive_date=False, late_notice=False,
            notice_minutes=notice_minutes, notes=["no policy term covers the discovery date"],
        )
    end = min(policy.term_end, cancelled_at) if cancelled_at else policy.term_end
    notes = []
    in_force = policy.term_start <= discovered_at < end and reported_at < end
    if not in_force:
        notes.append(
            f"discovered or reported outside the term {policy.term_start.isoformat()} – {end.isoformat()}"
        )
    before_retro = local_date(discovered_at) < policy.schedule.retroactive_date
    if before_retro:
        notes.append("discovered before the retroactive date")
    late = notice_minutes > policy.schedule.notice_condition_minutes
    if late:
        notes.append(
            f"insurer told {notice_minutes} minutes after discovery; the notice condition is "
            f"{policy.schedule.notice_condition_minutes} minutes"
        )
    return CoverageCheck(
        in_force_at_discovery=in_force, before_retroactive_date=before_retro, late_notice=late,
        notice_minutes=notice_minutes, notes=notes,
    )


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Evidence(BaseModel):
    """An item of evidence; its hash fixes what was collected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    evidence_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = Field(min_length=1, max_length=300)
    sha256: str
    size_bytes: int = Field(ge=0)
    collected_by: str = Field(min_length=1, max_length=64)
    collected_at: PastInstant

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        value = value.strip().lower()
        if not _SHA256.match(value):
            raise ValueError("sha256 must be 64 hexadecimal characters (a SHA-256 digest)")
        return value


class CustodyAction(StrEnum):
    COLLECTED = "collected"
    TRANSFERRED = "transferred"
    ANALYSED = "analysed"
    RETURNED = "returned"


class OutageWindow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str = Field(min_length=1, max_length=200)
    start: PastInstant
    end: PastInstant

    @model_validator(mode="after")
    def _ordered(self) -> OutageWindow:
        if self.end <= self.start:
            raise ValueError("an outage must end after it starts")
        return self


class ForensicsReport(BaseModel):
    """溯源取证: what happened, how, since when, by whom, and what it touched."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vendor_id: PartyId
    root_cause: str = Field(min_length=1, max_length=4000)
    attack_vector: str = Field(min_length=1, max_length=500)
    first_intrusion_at: PastInstant
    state_backed: bool = False
    attribution_indicators: list[str] = Field(default_factory=list, max_length=200)
    outage_windows: list[OutageWindow] = Field(default_factory=list)
    personal_data_records_affected: int = Field(default=0, ge=0)
    exploited_assets: list[str] = Field(default_factory=list, max_length=200)
    evidence_ids: list[str] = Field(default_factory=list)


class PanelVendor(BaseModel):
    """A vendor on the insurer's emergency-response panel; empty lists mean it serves everyone."""

    model_config = ConfigDict(frozen=True)

    vendor_id: str
    industries: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)


def panel_candidates(
    panel_vendor_ids: list[str], directory: list[PanelVendor], *, industry: str, region: str | None
) -> list[str]:
    """The schedule's panel in its order of preference, less vendors that do not serve this case."""
    profiles = {vendor.vendor_id: vendor for vendor in directory}
    chosen = []
    for vendor_id in panel_vendor_ids:
        profile = profiles.get(vendor_id)
        if profile is None:
            chosen.append(vendor_id)
            continue
        serves_industry = not profile.industries or industry in profile.industries
        serves_region = not profile.regions or region is None or region in profile.regions
        if serves_industry and serves_region:
            chosen.append(vendor_id)
    return chosen


# -- Times the parties report: what can have happened by the time it is said ------------------------


def check_happened(at: datetime, now: datetime, *, what: str) -> None:
    """A time a party says has passed: with a zone, not before the service's earliest time, and not
    more than the clock skew ahead of `now` (the API's wall clock, or a workflow's `workflow.now()`)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise DomainRuleError("time_without_zone", f"{what} has no time zone offset")
    if at < EARLIEST:
        raise DomainRuleError("time_out_of_range", f"{what} lies before {EARLIEST:%Y-%m-%d}")
    reason = not_in_future(at, now)
    if reason:
        raise DomainRuleError("time_in_future", f"{what} {reason}")


def check_discovery(discovered_at: datetime, now: datetime) -> None:
    """An incident is reported after it is discovered."""
    check_happened(discovered_at, now, what="the discovery time")


def check_response_time(at: datetime, *, discovered_at: datetime, now: datetime, what: str) -> None:
    """A step of the response (progress, evidence, custody, a filing) happens after the incident was
    discovered and by now, give or take the clock skew between the parties' clocks and ours."""
    check_happened(at, now, what=what)
    if at < discovered_at - CLOCK_SKEW:
        raise DomainRuleError("before_discovery", f"{what} lies before the incident was discovered")
