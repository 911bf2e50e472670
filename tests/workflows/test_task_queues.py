"""Task queues by kind of work (contracts/queues.py): a worker serves the kinds it is given, the
external queue is rate-limited for all workers together, and a workflow's database activities wait
for a worker of the database queue rather than running on the workflows' own."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from contracts.queues import WorkQueue
from settings import Settings
from storage.models import ApplicationRow
from tests.faults.claims import until
from tests.workflows.support import start_policy
from worker import build_worker


async def test_a_worker_serves_the_queues_it_is_given_and_limits_the_external_rate(dev_client, session_factory, task_queue):
    every = build_worker(dev_client, session_factory, task_queue, external_per_second=2.5)
    assert every.task_queues == [task_queue, f"{task_queue}-database", f"{task_queue}-external", f"{task_queue}-delivery"]
    external = every.workers[2].config()
    assert external["max_task_queue_activities_per_second"] == 2.5
    assert [a.__name__ for a in external["activities"]] == ["pay"]
    assert "pay" not in [a.__name__ for a in every.workers[1].config()["activities"]]
    # Webhooks and e-mails are not held to the payment service's rate.
    delivery = every.workers[3].config()
    assert sorted(a.__name__ for a in delivery["activities"]) == ["attempt_webhook", "send_email"]
    assert delivery.get("max_task_queue_activities_per_second") is None

    # Another queue: the SDK allows one worker per queue and task type in a process, and `every`
    # holds these until it is shut down.
    other = f"{task_queue}-b"
    only_database = build_worker(dev_client, session_factory, other, queues=frozenset({WorkQueue.DATABASE}))
    assert only_database.task_queues == [f"{other}-database"]
    assert not only_database.workers[0].config().get("workflows")
    with pytest.raises(ValueError, match="at least one"):
        build_worker(dev_client, session_factory, task_queue, queues=frozenset())


async def test_database_activities_wait_for_a_database_worker_then_run(dev_client, session_factory, task_queue):
    workflows_only = build_worker(dev_client, session_factory, task_queue, queues=frozenset({WorkQueue.WORKFLOW}))
    async with workflows_only:
        handle = await start_policy(dev_client, task_queue)
        policy_id = handle.id.removeprefix("policy-")

        async def pending() -> list[tuple[str, int]]:
            described = (await handle.describe()).raw_description.pending_activities
            return [(p.activity_type.name, p.attempt) for p in described]

        await until(pending, lambda now: now == [("record_application", 1)], seconds=15, what="the activity pending")
        assert await _applications(session_factory, policy_id) == 0  # scheduled, and nobody has taken it

        async with build_worker(dev_client, session_factory, task_queue, queues=frozenset({WorkQueue.DATABASE})):
            await until(lambda: _applications(session_factory, policy_id), lambda rows: rows == 1, seconds=15,
                        what="the application recorded")
            await until(pending, lambda now: "record_application" not in dict(now), seconds=15, what="nothing pending")
    await handle.terminate("test over")


async def _applications(session_factory, policy_id: str) -> int:
    async with session_factory() as session:
        return await session.scalar(select(func.count()).select_from(ApplicationRow).where(ApplicationRow.policy_id == policy_id))


def test_the_worker_queues_setting_names_what_it_accepts(monkeypatch):
    monkeypatch.setenv("CYBERINS_WORKER_QUEUES", "workflow, database,workflow")
    assert Settings().worker_queues == "workflow,database"
    monkeypatch.setenv("CYBERINS_WORKER_QUEUES", "workflows,db")
    with pytest.raises(ValidationError, match="workflow, database, external"):
        Settings()
