"""Loss determination refuses a malformed claim, naming the problem."""

from datetime import datetime

import pytest
from pydantic import ValidationError

from domain.coverage import CoverageHead
from domain.errors import DomainRuleError
from domain.loss import (
    LimitsUsed,
    LossConditions,
    LossItem,
    determine_loss,
)
from domain.money import Money
from tests.domain.loss_builders import (
    BI,
    CLEAN,
    NOTHING_USED,
    RESPONSE,
    RESTORATION,
    bi_item,
    item,
    outage,
    schedule,
    yuan,
)


# ---- validation -------------------------------------------------------------------------------


def _usd(fen: int) -> Money:
    return Money.model_construct(fen=fen, currency="USD")  # the type allows only CNY today


@pytest.mark.parametrize(
    ("items", "the_schedule", "limits", "code", "words"),
    [
        ([], schedule(), NOTHING_USED, "no_items", "at least one loss item"),
        (
            [item("a", RESPONSE, yuan(1)), item("a", RESTORATION, yuan(1))],
            schedule(),
            NOTHING_USED,
            "duplicate_item_id",
            "'a'",
        ),
        (
            [item("pr", CoverageHead.PUBLIC_RELATIONS, yuan(1))],
            schedule(),
            NOTHING_USED,
            "head_not_covered",
            "public_relations",
        ),
        (
            [item("er", RESPONSE, _usd(100))],
            schedule(),
            NOTHING_USED,
            "currency_mismatch",
            "item er's amount is in USD",
        ),
        (
            [item("er", RESPONSE, yuan(1))],
            schedule(),
            LimitsUsed(aggregate=_usd(1)),
            "currency_mismatch",
            "limits_used.aggregate",
        ),
        (
            [LossItem(item_id="bi", head=BI)],
            schedule(),
            NOTHING_USED,
            "business_interruption_details_missing",
            "bi",
        ),
        (
            [LossItem(item_id="er", head=RESPONSE)],
            schedule(),
            NOTHING_USED,
            "amount_missing",
            "emergency_response",
        ),
        (
            [LossItem(item_id="bi", head=BI, amount=yuan(1), business_interruption=outage())],
            schedule(),
            NOTHING_USED,
            "amount_not_allowed",
            "leave amount out",
        ),
        (
            [item("er", RESPONSE, yuan(1), business_interruption=outage())],
            schedule(),
            NOTHING_USED,
            "business_interruption_details_not_allowed",
            "er",
        ),
        (
            [bi_item("bi-1"), bi_item("bi-2")],
            schedule(),
            NOTHING_USED,
            "one_business_interruption_item",
            "one outage window",
        ),
        (
            [bi_item()],
            schedule().model_copy(update={"business_interruption": None}),
            NOTHING_USED,
            "no_business_interruption_terms",
            "waiting period",
        ),
    ],
)
def test_an_invalid_claim_is_refused_with_its_code(items, the_schedule, limits, code, words):
    with pytest.raises(DomainRuleError) as refused:
        determine_loss(the_schedule, items, CLEAN, limits)
    assert refused.value.code == code
    assert words in refused.value.message


def test_an_outage_must_end_after_it_starts():
    with pytest.raises(ValidationError, match="outage_end must be after outage_start"):
        outage(hours=0)


def test_times_must_carry_a_timezone():
    with pytest.raises(ValidationError, match="timezone"):
        LossConditions(first_intrusion_at=datetime(2025, 6, 1, 12, 0))


def test_adjuster_rates_are_never_negative():
    with pytest.raises(ValidationError):
        outage(net_profit=Money(fen=-1))
