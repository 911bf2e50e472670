from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import DomainRuleError
from domain.findings import (
    FindingStatus,
    Resolution,
    Severity,
    apply_resolution,
    apply_verification,
    remediation_deadline,
    reminder_time,
)
from domain.rules import RemediationRules

RULES = RemediationRules()
NOW = datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)


def test_deadlines_follow_severity_and_info_has_none():
    assert remediation_deadline(Severity.CRITICAL, NOW, RULES.deadline_minutes) == NOW + timedelta(days=7)
    assert remediation_deadline(Severity.HIGH, NOW, RULES.deadline_minutes) == NOW + timedelta(days=30)
    assert remediation_deadline(Severity.INFO, NOW, RULES.deadline_minutes) is None


def test_reminder_comes_before_the_deadline():
    deadline = remediation_deadline(Severity.CRITICAL, NOW, RULES.deadline_minutes)
    assert reminder_time(deadline, RULES.reminder_lead_minutes[Severity.CRITICAL]) == deadline - timedelta(days=2)
    assert reminder_time(None, 60) is None


@given(severity=st.sampled_from([s for s in Severity if s is not Severity.INFO]), minutes=st.integers(0, 10**6))
def test_a_later_report_never_gets_an_earlier_deadline(severity, minutes):
    later = NOW + timedelta(minutes=minutes)
    assert remediation_deadline(severity, later, RULES.deadline_minutes) >= remediation_deadline(
        severity, NOW, RULES.deadline_minutes
    )


def test_fixed_waits_for_the_vendor_rescan():
    assert apply_resolution(FindingStatus.OPEN, Severity.HIGH, Resolution.FIXED) is FindingStatus.AWAITING_VERIFICATION
    assert apply_verification(FindingStatus.AWAITING_VERIFICATION, True) is FindingStatus.FIXED
    assert apply_verification(FindingStatus.AWAITING_VERIFICATION, False) is FindingStatus.OPEN


def test_a_critical_cannot_be_accepted_as_risk():
    with pytest.raises(DomainRuleError) as err:
        apply_resolution(FindingStatus.OPEN, Severity.CRITICAL, Resolution.ACCEPTED_RISK)
    assert err.value.code == "critical_risk_not_acceptable"
    assert apply_resolution(FindingStatus.OPEN, Severity.HIGH, Resolution.ACCEPTED_RISK) is FindingStatus.ACCEPTED_RISK
    assert apply_resolution(FindingStatus.OPEN, Severity.CRITICAL, Resolution.FALSE_POSITIVE) is FindingStatus.FALSE_POSITIVE


@pytest.mark.parametrize("closed", [s for s in FindingStatus if s.is_closed])
def test_a_closed_finding_cannot_be_resolved_again(closed):
    with pytest.raises(DomainRuleError, match="already closed"):
        apply_resolution(closed, Severity.LOW, Resolution.THIRD_PARTY_RISK)


def test_only_a_finding_awaiting_verification_can_be_verified():
    with pytest.raises(DomainRuleError) as err:
        apply_verification(FindingStatus.OPEN, True)
    assert err.value.code == "not_awaiting_verification"
    with pytest.raises(DomainRuleError) as err:
        apply_resolution(FindingStatus.AWAITING_VERIFICATION, Severity.LOW, Resolution.FALSE_POSITIVE)
    assert err.value.code == "awaiting_verification"
