"""Starting the workflows from outside (the API, the CLI): ids, conflict rules and summaries.

Client-side code: nothing here runs inside a workflow. Summaries name ids, industries and grades,
never an organisation's name, credit code or a reporter's reference.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from contracts.claim import ClaimStatus, ClaimWorkflowInput, claim_workflow_id
from contracts.incident import (
    IncidentRules,
    IncidentStatus,
    IncidentWorkflowInput,
    incident_id_for,
    incident_workflow_id,
)
from contracts.incident_activities import IncidentReport
from contracts.policy import PolicyOutcome, PolicyWorkflowInput, policy_workflow_id
from contracts.qualification import (
    QualificationStatus,
    QualificationWorkflowInput,
    qualification_id_for,
    qualification_workflow_id,
)
from domain.incident import check_discovery
from domain.pilot import PilotDeadline
from domain.qualification import QualificationApplication, QualificationRules
from workflows.pilot_deadline import PilotDeadlineInput, PilotDeadlineStatus, pilot_deadline_workflow_id


async def start_policy(client: Client, task_queue: str, workflow_input: PolicyWorkflowInput) -> WorkflowHandle:
    """Raises WorkflowAlreadyStartedError when the policy id was ever used: an id names one policy for ever."""
    industry = workflow_input.application.organisation.industry.value
    return await client.start_workflow(
        "PolicyWorkflow",
        workflow_input,
        id=policy_workflow_id(workflow_input.policy_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        result_type=PolicyOutcome,
        static_summary=f"Policy {workflow_input.policy_id}",
        static_details=(
            f"Cyber insurance policy for an organisation in {industry}; "
            f"assessing vendor {workflow_input.application.assessing_vendor_id}."
        ),
    )


async def report_incident(
    client: Client, task_queue: str, report: IncidentReport, rules: IncidentRules | None = None
) -> tuple[str, WorkflowHandle]:
    """(incident id, handle). The same policy and reference always lead to one workflow, new or existing.

    Raises DomainRuleError, starting nothing, for a discovery that cannot have happened yet: the
    workflow would refuse it by its own clock (workflows/incident.py), after the caller had left."""
    check_discovery(report.discovered_at, datetime.now(UTC))
    incident_id = incident_id_for(report.policy_id, report.reference)
    handle = await client.start_workflow(
        "IncidentWorkflow",
        IncidentWorkflowInput(incident_id=incident_id, report=report, rules=rules or IncidentRules()),
        id=incident_workflow_id(incident_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        result_type=IncidentStatus,
        static_summary=f"Incident on policy {report.policy_id}: {report.grade.value}, {report.category.value}",
    )
    return incident_id, handle


async def start_claim(client: Client, task_queue: str, workflow_input: ClaimWorkflowInput) -> WorkflowHandle:
    """Raises WorkflowAlreadyStartedError when the claim id was ever used."""
    return await client.start_workflow(
        "ClaimWorkflow",
        workflow_input,
        id=claim_workflow_id(workflow_input.claim_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        result_type=ClaimStatus,
        static_summary=f"Claim {workflow_input.claim_id} ({workflow_input.claimant.value}) "
        f"for incident {workflow_input.incident_id}",
    )


async def apply_for_qualification(
    client: Client, task_queue: str, application: QualificationApplication, reference: str,
    rules: QualificationRules | None = None,
) -> tuple[str, WorkflowHandle]:
    """(qualification id, handle). The same provider and reference always lead to one workflow."""
    qualification_id = qualification_id_for(application.provider_id, reference)
    handle = await client.start_workflow(
        "QualificationWorkflow",
        QualificationWorkflowInput(
            qualification_id=qualification_id, application=application, rules=rules or QualificationRules()
        ),
        id=qualification_workflow_id(qualification_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        result_type=QualificationStatus,
        static_summary=f"Platform qualification of provider {application.provider_id} "
        f"by {application.proof_path.value.replace('_', ' ')}",
    )
    return qualification_id, handle


async def track_pilot_deadline(client: Client, task_queue: str, deadline: PilotDeadline) -> WorkflowHandle:
    """One workflow per programme, report and due date: tracking it again finds the same one."""
    return await client.start_workflow(
        "PilotDeadlineWorkflow",
        PilotDeadlineInput(deadline=deadline),
        id=pilot_deadline_workflow_id(deadline),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        result_type=PilotDeadlineStatus,
        static_summary=f"Pilot {deadline.kind.value.replace('_', ' ')} for {deadline.programme.value}, "
        f"due {deadline.due.isoformat()}",
    )
