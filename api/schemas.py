"""Request and response bodies of the API that are not the workflows' own messages.

Where a workflow message names the acting party (a vendor id, who cancels), the API fills it in from
the caller's key instead of trusting the body.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from contracts.incident import ProgressKind
from domain.application import PolicyApplication
from domain.boundaries import PartyId, PastInstant
from domain.findings import MonitoringFinding, Resolution
from domain.incident import IncidentCategory, IncidentGrade

ObjectId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="an id this service made, e.g. pol-3f2a9c41b7d0")]
MAX_BATCH_FINDINGS = 50_000


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PolicyApplicationRequest(_Body):
    insurer_id: PartyId = Field(description="the insurer applied to; it underwrites and sees the policy")
    application: PolicyApplication


class Created(_Body):
    id: str
    workflow_id: str
    temporal_ui: str | None = None


class PageOfIds(_Body):
    items: list[str]
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last page")


class FindingResolutionBody(_Body):
    resolution: Resolution
    note: str | None = Field(default=None, max_length=2000)


class FixVerificationBody(_Body):
    fix_confirmed: bool


class PrebindRemediationBody(_Body):
    code: str = Field(min_length=1, max_length=64)


class CancellationBody(_Body):
    reason: str = Field(min_length=1, max_length=2000)


class PolicyFinding(MonitoringFinding):
    policy_id: ObjectId


class FindingsBatch(_Body):
    findings: list[PolicyFinding] = Field(min_length=1, max_length=MAX_BATCH_FINDINGS)


class DeliveredGroup(_Body):
    policy_id: str
    findings: int
    signals: int


class FindingsAccepted(_Body):
    findings: int
    policies: int
    signals: int
    delivered: list[DeliveredGroup]


class IncidentReportBody(_Body):
    policy_id: ObjectId
    reference: str = Field(min_length=1, max_length=128, description="your own id for it: the same reference is the same incident")
    discovered_at: PastInstant
    grade: IncidentGrade
    category: IncidentCategory
    summary: str = Field(min_length=1, max_length=2000, description="what happened; no personal data")
    affected_systems: list[str] = Field(default_factory=list, max_length=200)
    region: str | None = Field(default=None, max_length=64)


class ProgressBody(_Body):
    event_id: str = Field(min_length=1, max_length=128)
    kind: ProgressKind
    at: PastInstant
    note: str | None = Field(default=None, max_length=2000)


class Accepted(_Body):
    accepted: bool = True
    detail: str


class ClaimRequest(_Body):
    incident_id: ObjectId
    third_party: str | None = Field(default=None, max_length=200, description="for a liability claim; no personal data")


class HistoryEvent(_Body):
    event_id: int
    at: PastInstant
    event: str
    name: str | None = Field(default=None, description="the signal, update, activity or timer concerned")


class History(_Body):
    workflow_id: str
    events: list[HistoryEvent]
    truncated: bool
