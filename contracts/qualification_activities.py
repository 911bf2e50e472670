"""One typed model in and one out for every qualification activity."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.parties import Party
from domain.boundaries import Instant
from domain.qualification import (
    MlpsCertificate,
    PolicyProofs,
    QualificationApplication,
    QualificationPhase,
    QualificationRules,
    Verification,
)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


class QualificationEventKind(StrEnum):
    APPLIED = "applied"
    PLATFORM_CONTACT_DUE = "platform_contact_due"
    PLATFORM_CONTACT_REMINDED = "platform_contact_reminded"
    PLATFORM_CONTACT_ESCALATED = "platform_contact_escalated"
    PLATFORM_CONTACTED = "platform_contacted"
    APPROVED = "approved"
    REJECTED = "rejected"
    INTENT_FORM_SENT = "intent_form_sent"
    INSURER_CONTACT_DUE = "insurer_contact_due"
    INSURER_CONTACT_REMINDED = "insurer_contact_reminded"
    INSURER_CONTACT_ESCALATED = "insurer_contact_escalated"
    INSURER_CONTACTED = "insurer_contacted"
    PROOFS_REFUSED = "proofs_refused"
    QUALIFIED = "qualified"
    RENEWAL_REMINDED = "renewal_reminded"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"


class RecordQualification(_Message):
    qualification_id: str
    application: QualificationApplication
    at: Instant


class RecordQualificationEvent(_Message):
    """A timeline entry, and the phase it leaves the qualification in, in one transaction."""

    qualification_id: str
    event_key: str
    kind: QualificationEventKind
    at: Instant
    actor: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    phase: QualificationPhase
    policy_id: str | None = None
    qualified_until: Instant | None = None


class IssueIntentForm(_Message):
    qualification_id: str
    application: QualificationApplication
    at: Instant


class IntentForm(_Message):
    intent_id: str
    insurer_id: str | None


class CheckPolicyProofs(_Message):
    qualification_id: str
    submission: int
    application: QualificationApplication
    proofs: PolicyProofs
    rules: QualificationRules
    at: Instant
    qualified_until: Instant | None = None  # renewal proofs may name a term that starts when this ends


class PolicyProofsChecked(_Message):
    verification: Verification
    policy_id: str | None


class RecordCertificate(_Message):
    qualification_id: str
    submission: int
    certificate: MlpsCertificate
    verification: Verification
    at: Instant


class RecheckPolicy(_Message):
    qualification_id: str
    application: QualificationApplication
    policy_number: str
    rules: QualificationRules
    at: Instant


class QualificationNotice(_Message):
    qualification_id: str
    kind: str
    recipient: Party
    recipient_id: str | None = None
    key: str = ""
    payload: dict[str, str | int | bool | None] = Field(default_factory=dict)
