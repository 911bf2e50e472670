"""How a workflow run lives and ends: turns under its one lock, the one rule for continue-as-new,
and waiting until nothing is in flight.

Handlers and a run's background work that await while changing the state take turns (`turn`): one
lock, and a message that waited for its turn checks again what its validator checked, refused as
`changed_meanwhile` if that no longer holds.

Every entity workflow continues as new on the same rule, with its own limits, and only when quiet:
no update or signal handler still running and no activity it started still out (a handler's reply
or an activity's result must not be lost to the new run).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.patches import MESSAGES_IN_TURN

# A message its validator accepted, refused when its turn came: the state changed meanwhile.
CHANGED_MEANWHILE = "changed_meanwhile"


@asynccontextmanager
async def turn(
    lock: asyncio.Lock,
    *,
    recheck: Callable[..., None] | None = None,
    message: tuple[object, ...] = (),
    patch: str = MESSAGES_IN_TURN,
) -> AsyncIterator[bool]:
    """Hold `lock` for a change that awaits; yields whether turns are taken. Histories recorded before
    `patch` let handlers interleave and replay that way (`workflow.patched` is asked once per turn,
    before the lock). A message accepted while another held the lock is checked again by its
    validator, `recheck(*message)`, once it has the lock; a ValueError refuses it for good."""
    if not workflow.patched(patch):
        yield False
        return
    async with lock:
        if recheck is not None:
            try:
                recheck(*message)
            except ValueError as err:
                raise ApplicationError(f"no longer accepted: {err}", type=CHANGED_MEANWHILE,
                                       non_retryable=True) from None
        yield True


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
