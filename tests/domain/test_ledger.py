"""The limits of a policy period and the claims holding them."""

from datetime import date, datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.coverage import CoverageHead
from domain.errors import DomainRuleError
from domain.ledger import TermLedger
from domain.loss import LossConditions, LossItem
from domain.money import Money
from domain.schedule import CoverageSchedule, HeadTerms

HEADS = [CoverageHead.EMERGENCY_RESPONSE, CoverageHead.LEGAL_COSTS, CoverageHead.DATA_BREACH_LIABILITY]
SCHEDULE = CoverageSchedule(
    aggregate_limit=Money.yuan(1_000_000),
    heads=[HeadTerms(head=h, sublimit=Money.yuan(600_000), retention=Money.yuan(10_000)) for h in HEADS],
    retroactive_date=date(2026, 1, 1),
    notice_condition_minutes=24 * 60,
    panel_vendor_ids=[],
)


def items(head: CoverageHead, yuan: int, item_id: str = "i") -> list[LossItem]:
    return [LossItem(item_id=item_id, head=head, amount=Money.yuan(yuan))]


def ledger() -> TermLedger:
    return TermLedger(term_number=1, term_end=datetime(2027, 1, 1, tzinfo=timezone.utc), schedule=SCHEDULE)


def test_a_second_claim_sees_what_the_first_holds():
    book = ledger()
    first = book.determine_and_hold("a", 1, items(CoverageHead.EMERGENCY_RESPONSE, 510_000), LossConditions())
    second = book.determine_and_hold("b", 1, items(CoverageHead.DATA_BREACH_LIABILITY, 900_000), LossConditions())
    assert first.total_payable == Money.yuan(500_000)
    assert second.total_payable == Money.yuan(500_000)  # the aggregate's rest, not the ¥600,000 sublimit
    assert book.position() == (0, 1_000_000_00, 0)


def test_asking_again_for_the_same_determination_answers_the_same_and_an_older_one_is_refused():
    book = ledger()
    once = book.determine_and_hold("a", 1, items(CoverageHead.LEGAL_COSTS, 50_000), LossConditions())
    assert book.determine_and_hold("a", 1, items(CoverageHead.LEGAL_COSTS, 99_999), LossConditions()) == once
    book.determine_and_hold("a", 2, items(CoverageHead.LEGAL_COSTS, 60_000), LossConditions())
    with pytest.raises(DomainRuleError) as stale:
        book.determine_and_hold("a", 1, items(CoverageHead.LEGAL_COSTS, 60_000), LossConditions())
    assert stale.value.code == "stale_determination"


def test_settling_final_releases_what_was_not_paid_and_reopening_holds_again():
    book = ledger()
    book.determine_and_hold("a", 1, items(CoverageHead.LEGAL_COSTS, 110_000), LossConditions())
    book.settle("a", Money.yuan(40_000), final=True)
    assert book.position() == (1_000_000_00 - 40_000_00, 0, 40_000_00)
    with pytest.raises(DomainRuleError, match="settled"):
        book.determine_and_hold("a", 2, items(CoverageHead.LEGAL_COSTS, 1), LossConditions())
    book.settle("a", Money.yuan(40_000), final=False)  # reopened
    again = book.determine_and_hold("a", 2, items(CoverageHead.LEGAL_COSTS, 110_000), LossConditions())
    assert again.total_payable == Money.yuan(100_000)


def test_paying_more_than_held_is_refused():
    book = ledger()
    book.determine_and_hold("a", 1, items(CoverageHead.LEGAL_COSTS, 20_000), LossConditions())
    with pytest.raises(DomainRuleError) as err:
        book.settle("a", Money.yuan(10_001), final=False)
    assert err.value.code == "above_hold"


steps = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d"]),
        st.sampled_from(HEADS),
        st.integers(min_value=1, max_value=900_000),
        st.sampled_from(["determine", "settle", "close"]),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(steps=steps)
def test_whatever_the_order_claims_never_hold_or_pay_past_a_limit(steps):
    book = ledger()
    determinations: dict[str, int] = {}
    for claim, head, yuan, action in steps:
        hold = book.holds.get(claim)
        try:
            if action == "determine":
                determinations[claim] = determinations.get(claim, 0) + 1
                book.determine_and_hold(claim, determinations[claim], items(head, yuan), LossConditions())
            elif hold is not None:
                paid = Money(fen=min(hold.held_fen, yuan * 100), currency="CNY")
                book.settle(claim, paid, final=action == "close")
        except DomainRuleError:
            pass  # a settled claim asked to determine again, or a new statement below what was paid
        held_by_head = {h: sum(x.by_head.get(h, 0) for x in book.holds.values()) for h in HEADS}
        assert sum(held_by_head.values()) <= SCHEDULE.aggregate_limit.fen
        assert all(fen <= SCHEDULE.terms_for(h).sublimit.fen for h, fen in held_by_head.items())
        assert all(0 <= x.paid_fen <= x.held_fen for x in book.holds.values())
