"""Verifying a provider's proofs (docs/domain.md, "Platform qualification by insurance"): the policy path and the MLPS certificate path."""

from datetime import date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from domain.coverage import CoverageHead
from domain.policy import PolicyPhase
from domain.qualification import (
    Document,
    MlpsCertificate,
    PolicyFacts,
    PolicyProofs,
    QualificationApplication,
    QualificationRules,
    recheck_policy,
    renewal_reminders,
    verify_mlps_certificate,
    verify_policy_proofs,
)
from tests.builders import VALID_USCC

CST = timezone(timedelta(hours=8))
OTHER_USCC = "91110000M00000000W"  # valid, and not the applicant's
NOW = datetime(2026, 6, 1, 10, tzinfo=CST)
RULES = QualificationRules()
APPLICATION = QualificationApplication(provider_id="prov-1", unified_social_credit_code=VALID_USCC, insurer_id="ins-1")


def document(n: int) -> Document:
    return Document(document_id=f"doc-{n}", sha256=f"{n:064x}", size_bytes=1024)


PROOFS = PolicyProofs(policy_number="CYB-2026-000001", inquiry_form=document(1), assessment_report=document(2),
                      policy_document=document(3))


def facts(**changes) -> PolicyFacts:
    values = {
        "policy_number": PROOFS.policy_number, "found": True, "policy_id": "pol-1", "insured_credit_code": VALID_USCC,
        "insurer_id": "ins-1", "phase": PolicyPhase.IN_FORCE, "term_number": 1,
        "term_start": datetime(2026, 1, 1, tzinfo=CST), "term_end": datetime(2027, 1, 1, tzinfo=CST),
        "heads": frozenset({CoverageHead.DATA_BREACH_LIABILITY, CoverageHead.BUSINESS_INTERRUPTION}),
    }
    return PolicyFacts(**{**values, **changes})


def codes(verification) -> list[str]:
    return [problem.code for problem in verification.problems]


def test_proofs_matching_a_bound_liability_policy_qualify_until_its_term_ends():
    verification = verify_policy_proofs(PROOFS, facts(), APPLICATION, NOW, RULES)
    assert verification.passed and verification.valid_until == datetime(2027, 1, 1, tzinfo=CST)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"found": False}, ["policy_not_found"]),
        ({"insured_credit_code": OTHER_USCC}, ["policy_insures_another"]),
        ({"insurer_id": "ins-2"}, ["policy_from_another_insurer"]),
        ({"phase": PolicyPhase.CANCELLED}, ["policy_not_in_force"]),
        ({"cancelled": True}, ["policy_not_in_force"]),
        ({"phase": PolicyPhase.EXPIRED}, ["policy_not_in_force"]),
        ({"term_end": datetime(2026, 5, 1, tzinfo=CST)}, ["outside_term"]),
        ({"term_start": datetime(2026, 7, 1, tzinfo=CST)}, ["term_not_started"]),
        ({"heads": frozenset({CoverageHead.BUSINESS_INTERRUPTION})}, ["no_liability_cover"]),
        ({"insured_credit_code": OTHER_USCC, "heads": frozenset()},
         ["policy_insures_another", "no_liability_cover"]),
    ],
)
def test_each_mismatch_with_the_bound_policy_is_named(changes, expected):
    verification = verify_policy_proofs(PROOFS, facts(**changes), APPLICATION, NOW, RULES)
    assert codes(verification) == expected
    assert verification.valid_until is None


def test_the_three_files_must_be_three_different_files():
    repeated = PROOFS.model_copy(update={"policy_document": document(1)})
    assert codes(verify_policy_proofs(repeated, facts(), APPLICATION, NOW, RULES)) == ["documents_repeated"]


def test_renewal_proofs_may_name_a_term_that_starts_when_the_current_qualification_ends():
    renewed = facts(term_number=2, term_start=datetime(2027, 1, 1, tzinfo=CST), term_end=datetime(2028, 1, 1, tzinfo=CST),
                    phase=PolicyPhase.RENEWING)
    ahead = datetime(2026, 12, 1, tzinfo=CST)
    assert verify_policy_proofs(PROOFS, renewed, APPLICATION, ahead, RULES,
                                qualified_until=datetime(2027, 1, 1, tzinfo=CST)).passed
    gap = verify_policy_proofs(PROOFS, renewed, APPLICATION, ahead, RULES,
                               qualified_until=datetime(2026, 12, 20, tzinfo=CST))
    assert codes(gap) == ["term_not_started"]


def certificate(**changes) -> MlpsCertificate:
    values = {"certificate_number": "MLPS-44-2025-001", "system_name": "SaaS portal", "level": 2,
              "issued_on": date(2025, 9, 1), "valid_until": date(2027, 8, 31)}
    return MlpsCertificate(**{**values, **changes})


def test_a_level_two_certificate_within_two_years_qualifies_through_its_last_day():
    verification = verify_mlps_certificate(certificate(), NOW, RULES)
    assert verification.passed and verification.valid_until == datetime(2027, 9, 1, tzinfo=CST)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"level": 1}, ["mlps_level_too_low"]),
        ({"valid_until": date(2026, 5, 31)}, ["mlps_expired"]),
        ({"valid_until": date(2028, 9, 1)}, ["mlps_validity_too_long"]),
        ({"issued_on": date(2026, 6, 2), "valid_until": date(2026, 6, 1)}, ["mlps_dates", "mlps_expired"]),
    ],
)
def test_a_certificate_that_does_not_prove_security_is_refused_saying_why(changes, expected):
    assert codes(verify_mlps_certificate(certificate(**changes), NOW, RULES)) == expected


def test_renewal_reminders_are_the_ones_still_ahead():
    until = datetime(2026, 7, 1, tzinfo=CST)
    assert [days for days, _ in renewal_reminders(until, NOW, RULES)] == [7]  # 60 and 30 days before are past
    assert [at for _, at in renewal_reminders(until, until - timedelta(days=90), RULES)] == [
        until - timedelta(days=60), until - timedelta(days=30), until - timedelta(days=7)
    ]


def test_an_application_with_a_bad_credit_code_is_refused():
    with pytest.raises(ValidationError, match="unified_social_credit_code"):
        QualificationApplication(provider_id="prov-1", unified_social_credit_code="91350100M000100Y4X")


def test_reminder_days_are_above_zero_and_kept_in_order():
    assert QualificationRules(renewal_reminder_days=(7, 60, 30, 7)).renewal_reminder_days == (60, 30, 7)
    with pytest.raises(ValidationError, match="above zero"):
        QualificationRules(renewal_reminder_days=(0,))


@pytest.mark.parametrize(
    ("changes", "says"),
    [({"cancelled": True}, "cancelled"), ({"phase": PolicyPhase.EXPIRED}, "expired"), ({"found": False}, "no longer found")],
)
def test_a_recheck_names_a_policy_no_longer_in_force(changes, says):
    (problem,) = recheck_policy(facts(**changes)).problems
    assert problem.code == "policy_not_in_force" and says in problem.message


def test_a_recheck_of_a_policy_in_force_keeps_its_term_end():
    assert recheck_policy(facts()).valid_until == datetime(2027, 1, 1, tzinfo=CST)
