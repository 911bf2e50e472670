"""Policy terms, quotes, endorsements and cancellation: the arithmetic of a bound policy."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.boundaries import Instant
from domain.coverage import CoverageHead, Industry
from domain.errors import DomainRuleError
from domain.money import Money
from domain.rating import RequiredRemediation
from domain.rules import RatingRules
from domain.schedule import CoverageSchedule


class PolicyPhase(StrEnum):
    AWAITING_ASSESSMENT = "awaiting_assessment"  # 保前评估
    REFERRED = "referred"  # 核保: with a human underwriter
    QUOTED = "quoted"
    AWAITING_PREBIND_REMEDIATION = "awaiting_prebind_remediation"
    IN_FORCE = "in_force"  # 保中
    RENEWING = "renewing"  # 续保, still in force
    DECLINED = "declined"
    QUOTE_EXPIRED = "quote_expired"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # lapsed at term end without renewal

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_PHASES

    @property
    def is_covered(self) -> bool:
        return self in (PolicyPhase.IN_FORCE, PolicyPhase.RENEWING)


TERMINAL_PHASES = frozenset(
    {PolicyPhase.DECLINED, PolicyPhase.QUOTE_EXPIRED, PolicyPhase.CANCELLED, PolicyPhase.EXPIRED}
)


class Quote(BaseModel):
    model_config = ConfigDict(frozen=True)

    quote_id: str
    term_number: int
    premium: Money
    schedule: CoverageSchedule
    required_remediations: list[RequiredRemediation] = Field(default_factory=list)
    product_notes: list[str] = Field(default_factory=list)
    risk_score: int
    issued_at: Instant
    expires_at: Instant


class BoundPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    policy_number: str
    term_number: int
    term_start: Instant
    term_end: Instant
    annual_premium: Money
    schedule: CoverageSchedule
    risk_score: int = Field(description="the score at binding")


class CancellingParty(StrEnum):
    INSURER = "insurer"
    INSURED = "insured"


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time `months` later, clamped to the month's last day (29 Feb → 28 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _remaining_fraction_fen(amount_fen: int, term_start: datetime, term_end: datetime, at: datetime) -> int:
    term_minutes = int((term_end - term_start).total_seconds() // 60)
    remaining = int((term_end - max(at, term_start)).total_seconds() // 60)
    remaining = min(max(remaining, 0), term_minutes)
    return amount_fen * remaining // term_minutes if term_minutes > 0 else 0


def pro_rata_return_premium(premium_charged: Money, policy: BoundPolicy, cancelled_at: datetime) -> Money:
    """Return premium on cancellation: the unexpired share of what was charged, rounded down."""
    if cancelled_at >= policy.term_end:
        raise DomainRuleError("term_ended", "the term has already ended; nothing to cancel")
    fen = _remaining_fraction_fen(premium_charged.fen, policy.term_start, policy.term_end, cancelled_at)
    return Money(fen=fen, currency=premium_charged.currency)


class EndorsementPremium(BaseModel):
    model_config = ConfigDict(frozen=True)

    additional_premium: Money
    return_premium: Money
    annual_delta_fen: int


def endorsement_premium(
    *,
    policy: BoundPolicy,
    head: CoverageHead,
    new_sublimit: Money,
    industry: Industry,
    rules: RatingRules,
    effective_at: datetime,
) -> EndorsementPremium:
    """Additional (or returned) premium for a mid-term change of one head's limit, pro rata."""
    terms = policy.schedule.terms_for(head)
    if terms is None:
        raise DomainRuleError("head_not_covered", f"{head.value} is not on this policy's schedule")
    if new_sublimit.currency != terms.sublimit.currency:
        raise DomainRuleError("currency_mismatch", "the new limit must be in the policy's currency")
    if new_sublimit.fen > policy.schedule.aggregate_limit.fen:
        raise DomainRuleError("above_aggregate", "a head's limit cannot exceed the aggregate limit")
    if new_sublimit.fen == terms.sublimit.fen:
        raise DomainRuleError("no_change", f"{head.value} already has that limit")
    if not policy.term_start <= effective_at < policy.term_end:
        raise DomainRuleError("outside_term", "an endorsement must take effect within the term")
    delta_limit = new_sublimit.fen - terms.sublimit.fen
    industry_bps = rules.industry_factor_bps.get(industry, 10_000)
    loading = 10_000 + policy.risk_score * rules.risk_loading_bps_per_point
    rate = rules.head_rate_bps.get(head, 100)
    magnitude = abs(delta_limit) * rate // 10_000 * industry_bps // 10_000 * loading // 10_000
    pro_rata = _remaining_fraction_fen(magnitude, policy.term_start, policy.term_end, effective_at)
    currency = new_sublimit.currency
    return EndorsementPremium(
        additional_premium=Money(fen=pro_rata if delta_limit > 0 else 0, currency=currency),
        return_premium=Money(fen=pro_rata if delta_limit < 0 else 0, currency=currency),
        annual_delta_fen=magnitude if delta_limit > 0 else -magnitude,
    )


CHINA_STANDARD_TIME = timezone(timedelta(hours=8))


def local_date(moment: datetime) -> date:
    """The calendar date in China Standard Time: policy dates are Beijing dates."""
    return moment.astimezone(CHINA_STANDARD_TIME).date()
