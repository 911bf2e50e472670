from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.coverage import CoverageHead, Industry
from domain.errors import DomainRuleError
from domain.money import Money
from domain.policy import BoundPolicy, add_months, endorsement_premium, local_date, pro_rata_return_premium
from domain.rating import underwrite
from domain.rules import PolicyRules
from tests.builders import application, assessment

RULES = PolicyRules()
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def bound(start: datetime = START, risk_score: int = 0) -> BoundPolicy:
    result = underwrite(application(), assessment(), RULES, term_start=start.date())
    return BoundPolicy(
        policy_number="CY-2026-00000001", term_number=1, term_start=start, term_end=add_months(start, 12),
        annual_premium=result.premium, schedule=result.schedule, risk_score=risk_score,
    )


def test_a_year_is_twelve_months_and_leap_days_clamp():
    assert add_months(START, 12) == datetime(2027, 1, 1, tzinfo=timezone.utc)
    assert add_months(datetime(2028, 2, 29, tzinfo=timezone.utc), 12) == datetime(2029, 2, 28, tzinfo=timezone.utc)
    assert add_months(datetime(2026, 11, 30), 3) == datetime(2027, 2, 28)


def test_policy_dates_are_beijing_dates():
    assert local_date(datetime(2026, 1, 1, 17, 0, tzinfo=timezone.utc)).isoformat() == "2026-01-02"


def test_cancellation_halfway_returns_half_the_premium_rounded_down():
    policy = bound()
    halfway = policy.term_start + (policy.term_end - policy.term_start) / 2
    returned = pro_rata_return_premium(Money(fen=100_001), policy, halfway)
    assert returned.fen == 50_000


def test_cancellation_after_the_term_is_refused():
    policy = bound()
    with pytest.raises(DomainRuleError, match="already ended"):
        pro_rata_return_premium(policy.annual_premium, policy, policy.term_end)


@given(minutes=st.integers(0, 365 * 24 * 60 - 1), premium=st.integers(0, 10**12))
def test_return_premium_never_exceeds_what_was_charged(minutes, premium):
    policy = bound()
    returned = pro_rata_return_premium(Money(fen=premium), policy, policy.term_start + timedelta(minutes=minutes))
    assert 0 <= returned.fen <= premium


def test_raising_a_limit_midterm_charges_additional_premium_pro_rata():
    policy = bound()
    halfway = policy.term_start + (policy.term_end - policy.term_start) / 2
    change = endorsement_premium(
        policy=policy, head=CoverageHead.BUSINESS_INTERRUPTION, new_sublimit=Money.yuan(3_000_000),
        industry=Industry.INDUSTRIAL_INTERNET, rules=RULES.rating, effective_at=halfway,
    )
    annual = 1_000_000_00 * 120 // 10_000 * 11_000 // 10_000  # 1,000,000 more at 1.2% x 1.1
    assert change.annual_delta_fen == annual
    assert change.additional_premium.fen == annual // 2 and change.return_premium.fen == 0


def test_lowering_a_limit_returns_premium():
    policy = bound()
    change = endorsement_premium(
        policy=policy, head=CoverageHead.BUSINESS_INTERRUPTION, new_sublimit=Money.yuan(1_000_000),
        industry=Industry.INDUSTRIAL_INTERNET, rules=RULES.rating, effective_at=policy.term_start,
    )
    assert change.return_premium.fen > 0 and change.additional_premium.fen == 0


@pytest.mark.parametrize(
    ("head", "limit", "code"),
    [
        (CoverageHead.MEDIA_INFRINGEMENT, Money.yuan(10), "head_not_covered"),
        (CoverageHead.BUSINESS_INTERRUPTION, Money.yuan(9_000_000), "above_aggregate"),
        (CoverageHead.BUSINESS_INTERRUPTION, Money.yuan(2_000_000), "no_change"),
    ],
)
def test_an_impossible_endorsement_is_refused_with_its_reason(head, limit, code):
    with pytest.raises(DomainRuleError) as err:
        endorsement_premium(
            policy=bound(), head=head, new_sublimit=limit, industry=Industry.OTHER, rules=RULES.rating,
            effective_at=START,
        )
    assert err.value.code == code
