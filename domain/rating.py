"""Underwriting (核保): risk score, decision, premium and conditions from an assessment.

All functions are pure and deterministic. Premium is monotone in the risk score, never below
the minimum premium and never negative.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.application import PolicyApplication
from domain.assessment import AssessmentReport, MlpsOutcome
from domain.boundaries import MAX_FEN
from domain.coverage import CoverageHead
from domain.findings import FindingSummary, Severity
from domain.money import Money
from domain.rules import PolicyRules, RatingRules
from domain.schedule import BusinessInterruptionTerms, CoverageSchedule, HeadTerms

MAX_SCORE = 100


class Decision(StrEnum):
    ACCEPT = "accept"
    REFER = "refer"
    DECLINE = "decline"


class RequiredRemediation(BaseModel):
    """A condition of binding: the vendor must verify this is fixed before cover starts."""

    model_config = ConfigDict(frozen=True)

    code: str
    description: str


class UnderwritingResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    risk_score: int = Field(ge=0, le=MAX_SCORE)
    decision: Decision
    reasons: list[str]
    premium: Money
    schedule: CoverageSchedule | None = Field(description="None when nothing can be offered")
    required_remediations: list[RequiredRemediation] = Field(default_factory=list)
    product_notes: list[str] = Field(default_factory=list)


class TermHistory(BaseModel):
    """What the closing term's monitoring says about the insured, for renewal."""

    model_config = ConfigDict(frozen=True)

    findings: FindingSummary = Field(default_factory=FindingSummary)
    term_number: int = 1


def assessment_score(application: PolicyApplication, report: AssessmentReport, rules: RatingRules) -> tuple[int, list[str]]:
    """Risk score 0-100 from the assessment, with the reasons that raised it."""
    points: list[tuple[int, str]] = []
    controls = report.controls
    missing = {
        "mfa": not controls.mfa,
        "offline_backups": not controls.offline_backups,
        "edr": not controls.edr,
        "incident_response_plan": not controls.incident_response_plan,
        "security_staff": controls.security_staff == 0,
    }
    for control, is_missing in missing.items():
        if is_missing and rules.missing_control_points.get(control):
            points.append((rules.missing_control_points[control], f"missing control: {control}"))
    if controls.patch_cadence_days > rules.slow_patching_days:
        points.append((rules.slow_patching_points, f"patches every {controls.patch_cadence_days} days"))
    for severity, per_finding in rules.scan_points.items():
        count = report.scan_count(severity)
        if count:
            capped = min(count * per_finding, rules.scan_points_cap.get(severity, MAX_SCORE))
            points.append((capped, f"{count} {severity.value} external scan finding(s)"))
    for result in report.mlps_results:
        if result.outcome is MlpsOutcome.POOR:
            points.append((rules.mlps_poor_points, f"MLPS test of {result.system_name} rated poor"))
        elif result.outcome is MlpsOutcome.FAIR:
            points.append((rules.mlps_fair_points, f"MLPS test of {result.system_name} rated fair"))
    weak_cii = [
        s.name for s in application.organisation.systems if s.is_critical_infrastructure and s.mlps_level < 3
    ]
    if weak_cii:
        points.append((rules.cii_below_level_three_points, f"CII below MLPS level 3: {', '.join(weak_cii)}"))
    score = min(sum(p for p, _ in points), MAX_SCORE)
    return score, [reason for _, reason in points]


def in_cover_score(base_score: int, findings: FindingSummary, rules: RatingRules) -> int:
    """The risk score during cover: the bound score moved by open and overdue findings."""
    added = sum(findings.open_count(sev) * pts for sev, pts in rules.open_finding_points.items())
    added += findings.overdue_count(Severity.CRITICAL) * rules.overdue_critical_points
    return min(base_score + added, MAX_SCORE)


def decide(score: int, rules: RatingRules) -> Decision:
    if score <= rules.accept_max_score:
        return Decision.ACCEPT
    if score <= rules.refer_max_score:
        return Decision.REFER
    return Decision.DECLINE


def premium_for(application: PolicyApplication, score: int, rules: RatingRules, heads: list[CoverageHead]) -> Money:
    """Annual premium: rate on each head's limit, industry factor, risk loading, minimum."""
    industry_bps = rules.industry_factor_bps.get(application.organisation.industry, 10_000)
    base = 0
    for request in application.coverages:
        if request.head in heads:
            base += request.limit.fen * rules.head_rate_bps.get(request.head, 100) // 10_000
    loaded = base * industry_bps // 10_000 * (10_000 + score * rules.risk_loading_bps_per_point) // 10_000
    currency = application.aggregate_limit.currency
    return Money(fen=min(max(loaded, rules.minimum_premium.fen), MAX_FEN), currency=currency)


