"""A pilot report deadline, time-skipped: reminders 30, 7 and 1 days before, overdue after the due
day, a late filing recorded as late."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from domain.pilot import PilotDeadline, Programme, ReportKind
from domain.policy import local_date
from tests.patience import patience
from tests.workflows.support import running_worker, scalar
from workflows.pilot_deadline import PilotDeadlineWorkflow, ReportFiled
from workflows.starting import track_pilot_deadline


async def outbox(session_factory, key: str) -> list[str]:
    async with session_factory() as session:
        from sqlalchemy import text

        rows = await session.execute(
            text("SELECT kind FROM notification_outbox WHERE dedupe_key LIKE :k ORDER BY id"), {"k": f"pilot:{key}:%"}
        )
        return [kind for (kind,) in rows]


async def until(read, done, seconds: float = 30):
    for _ in range(int(patience(seconds) / 0.05)):
        value = await read()
        if done(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached; last {value}")


async def test_a_report_filed_between_reminders_is_on_time(time_skipping_env, session_factory, task_queue):
    env = time_skipping_env
    async with running_worker(env.client, session_factory, task_queue):
        today = local_date((await env.get_current_time()))
        deadline = PilotDeadline(programme=Programme.GUANGDONG, kind=ReportKind.ANNUAL_SUMMARY,
                                 due=today + timedelta(days=40))
        handle = await track_pilot_deadline(env.client, task_queue, deadline)
        again = await track_pilot_deadline(env.client, task_queue, deadline)
        assert again.result_run_id == handle.result_run_id

        await env.sleep(timedelta(days=35))  # past the 30-day and 7-day reminders
        status = await until(lambda: handle.query(PilotDeadlineWorkflow.status), lambda s: s.reminders_sent == 2)
        assert not status.overdue
        filed = await handle.execute_update(PilotDeadlineWorkflow.file_report, ReportFiled(reference="GD-2026-07"))
        assert filed.filed_reference == "GD-2026-07" and not filed.overdue
        final = await handle.result()  # filed: the workflow is done
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await handle.execute_update(PilotDeadlineWorkflow.file_report, ReportFiled(reference="again"))
        assert final.reminders_sent == 2 and not final.overdue
        assert await outbox(session_factory, deadline.key) == ["pilot_report_reminder", "pilot_report_reminder"]
        row = await scalar(session_factory, "SELECT filed_reference FROM pilot_deadlines WHERE deadline_key = :k",
                           k=deadline.key)
        assert row == "GD-2026-07"


async def test_a_report_not_filed_by_the_due_day_is_overdue_and_a_late_filing_stays_late(
    time_skipping_env, session_factory, task_queue
):
    env = time_skipping_env
    async with running_worker(env.client, session_factory, task_queue):
        today = local_date((await env.get_current_time()))
        deadline = PilotDeadline(programme=Programme.NATIONAL, kind=ReportKind.PROGRESS, due=today + timedelta(days=10))
        handle = await track_pilot_deadline(env.client, task_queue, deadline)
        await env.sleep(timedelta(days=12))
        status = await until(lambda: handle.query(PilotDeadlineWorkflow.status), lambda s: s.overdue)
        assert status.reminders_sent == 2  # 30 days before had passed when tracking began
        await until(lambda: outbox(session_factory, deadline.key), lambda kinds: "pilot_report_overdue" in kinds)
        late = await handle.execute_update(PilotDeadlineWorkflow.file_report, ReportFiled(reference="MIIT-late"))
        assert late.overdue and late.filed_at is not None
        (await handle.result())
        overdue, reference = (await scalar(
            session_factory, "SELECT array[overdue::text, filed_reference] FROM pilot_deadlines WHERE deadline_key = :k",
            k=deadline.key,
        ))
        assert (overdue, reference) == ("true", "MIIT-late")
