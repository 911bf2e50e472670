"""Business days on the Chinese working calendar: weekends off, public holidays off, and the
adjusted workdays (调休) on which a weekend day is worked to bridge a holiday.

The State Council publishes each year's schedule late in the year before, so a calendar knows the
years it has data for. A deadline that falls in a year it does not know is counted Monday to Friday
and said to be provisional, so that an operator can load the new schedule rather than be surprised.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.boundaries import Instant
from domain.errors import DomainRuleError
from domain.policy import CHINA_STANDARD_TIME


class WorkingCalendar(BaseModel):
    model_config = ConfigDict(frozen=True)

    holidays: frozenset[date] = Field(default_factory=frozenset, description="days off, weekdays included")
    adjusted_workdays: frozenset[date] = Field(default_factory=frozenset, description="weekend days worked (调休)")
    first_year: int
    last_year: int

    @model_validator(mode="after")
    def _consistent(self) -> WorkingCalendar:
        if self.first_year > self.last_year:
            raise ValueError("first_year is after last_year")
        both = self.holidays & self.adjusted_workdays
        if both:
            raise ValueError(f"{min(both).isoformat()} is both a holiday and an adjusted workday")
        return self

    def knows(self, day: date) -> bool:
        return self.first_year <= day.year <= self.last_year

    def is_working_day(self, day: date) -> bool:
        if day in self.adjusted_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def merged(self, other: WorkingCalendar) -> WorkingCalendar:
        """This calendar with `other`'s years laid over it (an operator's newer schedule wins)."""
        def outside(days: frozenset[date]) -> frozenset[date]:
            return frozenset(d for d in days if not other.first_year <= d.year <= other.last_year)

        return WorkingCalendar(
            holidays=outside(self.holidays) | other.holidays,
            adjusted_workdays=outside(self.adjusted_workdays) | other.adjusted_workdays,
            first_year=min(self.first_year, other.first_year),
            last_year=max(self.last_year, other.last_year),
        )


class BusinessDeadline(BaseModel):
    model_config = ConfigDict(frozen=True)

    due: Instant
    working_days: int
    provisional: bool = Field(description="counted Monday to Friday through a year the calendar has no data for")


MAX_WORKING_DAYS = 400  # a deadline further out than this is a mistake, not a service level


def business_deadline(calendar: WorkingCalendar, start: datetime, working_days: int) -> BusinessDeadline:
    """The end (24:00 Beijing time) of the `working_days`-th working day after the day of `start`.

    "Contact within 1 business day" of a Friday-afternoon application is therefore due at the end
    of Monday, or of the first working day after a holiday; an application on a Saturday is due at
    the end of the next working day too.
    """
    if start.tzinfo is None:
        raise DomainRuleError("naive_time", "a deadline needs a start time with a time zone")
    if not 0 < working_days <= MAX_WORKING_DAYS:
        raise DomainRuleError("working_days", f"working days must be 1 to {MAX_WORKING_DAYS}")
    day, counted, provisional = start.astimezone(CHINA_STANDARD_TIME).date(), 0, False
    while counted < working_days:
        day += timedelta(days=1)
        provisional |= not calendar.knows(day)
        if calendar.is_working_day(day):
            counted += 1
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=CHINA_STANDARD_TIME)
    return BusinessDeadline(due=end_of_day, working_days=working_days, provisional=provisional)


def working_days_between(calendar: WorkingCalendar, start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when end is not after start)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += calendar.is_working_day(day)
    return count
