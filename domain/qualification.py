"""Platform qualification by insurance (docs/domain.md): an open platform's service provider proves
its security with a cyber liability policy instead of an MLPS level-2 certificate.

    apply (choosing the policy) → platform contact within 1 working day → approval → intent form
    (意向单) to the insurer → insurer contact within 3 working days → underwriting and binding (the
    policy workflow; the platform takes no part) → four proofs → verified against the bound policy
    → qualified, until the policy ends, lapses or is cancelled (suspended) or is renewed.

The MLPS certificate path is the recorded alternative: the certificate is checked instead.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.application import UnifiedSocialCreditCode
from domain.boundaries import Day, Instant, PastDay
from domain.coverage import LIABILITY_HEADS, CoverageHead
from domain.money import Money
from domain.policy import PolicyPhase, local_date


class ProofPath(StrEnum):
    CYBER_LIABILITY_POLICY = "cyber_liability_policy"  # 网络安全责任保险
    MLPS_CERTIFICATE = "mlps_certificate"  # 等保二级测评证书


class QualificationPhase(StrEnum):
    PLATFORM_REVIEW = "platform_review"  # applied; the platform contacts and decides
    INSURER_CONTACT = "insurer_contact"  # intent form sent; the insurer contacts the provider
    AWAITING_PROOFS = "awaiting_proofs"  # underwriting and binding, then the proofs
    QUALIFIED = "qualified"
    SUSPENDED = "suspended"  # the proof lapsed; new proofs restore the qualification
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def is_terminal(self) -> bool:
        return self in (QualificationPhase.REJECTED, QualificationPhase.WITHDRAWN)


class QualificationRules(BaseModel):
    """Service levels from the platform's notice; the figures are configuration."""

    model_config = ConfigDict(frozen=True)

    platform_contact_working_days: int = Field(default=1, gt=0)
    insurer_contact_working_days: int = Field(default=3, gt=0)
    reminder_lead_minutes: int = Field(default=4 * 60, ge=0, description="reminder this long before a contact is due")
    renewal_reminder_days: tuple[int, ...] = Field(default=(60, 30, 7), description="days before the proof expires")
    policy_check_minutes: int = Field(default=24 * 60, gt=0, description="how often a qualifying policy is rechecked")
    history_events_per_run: int = Field(
        default=5_000, ge=50, description="continue as new past this many events (years of daily rechecks)"
    )
    mlps_minimum_level: int = Field(default=2, ge=1, le=5)
    mlps_retest_years: int = Field(default=2, gt=0)
    liability_heads: frozenset[CoverageHead] = Field(default=LIABILITY_HEADS)

    @field_validator("renewal_reminder_days")
    @classmethod
    def _descending(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if any(day <= 0 for day in days):
            raise ValueError("renewal reminders are whole days before expiry, above zero")
        return tuple(sorted(set(days), reverse=True))


class QualificationApplication(BaseModel):
    """What a provider submits on the platform (an existing provider too, from its console)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    unified_social_credit_code: UnifiedSocialCreditCode
    proof_path: ProofPath = ProofPath.CYBER_LIABILITY_POLICY
    insurer_id: str | None = Field(default=None, min_length=1, max_length=64, description="the insurer chosen")
    requested_limit: Money | None = None
    existing_provider: bool = False


class Document(BaseModel):
    """A file the provider uploaded elsewhere, named by its digest so that it cannot be swapped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    document_id: str = Field(min_length=1, max_length=128)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(gt=0, le=1 << 30)


class PolicyProofs(BaseModel):
    """The four proofs: policy number, the insurer's enterprise inquiry form (企业问询单), the system
    assessment report (系统测评报告) and the policy document."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_number: str = Field(min_length=1, max_length=32)
    inquiry_form: Document
    assessment_report: Document
    policy_document: Document


class MlpsCertificate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    certificate_number: str = Field(min_length=1, max_length=64)
    system_name: str = Field(min_length=1, max_length=200)
    level: int = Field(ge=1, le=5)
    issued_on: PastDay
    valid_until: Day


class PolicyFacts(BaseModel):
    """What the service's own records say about the policy a provider names."""

    model_config = ConfigDict(frozen=True)

    policy_number: str
    found: bool
    policy_id: str | None = None
    insured_credit_code: str | None = None
    insurer_id: str | None = None
    phase: PolicyPhase | None = None
    term_number: int | None = None
    term_start: Instant | None = None
    term_end: Instant | None = None
    heads: frozenset[CoverageHead] = frozenset()
    cancelled: bool = False


class ProofProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    message: str


class Verification(BaseModel):
    model_config = ConfigDict(frozen=True)

    problems: list[ProofProblem] = Field(default_factory=list)
    valid_until: Instant | None = None

    @property
    def passed(self) -> bool:
        return not self.problems


def verify_policy_proofs(
    proofs: PolicyProofs, facts: PolicyFacts, application: QualificationApplication, now: datetime,
    rules: QualificationRules, *, qualified_until: datetime | None = None,
) -> Verification:
    """The proofs against the bound policy; every problem is named, not just the first.

    A qualified provider renews ahead of time: the renewed term may start in the future, as long
    as it starts by the time the current qualification ends, so that there is no gap.
    """
    problems: list[ProofProblem] = []

    def problem(code: str, message: str) -> None:
        problems.append(ProofProblem(code=code, message=message))

    if not facts.found:
        problem("policy_not_found", f"no policy numbered {proofs.policy_number} is bound in this service")
        return Verification(problems=problems)
    if facts.insured_credit_code != application.unified_social_credit_code:
        problem("policy_insures_another", "the policy's insured is not this provider (credit codes differ)")
    if application.insurer_id and facts.insurer_id and facts.insurer_id != application.insurer_id:
        problem("policy_from_another_insurer", "the policy was issued by another insurer than the intent form's")
    if lapsed := _not_in_force(facts):
        problems.append(lapsed)
    elif facts.term_start is None or facts.term_end is None or now >= facts.term_end:
        problem("outside_term", "the policy's term has ended")
    elif facts.term_start > max(now, qualified_until or now):
        problem("term_not_started", "the policy's term has not started yet"
                + (" and would leave a gap after the current qualification" if qualified_until else ""))
    if not facts.heads & rules.liability_heads:
        problem("no_liability_cover", "the policy has no cyber liability head, so it is not a cyber liability policy")
    documents = [proofs.inquiry_form, proofs.assessment_report, proofs.policy_document]
    if len({document.sha256 for document in documents}) < len(documents):
        problem("documents_repeated", "the inquiry form, assessment report and policy document must be three files")
    return Verification(problems=problems, valid_until=facts.term_end if not problems else None)


def recheck_policy(facts: PolicyFacts) -> Verification:
    """A qualified provider's policy, checked again: only whether it is still in force counts."""
    if not facts.found:
        lapsed = ProofProblem(code="policy_not_in_force", message="the qualifying policy is no longer found")
        return Verification(problems=[lapsed])
    lapsed = _not_in_force(facts)
    return Verification(problems=[lapsed]) if lapsed else Verification(valid_until=facts.term_end)


def _not_in_force(facts: PolicyFacts) -> ProofProblem | None:
    if facts.cancelled or facts.phase is None or not facts.phase.is_covered:
        state = "cancelled" if facts.cancelled else (facts.phase.value if facts.phase else "unknown")
        return ProofProblem(code="policy_not_in_force", message=f"the policy is not in force (it is {state})")
    return None


def verify_mlps_certificate(certificate: MlpsCertificate, now: datetime, rules: QualificationRules) -> Verification:
    problems: list[ProofProblem] = []
    today = local_date(now)
    if certificate.level < rules.mlps_minimum_level:
        problems.append(ProofProblem(
            code="mlps_level_too_low", message=f"level {certificate.level} is below the required level {rules.mlps_minimum_level}",
        ))
    if certificate.valid_until < certificate.issued_on:
        problems.append(ProofProblem(code="mlps_dates", message="the certificate ends before it was issued"))
    elif certificate.valid_until > _years_after(certificate.issued_on, rules.mlps_retest_years):
        problems.append(ProofProblem(
            code="mlps_validity_too_long", message=f"a test result holds {rules.mlps_retest_years} years at most",
        ))
    if certificate.valid_until <= today:
        problems.append(ProofProblem(code="mlps_expired", message="the certificate has expired"))
    valid_until = None
    if not problems:
        valid_until = datetime.combine(certificate.valid_until + timedelta(days=1), datetime.min.time(), tzinfo=now.tzinfo)
    return Verification(problems=problems, valid_until=valid_until)


def renewal_reminders(valid_until: datetime, now: datetime, rules: QualificationRules) -> list[tuple[int, datetime]]:
    """(days before expiry, when) for each reminder still ahead."""
    return [
        (days, valid_until - timedelta(days=days))
        for days in rules.renewal_reminder_days
        if valid_until - timedelta(days=days) > now
    ]


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)
