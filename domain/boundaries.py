"""What any message may hold, wherever it enters: the API, the CLI, or a signal or update sent
straight to Temporal. One set of rules, so that nothing accepted at one door is refused by
PostgreSQL or a calculation later, when no one is left to tell.

* Money: whole fen from 0 to `MAX_FEN` (¥10 trillion). Below 2**53, so a browser's JSON keeps it
  exact, and 9,000 such amounts still sum inside PostgreSQL's bigint.
* Any integer anywhere: within ±(2**53 − 1). Any number: finite.
* Text anywhere (keys too): no NUL (PostgreSQL text cannot hold it) and no other control character
  but tab, line feed and carriage return; no lone surrogate (not encodable as UTF-8); at most
  `MAX_TEXT` characters. A message for a workflow is at most `MAX_MESSAGE_BYTES` of JSON.
* Party ids (`PartyId`): the shape of the keys' party ids, checked before they reach a column.
* Times: ISO 8601 strings with a time zone (days: ISO dates), from `EARLIEST` to `LATEST`; never a bare number, which
  would silently be read as seconds since 1970. A time the sender says has happened (`PastInstant`)
  may lie at most `CLOCK_SKEW` ahead of the receiver's clock: the API checks it against the wall
  clock, a workflow against `workflow.now()`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, ValidationError, WithJsonSchema

MAX_FEN = 10**15
MAX_INTEGER = 2**53 - 1
MAX_TEXT = 10_000  # characters in any one text; a field's own limit is usually far lower
MAX_MESSAGE_BYTES = 256 * 1024  # a message for a workflow: well inside Temporal's 2 MB payload limit
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)

FORBIDDEN_CHARACTERS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
TEXT_PATTERN = f"^[^{FORBIDDEN_CHARACTERS}]*$"  # for schemas; `first_breach` is what enforces it
_FORBIDDEN = re.compile(f"[{FORBIDDEN_CHARACTERS}]|[\ud800-\udfff]")
_EPOCH_LIKE = re.compile(r"^\s*[+-]?\d+(\.\d*)?\s*$")


def _describe_character(match: re.Match[str]) -> str:
    character = match.group()
    if character == "\x00":
        return "the NUL character (U+0000)"
    if "\ud800" <= character <= "\udfff":
        return "a lone surrogate (not UTF-8)"
    return f"the control character U+{ord(character):04X}"


def first_breach(value: Any, where: str = "") -> tuple[str, str] | None:
    """The first place in a decoded JSON value that no message may hold, and why; None if none.

    `where` prefixes the location, e.g. "body" gives "body.findings[3].title".
    """
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            found = _FORBIDDEN.search(item)
            if found:
                return path or "value", f"text may not contain {_describe_character(found)}"
            if len(item) > MAX_TEXT:
                return path or "value", f"text may be at most {MAX_TEXT} characters"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not -MAX_INTEGER <= item <= MAX_INTEGER:
                return path or "value", f"numbers must lie within ±{MAX_INTEGER} (2**53 − 1)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return path or "value", "numbers must be finite"
            if abs(item) > MAX_INTEGER:
                return path or "value", f"numbers must lie within ±{MAX_INTEGER} (2**53 − 1)"
        elif isinstance(item, dict):
            for key, member in reversed(list(item.items())):
                key_text = str(key)
                found = _FORBIDDEN.search(key_text)
                if found:  # the place is the object: the name itself is not fit to be repeated
                    return path or "value", f"a member name may not contain {_describe_character(found)}"
                stack.append((f"{path}.{key_text}" if path else key_text, member))
        elif isinstance(item, (list, tuple)):
            stack.extend((f"{path}[{index}]", member) for index, member in reversed(list(enumerate(item))))
    return None


# Only a JSON text with a control character, a lone surrogate, a long run of digits or an exponent can
# break a rule above, so a cheap look at the bytes spares parsing and walking the rest. A match inside
# ordinary text (say an escaped backslash) costs a walk, never a wrong refusal.
_SUSPECT_JSON = re.compile(
    rb"[\x00-\x1f\x7f]|\\[bf]|\\u00[01][0-9a-fA-F]|\\u007[fF]|\\u[dD][89abAB]|\d{16,}|\d[eE][+-]?\d|NaN|Infinity"
)


def breach_in_json(raw: bytes, where: str = "") -> tuple[str, str] | None:
    """`first_breach` of a JSON text; None for a text that is not JSON (its reader says so)."""
    if len(raw) <= MAX_TEXT and not _SUSPECT_JSON.search(raw):
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested past what a parser follows
        return None
    return first_breach(value, where)


def describe_invalid(error: ValidationError, *, limit: int = 5) -> str:
    """`field.path: what is wrong` for the first few errors of a model, never the values refused."""
    details = error.errors(include_url=False, include_input=False, include_context=False)
    parts = [
        f"{'.'.join(str(part) for part in detail.get('loc', ())) or 'value'}: "
        + str(detail.get("msg", "invalid")).removeprefix("Value error, ")
        for detail in details[:limit]
    ]
    more = len(details) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


# -- Times ------------------------------------------------------------------------------------------

_wall_clock: ContextVar[Callable[[], datetime] | None] = ContextVar("boundary_wall_clock", default=None)


@contextmanager
def checked_against(clock: Callable[[], datetime]) -> Iterator[None]:
    """Inside the block, a `PastInstant` must not lie beyond `clock()` plus the skew. The API wraps
    each request in it; workflows never do (their time is `workflow.now()`, checked in validators)."""
    token = _wall_clock.set(clock)
    try:
        yield
    finally:
        _wall_clock.reset(token)


def _not_a_number(value: Any) -> Any:
    if isinstance(value, (int, float)) or (isinstance(value, str) and _EPOCH_LIKE.match(value)):
        raise ValueError("give a time as an ISO 8601 string with a time zone, e.g. 2026-12-03T09:30:00+08:00")
    return value


def _in_window(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"a time must lie from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d}")
    return value


def not_in_future(at: datetime, now: datetime, *, skew: timedelta = CLOCK_SKEW) -> str | None:
    """Why `at`, said to have happened, cannot have: it lies ahead of `now` by more than the skew."""
    if at > now + skew:
        return f"lies in the future (more than {int(skew.total_seconds() // 60)} minutes ahead of the service's clock)"
    return None


def _happened(value: datetime) -> datetime:
    clock = _wall_clock.get()
    if clock is not None:
        reason = not_in_future(value, clock())
        if reason:
            raise ValueError(f"this time {reason}")
    return value


_INSTANT_SCHEMA = {
    "type": "string",
    "format": "date-time",
    "description": f"ISO 8601 with a time zone offset, from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d}",
}
Instant = Annotated[
    AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_in_window), WithJsonSchema(_INSTANT_SCHEMA)
]
PastInstant = Annotated[
    AwareDatetime,
    BeforeValidator(_not_a_number),
    AfterValidator(_in_window),
    AfterValidator(_happened),
    WithJsonSchema({**_INSTANT_SCHEMA, "description": _INSTANT_SCHEMA["description"]
                    + f"; it has happened, so at most {int(CLOCK_SKEW.total_seconds() // 60)} minutes ahead of now"}),
]

def _day_in_window(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(f"a date must lie from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d}")
    return value


def _day_happened(value: date) -> date:
    clock = _wall_clock.get()
    # A day anywhere on Earth: Beijing's tomorrow is still today in UTC for eight hours.
    if clock is not None and value > (clock() + timedelta(days=1)).date():
        raise ValueError("this date lies in the future")
    return value


_DAY_SCHEMA = {
    "type": "string",
    "format": "date",
    "description": f"ISO 8601 date, from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d}",
}
Day = Annotated[date, BeforeValidator(_not_a_number), AfterValidator(_day_in_window), WithJsonSchema(_DAY_SCHEMA)]
PastDay = Annotated[
    date, BeforeValidator(_not_a_number), AfterValidator(_day_in_window), AfterValidator(_day_happened),
    WithJsonSchema({**_DAY_SCHEMA, "description": _DAY_SCHEMA["description"] + "; it has happened"}),
]

# -- Ids and amounts -------------------------------------------------------------------------------

PartyId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]

Fen = Annotated[int, Field(ge=0, le=MAX_FEN, strict=True)]
