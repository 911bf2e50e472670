"""One pilot programme report deadline (docs/domain.md, "The pilot programme"): reminders ahead of it, overdue after it,
closed when the report is filed.

    tracked → reminders (30, 7, 1 days before, 09:00 Beijing) → due (end of the day) → overdue
    → filed (on time or late) → done

The run and the filing take turns under one lock: each records the deadline's whole state, so a
reminder's record taken before a filing must not land after it.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from datetime import datetime, time, timedelta

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow

from domain.boundaries import Instant
from workflows.lifetime import turn, until_quiet
from workflows.patches import ONE_NOTIFICATION_PATH

with workflow.unsafe.imports_passed_through():
    from activities.pilot import PilotActivities, PilotNotice, RecordPilotDeadline, pilot_notification
    from activities.policy import PolicyActivities
    from domain.pilot import DEFAULT_REMINDER_DAYS, PilotDeadline, reminder_dates
    from domain.policy import CHINA_STANDARD_TIME
    from workflows.gateway import ActivityGateway, condition_or_deadline
    from workflows.search_attributes import show

# A report not filed this long after its due day is left to the operators; the workflow ends.
LATE_FILING_WINDOW = timedelta(days=180)


def pilot_deadline_workflow_id(deadline: PilotDeadline) -> str:
    return f"pilot-deadline-{deadline.key}"


class PilotDeadlineInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    deadline: PilotDeadline
    reminder_days: tuple[int, ...] = DEFAULT_REMINDER_DAYS


class ReportFiled(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reference: str = Field(min_length=1, max_length=128)


class PilotDeadlineStatus(BaseModel):
    deadline: PilotDeadline
    reminders_sent: int
    overdue: bool
    filed_at: Instant | None
    filed_reference: str | None


@workflow.defn(name="PilotDeadlineWorkflow")
class PilotDeadlineWorkflow:
    @workflow.init
    def __init__(self, input: PilotDeadlineInput) -> None:
        self.input = input
        self.deadline = input.deadline
        self.gateway = ActivityGateway(input.deadline.key)
        self.reminders_sent = 0
        self.overdue = False
        self.filed_at: datetime | None = None
        self.filed_reference: str | None = None
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, input: PilotDeadlineInput) -> PilotDeadlineStatus:
        async with self._turn():
            await self._record()
        filed = lambda: self.filed_at is not None
        for days, day in reminder_dates(self.deadline, input.reminder_days):
            at = datetime.combine(day, time(9), tzinfo=CHINA_STANDARD_TIME)
            if at <= workflow.now():
                continue
            show(f"{self.deadline.kind.value} for {self.deadline.programme.value} due {self.deadline.due}: "
                 f"next reminder {days} days before.")
            if await condition_or_deadline(filed, at, summary=f"reminder {days} days before"):
                break
            async with self._turn() as taking_turns:
                if taking_turns and filed():
                    break  # filed while the reminder waited for its turn
                self.reminders_sent += 1
                await self._notify("pilot_report_reminder", str(days), days_before=days)
                await self._record()
        due = datetime.combine(self.deadline.due + timedelta(days=1), time(0), tzinfo=CHINA_STANDARD_TIME)
        if not await condition_or_deadline(filed, due, summary="report due"):
            async with self._turn() as taking_turns:
                if not (taking_turns and filed()):
                    self.overdue = True
                    show(f"The {self.deadline.kind.value} for {self.deadline.programme.value} is OVERDUE.")
                    await self._notify("pilot_report_overdue", "overdue")
                    await self._record()
            await condition_or_deadline(filed, due + LATE_FILING_WINDOW, summary="late filing window")
        await until_quiet(self.gateway)
        return self.status()

    @workflow.update
    async def file_report(self, filing: ReportFiled) -> PilotDeadlineStatus:
        async with self._turn(filing):
            self.filed_at, self.filed_reference = workflow.now(), filing.reference
            await self._record()
        return self.status()

    @file_report.validator
    def _validate_filing(self, filing: ReportFiled) -> None:
        if self.filed_at is not None:
            raise ValueError(f"already filed as {self.filed_reference}")

    @workflow.query
    def status(self) -> PilotDeadlineStatus:
        return PilotDeadlineStatus(
            deadline=self.deadline, reminders_sent=self.reminders_sent, overdue=self.overdue,
            filed_at=self.filed_at, filed_reference=self.filed_reference,
        )

    def _turn(self, filing: ReportFiled | None = None) -> AbstractAsyncContextManager[bool]:
        """Hold the deadline's lock (`lifetime.turn`); a filing that waited for its turn is checked again."""
        return turn(self.lock, recheck=None if filing is None else self._validate_filing, message=(filing,))

    async def _record(self) -> None:
        """Bookkeeping: a state the database refuses is logged, and the deadline is kept regardless."""
        await self.gateway.record(
            PilotActivities.record_pilot_deadline,
            RecordPilotDeadline(deadline=self.deadline, reminders_sent=self.reminders_sent, overdue=self.overdue,
                                filed_at=self.filed_at, filed_reference=self.filed_reference, at=workflow.now()),
            summary="record the deadline",
        )

    async def _notify(self, kind: str, key: str, *, days_before: int | None = None) -> None:
        notice = PilotNotice(deadline=self.deadline, kind=kind, key=key, days_before=days_before)
        summary = f"notify operators: {kind}"
        # Histories from before the one notification path keep replaying through their own activity.
        if not workflow.patched(ONE_NOTIFICATION_PATH):
            await self.gateway.record(PilotActivities.notify_pilot, notice, summary=summary)
            return
        notification = pilot_notification(notice).model_copy(update={"at": workflow.now()})
        await self.gateway.record(PolicyActivities.enqueue_notification, notification, summary=summary)
