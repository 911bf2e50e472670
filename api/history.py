"""A workflow's history as a party may read it: what happened and when, never a payload."""

from __future__ import annotations

from datetime import timezone

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent as TemporalEvent
from temporalio.client import Client

from api.schemas import History, HistoryEvent
from api.temporal_calls import temporal_errors

# Workflow tasks are the engine's own bookkeeping: nothing a party acts on.
_HIDDEN = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
}


def _name(event: TemporalEvent) -> str | None:
    kind = event.event_type
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        return event.workflow_execution_signaled_event_attributes.signal_name
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        return event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
    if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return event.activity_task_scheduled_event_attributes.activity_type.name
    if kind == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        return event.start_child_workflow_execution_initiated_event_attributes.workflow_type.name
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        return event.workflow_execution_started_event_attributes.workflow_type.name
    return None


async def read_history(client: Client, workflow_id: str, *, what: str, limit: int) -> History:
    """The current run's events in order, at most `limit` of them."""
    handle = client.get_workflow_handle(workflow_id)
    events: list[HistoryEvent] = []
    truncated = False
    async with temporal_errors(what):
        async for event in handle.fetch_history_events():
            if event.event_type in _HIDDEN:
                continue
            if len(events) == limit:
                truncated = True
                break
            events.append(
                HistoryEvent(
                    event_id=event.event_id,
                    at=event.event_time.ToDatetime().replace(tzinfo=timezone.utc),
                    event=EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower(),
                    name=_name(event),
                )
            )
    return History(workflow_id=workflow_id, events=events, truncated=truncated)
