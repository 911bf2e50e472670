"""Business days on China's working calendar (docs/domain.md), on the published 2026 schedule."""

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from calendars.china import CalendarFileError, published_calendar, read_calendar_file
from domain.errors import DomainRuleError
from domain.working_calendar import WorkingCalendar, business_deadline, working_days_between

CST = timezone(timedelta(hours=8))
CALENDAR = published_calendar()


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=CST)


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # An ordinary week: Tuesday afternoon, one working day → the end of Wednesday.
        (datetime(2026, 3, 10, 15, tzinfo=CST), 1, date(2026, 3, 11)),
        # Friday → Monday.
        (datetime(2026, 3, 13, 15, tzinfo=CST), 1, date(2026, 3, 16)),
        # A Saturday application counts from the next working day.
        (datetime(2026, 3, 14, 10, tzinfo=CST), 1, date(2026, 3, 16)),
        # The eve of National Day: 1–7 October off, Saturday 10 October worked (调休).
        (datetime(2026, 9, 30, 15, tzinfo=CST), 1, date(2026, 10, 8)),
        (datetime(2026, 9, 30, 15, tzinfo=CST), 3, date(2026, 10, 10)),
        # Spring Festival 2026: Saturday 14 February is a working day, 15–23 February are off.
        (datetime(2026, 2, 13, 15, tzinfo=CST), 1, date(2026, 2, 14)),
        (datetime(2026, 2, 13, 15, tzinfo=CST), 2, date(2026, 2, 24)),
        # 23:30 UTC on 12 March is already 13 March (Friday) in Beijing.
        (datetime(2026, 3, 12, 23, 30, tzinfo=timezone.utc), 1, date(2026, 3, 16)),
    ],
)
def test_deadlines_follow_holidays_and_adjusted_workdays(start, days, due):
    deadline = business_deadline(CALENDAR, start, days)
    assert deadline.due == end_of(due)
    assert not deadline.provisional


def test_a_year_without_a_published_schedule_is_counted_monday_to_friday_and_said_to_be_provisional():
    deadline = business_deadline(CALENDAR, datetime(CALENDAR.last_year, 12, 31, 10, tzinfo=CST), 3)
    assert deadline.provisional
    expected = business_deadline(
        WorkingCalendar(first_year=1900, last_year=1900), datetime(CALENDAR.last_year, 12, 31, 10, tzinfo=CST), 3
    )
    assert deadline.due == expected.due


def test_an_operators_file_adds_a_year_and_wins_over_the_package(tmp_path):
    year = CALENDAR.last_year + 1
    new_year = date(year, 1, 4)  # whatever weekday, declared a holiday here
    worked = next(date(year, 1, d) for d in range(1, 15) if date(year, 1, d).weekday() == 5)
    path = tmp_path / "calendar.json"
    path.write_text(
        f'{{"first_year": {year}, "last_year": {year}, "holidays": ["{new_year}"], '
        f'"adjusted_workdays": ["{worked}"]}}'
    )
    merged = CALENDAR.merged(read_calendar_file(path))
    assert merged.last_year == year and merged.first_year == CALENDAR.first_year
    assert not merged.is_working_day(new_year) and merged.is_working_day(worked)
    assert not merged.is_working_day(date(2026, 10, 1))  # the package's years are kept
    assert not business_deadline(merged, datetime(year, 3, 2, 10, tzinfo=CST), 1).provisional


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{", "not JSON"),
        ('{"first_year": 2027}', "last_year"),
        ('{"first_year": 2027, "last_year": 2027, "holidays": ["2027-02-30"]}', "holidays"),
        ('{"first_year": 2027, "last_year": 2027, "holidays": ["2027-01-01"], "adjusted_workdays": ["2027-01-01"]}',
         "both a holiday and an adjusted workday"),
    ],
)
def test_a_bad_calendar_file_is_refused_saying_what_is_wrong(tmp_path, content, says):
    path = tmp_path / "calendar.json"
    path.write_text(content)
    with pytest.raises(CalendarFileError, match=says):
        read_calendar_file(path)


def test_a_missing_calendar_file_is_named(tmp_path):
    with pytest.raises(CalendarFileError, match="no such calendar file"):
        read_calendar_file(tmp_path / "missing.json")


@pytest.mark.parametrize("days", [0, -1, 401])
def test_a_deadline_needs_a_sensible_number_of_days(days):
    with pytest.raises(DomainRuleError):
        business_deadline(CALENDAR, datetime(2026, 3, 10, tzinfo=CST), days)


def test_a_deadline_needs_a_time_zone():
    with pytest.raises(DomainRuleError, match="time zone"):
        business_deadline(CALENDAR, datetime(2026, 3, 10), 1)


def test_inconsistent_years_are_refused():
    with pytest.raises(ValidationError, match="first_year is after last_year"):
        WorkingCalendar(first_year=2027, last_year=2026)


@given(
    start=st.datetimes(min_value=datetime(2010, 1, 1), max_value=datetime(2026, 10, 1), timezones=st.just(CST)),
    days=st.integers(min_value=1, max_value=30),
)
def test_a_deadline_ends_a_working_day_exactly_the_asked_number_of_working_days_later(start, days):
    deadline = business_deadline(CALENDAR, start, days)
    last_day = (deadline.due - timedelta(days=1)).date()
    assert CALENDAR.is_working_day(last_day)
    assert working_days_between(CALENDAR, start.date(), last_day) == days
