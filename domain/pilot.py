"""The cyber-insurance pilot programme (docs/domain.md): service schemes (服务方案), Shanghai's
healthcare applications, and the reporting deadlines of each programme.

Every rule a scheme breaks is named, not just the first, so that an applicant fixes all at once.
The figures are configuration (`PilotRules`), as the notices differ and change.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.application import UnifiedSocialCreditCode
from domain.boundaries import Day


class Programme(StrEnum):
    NATIONAL = "national"  # MIIT 工信厅网安函〔2023〕356号
    GUANGDONG = "guangdong"
    HEBEI = "hebei"
    SHANGHAI = "shanghai"


class Direction(StrEnum):
    """Hebei's recommendation form asks for one."""

    INDUSTRIAL_INTERNET = "industrial_internet"
    TELECOM_AND_INTERNET = "telecom_and_internet"
    CONNECTED_VEHICLES = "connected_vehicles"
    OTHER = "other"


class UnitKind(StrEnum):
    INSURER = "insurer"
    SECURITY_VENDOR = "security_vendor"
    ENTERPRISE = "enterprise"
    PUBLIC_MEDICAL_INSTITUTION = "public_medical_institution"
    PRIVATE_MEDICAL_INSTITUTION = "private_medical_institution"
    OTHER = "other"


class Unit(BaseModel):
    """An organisation taking part; organisations, not people, so no personal data."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=200)
    unified_social_credit_code: UnifiedSocialCreditCode
    kind: UnitKind
    holds_insurance_licence: bool = False


class ServiceScheme(BaseModel):
    model_config = ConfigDict(frozen=True)

    scheme_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    programme: Programme
    name: str = Field(min_length=1, max_length=200)
    lead_unit: Unit
    joint_units: list[Unit] = Field(default_factory=list, max_length=100)
    direction: Direction = Direction.OTHER
    other_industry: str | None = Field(default=None, max_length=100, description="named when the direction is other")

    @model_validator(mode="after")
    def _industry_named(self) -> ServiceScheme:
        if self.programme is Programme.HEBEI and self.direction is Direction.OTHER and not self.other_industry:
            raise ValueError("Hebei's form names the industry when the direction is other")
        return self

    @property
    def units(self) -> list[Unit]:
        return [self.lead_unit, *self.joint_units]


class InformationSystem(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=200)
    critical_information_infrastructure: bool = False
    mlps_level: int = Field(ge=1, le=5)
    in_scope: bool


class HealthcareApplication(BaseModel):
    """Shanghai's healthcare pilot: a public medical institution applies with its joint applicants."""

    model_config = ConfigDict(frozen=True)

    application_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    project_name: str = Field(min_length=1, max_length=200)
    applicant: Unit
    joint_applicants: list[Unit] = Field(default_factory=list, max_length=100)
    systems: list[InformationSystem] = Field(min_length=1, max_length=500)