def underwrite(
    application: PolicyApplication,
    report: AssessmentReport,
    rules: PolicyRules,
    *,
    term_start: date,
    history: TermHistory | None = None,
) -> UnderwritingResult:
    """Turn an assessment (and, at renewal, the term's history) into an underwriting result."""
    score, reasons = assessment_score(application, report, rules.rating)
    if history is not None:
        overdue_criticals = history.findings.ever_overdue_count(Severity.CRITICAL)
        if overdue_criticals:
            score = min(score + overdue_criticals * rules.rating.renewal_points_per_overdue_critical, MAX_SCORE)
            reasons.append(f"{overdue_criticals} critical finding(s) went overdue last term")
        if overdue_criticals > rules.process.renewal_max_overdue_criticals:
            reasons.append(
                f"more than {rules.process.renewal_max_overdue_criticals} overdue critical findings"
            )
            return _declined(application, score, reasons)
    decision = decide(score, rules.rating)
    if decision is Decision.DECLINE:
        reasons.append(f"risk score {score} above {rules.rating.refer_max_score}")
        return _declined(application, score, reasons)
    if decision is Decision.REFER:
        reasons.append(f"risk score {score} needs an underwriter (accept up to {rules.rating.accept_max_score})")
    heads, notes = _offered_heads(application, report, rules)
    schedule = build_schedule(application, report, rules, heads=heads, term_start=term_start)
    premium = premium_for(application, score, rules.rating, heads)
    return UnderwritingResult(
        risk_score=score,
        decision=decision,
        reasons=reasons,
        premium=premium,
        schedule=schedule,
        required_remediations=_required_remediations(report, rules),
        product_notes=notes,
    )


def _declined(application: PolicyApplication, score: int, reasons: list[str]) -> UnderwritingResult:
    return UnderwritingResult(
        risk_score=score,
        decision=Decision.DECLINE,
        reasons=reasons,
        premium=Money(fen=0, currency=application.aggregate_limit.currency),
        schedule=None,
    )


def _offered_heads(
    application: PolicyApplication, report: AssessmentReport, rules: PolicyRules
) -> tuple[list[CoverageHead], list[str]]:
    heads = [c.head for c in application.coverages]
    notes: list[str] = []
    if CoverageHead.FRAUD_SOCIAL_ENGINEERING in heads:
        controls = report.controls.model_dump()
        missing = [c for c in rules.product.social_engineering_required_controls if not controls.get(c)]
        if missing:
            heads.remove(CoverageHead.FRAUD_SOCIAL_ENGINEERING)
            notes.append(f"social engineering cover removed: missing {', '.join(missing)}")
    return heads, notes


def build_schedule(
    application: PolicyApplication,
    report: AssessmentReport,
    rules: PolicyRules,
    *,
    heads: list[CoverageHead],
    term_start: date,
) -> CoverageSchedule:
    product = rules.product
    org = application.organisation
    retention = product.minimum_retention_by_revenue[org.revenue_band]
    terms = []
    for request in application.coverages:
        if request.head not in heads:
            continue
        coinsurance = product.coinsurance_bps_by_head.get(request.head, 0)
        if request.head is CoverageHead.RANSOMWARE_EXTORTION:
            coinsurance = (
                product.ransomware_coinsurance_bps
                if report.controls.offline_backups
                else product.ransomware_coinsurance_bps_without_offline_backups
            )
        terms.append(
            HeadTerms(head=request.head, sublimit=request.limit, retention=retention, coinsurance_bps=coinsurance)
        )
    bi = None
    if CoverageHead.BUSINESS_INTERRUPTION in heads:
        bi = BusinessInterruptionTerms(
            waiting_minutes=product.bi_waiting_minutes_by_industry.get(
                org.industry, product.bi_waiting_minutes_default
            ),
            rule=product.bi_rule,
            restoration_cap_minutes=product.bi_restoration_cap_days * 24 * 60,
        )
    return CoverageSchedule(
        aggregate_limit=application.aggregate_limit,
        heads=terms,
        business_interruption=bi,
        retroactive_date=term_start - timedelta(days=product.retroactive_days),
        notice_condition_minutes=product.notice_condition_minutes,
        panel_vendor_ids=list(product.panel_vendor_ids),
        overdue_critical_retention_uplift_bps=product.overdue_critical_retention_uplift_bps,
    )


def _required_remediations(report: AssessmentReport, rules: PolicyRules) -> list[RequiredRemediation]:
    required = []
    for index, finding in enumerate(report.scan_findings, start=1):
        if finding.severity in rules.product.remediate_before_binding:
            required.append(
                RequiredRemediation(
                    code=f"scan-{index}",
                    description=f"fix {finding.severity.value} {finding.kind.value} on {finding.asset}: {finding.title}",
                )
            )
    return required
