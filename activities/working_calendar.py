"""Deadlines in working days on China's calendar, counted outside workflow code: a newer holiday
schedule must not change a deadline a running workflow has already set."""

from __future__ import annotations


from domain.boundaries import Instant
from pydantic import BaseModel, ConfigDict
from temporalio import activity
from temporalio.exceptions import ApplicationError

from calendars.china import configured_calendar
from domain.errors import DomainRuleError
from domain.working_calendar import BusinessDeadline, business_deadline


class WorkingDeadlineRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: Instant
    working_days: int


class CalendarActivities:
    @activity.defn
    async def working_deadline(self, request: WorkingDeadlineRequest) -> BusinessDeadline:
        try:
            return business_deadline(configured_calendar(), request.start, request.working_days)
        except DomainRuleError as error:
            raise ApplicationError(error.message, type=error.code, non_retryable=True) from None
