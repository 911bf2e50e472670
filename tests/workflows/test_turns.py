"""Turns under a workflow's one lock (`workflows.lifetime.turn`): messages act one after another, in
the order they came, and one its validator accepted is refused once its turn comes if what the
validator checked no longer holds."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.patience import patience
from workflows.lifetime import CHANGED_MEANWHILE, turn
from workflows.patches import MESSAGES_IN_TURN


@workflow.defn(name="TurnsUnderTest")
class Counter:
    """A counter that can be closed; `hold` keeps the turn until `release`."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.closed = False
        self.released = False
        self.applied: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.closed and workflow.all_handlers_finished())
        return self.applied

    @workflow.update
    async def hold(self) -> bool:
        async with turn(self.lock) as taking_turns:
            await workflow.wait_condition(lambda: self.released)
            self.applied.append("held")
            return taking_turns

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.update
    async def add(self, name: str) -> None:
        async with turn(self.lock, recheck=self._validate_add, message=(name,)):
            await workflow.sleep(0)  # a change that awaits
            self.applied.append(name)

    @add.validator
    def _validate_add(self, name: str) -> None:
        if self.closed:
            raise ValueError("the counter is closed")

    @workflow.update
    async def close(self) -> None:
        async with turn(self.lock):
            self.closed = True
            self.applied.append("closed")

    @workflow.query
    def holding(self) -> bool:
        return self.lock.locked()


async def until(check, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + patience(30)
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached: {what}")
        await asyncio.sleep(0.05)


async def test_messages_take_turns_in_order_and_one_overtaken_is_refused_as_changed_meanwhile(
    time_skipping_env, task_queue
):
    client = time_skipping_env.client
    worker = Worker(client, task_queue=task_queue, workflows=[Counter], workflow_runner=UnsandboxedWorkflowRunner())
    async with worker:
        handle = await client.start_workflow(Counter.run, id=f"turns-{uuid.uuid4().hex[:8]}", task_queue=task_queue)
        held = await handle.start_update(Counter.hold, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        await until(lambda: handle.query(Counter.holding), "the turn held")

        first = await handle.start_update(Counter.add, "first", wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        closing = await handle.start_update(Counter.close, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        late = await handle.start_update(Counter.add, "late", wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        await handle.signal(Counter.release)

        assert await held.result() is True
        await first.result()
        await closing.result()
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await late.result()
        cause = refused.value.cause
        assert cause.type == CHANGED_MEANWHILE and cause.non_retryable
        assert "the counter is closed" in cause.message
        assert await handle.result() == ["held", "first", "closed"]

        # One patch marker for the whole run, however many turns were taken.
        history = await handle.fetch_history()
        markers = [e.marker_recorded_event_attributes for e in history.events
                   if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
        patch_markers = [m for m in markers if any(MESSAGES_IN_TURN.encode() in p.data
                                                   for details in m.details.values() for p in details.payloads)]
        assert len(patch_markers) == 1