class PilotRules(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_joint_units: int = Field(default=10, ge=0)
    max_schemes_led: int = Field(default=5, gt=0)
    healthcare_max_projects_per_applicant: int = Field(default=2, gt=0)
    healthcare_max_joint_applicants: int = Field(default=5, ge=0)
    healthcare_min_mlps_level_in_scope: int = Field(default=3, ge=1, le=5)


class RuleViolation(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    message: str


def check_scheme(scheme: ServiceScheme, schemes_led_already: int, rules: PilotRules) -> list[RuleViolation]:
    """`schemes_led_already`: the lead unit's other schemes in this programme."""
    violations = []
    if len(scheme.joint_units) > rules.max_joint_units:
        violations.append(RuleViolation(
            rule="max_joint_units",
            message=f"{len(scheme.joint_units)} joint units; a scheme has at most {rules.max_joint_units}",
        ))
    if schemes_led_already + 1 > rules.max_schemes_led:
        violations.append(RuleViolation(
            rule="max_schemes_led",
            message=f"the lead unit already leads {schemes_led_already} schemes; a unit leads at most {rules.max_schemes_led}",
        ))
    if not any(unit.holds_insurance_licence for unit in scheme.units):
        violations.append(RuleViolation(
            rule="insurance_licence", message="no unit holds an insurance licence; at least one must",
        ))
    violations.extend(_repeated_units(scheme.units))
    return violations


def check_healthcare_application(
    application: HealthcareApplication, projects_already: int, rules: PilotRules
) -> list[RuleViolation]:
    """`projects_already`: the applicant's other healthcare projects."""
    violations = []
    if application.applicant.kind is not UnitKind.PUBLIC_MEDICAL_INSTITUTION:
        violations.append(RuleViolation(
            rule="public_medical_institution",
            message=f"the applicant is a {application.applicant.kind.value.replace('_', ' ')}; "
                    "applicants are public medical institutions",
        ))
    if projects_already + 1 > rules.healthcare_max_projects_per_applicant:
        violations.append(RuleViolation(
            rule="max_projects_per_applicant",
            message=f"the applicant already has {projects_already} projects; at most "
                    f"{rules.healthcare_max_projects_per_applicant} per applicant",
        ))
    if len(application.joint_applicants) > rules.healthcare_max_joint_applicants:
        violations.append(RuleViolation(
            rule="max_joint_applicants",
            message=f"{len(application.joint_applicants)} joint applicants; at most {rules.healthcare_max_joint_applicants}",
        ))
    for system in application.systems:
        required = system.critical_information_infrastructure or system.mlps_level >= rules.healthcare_min_mlps_level_in_scope
        if required and not system.in_scope:
            why = "critical information infrastructure" if system.critical_information_infrastructure else (
                f"MLPS level {system.mlps_level}")
            violations.append(RuleViolation(
                rule="systems_in_scope", message=f"system {system.name} ({why}) must be in scope",
            ))
    if not any(system.in_scope for system in application.systems):
        violations.append(RuleViolation(rule="systems_in_scope", message="no system is in scope"))
    violations.extend(_repeated_units([application.applicant, *application.joint_applicants]))
    return violations


def _repeated_units(units: list[Unit]) -> list[RuleViolation]:
    seen: set[str] = set()
    repeated: list[str] = []
    for unit in units:
        if unit.unified_social_credit_code in seen:
            repeated.append(unit.name)
        seen.add(unit.unified_social_credit_code)
    return [RuleViolation(rule="unit_repeated", message=f"{name} takes part twice") for name in repeated]


# -- Reporting deadlines ----------------------------------------------------------------------------


class ReportKind(StrEnum):
    PROGRESS = "progress"
    ANNUAL_SUMMARY = "annual_summary"


class PilotDeadline(BaseModel):
    model_config = ConfigDict(frozen=True)

    programme: Programme
    kind: ReportKind
    due: Day

    @property
    def key(self) -> str:
        return f"{self.programme.value}-{self.kind.value}-{self.due.isoformat()}"


# The annual summaries the 2024 notices ask for; later years are configuration.
DEFAULT_DEADLINES = (
    PilotDeadline(programme=Programme.NATIONAL, kind=ReportKind.ANNUAL_SUMMARY, due=date(2024, 11, 10)),
    PilotDeadline(programme=Programme.GUANGDONG, kind=ReportKind.ANNUAL_SUMMARY, due=date(2024, 11, 1)),
    PilotDeadline(programme=Programme.SHANGHAI, kind=ReportKind.ANNUAL_SUMMARY, due=date(2024, 10, 31)),
)
DEFAULT_REMINDER_DAYS = (30, 7, 1)


def reminder_dates(deadline: PilotDeadline, lead_days: tuple[int, ...] = DEFAULT_REMINDER_DAYS) -> list[tuple[int, date]]:
    """(days before, date) for each reminder, earliest first."""
    return sorted(((days, deadline.due - timedelta(days=days)) for days in set(lead_days)), key=lambda r: r[1])
