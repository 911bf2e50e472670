"""The pilot programme's rules (docs/domain.md, "The pilot programme"), each named when broken."""

import pytest
from pydantic import ValidationError

from domain.pilot import (
    DEFAULT_DEADLINES,
    Direction,
    HealthcareApplication,
    InformationSystem,
    PilotDeadline,
    PilotRules,
    Programme,
    ReportKind,
    ServiceScheme,
    Unit,
    UnitKind,
    check_healthcare_application,
    check_scheme,
    reminder_dates,
)
from domain.application import validate_uscc

RULES = PilotRules()


def uscc(n: int) -> str:
    """A valid unified social credit code for unit n."""
    base = f"9131000{n:010d}"
    for check in "0123456789ABCDEFGHJKLMNPQRTUWXY":
        try:
            return validate_uscc(base + check)
        except ValueError:
            continue
    raise AssertionError("no check character fits")


def unit(n: int, kind: UnitKind = UnitKind.SECURITY_VENDOR, *, licence: bool = False) -> Unit:
    return Unit(name=f"Unit {n}", unified_social_credit_code=uscc(n), kind=kind, holds_insurance_licence=licence)


INSURER = unit(1, UnitKind.INSURER, licence=True)


def scheme(joint: list[Unit], *, lead: Unit | None = None, programme=Programme.NATIONAL, **changes) -> ServiceScheme:
    values = {"direction": Direction.INDUSTRIAL_INTERNET, **changes}
    return ServiceScheme(scheme_id="s-1", programme=programme, name="Cyber cover for SMEs", lead_unit=lead or unit(2),
                         joint_units=joint, **values)


def rules_broken(violations) -> list[str]:
    return [violation.rule for violation in violations]


def test_a_scheme_with_an_insurer_and_ten_joint_units_passes():
    ten = [INSURER, *(unit(n) for n in range(10, 19))]
    assert check_scheme(scheme(ten), schemes_led_already=4, rules=RULES) == []


def test_eleven_joint_units_are_one_too_many():
    eleven = [INSURER, *(unit(n) for n in range(10, 20))]
    (violation,) = check_scheme(scheme(eleven), 0, RULES)
    assert violation.rule == "max_joint_units" and "11 joint units" in violation.message


def test_a_unit_leads_at_most_five_schemes():
    (violation,) = check_scheme(scheme([INSURER]), schemes_led_already=5, rules=RULES)
    assert violation.rule == "max_schemes_led" and "already leads 5" in violation.message


def test_a_scheme_needs_a_unit_with_an_insurance_licence_the_lead_counts_too():
    assert rules_broken(check_scheme(scheme([unit(3)]), 0, RULES)) == ["insurance_licence"]
    assert check_scheme(scheme([unit(3)], lead=INSURER), 0, RULES) == []


def test_every_broken_rule_is_named_at_once():
    crowded = [*(unit(n) for n in range(10, 21)), unit(10)]
    assert rules_broken(check_scheme(scheme(crowded), 7, RULES)) == [
        "max_joint_units", "max_schemes_led", "insurance_licence", "unit_repeated"
    ]


def test_the_limits_are_configuration():
    assert check_scheme(scheme([INSURER, unit(3), unit(4)]), 0, PilotRules(max_joint_units=2))[0].rule == "max_joint_units"


def test_hebei_names_the_industry_when_the_direction_is_other():
    with pytest.raises(ValidationError, match="names the industry"):
        scheme([INSURER], programme=Programme.HEBEI, direction=Direction.OTHER)
    assert scheme([INSURER], programme=Programme.HEBEI, direction=Direction.OTHER, other_industry="ports").units


HOSPITAL = unit(5, UnitKind.PUBLIC_MEDICAL_INSTITUTION)


def healthcare(applicant: Unit = HOSPITAL, joint: list[Unit] | None = None, systems=None) -> HealthcareApplication:
    return HealthcareApplication(
        application_id="sh-1", project_name="HIS cover", applicant=applicant,
        joint_applicants=[INSURER] if joint is None else joint,
        systems=systems or [
            InformationSystem(name="HIS", mlps_level=3, in_scope=True),
            InformationSystem(name="PACS", critical_information_infrastructure=True, mlps_level=3, in_scope=True),
            InformationSystem(name="intranet wiki", mlps_level=2, in_scope=False),
        ],
    )


def test_a_public_hospital_with_its_cii_and_level_three_systems_in_scope_passes():
    assert check_healthcare_application(healthcare(), projects_already=1, rules=RULES) == []


@pytest.mark.parametrize(
    ("application", "already", "expected"),
    [
        (healthcare(applicant=unit(6, UnitKind.PRIVATE_MEDICAL_INSTITUTION)), 0, ["public_medical_institution"]),
        (healthcare(), 2, ["max_projects_per_applicant"]),
        (healthcare(joint=[INSURER, *(unit(n) for n in range(20, 25))]), 0, ["max_joint_applicants"]),
        (healthcare(systems=[InformationSystem(name="HIS", mlps_level=3, in_scope=False),
                             InformationSystem(name="web", mlps_level=2, in_scope=True)]), 0, ["systems_in_scope"]),
        (healthcare(systems=[InformationSystem(name="PACS", critical_information_infrastructure=True, mlps_level=2,
                                               in_scope=False)]), 0, ["systems_in_scope", "systems_in_scope"]),
    ],
)
def test_each_shanghai_healthcare_rule_is_named(application, already, expected):
    assert rules_broken(check_healthcare_application(application, already, RULES)) == expected


def test_a_system_left_out_is_named_with_why_it_must_be_in():
    leftover = healthcare(systems=[InformationSystem(name="PACS", critical_information_infrastructure=True,
                                                     mlps_level=2, in_scope=False),
                                   InformationSystem(name="HIS", mlps_level=3, in_scope=True)])
    (violation,) = check_healthcare_application(leftover, 0, RULES)
    assert violation.message == "system PACS (critical information infrastructure) must be in scope"


def test_the_2024_annual_summaries_are_due_on_the_notices_dates_with_reminders_before():
    due = {deadline.programme: deadline.due.isoformat() for deadline in DEFAULT_DEADLINES}
    assert due == {Programme.NATIONAL: "2024-11-10", Programme.GUANGDONG: "2024-11-01", Programme.SHANGHAI: "2024-10-31"}
    national = PilotDeadline(programme=Programme.NATIONAL, kind=ReportKind.ANNUAL_SUMMARY, due=DEFAULT_DEADLINES[0].due)
    assert [(days, at.isoformat()) for days, at in reminder_dates(national)] == [
        (30, "2024-10-11"), (7, "2024-11-03"), (1, "2024-11-09")
    ]
