"""Malformed messages sent straight to Temporal are refused or dropped; the policy is unharmed."""

import pytest
from temporalio.client import WorkflowUpdateFailedError

from contracts.policy import MonitoringBatch
from tests.builders import assessment, monitoring_finding
from tests.workflows.support import bind, eventually, running_worker, start_policy, status
from workflows.policy import PolicyWorkflow


async def test_a_malformed_update_is_refused_and_a_malformed_signal_dropped(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await bind(handle, assessment())
        await handle.signal(
            PolicyWorkflow.report_findings, MonitoringBatch(vendor_id="vendor-a", findings=[monitoring_finding("ok-1")])
        )
        before = await eventually(handle, lambda s: s.findings.total == 1)

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("resolve_finding", {"vendor_event_id": "ok-1", "resolution": "shrugged"})
        # The boundary converter refuses it as invalid input, naming the field and the allowed values.
        cause = refused.value.cause
        assert cause.type == "InvalidInput" and cause.non_retryable
        assert "resolution" in cause.message and "fixed" in cause.message

        await handle.signal("report_findings", {"vendor_id": "vendor-a", "findings": [{"severity": "apocalyptic"}]})
        await handle.signal("findings_stored", {"vendor_id": "vendor-a", "batches": [{"batch_id": "", "findings": 0}]})
        await handle.signal(
            PolicyWorkflow.report_findings, MonitoringBatch(vendor_id="vendor-a", findings=[monitoring_finding("ok-2")])
        )
        after = await eventually(handle, lambda s: s.findings.total == 2)
        assert after.phase == before.phase and after.findings_ignored == 0
        assert (await status(handle)).phase.value == "in_force"
