"""Bad values by kind, and where to put them: every body field (nested ones and list items too), query
parameter and path parameter of every route, found by walking the app's own OpenAPI document.

A kind names what is wrong with a value, so that a finding reads "discovered_at ← year_9999":

* numbers: 2**63, 2**64, -1, 1e308 (and, long, -2**64, 2**53, a fraction);
* times: naive (no zone), year 9999, ten years ahead, 0, a bare integer (and, long, year 1, an
  integer in a string, milliseconds); dates alike, without the naive one;
* text: NUL, control characters, 100,000 characters (and, long, a lone surrogate, backspace, an
  escape sequence, three megabytes);
* wrong shapes: an object or a list where text, a number or a flag belongs, a list or text where an
  object belongs, an object where a list belongs, null where null is not allowed.

Every value is JSON (1e308 travels as `1e+308`). Query and path parameters get the text of a value.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

Path = tuple[str | int, ...]
TEN_YEARS = timedelta(days=3653)
BODY_LONG_TEXT = 100_000
URL_LONG_TEXT = 8_000  # a URL line past ~16 KB is refused by the HTTP parser before the app sees it
HUGE_TEXT = 3_000_000  # past Temporal's 2 MB payload limit
# Fields that are a bound in the future by nature: ten years ahead is no fault there.
FUTURE_BY_NATURE = ("until", "expir", "due", "deadline")


@dataclass(frozen=True)
class Bad:
    kind: str
    value: Any
    family: str = "shape"  # number | time | text | shape


def _numbers(long: bool) -> list[Bad]:
    values = [Bad("2**63", 2**63), Bad("2**64", 2**64), Bad("-1", -1), Bad("1e308", 1e308)]
    if long:
        values += [Bad("-2**64", -(2**64)), Bad("2**53", 2**53), Bad("fraction", 1.5)]
    return [Bad(bad.kind, bad.value, "number") for bad in values]


def _times(now: datetime, long: bool, *, future_by_nature: bool) -> list[Bad]:
    values = [Bad("naive", now.replace(tzinfo=None, microsecond=0).isoformat()),
              Bad("year_9999", "9999-12-31T23:59:59+00:00"), Bad("epoch_0", 0), Bad("bare_int", 1_790_000_000)]
    if not future_by_nature:
        values.insert(2, Bad("ten_years_ahead", (now + TEN_YEARS).isoformat()))
    if long:
        values += [Bad("year_0001", "0001-01-01T00:00:00+00:00"), Bad("int_in_string", "1790000000"),
                   Bad("milliseconds", 1_790_000_000_000)]
    return [Bad(bad.kind, bad.value, "time") for bad in values]


def _dates(today: date, long: bool, *, future_by_nature: bool) -> list[Bad]:
    values = [Bad("year_9999", "9999-12-31"), Bad("epoch_0", 0), Bad("bare_int", 1_790_000_000)]
    if not future_by_nature:
        values.insert(1, Bad("ten_years_ahead", (today + TEN_YEARS).isoformat()))
    if long:
        values += [Bad("year_0001", "0001-01-01"), Bad("int_in_string", "1790000000")]
    return [Bad(bad.kind, bad.value, "time") for bad in values]


def _texts(long: bool, *, length: int) -> list[Bad]:
    values = [Bad("nul", "a\x00b"), Bad("control", "a\x01\x1b[31mb\x7f"), Bad("over_long", "x" * length)]
    if long:
        values += [Bad("lone_surrogate", "a\ud800b"), Bad("backspace", "a\x08b"), Bad("escape", "\x1b[2J")]
    return [Bad(bad.kind, bad.value, "text") for bad in values]


def _shapes(json_type: str, base: Any, nullable: bool) -> list[Bad]:
    values = {
        "string": [Bad("object_for_text", {"a": "b"}), Bad("list_for_text", ["a"]), Bad("number_for_text", 12345),
                   Bad("flag_for_text", True)],
        "integer": [Bad("object_for_number", {"a": 1}), Bad("list_for_number", [1]), Bad("text_for_number", "many")],
        "number": [Bad("object_for_number", {"a": 1}), Bad("list_for_number", [1]), Bad("text_for_number", "many")],
        "boolean": [Bad("object_for_flag", {"a": True}), Bad("list_for_flag", [True]), Bad("text_for_flag", "maybe")],
        "object": [Bad("list_for_object", [base]), Bad("text_for_object", "an object"), Bad("number_for_object", 1)],
        "array": [Bad("object_for_list", {"0": base[0] if isinstance(base, list) and base else 1}),
                  Bad("text_for_list", "a list")],
    }.get(json_type, [])
    return values if nullable else [*values, Bad("null", None)]


def _random(rng: random.Random, json_type: str, fmt: str | None) -> list[Bad]:
    """Kinds drawn afresh from each seed (long runs only)."""
    if json_type in ("integer", "number"):
        return [Bad("random_huge", rng.choice([-1, 1]) * rng.randrange(2**53 + 1, 2**80), "number")]
    if json_type != "string":
        return []
    controls = [chr(c) for c in (*range(1, 9), 11, 12, *range(14, 32), 127)]
    text = "".join(rng.choice([*controls, "a", "\u4e2d"]) for _ in range(rng.randint(0, 11)))
    spot = rng.randint(0, len(text))
    text = text[:spot] + rng.choice(controls) + text[spot:]  # at least one
    values = [Bad("random_control", text, "text")]
    if fmt in ("date-time", "date"):
        year = rng.choice([rng.randint(1, 1989), rng.randint(2101, 9999)])
        values.append(Bad("random_far_year", f"{year:04d}-06-15" + ("T12:00:00+08:00" if fmt == "date-time" else ""),
                          "time"))
    return values


def bad_values(node: dict, base: Any, name: str, *, long: bool, rng: random.Random | None = None,
               where: str = "body") -> list[Bad]:
    """Every bad value of every kind that applies to a field of this schema node and base value."""
    json_type, fmt, nullable = describe(node, base)
    now = datetime.now(UTC)
    future = any(word in name.lower() for word in FUTURE_BY_NATURE)
    values: list[Bad] = []
    if json_type in ("integer", "number"):
        values += _numbers(long)
    if json_type == "string":
        if fmt == "date-time":
            values += _times(now, long, future_by_nature=future)
        elif fmt == "date":
            values += _dates(now.date(), long, future_by_nature=future)
        values += _texts(long, length=BODY_LONG_TEXT if where == "body" else URL_LONG_TEXT)
        if long and where == "body":
            values.append(Bad("huge", "x" * HUGE_TEXT, "text"))
    if where == "body":
        values += _shapes(json_type, base, nullable)
    else:  # a parameter is text: numbers as their digits, shapes as what a URL can say
        values = [Bad(b.kind, _as_text(b.value), b.family) for b in values]
        values += [Bad("empty", ""), Bad("json_object", '{"a":1}')] if where == "query" else []
    if long and rng is not None:
        values += [Bad(b.kind, b.value if where == "body" else _as_text(b.value), b.family)
                   for b in _random(rng, json_type, fmt)]
    return values


def _as_text(value: Any) -> str:
    return "1e308" if value == 1e308 and isinstance(value, float) else str(value)


def describe(node: dict, base: Any) -> tuple[str, str | None, bool]:
    """(JSON type, format, nullable) of a resolved schema node, falling back on the base value."""
    nullable = False
    options = node.get("anyOf") or node.get("oneOf")
    if options:
        nullable = any(option.get("type") == "null" for option in options)
        rest = [option for option in options if option.get("type") != "null"]
        node = rest[0] if len(rest) == 1 else node
    json_type = node.get("type")
    if json_type is None or isinstance(json_type, list):
        json_type = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object",
                     list: "array"}.get(type(base), "string")
    if "enum" in node or "const" in node:
        json_type = json_type or "string"
    return json_type, node.get("format"), nullable


class Schemas:
    """The OpenAPI document's component schemas, with `$ref`, `allOf` and nullable `anyOf` followed."""

    def __init__(self, document: dict) -> None:
        self.components = document.get("components", {}).get("schemas", {})

    def resolve(self, node: dict) -> dict:
        seen = 0
        while "$ref" in node and seen < 50:
            node = {**self.components[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
            seen += 1
        if "allOf" in node and len(node["allOf"]) == 1:
            node = {**self.resolve(node["allOf"][0]), **{k: v for k, v in node.items() if k != "allOf"}}
        return node

    def inner(self, node: dict) -> dict:
        """A nullable `anyOf` unwrapped to its one non-null option, resolved."""
        node = self.resolve(node)
        options = node.get("anyOf") or node.get("oneOf")
        if options:
            rest = [option for option in options if option.get("type") != "null"]
            if len(rest) == 1:
                return self.resolve(rest[0])
        return node

    def fields(self, document: Any, node: dict, path: Path = ()) -> list[tuple[Path, dict, Any]]:
        """Every place in `document` with its schema node: objects, lists, their members and first items."""
        node = self.resolve(node)
        found = [(path, node, document)] if path else []
        inner = self.inner(node)
        if isinstance(document, dict):
            properties = inner.get("properties", {})
            for key, value in document.items():
                found += self.fields(value, properties.get(key, {}), (*path, key))
        elif isinstance(document, list) and document:
            found += self.fields(document[0], inner.get("items", {}), (*path, 0))
        return found

    def example(self, node: dict, name: str = "") -> Any:
        """A plain value the schema allows, for a body no example covers (a new route): a start only;
        the caller checks it against the route's model."""
        node = self.inner(node)
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return node["enum"][0]
        if "default" in node and node["default"] is not None:
            return node["default"]
        json_type = node.get("type")
        if json_type == "object" or "properties" in node:
            return {key: self.example(value, key) for key, value in node.get("properties", {}).items()}
        if json_type == "array":
            return [self.example(node.get("items", {}), name)] if node.get("minItems") else []
        if json_type == "integer":
            return max(int(node.get("minimum", 1)), 1)
        if json_type == "number":
            return 1.0
        if json_type == "boolean":
            return False
        if node.get("format") == "date-time":
            return (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        if node.get("format") == "date":
            return (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
        return f"fz-{name or 'text'}"[: node.get("maxLength", 64)]


def replace(document: Any, path: Path, value: Any) -> Any:
    """A copy of `document` with the value at `path` replaced."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        return {**document, head: replace(document[head], rest, value)}
    copy = list(document)
    copy[head] = replace(copy[head], rest, value)  # type: ignore[index]
    return copy


def show(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def pick(options: list[Bad], count: int, used: Counter[str], rng: random.Random) -> list[Bad]:
    """`count` of `options`, the kinds used least so far first (ties broken by `rng`), so that a
    short run still tries every kind somewhere."""
    shuffled = rng.sample(options, len(options))
    chosen = sorted(shuffled, key=lambda bad: used[bad.kind])[:count]
    used.update(bad.kind for bad in chosen)
    return chosen


def short_selection(options: list[Bad], where: str, used: Counter[str], rng: random.Random) -> list[Bad]:
    """For a short run: in a body, every number and time kind (what most often gets through), one
    text kind and one wrong shape; in a parameter, one kind."""
    if where != "body":
        return pick(options, 1, used, rng)
    chosen = [bad for bad in options if bad.family in ("number", "time")]
    for family in ("text", "shape"):
        chosen += pick([bad for bad in options if bad.family == family], 1, used, rng)
    return chosen


def _tokens(field_path: str) -> list[str]:
    """`body.items[0].amount.function-after[check(), int].fen` → ['items', '0', 'amount', 'fen']."""
    field_path = re.sub(r"\.?[A-Za-z_]+-[A-Za-z_-]+\[[^\]]*\]", "", field_path)
    parts = [part for part in re.split(r"[.\[\]]+", field_path) if part]
    return [part for part in parts[1:] if not part[:1].isupper()] if parts[:1] == ["body"] else parts


def other_places(problem: str, place: str) -> list[str]:
    """The fields a 422 problem document names, when none of them is the body `place`, a parent of it
    or a member of it: the request was refused for something else than the bad value there."""
    try:
        errors = json.loads(problem).get("errors") or []
    except (ValueError, AttributeError):
        return []
    wanted = _tokens("body." + place)
    named = [error.get("field", "") for error in errors if isinstance(error, dict)]
    if not named or any(_tokens(f)[: len(wanted)] == wanted[: len(_tokens(f))] for f in named):
        return []
    return named
