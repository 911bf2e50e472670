"""China's working calendar: the State Council's holiday schedules as packaged by `chinese-calendar`,
with an operator's file laid over them for a year the package does not know yet.

The file is JSON: {"first_year": 2027, "last_year": 2027, "holidays": ["2027-01-01", ...],
"adjusted_workdays": ["2027-02-06", ...]}; `CYBERINS_CALENDAR_FILE` names it.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import chinese_calendar.constants as published
from pydantic import ValidationError

from domain.working_calendar import WorkingCalendar

CALENDAR_FILE_VARIABLE = "CYBERINS_CALENDAR_FILE"


class CalendarFileError(ValueError):
    """The operator's calendar file cannot be used; says which file and why."""


def published_calendar() -> WorkingCalendar:
    years = [day.year for day in published.holidays]
    return WorkingCalendar(
        holidays=frozenset(published.holidays), adjusted_workdays=frozenset(published.workdays),
        first_year=min(years), last_year=max(years),
    )


def read_calendar_file(path: Path) -> WorkingCalendar:
    try:
        return WorkingCalendar.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise CalendarFileError(f"{path}: no such calendar file") from None
    except json.JSONDecodeError as error:
        raise CalendarFileError(f"{path}: not JSON ({error.msg}, line {error.lineno})") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise CalendarFileError(f"{path}: {where}: {first['msg']}") from None


@cache
def china_calendar(extra: str | None = None) -> WorkingCalendar:
    calendar = published_calendar()
    return calendar.merged(read_calendar_file(Path(extra))) if extra else calendar


def configured_calendar() -> WorkingCalendar:
    """The published calendar, with the operator's file over it when one is configured."""
    return china_calendar(os.environ.get(CALENDAR_FILE_VARIABLE) or None)
