"""Repositories read and write rows inside a unit of work; none of them commits."""

from storage.repositories.api_access import ApiAccessRepository, StoredAnswer, StoredKey
from storage.repositories.claims import ClaimRepository, PayoutRepository
from storage.repositories.finding_summary import FindingSummaryQuery
from storage.repositories.findings import DueFinding, EscalatedFinding, FindingRepository, NewFinding
from storage.repositories.incidents import CoverQuery, CustodyEntry, IncidentRepository, Operator
from storage.repositories.outbox import OutboxEntry, OutboxRepository
from storage.repositories.policies import PolicyRepository, bound_policy_from_row
from storage.repositories.pre_cover import PreCoverRepository

__all__ = [
    "ApiAccessRepository",
    "ClaimRepository",
    "CoverQuery",
    "CustodyEntry",
    "DueFinding",
    "EscalatedFinding",
    "FindingRepository",
    "FindingSummaryQuery",
    "IncidentRepository",
    "NewFinding",
    "Operator",
    "OutboxEntry",
    "OutboxRepository",
    "PayoutRepository",
    "PolicyRepository",
    "PreCoverRepository",
    "StoredAnswer",
    "StoredKey",
    "bound_policy_from_row",
]
