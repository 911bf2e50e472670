"""What operators can filter on in the Temporal UI: ids and states, never personal data.

SQL visibility allows at most 10 Keyword and 3 of each other type per namespace; this uses
7 Keyword, 2 Int and 2 Bool. The dev stack and the tests register them; a production namespace
needs `temporal operator search-attribute create` once (see the README).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair

from workflows.patches import OPERATOR_SEARCH_ATTRIBUTES

POLICY_ID = SearchAttributeKey.for_keyword("CyberinsPolicyId")
POLICY_PHASE = SearchAttributeKey.for_keyword("CyberinsPolicyPhase")
INDUSTRY = SearchAttributeKey.for_keyword("CyberinsIndustry")
INCIDENT_GRADE = SearchAttributeKey.for_keyword("CyberinsIncidentGrade")
INCIDENT_CATEGORY = SearchAttributeKey.for_keyword("CyberinsIncidentCategory")
CLAIM_PHASE = SearchAttributeKey.for_keyword("CyberinsClaimPhase")
RISK_SCORE = SearchAttributeKey.for_int("CyberinsRiskScore")
TERM_NUMBER = SearchAttributeKey.for_int("CyberinsTermNumber")
# An incident whose report to the authorities is overdue and not yet filed (false again once filed).
REPORT_OVERDUE = SearchAttributeKey.for_bool("CyberinsReportOverdue")
# A qualification whose platform or insurer contact is past its service level and not yet made.
CONTACT_OVERDUE = SearchAttributeKey.for_bool("CyberinsContactOverdue")
QUALIFICATION_PHASE = SearchAttributeKey.for_keyword("CyberinsQualificationPhase")

ALL = [POLICY_ID, POLICY_PHASE, INDUSTRY, INCIDENT_GRADE, INCIDENT_CATEGORY, CLAIM_PHASE, RISK_SCORE, TERM_NUMBER,
       REPORT_OVERDUE, QUALIFICATION_PHASE, CONTACT_OVERDUE]


def type_name(key: SearchAttributeKey) -> str:
    """The type as the Temporal CLI and `temporal operator` spell it: Keyword, Int, Bool."""
    return key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_").capitalize()


def publish(*pairs: SearchAttributePair) -> None:
    """Upsert from workflow code. Histories recorded before search attributes existed replay without."""
    if workflow.patched(OPERATOR_SEARCH_ATTRIBUTES):
        workflow.upsert_search_attributes(list(pairs))


def show(details: str) -> None:
    """The UI's "current details": what the workflow is doing now, in words."""
    workflow.set_current_details(details)
