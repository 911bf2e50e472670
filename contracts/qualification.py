"""The qualification workflow's contract: input, state, updates and query."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field

from domain.boundaries import Instant
from domain.qualification import (
    MlpsCertificate,
    PolicyProofs,
    ProofPath,
    ProofProblem,
    QualificationApplication,
    QualificationPhase,
    QualificationRules,
)


def qualification_id_for(provider_id: str, reference: str) -> str:
    """Deterministic, so an application sent again finds the same workflow; hashed, so nothing the
    provider typed appears in a workflow id."""
    digest = hashlib.sha256(f"{provider_id}\n{reference}".encode()).hexdigest()
    return f"qual-{digest[:20]}"


def qualification_workflow_id(qualification_id: str) -> str:
    return f"qualification-{qualification_id}"


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ContactDue(BaseModel):
    """One service level: who must make contact, by when, and what has happened."""

    due: Instant
    provisional: bool = False
    reminded: bool = False
    escalated: bool = False
    done_at: Instant | None = None


class QualificationState(BaseModel):
    """Everything the workflow carries through continue-as-new."""

    phase: QualificationPhase = QualificationPhase.PLATFORM_REVIEW
    applied_at: Instant | None = None
    platform_contact: ContactDue | None = None
    platform_decision_reason: str | None = None
    intent_id: str | None = None
    insurer_contact: ContactDue | None = None
    submissions: int = 0
    last_problems: list[ProofProblem] = Field(default_factory=list)
    policy_number: str | None = None
    policy_id: str | None = None
    qualified_until: Instant | None = None
    qualified_times: int = 0
    suspended_reason: str | None = None
    reminders_sent: list[str] = Field(default_factory=list, description="renewal reminders already sent, by key")
    recheck_requested: bool = False
    closing_reason: str | None = None


class QualificationWorkflowInput(_Message):
    qualification_id: str
    application: QualificationApplication
    rules: QualificationRules = Field(default_factory=QualificationRules)
    state: QualificationState | None = None  # carried over by continue-as-new


class PlatformContact(_Message):
    operator_id: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=2000)


class PlatformDecision(_Message):
    operator_id: str = Field(min_length=1, max_length=64)
    approve: bool
    reason: str = Field(min_length=1, max_length=2000)


class InsurerContact(_Message):
    insurer_id: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=2000)


class PolicyProofSubmission(_Message):
    proofs: PolicyProofs


class CertificateSubmission(_Message):
    certificate: MlpsCertificate


class Withdrawal(_Message):
    reason: str = Field(min_length=1, max_length=2000)


class QualificationStatus(BaseModel):
    qualification_id: str
    provider_id: str
    proof_path: ProofPath
    phase: QualificationPhase
    applied_at: Instant | None
    platform_contact: ContactDue | None
    intent_id: str | None
    insurer_contact: ContactDue | None
    submissions: int
    last_problems: list[ProofProblem]
    policy_number: str | None
    qualified_until: Instant | None
    suspended_reason: str | None
    closing_reason: str | None
