from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.assessment import MlpsOutcome, MlpsTestResult
from domain.coverage import CoverageHead, Industry, RevenueBand
from domain.findings import FindingSummary, Severity
from domain.rating import Decision, TermHistory, in_cover_score, premium_for, underwrite
from domain.rules import PolicyRules
from domain.schedule import BusinessInterruptionRule
from tests.builders import application, assessment, controls, organisation, risky_assessment, scan_finding

RULES = PolicyRules()
START = date(2026, 1, 1)


def test_a_well_controlled_company_is_accepted_at_base_premium():
    result = underwrite(application(), assessment(), RULES, term_start=START)
    assert result.decision is Decision.ACCEPT
    assert result.risk_score == 0
    # BI 2,000,000 yuan at 120 bps + ransomware 1,000,000 at 150 + SE 500,000 at 130 + data breach 3,000,000
    # at 110 = 24,000 + 15,000 + 6,500 + 33,000 = 78,500 yuan; industrial internet x1.10.
    assert result.premium.fen == 78_500_00 * 11_000 // 10_000


def test_missing_controls_refer_to_an_underwriter_with_reasons():
    result = underwrite(application(), risky_assessment(), RULES, term_start=START)
    assert result.decision is Decision.REFER
    assert "missing control: mfa" in result.reasons
    assert any("needs an underwriter" in r for r in result.reasons)


def test_a_very_risky_company_is_declined_without_schedule():
    report = assessment(
        controls=controls(mfa=False, offline_backups=False, edr=False, incident_response_plan=False, security_staff=0,
                          patch_cadence_days=120),
        scan_findings=[scan_finding()] * 3,
    )
    result = underwrite(application(), report, RULES, term_start=START)
    assert result.decision is Decision.DECLINE
    assert result.schedule is None and result.premium.fen == 0


def test_social_engineering_cover_is_removed_when_its_controls_are_missing():
    result = underwrite(application(), assessment(controls=controls(payment_dual_authorisation=False)), RULES, term_start=START)
    heads = [h.head for h in result.schedule.heads]
    assert CoverageHead.FRAUD_SOCIAL_ENGINEERING not in heads
    assert result.product_notes == ["social engineering cover removed: missing payment_dual_authorisation"]


def test_manufacturing_waits_twelve_hours_and_others_eight():
    manufacturer = underwrite(application(), assessment(), RULES, term_start=START).schedule
    assert manufacturer.business_interruption.waiting_minutes == 12 * 60
    assert manufacturer.business_interruption.rule is BusinessInterruptionRule.WAITING_PERIOD
    retailer = application(organisation=organisation(industry=Industry.CULTURE_TOURISM))
    assert underwrite(retailer, assessment(), RULES, term_start=START).schedule.business_interruption.waiting_minutes == 480


def test_minimum_retention_follows_revenue_band():
    small = application(organisation=organisation(revenue_band=RevenueBand.UNDER_10M))
    large = application(organisation=organisation(revenue_band=RevenueBand.OVER_10B))
    assert {h.retention.fen for h in underwrite(small, assessment(), RULES, term_start=START).schedule.heads} == {10_000_00}
    assert {h.retention.fen for h in underwrite(large, assessment(), RULES, term_start=START).schedule.heads} == {250_000_00}


def test_ransomware_coinsurance_is_higher_without_offline_backups():
    with_backups = underwrite(application(), assessment(), RULES, term_start=START).schedule
    without = underwrite(application(), assessment(controls=controls(offline_backups=False)), RULES, term_start=START).schedule
    assert with_backups.terms_for(CoverageHead.RANSOMWARE_EXTORTION).coinsurance_bps == 2_000
    assert without.terms_for(CoverageHead.RANSOMWARE_EXTORTION).coinsurance_bps == 5_000


def test_critical_scan_findings_become_conditions_of_binding():
    result = underwrite(application(), assessment(scan_findings=[scan_finding(), scan_finding(Severity.HIGH)]), RULES, term_start=START)
    assert [r.code for r in result.required_remediations] == ["scan-1"]


def test_poor_mlps_results_and_weak_cii_raise_the_score():
    poor = assessment(mlps_results=[MlpsTestResult(system_name="MES", level=3, outcome=MlpsOutcome.POOR, tested_on=START)])
    assert underwrite(application(), poor, RULES, term_start=START).risk_score == RULES.rating.mlps_poor_points
    from domain.application import InformationSystem
    cii = application(organisation=organisation(systems=[InformationSystem(name="SCADA", mlps_level=2, is_critical_infrastructure=True)]))
    assert underwrite(cii, assessment(mlps_results=[]), RULES, term_start=START).risk_score == RULES.rating.cii_below_level_three_points


def test_overdue_criticals_last_term_worsen_renewal_and_too_many_decline_it():
    one = TermHistory(findings=FindingSummary(ever_overdue_by_severity={Severity.CRITICAL: 1}))
    renewed = underwrite(application(), assessment(), RULES, term_start=START, history=one)
    first = underwrite(application(), assessment(), RULES, term_start=START)
    assert renewed.risk_score == first.risk_score + RULES.rating.renewal_points_per_overdue_critical
    assert renewed.premium.fen > first.premium.fen
    many = TermHistory(findings=FindingSummary(ever_overdue_by_severity={Severity.CRITICAL: 4}))
    assert underwrite(application(), assessment(), RULES, term_start=START, history=many).decision is Decision.DECLINE


def test_open_and_overdue_findings_move_the_in_cover_score():
    summary = FindingSummary(
        open_by_severity={Severity.CRITICAL: 1, Severity.HIGH: 2}, overdue_by_severity={Severity.CRITICAL: 1}
    )
    assert in_cover_score(10, summary, RULES.rating) == 10 + 8 + 6 + 10
    assert in_cover_score(95, summary, RULES.rating) == 100


scores = st.integers(min_value=0, max_value=100)
industries = st.sampled_from(list(Industry))


@settings(max_examples=200)
@given(low=scores, high=scores, industry=industries)
def test_premium_is_monotone_in_risk_and_never_below_minimum(low, high, industry):
    low, high = min(low, high), max(low, high)
    app = application(organisation=organisation(industry=industry))
    heads = [c.head for c in app.coverages]
    p_low = premium_for(app, low, RULES.rating, heads)
    p_high = premium_for(app, high, RULES.rating, heads)
    assert RULES.rating.minimum_premium.fen <= p_low.fen <= p_high.fen


@settings(max_examples=100)
@given(
    mfa=st.booleans(), backups=st.booleans(), edr=st.booleans(), patch=st.integers(0, 400),
    staff=st.integers(0, 5), criticals=st.integers(0, 5), highs=st.integers(0, 8),
)
def test_underwriting_is_deterministic_and_bounded(mfa, backups, edr, patch, staff, criticals, highs):
    report = assessment(
        controls=controls(mfa=mfa, offline_backups=backups, edr=edr, patch_cadence_days=patch, security_staff=staff),
        scan_findings=[scan_finding()] * criticals + [scan_finding(Severity.HIGH)] * highs,
    )
    first = underwrite(application(), report, RULES, term_start=START)
    again = underwrite(application(), report, RULES, term_start=START)
    assert first == again
    assert 0 <= first.risk_score <= 100
    assert first.premium.fen >= 0
    if first.decision is not Decision.DECLINE:
        assert first.premium.fen >= RULES.rating.minimum_premium.fen
        assert all(h.sublimit.fen <= first.schedule.aggregate_limit.fen for h in first.schedule.heads)
