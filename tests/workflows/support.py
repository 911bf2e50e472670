"""Starting, driving and watching policy workflows in tests."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from typing import Callable

from sqlalchemy import text
from temporalio.client import Client, WorkflowHandle

from contracts.policy import (
    AssessmentSubmission,
    PolicyStatus,
    PolicyWorkflowInput,
    QuoteAcceptance,
    policy_workflow_id,
)
from domain.application import PolicyApplication
from domain.rules import PolicyRules
from tests.builders import application
from tests.patience import patience
from worker import build_worker
from workflows.policy import PolicyWorkflow


@asynccontextmanager
async def running_worker(client: Client, session_factory, task_queue: str):
    async with build_worker(client, session_factory, task_queue):
        yield


async def start_policy(
    client: Client, task_queue: str, *, app: PolicyApplication | None = None, rules: PolicyRules | None = None
) -> WorkflowHandle:
    policy_id = f"pol-{uuid.uuid4().hex[:12]}"
    return await client.start_workflow(
        PolicyWorkflow.run,
        PolicyWorkflowInput(policy_id=policy_id, application=app or application(), rules=rules or PolicyRules()),
        id=policy_workflow_id(policy_id),
        task_queue=task_queue,
    )


async def status(handle: WorkflowHandle) -> PolicyStatus:
    return await handle.query(PolicyWorkflow.status)


async def eventually(handle: WorkflowHandle, check: Callable, *, seconds: float = 30, query=None):
    """Poll a status query (the policy's unless given) until `check` holds; fail with the last status seen."""
    deadline = asyncio.get_running_loop().time() + patience(seconds)
    while True:
        current = await handle.query(query or PolicyWorkflow.status)
        if check(current):
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached; last status: {current.model_dump_json(indent=1)}")
        await asyncio.sleep(0.05)


async def bind(handle: WorkflowHandle, report) -> PolicyStatus:
    """Assessment in, quote accepted; returns the in-force status."""
    await handle.execute_update(PolicyWorkflow.submit_assessment, AssessmentSubmission(report=report))
    quoted = await eventually(handle, lambda s: s.quote is not None)
    await handle.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=quoted.quote.quote_id))
    return await eventually(handle, lambda s: s.phase.value == "in_force")


async def outbox_kinds(session_factory, policy_id: str) -> list[str]:
    async with session_factory() as session:
        rows = await session.execute(
            text("SELECT kind FROM notification_outbox WHERE policy_id = :p ORDER BY id"), {"p": policy_id}
        )
        return [r[0] for r in rows]


async def scalar(session_factory, sql: str, **params):
    async with session_factory() as session:
        return (await session.execute(text(sql), params)).scalar_one()


async def until_notified(
    session_factory, policy_id: str, kind: str, *, times: int = 1, seconds: float = 30
) -> list[str]:
    """Wait until `times` notifications of `kind` are in the outbox; returns all kinds so far."""
    deadline = asyncio.get_running_loop().time() + patience(seconds)
    while True:
        kinds = await outbox_kinds(session_factory, policy_id)
        if kinds.count(kind) >= times:
            return kinds
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {kind} notification; outbox has {kinds}")
        await asyncio.sleep(0.05)
