"""What an operator sees in the Temporal UI: search attributes to filter on, details in words."""

import asyncio

from temporalio.api.sdk.v1 import WorkflowMetadata

from tests.builders import assessment
from tests.workflows.post_cover import incident_report, report_incident, start_claim
from tests.workflows.support import bind, eventually, running_worker, start_policy
from workflows.incident import IncidentWorkflow


async def visible(client, query: str, count: int) -> list:
    """Visibility is eventually consistent: wait (bounded) until `count` workflows match."""
    for _ in range(100):
        found = [w async for w in client.list_workflows(query)]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{query!r} matched {len(found)} workflows, expected {count}")


async def test_operators_find_a_policys_workflows_by_state_and_read_what_they_do(
    dev_client, session_factory, task_queue
):
    async with running_worker(dev_client, session_factory, task_queue):
        policy = await start_policy(dev_client, task_queue)
        bound = await bind(policy, assessment())
        policy_id = policy.id.removeprefix("policy-")

        in_force = await visible(
            dev_client, f"CyberinsPolicyId = '{policy_id}' AND CyberinsPolicyPhase = 'in_force' "
            "AND CyberinsIndustry = 'industrial_internet' AND CyberinsTermNumber = 1", 1
        )
        assert in_force[0].id == policy.id
        metadata = await policy.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert metadata.current_details.startswith("In force, term 1")

        incident = await report_incident(dev_client, task_queue, incident_report(policy_id, bound.term_start))
        await eventually(incident, lambda s: s.covered is not None, query=IncidentWorkflow.status)
        await start_claim(dev_client, task_queue, incident.id.removeprefix("incident-"))
        everything = await visible(dev_client, f"CyberinsPolicyId = '{policy_id}'", 3)
        assert {w.workflow_type for w in everything} == {"PolicyWorkflow", "IncidentWorkflow", "ClaimWorkflow"}
        graded = await visible(
            dev_client, f"CyberinsPolicyId = '{policy_id}' AND CyberinsIncidentGrade = 'significant' "
            "AND CyberinsReportOverdue = false", 1
        )
        assert graded[0].id == incident.id
        await visible(dev_client, f"CyberinsPolicyId = '{policy_id}' AND CyberinsClaimPhase = 'gathering_loss'", 1)
        # Nothing personal in what operators filter on: the organisation's name is not searchable.
        assert not [w async for w in dev_client.list_workflows("CyberinsPolicyId = 'Test Manufacturing Co'")]
