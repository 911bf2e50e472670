"""Monitoring signals into one policy on a real dev server, 6,000 in `make test` and 20,000 in
`make test-long`: continue-as-new, exact counts.

The vendor pushes in bursts (as a scanner does after each sweep). A continuous storm of single-
finding signals into one workflow cannot be rolled over by Temporal at all (the server fails a
continue-as-new while signals arrive), which is why one signal may carry thousands of findings.
"""

import asyncio

from contracts.policy import MonitoringBatch
from domain.findings import Severity
from tests.builders import assessment, monitoring_finding
from tests.scale import sized
from tests.workflows.support import bind, eventually, running_worker, scalar, start_policy
from workflows.policy import SIGNALS_PER_RUN, PolicyWorkflow

SIGNALS = sized(6_000, 20_000)
BURST = 1_000
REPEATED = sized(200, 500)  # vendors resend; the same event id must apply once
SEVERITIES = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.INFO]


def severity_of(index: int) -> Severity:
    return SEVERITIES[index % len(SEVERITIES)]


async def test_thousands_of_signals_continue_as_new_and_count_exactly(dev_client, session_factory, task_queue):
    async with running_worker(dev_client, session_factory, task_queue):
        handle = await start_policy(dev_client, task_queue)
        await bind(handle, assessment())
        policy_id = handle.id.removeprefix("policy-")
        distinct = SIGNALS - REPEATED
        indexes = list(range(distinct)) + list(range(REPEATED))

        async def send(chunk: list[int]) -> None:
            for i in chunk:
                finding = monitoring_finding(f"ev-{i}", severity_of(i))
                await handle.signal(PolicyWorkflow.report_findings, MonitoringBatch(vendor_id="vendor-a", findings=[finding]))

        for start in range(0, SIGNALS, BURST):
            burst = indexes[start : start + BURST]
            await asyncio.gather(*(send(burst[i::20]) for i in range(20)))
            written = len(set(indexes[: start + BURST]))
            await eventually(handle, lambda s: s.pending_findings == 0 and s.findings.total == written, seconds=120)

        final = await eventually(handle, lambda s: s.findings.total == distinct)
        assert final.runs >= SIGNALS // SIGNALS_PER_RUN, f"only {final.runs} runs for {SIGNALS} signals"
        assert final.findings_ignored == 0
        expected = {sev: sum(1 for i in range(distinct) if severity_of(i) is sev) for sev in SEVERITIES}
        assert final.findings.open_by_severity == expected
        stored = await scalar(session_factory, "SELECT count(*) FROM findings WHERE policy_id = :p", p=policy_id)
        assert stored == distinct

        runs = [r async for r in dev_client.list_workflows(f"WorkflowId = '{handle.id}'")]
        assert len(runs) >= 2
        assert all(r.history_length <= 10_240 for r in runs if r.history_length)
