"""Every figure the rules use, as configuration with working defaults.

docs/domain.md marks several figures as uncertain or insurer-specific; they live here, not in code,
and a workflow receives the whole set at start so that its decisions replay identically.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.coverage import CoverageHead, Industry, RevenueBand
from domain.findings import Severity
from domain.money import Money
from domain.schedule import BusinessInterruptionRule

DAY = 24 * 60


class RatingRules(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Annual rate on each head's limit, in basis points.
    head_rate_bps: dict[CoverageHead, int] = Field(
        default_factory=lambda: {
            CoverageHead.DIRECT_PHYSICAL_LOSS: 60,
            CoverageHead.BUSINESS_INTERRUPTION: 120,
            CoverageHead.DATA_ASSET_RESTORATION: 80,
            CoverageHead.HARDWARE_BETTERMENT: 50,
            CoverageHead.EMERGENCY_RESPONSE: 100,
            CoverageHead.PUBLIC_RELATIONS: 40,
            CoverageHead.LEGAL_COSTS: 50,
            CoverageHead.RANSOMWARE_EXTORTION: 150,
            CoverageHead.FRAUD_SOCIAL_ENGINEERING: 130,
            CoverageHead.DATA_BREACH_LIABILITY: 110,
            CoverageHead.NETWORK_SECURITY_LIABILITY: 100,
            CoverageHead.MEDIA_INFRINGEMENT: 40,
            CoverageHead.OUTSOURCER_LIABILITY: 70,
            CoverageHead.TECHNOLOGY_EO: 90,
        }
    )
    industry_factor_bps: dict[Industry, int] = Field(
        default_factory=lambda: {
            Industry.FINANCE: 13_000,
            Industry.HEALTHCARE: 12_500,
            Industry.ENERGY: 12_000,
            Industry.TELECOM_INTERNET: 11_500,
            Industry.INDUSTRIAL_INTERNET: 11_000,
            Industry.CONNECTED_VEHICLES: 11_000,
        },
        description="industries not listed rate at 10000 bps (x1.0)",
    )
    risk_loading_bps_per_point: int = Field(default=150, ge=0)
    minimum_premium: Money = Money.yuan(5_000)
    accept_max_score: int = 40
    refer_max_score: int = 70
    # Score points (0-100 scale, higher is riskier).
    missing_control_points: dict[str, int] = Field(
        default_factory=lambda: {
            "mfa": 15,
            "offline_backups": 15,
            "edr": 10,
            "incident_response_plan": 5,
            "security_staff": 5,
        }
    )
    slow_patching_days: int = 30
    slow_patching_points: int = 10
    scan_points: dict[Severity, int] = Field(
        default_factory=lambda: {Severity.CRITICAL: 10, Severity.HIGH: 4, Severity.MEDIUM: 1}
    )
    scan_points_cap: dict[Severity, int] = Field(
        default_factory=lambda: {Severity.CRITICAL: 30, Severity.HIGH: 20, Severity.MEDIUM: 10}
    )
    mlps_fair_points: int = 5
    mlps_poor_points: int = 10
    cii_below_level_three_points: int = 10
    # In cover: open and overdue findings move the score used at renewal.
    open_finding_points: dict[Severity, int] = Field(
        default_factory=lambda: {Severity.CRITICAL: 8, Severity.HIGH: 3, Severity.MEDIUM: 1}
    )
    overdue_critical_points: int = 10
    renewal_points_per_overdue_critical: int = 10


class ProductRules(BaseModel):
    """Published practice: waiting period by industry, retention by revenue, SE controls."""

    model_config = ConfigDict(frozen=True)

    bi_waiting_minutes_default: int = 8 * 60
    bi_waiting_minutes_by_industry: dict[Industry, int] = Field(
        default_factory=lambda: {
            Industry.INDUSTRIAL_INTERNET: 12 * 60,
            Industry.CONNECTED_VEHICLES: 12 * 60,
        }
    )
    bi_rule: BusinessInterruptionRule = BusinessInterruptionRule.WAITING_PERIOD
    bi_restoration_cap_days: int = Field(default=120, gt=0)
    minimum_retention_by_revenue: dict[RevenueBand, Money] = Field(
        default_factory=lambda: {
            RevenueBand.UNDER_10M: Money.yuan(10_000),
            RevenueBand.FROM_10M_TO_100M: Money.yuan(25_000),
            RevenueBand.FROM_100M_TO_1B: Money.yuan(50_000),
            RevenueBand.FROM_1B_TO_10B: Money.yuan(100_000),
            RevenueBand.OVER_10B: Money.yuan(250_000),
        }
    )
    social_engineering_required_controls: list[str] = Field(
        default_factory=lambda: ["mfa", "payment_dual_authorisation"]
    )
    coinsurance_bps_by_head: dict[CoverageHead, int] = Field(
        default_factory=lambda: {CoverageHead.FRAUD_SOCIAL_ENGINEERING: 1_000},
        description="the insured's share by head; ransomware follows the backup rule below",
    )
    ransomware_coinsurance_bps: int = 2_000
    ransomware_coinsurance_bps_without_offline_backups: int = 5_000
    notice_condition_minutes: int = 24 * 60
    retroactive_days: int = Field(default=0, ge=0, description="0 = no cover before inception")
    overdue_critical_retention_uplift_bps: int = 1_000
    remediate_before_binding: list[Severity] = Field(default_factory=lambda: [Severity.CRITICAL])
    panel_vendor_ids: list[str] = Field(default_factory=lambda: ["panel-ir-01", "panel-ir-02"])


class RemediationRules(BaseModel):
    model_config = ConfigDict(frozen=True)

    deadline_minutes: dict[Severity, int | None] = Field(
        default_factory=lambda: {
            Severity.CRITICAL: 7 * DAY,
            Severity.HIGH: 30 * DAY,
            Severity.MEDIUM: 90 * DAY,
            Severity.LOW: 180 * DAY,
            Severity.INFO: None,
        }
    )
    reminder_lead_minutes: dict[Severity, int] = Field(
        default_factory=lambda: {
            Severity.CRITICAL: 2 * DAY,
            Severity.HIGH: 7 * DAY,
            Severity.MEDIUM: 14 * DAY,
            Severity.LOW: 30 * DAY,
        }
    )


class AssessmentTimeoutAction(StrEnum):
    REASSIGN = "reassign"  # to the next alternative vendor, declining when none is left
    DECLINE = "decline"


class ProcessRules(BaseModel):
    model_config = ConfigDict(frozen=True)

    assessment_sla_minutes: int = Field(default=10 * DAY, gt=0)
    assessment_second_timeout: AssessmentTimeoutAction = AssessmentTimeoutAction.REASSIGN
    referral_reminder_minutes: int = Field(default=2 * DAY, gt=0)
    referral_max_reminders: int = Field(default=5, ge=0, description="then the referral is declined")
    quote_validity_minutes: int = Field(default=30 * DAY, gt=0)
    quote_wait_minutes: int = Field(
        default=1, gt=0, le=DAY,
        description="how long an acceptance sent while the case is still being rated waits for the quote",
    )
    term_months: int = Field(default=12, gt=0, le=36)
    renewal_window_minutes: int = Field(default=60 * DAY, gt=0)
    renewal_max_overdue_criticals: int = Field(default=3, ge=0, description="above this, no renewal")
    claims_runoff_minutes: int = Field(
        default=365 * DAY, ge=0, description="a lapsed or cancelled policy keeps serving its claims this long"
    )


class PolicyRules(BaseModel):
    model_config = ConfigDict(frozen=True)

    rating: RatingRules = Field(default_factory=RatingRules)
    product: ProductRules = Field(default_factory=ProductRules)
    remediation: RemediationRules = Field(default_factory=RemediationRules)
    process: ProcessRules = Field(default_factory=ProcessRules)
