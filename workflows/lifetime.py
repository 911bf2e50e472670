"""When a workflow run ends: the one rule for continue-as-new, and waiting until nothing is in flight.

Every entity workflow continues as new on the same rule, with its own limits, and only when quiet:
no update or signal handler still running and no activity it started still out (a handler's reply
or an activity's result must not be lost to the new run).
"""

from __future__ import annotations

from typing import Protocol

from temporalio import workflow


class _InFlight(Protocol):
    in_flight: int


def run_is_long(
    *, messages_this_run: int = 0, messages_per_run: int | None = None, history_events_per_run: int | None = None
) -> bool:
    """Temporal suggests a new run, or this run took its share of messages or history events."""
    info = workflow.info()
    if messages_per_run is not None and messages_this_run >= messages_per_run:
        return True
    if info.is_continue_as_new_suggested():
        return True
    return history_events_per_run is not None and info.get_current_history_length() > history_events_per_run


def quiet(gateway: _InFlight) -> bool:
    return workflow.all_handlers_finished() and gateway.in_flight == 0


async def until_quiet(gateway: _InFlight) -> None:
    """Before completing or continuing as new: every handler finished, every activity back."""
    await workflow.wait_condition(lambda: quiet(gateway))
