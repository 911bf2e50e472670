"""SQLAlchemy models of every table; the migrations in storage/migrations create the same schema."""

from storage.models.base import Base
from storage.models.findings import (
    FindingResolutionRow,
    FindingRow,
    IncidentEscalationRow,
)
from storage.models.outbox import OutboxNotificationRow
from storage.models.policies import (
    POLICY_NUMBER_SEQUENCE,
    CancellationRow,
    CoverageHeadRow,
    EndorsementRow,
    PolicyPhaseRow,
    PolicyRow,
)
from storage.models.underwriting import (
    ApplicationRow,
    AssessmentRow,
    OrganisationRow,
    QuoteRow,
    UnderwritingDecisionRow,
)

__all__ = [
    "POLICY_NUMBER_SEQUENCE",
    "ApplicationRow",
    "AssessmentRow",
    "Base",
    "CancellationRow",
    "CoverageHeadRow",
    "EndorsementRow",
    "FindingResolutionRow",
    "FindingRow",
    "IncidentEscalationRow",
    "OrganisationRow",
    "OutboxNotificationRow",
    "PolicyPhaseRow",
    "PolicyRow",
    "QuoteRow",
    "UnderwritingDecisionRow",
]
