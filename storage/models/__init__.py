"""SQLAlchemy models of every table; the migrations in storage/migrations create the same schema."""

from storage.models.api_access import ApiGrantRow, ApiKeyRow, ApiRequestRow, WebhookSecretRow
from storage.models.audit import AuditLogRow
from storage.models.base import Base
from storage.models.claims import (
    ClaimPhaseRow,
    ClaimRow,
    LossItemRow,
    LossStatementRow,
    PayoutRow,
    SubrogationRow,
)
from storage.models.findings import (
    FindingBatchRow,
    FindingResolutionRow,
    FindingRow,
    IncidentEscalationRow,
)
from storage.models.incidents import (
    EvidenceCustodyRow,
    EvidenceRow,
    ForensicsReportRow,
    IncidentEventRow,
    IncidentRow,
)
from storage.models.notifications import (
    DeliveryAttemptRow,
    DeliveryRow,
    EmailRecipientRow,
    EndpointSecretRow,
    PartyEventRow,
    WebhookEndpointRow,
)
from storage.models.outbox import OutboxNotificationRow
from storage.models.pilot import HealthcareApplicationRow, PilotDeadlineRow, PilotSchemeRow
from storage.models.policies import (
    POLICY_NUMBER_SEQUENCE,
    CancellationRow,
    CoverageHeadRow,
    EndorsementRow,
    PolicyPhaseRow,
    PolicyRow,
)
from storage.models.qualifications import (
    IntentFormRow,
    QualificationEventRow,
    QualificationProofRow,
    QualificationRow,
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
    "ApiGrantRow",
    "ApiKeyRow",
    "ApiRequestRow",
    "ApplicationRow",
    "AssessmentRow",
    "AuditLogRow",
    "Base",
    "CancellationRow",
    "ClaimPhaseRow",
    "ClaimRow",
    "CoverageHeadRow",
    "DeliveryAttemptRow",
    "DeliveryRow",
    "EmailRecipientRow",
    "EndorsementRow",
    "EndpointSecretRow",
    "EvidenceCustodyRow",
    "EvidenceRow",
    "FindingBatchRow",
    "FindingResolutionRow",
    "FindingRow",
    "ForensicsReportRow",
    "HealthcareApplicationRow",
    "IncidentEscalationRow",
    "IncidentEventRow",
    "IncidentRow",
    "IntentFormRow",
    "LossItemRow",
    "LossStatementRow",
    "OrganisationRow",
    "OutboxNotificationRow",
    "PartyEventRow",
    "PayoutRow",
    "PilotDeadlineRow",
    "PilotSchemeRow",
    "PolicyPhaseRow",
    "PolicyRow",
    "QualificationEventRow",
    "QualificationProofRow",
    "QualificationRow",
    "QuoteRow",
    "SubrogationRow",
    "UnderwritingDecisionRow",
    "WebhookEndpointRow",
    "WebhookSecretRow",
]
