"""Findings the API stored: the policy workflow gets only their batch ids and records them once."""

from contracts.policy import StoredBatch, StoredFindings
from domain.findings import MonitoringFinding, Severity
from storage.repositories.finding_batches import IncomingBatch
from storage.unit_of_work import UnitOfWork
from tests.builders import assessment, monitoring_finding
from tests.workflows.support import bind, eventually, running_worker, scalar, start_policy
from workflows.policy import PolicyWorkflow


async def stored(session_factory, policy_id: str, *findings: MonitoringFinding) -> StoredBatch:
    batch = IncomingBatch.of(policy_id, "vendor-a", list(findings))
    async with UnitOfWork(session_factory) as uow:
        await uow.finding_batches.store([batch])
    return StoredBatch(batch_id=batch.batch_id, findings=batch.finding_count)


async def test_stored_batches_are_recorded_once_and_an_unassigned_vendors_are_ignored(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        await bind(handle, assessment())
        policy_id = handle.id.removeprefix("policy-")
        first = await stored(session_factory, policy_id, monitoring_finding("ev-1"), monitoring_finding("ev-2", Severity.CRITICAL))
        again = await stored(session_factory, policy_id, monitoring_finding("ev-2"), monitoring_finding("ev-3"))
        stranger = await stored(session_factory, policy_id, monitoring_finding("ev-4"))

        await handle.signal(PolicyWorkflow.findings_stored, StoredFindings(vendor_id="vendor-a", batches=[first, again]))
        await handle.signal(PolicyWorkflow.findings_stored, StoredFindings(vendor_id="vendor-other", batches=[stranger]))

        current = await eventually(handle, lambda s: s.pending_findings == 0 and s.findings_ignored == 1)
        assert current.findings.total == 3
        assert current.findings.open_by_severity == {Severity.HIGH: 2, Severity.CRITICAL: 1}
        count = "SELECT count(*) FROM findings WHERE policy_id = :p"
        assert await scalar(session_factory, count, p=policy_id) == 3
        recorded = "SELECT count(*) FROM finding_batches WHERE policy_id = :p AND recorded_at IS NOT NULL"
        assert await scalar(session_factory, recorded, p=policy_id) == 2  # the stranger's batch is left as sent
