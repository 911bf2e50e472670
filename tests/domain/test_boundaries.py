"""The boundary rules every message is held to, wherever it enters (domain.boundaries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from domain.boundaries import (
    CLOCK_SKEW,
    MAX_FEN,
    MAX_INTEGER,
    MAX_TEXT,
    Day,
    Instant,
    PastDay,
    PastInstant,
    breach_in_json,
    checked_against,
    first_breach,
)
from domain.coverage import CoverageHead
from domain.errors import DomainRuleError
from domain.loss import LimitsUsed, LossConditions, LossItem, determine_loss
from domain.money import Money
from domain.schedule import HeadTerms
from tests.domain.loss_builders import bi_item, schedule

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


class Times(BaseModel):
    at: Instant
    happened: PastInstant | None = None


@pytest.mark.parametrize(
    ("value", "where", "reason"),
    [
        ({"a": "x\x00y"}, "body.a", "NUL"),
        ({"a": ["ok", "bell\x07"]}, "body.a[1]", "U+0007"),
        ({"a": {"b": "del\x7f"}}, "body.a.b", "U+007F"),
        ({"a": "\ud800"}, "body.a", "surrogate"),
        ({"k\x01": 1}, "body", "member name"),
        ({"a": {"k\x00": 1}}, "body.a", "member name"),
        ({"n": 2**63}, "body.n", "2**53"),
        ({"n": -(2**53)}, "body.n", "2**53"),
        ({"n": float("inf")}, "body.n", "finite"),
        ({"n": 1e300}, "body.n", "2**53"),
    ],
)
def test_first_breach_names_the_place_and_the_rule(value, where, reason):
    found = first_breach(value, "body")
    assert found is not None and found[0] == where and reason in found[1]


def test_what_every_message_may_hold_passes():
    ordinary = {"title": "tab\tnew line\nreturn\r 中文 emoji 🙂", "n": MAX_INTEGER, "m": -MAX_INTEGER,
                "f": 0.5, "b": True, "none": None, "list": [1, "two", {"three": 3}]}
    assert first_breach(ordinary) is None


def test_the_first_breach_in_document_order_is_reported():
    assert first_breach({"a": "ok", "b": ["\x00", "\x01"], "c": "\x02"}, "body")[0] == "body.b[0]"


@given(st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_INTEGER, MAX_INTEGER)
    | st.text(st.characters(exclude_categories=("Cs", "Cc"))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=5), inner, max_size=4),
    max_leaves=20,
))
def test_values_without_control_characters_or_huge_numbers_never_breach(value):
    assert first_breach(value) is None


@given(st.text(min_size=1).filter(lambda text: any(ord(c) < 32 and c not in "\t\n\r" for c in text)))
def test_raw_json_with_a_control_character_breaches_however_escaped(text):
    import json

    for raw in (json.dumps({"t": text}).encode(), json.dumps({"t": text}, ensure_ascii=False).encode()):
        found = breach_in_json(raw, "body")
        assert found is not None and found[0] == "body.t"


def test_raw_json_that_is_not_json_is_left_to_its_reader():
    assert breach_in_json(b'{"a": "\\u0000"') is None
    assert breach_in_json(b"[" * 30_000 + b"]" * 30_000) is None  # nested past the parser's depth


@pytest.mark.parametrize(
    "value",
    ["2026-12-03T09:30:00", 1_790_000_000, 1_790_000_000.5, "1790000000", "1989-12-31T23:59:59+00:00",
     "2100-01-01T00:00:00+00:00", "tomorrow", True],
)
def test_an_instant_is_an_iso_string_with_a_zone_inside_the_window(value):
    with pytest.raises(ValidationError) as refused:
        Times.model_validate({"at": value})
    assert refused.value.errors()[0]["loc"] == ("at",)


def test_an_instant_accepts_a_zoned_iso_string_and_a_datetime():
    assert Times.model_validate({"at": "2026-12-03T17:30:00+08:00"}).at == NOW
    assert Times.model_validate({"at": NOW}).at == NOW


def test_a_past_instant_may_not_lie_beyond_the_skew_of_the_clock_it_is_checked_against():
    with checked_against(lambda: NOW):
        assert Times.model_validate({"at": NOW, "happened": NOW + CLOCK_SKEW}).happened == NOW + CLOCK_SKEW
        with pytest.raises(ValidationError) as refused:
            Times.model_validate({"at": NOW, "happened": NOW + CLOCK_SKEW + timedelta(seconds=1)})
        assert refused.value.errors()[0]["loc"] == ("happened",)
        assert "future" in refused.value.errors()[0]["msg"]
    # Outside a checked block (inside workflows, whose clock is workflow.now()) only the window applies.
    assert Times.model_validate({"at": NOW, "happened": NOW + timedelta(days=3650)}).happened.year == 2036


@pytest.mark.parametrize("fen", [MAX_FEN + 1, 2**63, -1, "100", 100.0])
def test_money_is_whole_fen_from_zero_to_the_maximum(fen):
    with pytest.raises(ValidationError):
        Money.model_validate({"fen": fen, "currency": "CNY"})
    assert Money.model_validate({"fen": MAX_FEN, "currency": "CNY"}).fen == MAX_FEN


def test_the_schema_states_the_money_maximum_and_the_time_format():
    money = Money.model_json_schema()["properties"]["fen"]
    assert money["maximum"] == MAX_FEN and money["minimum"] == 0
    at = Times.model_json_schema()["properties"]["at"]
    assert at["format"] == "date-time" and "time zone" in at["description"]


def test_items_that_together_claim_more_than_an_amount_can_hold_are_refused_before_any_arithmetic():
    huge = Money(fen=MAX_FEN)
    policy = schedule(
        aggregate_limit=huge,
        heads=[HeadTerms(head=CoverageHead.DATA_ASSET_RESTORATION, sublimit=huge, retention=huge)],
    )
    items = [LossItem(item_id=f"i{n}", head=CoverageHead.DATA_ASSET_RESTORATION, amount=huge) for n in range(2)]
    with pytest.raises(DomainRuleError) as refused:
        determine_loss(policy, items, LossConditions(), LimitsUsed())
    assert refused.value.code == "claimed_amount_too_large"
    # One such item is held; a retention raised for an overdue critical finding stays an amount too.
    statement = determine_loss(
        policy, items[:1], LossConditions(overdue_critical_on_exploited_asset=True), LimitsUsed()
    )
    assert statement.lines[0].retention.fen == MAX_FEN and statement.total_payable.fen == 0


def test_a_business_interruption_rate_over_a_long_outage_cannot_sum_past_the_maximum():
    rate = Money(fen=MAX_FEN // 2)
    item = bi_item(net_profit=rate, expenses=rate, hours=2 * 24)
    with pytest.raises(DomainRuleError) as refused:
        determine_loss(schedule(waiting_hours=0), [item], LossConditions(), LimitsUsed())
    assert refused.value.code == "claimed_amount_too_large"


def test_text_longer_than_the_most_any_field_takes_breaches_wherever_it_stands():
    assert first_breach({"a": ["x" * MAX_TEXT]}) is None
    assert first_breach({"a": ["x" * (MAX_TEXT + 1)]}, "body") == ("body.a[0]", f"text may be at most {MAX_TEXT} characters")
    assert breach_in_json(('{"a": "' + "x" * (MAX_TEXT + 1) + '"}').encode(), "body")[0] == "body.a"


class Days(BaseModel):
    on: Day
    tested_on: PastDay | None = None


@pytest.mark.parametrize("value", ["9999-12-31", "1989-12-31", 0, 20261203, "20261203", "2026-12-03T00:00:00+08:00x"])
def test_a_day_is_an_iso_date_inside_the_window(value):
    with pytest.raises(ValidationError):
        Days.model_validate({"on": value})
    assert Days.model_validate({"on": "2026-12-03"}).on.isoformat() == "2026-12-03"


def test_a_day_that_has_happened_may_be_tomorrow_somewhere_but_no_later():
    with checked_against(lambda: NOW):
        assert Days.model_validate({"on": "2030-01-01", "tested_on": "2026-12-04"}).tested_on.day == 4
        with pytest.raises(ValidationError) as refused:
            Days.model_validate({"on": "2030-01-01", "tested_on": "2026-12-05"})
    assert refused.value.errors()[0]["loc"] == ("tested_on",)
