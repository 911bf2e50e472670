"""Cost per lifecycle: what one policy year and one claim to payout cost in Temporal terms.

Temporal bills and limits by history events and activity executions, so those are counted from the
workflows' own histories (every run of each, continue-as-new included), not estimated.
`tests/workflows/test_lifecycle_cost.py` compares them with the recorded baseline in
`bench/lifecycle_cost.json`, so a change that adds cost fails `make test` until it is re-recorded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory

BASELINE = Path(__file__).with_name("lifecycle_cost.json")

# The marker the core SDK (and so the Python SDK) records for each local activity's result.
LOCAL_ACTIVITY_MARKER = "core_local_activity"

COUNTERS = ("runs", "events", "activities", "local_activities", "timers", "signals", "updates")


@dataclass(frozen=True)
class WorkflowCost:
    """Summed over every run of every workflow of one type."""

    workflow_type: str
    runs: int
    events: int
    activities: int  # ActivityTaskScheduled: retries run under one schedule and are not counted again
    local_activities: int
    timers: int
    signals: int
    updates: int  # accepted ones: a rejected update leaves nothing in the history

    def __add__(self, other: WorkflowCost) -> WorkflowCost:
        return WorkflowCost(self.workflow_type, *(getattr(self, c) + getattr(other, c) for c in COUNTERS))


@dataclass(frozen=True)
class LifecycleCost:
    workflows: dict[str, WorkflowCost]  # by workflow type, so the keys do not change from run to run

    @property
    def total(self) -> WorkflowCost:
        return sum(self.workflows.values(), start=WorkflowCost("total", *(0 for _ in COUNTERS)))

    def to_json(self) -> str:
        # The total is written for whoever reads the file; from_json derives it again.
        document = {
            "workflows": {name: asdict(cost) for name, cost in self.workflows.items()},
            "total": asdict(self.total),
        }
        return json.dumps(document, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LifecycleCost:
        known = {f.name for f in fields(WorkflowCost)}
        workflows = json.loads(text)["workflows"]
        return cls({
            name: WorkflowCost(**{k: v for k, v in cost.items() if k in known}) for name, cost in workflows.items()
        })


async def measure_cost(client: Client, workflow_ids: list[str]) -> LifecycleCost:
    """Count the history of every run of each workflow; workflows of the same type are summed."""
    costs: dict[str, WorkflowCost] = {}
    for workflow_id in workflow_ids:
        cost = _cost_of_runs(await all_runs(client, workflow_id))
        previous = costs.get(cost.workflow_type)
        costs[cost.workflow_type] = cost if previous is None else previous + cost
    return LifecycleCost(dict(sorted(costs.items())))


async def all_runs(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """The latest run, then back run by run to the first, along each start's continued_execution_run_id.

    Not through visibility (list_workflows): the time-skipping test server does not answer it.
    """
    histories = [await client.get_workflow_handle(workflow_id).fetch_history()]
    seen: set[str] = set()
    while True:
        started = histories[-1].events[0].workflow_execution_started_event_attributes
        previous = started.continued_execution_run_id
        if not previous or previous in seen:
            return histories
        seen.add(previous)
        histories.append(await client.get_workflow_handle(workflow_id, run_id=previous).fetch_history())


def _cost_of_runs(histories: list[WorkflowHistory]) -> WorkflowCost:
    workflow_type = histories[0].events[0].workflow_execution_started_event_attributes.workflow_type.name
    events = [event for history in histories for event in history.events]

    def count(event_type: EventType.ValueType) -> int:
        return sum(1 for event in events if event.event_type == event_type)

    return WorkflowCost(
        workflow_type=workflow_type,
        runs=len(histories),
        events=len(events),
        activities=count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        local_activities=sum(1 for event in events if _is_local_activity(event)),
        timers=count(EventType.EVENT_TYPE_TIMER_STARTED),
        signals=count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
        updates=count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
    )


def _is_local_activity(event: HistoryEvent) -> bool:
    return (
        event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
    )


def cost_increases(
    baseline: LifecycleCost,
    measured: LifecycleCost,
    counters: tuple[str, ...] = ("events", "activities"),
    tolerance: dict[str, int] | None = None,
) -> list[str]:
    """One line per counter that grew beyond its tolerance, e.g. 'PolicyWorkflow.events: 196 -> 205'.

    `tolerance` is keyed like those lines ('PolicyWorkflow.events'); a counter not in it must not
    grow at all. A workflow type missing from the baseline is new cost, measured against zero.
    """
    tolerance = tolerance or {}
    grown = []
    for name, cost in measured.workflows.items():
        before = baseline.workflows.get(name)
        for counter in counters:
            old = getattr(before, counter) if before else 0
            new = getattr(cost, counter)
            allowed = tolerance.get(f"{name}.{counter}", 0)
            if new > old + allowed:
                slack = f" (more than the {allowed} allowed for scheduling noise)" if allowed else ""
                grown.append(f"{name}.{counter}: {old} -> {new}{slack}")
    return grown
