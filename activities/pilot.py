"""Pilot programme I/O: the deadline's row and the reminders to the service's operators."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from temporalio import activity

from activities.log_context import activity_log
from activities.notifying import Notifier
from contracts.parties import Notification, Party
from domain.boundaries import Instant
from domain.pilot import PilotDeadline
from storage.unit_of_work import UnitOfWork


class RecordPilotDeadline(BaseModel):
    """The deadline's state now; written whole, so a retry or a later write leaves the latest."""

    model_config = ConfigDict(frozen=True)

    deadline: PilotDeadline
    reminders_sent: int
    overdue: bool
    filed_at: Instant | None = None
    filed_reference: str | None = None
    at: Instant


class PilotNotice(BaseModel):
    model_config = ConfigDict(frozen=True)

    deadline: PilotDeadline
    kind: str
    key: str
    days_before: int | None = None


class PilotActivities:
    def __init__(self, sessions, notifier: Notifier | None = None) -> None:
        self._sessions = sessions
        self._notifier = notifier or Notifier(None, "")

    @activity.defn
    async def record_pilot_deadline(self, command: RecordPilotDeadline) -> None:
        deadline = command.deadline
        async with UnitOfWork(self._sessions) as uow:
            await uow.pilot.save_deadline({
                "deadline_key": deadline.key, "programme": deadline.programme.value,
                "kind": deadline.kind.value, "due_on": deadline.due,
                "reminders_sent": command.reminders_sent, "overdue": command.overdue,
                "filed_at": command.filed_at, "filed_reference": command.filed_reference,
                "updated_at": command.at,
            })
        activity_log(deadline=deadline.key).info("pilot deadline recorded", overdue=command.overdue)

    @activity.defn
    async def notify_pilot(self, notice: PilotNotice) -> None:
        """Kept for histories and tasks from before the one notification path: it goes the same way."""
        async with UnitOfWork(self._sessions) as uow:
            started = await self._notifier.emit(uow, [pilot_notification(notice)])
        await self._notifier.deliver(started)
        activity_log(deadline=notice.deadline.key).info("notification enqueued", kind=notice.kind)


def pilot_notification(notice: PilotNotice) -> Notification:
    """The operators hear of the pilot's own reporting deadlines."""
    payload = {"programme": notice.deadline.programme.value, "report": notice.deadline.kind.value,
               "due": notice.deadline.due.isoformat(), "days_before": notice.days_before}
    return Notification(
        dedupe_key=f"pilot:{notice.deadline.key}:{notice.kind}:{notice.key}", recipient=Party.OPERATOR,
        kind=notice.kind, payload=payload, subject="pilot_deadline", subject_id=notice.deadline.key,
    )
