"""Activity inputs built on the shared documents in tests/builders.py."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from activities.messages import ReceivedFinding, RecordFindings
from domain.application import PolicyApplication
from domain.findings import MonitoringFinding, Severity
from domain.policy import Quote
from domain.rating import UnderwritingResult, underwrite
from domain.rules import PolicyRules, RemediationRules
from tests import builders as documents
from tests.builders import assessment

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)

__all__ = ["DAY", "T0", "application", "assessment", "finding", "policy_id", "quote", "record_findings"]


def policy_id() -> str:
    return f"policy-{uuid.uuid4().hex[:12]}"


def application(
    credit_code: str = documents.VALID_USCC, name: str = "上海示例信息技术有限公司"
) -> PolicyApplication:
    return documents.application(
        organisation=documents.organisation(name=name, unified_social_credit_code=credit_code)
    )


def underwriting_result() -> UnderwritingResult:
    return underwrite(application(), assessment(), PolicyRules(), term_start=date(2026, 3, 1))


def quote(term_number: int = 1, quote_id: str | None = None) -> Quote:
    result = underwriting_result()
    assert result.schedule is not None
    return Quote(
        quote_id=quote_id or f"quote-{uuid.uuid4().hex[:8]}",
        term_number=term_number,
        premium=result.premium,
        schedule=result.schedule,
        risk_score=result.risk_score,
        issued_at=T0,
        expires_at=T0 + 30 * DAY,
    )


def finding(
    event_id: str,
    severity: Severity = Severity.HIGH,
    *,
    active_compromise: bool = False,
    asset: str | None = None,
) -> MonitoringFinding:
    found = documents.monitoring_finding(
        event_id, severity, active_compromise=active_compromise, observed_at=T0 - timedelta(hours=1)
    )
    return found if asset is None else found.model_copy(update={"asset": asset})


def record_findings(
    policy: str, findings: list[MonitoringFinding], *, received_at: datetime = T0, term_number: int = 1
) -> RecordFindings:
    return RecordFindings(
        policy_id=policy,
        term_number=term_number,
        findings=[ReceivedFinding(finding=f, received_at=received_at) for f in findings],
        rules=RemediationRules(),
    )
