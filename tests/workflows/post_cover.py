"""Reporting incidents and running claims in tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from contracts.claim import ClaimWorkflowInput, claim_workflow_id
from contracts.incident import IncidentRules, IncidentWorkflowInput, incident_id_for, incident_workflow_id
from contracts.incident_activities import IncidentReport
from contracts.parties import Party
from domain.claim import ClaimantKind, ClaimRules
from domain.incident import IncidentCategory, IncidentGrade
from workflows.claim import ClaimWorkflow
from workflows.incident import IncidentWorkflow


def incident_report(
    policy_id: str,
    discovered_at: datetime,
    *,
    grade: IncidentGrade = IncidentGrade.SIGNIFICANT,
    category: IncidentCategory = IncidentCategory.MALICIOUS_PROGRAM,
    reference: str = "ticket-1",
) -> IncidentReport:
    return IncidentReport(
        policy_id=policy_id, reported_by=Party.INSURED, reporter_id="insured-it", reference=reference,
        discovered_at=discovered_at, grade=grade, category=category, summary="file servers encrypted",
        affected_systems=["MES"],
    )


async def report_incident(
    client: Client, task_queue: str, report: IncidentReport, rules: IncidentRules | None = None
) -> WorkflowHandle:
    incident_id = incident_id_for(report.policy_id, report.reference)
    return await client.start_workflow(
        IncidentWorkflow.run,
        IncidentWorkflowInput(incident_id=incident_id, report=report, rules=rules or IncidentRules()),
        id=incident_workflow_id(incident_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def start_claim(
    client: Client,
    task_queue: str,
    incident_id: str,
    *,
    claimant: ClaimantKind = ClaimantKind.FIRST_PARTY,
    rules: ClaimRules | None = None,
    third_party: str | None = None,
) -> WorkflowHandle:
    claim_id = f"clm-{uuid.uuid4().hex[:12]}"
    return await client.start_workflow(
        ClaimWorkflow.run,
        ClaimWorkflowInput(
            claim_id=claim_id, incident_id=incident_id, claimant=claimant, third_party=third_party,
            rules=rules or ClaimRules(),
        ),
        id=claim_workflow_id(claim_id),
        task_queue=task_queue,
    )


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
