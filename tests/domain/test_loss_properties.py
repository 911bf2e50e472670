"""Properties of loss determination that must hold for every valid claim."""

from datetime import date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from domain.coverage import CoverageHead
from domain.loss import (
    BusinessInterruptionLoss,
    LimitsUsed,
    LossConditions,
    LossItem,
    LossStatement,
    determine_loss,
)
from domain.money import Money
from domain.schedule import BusinessInterruptionRule, BusinessInterruptionTerms, CoverageSchedule, HeadTerms

BI = CoverageHead.BUSINESS_INTERRUPTION
PANEL = ["panel-a", "panel-b"]
START = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)

amounts = st.integers(0, 5 * 10**9).map(lambda fen: Money(fen=fen))
small_amounts = st.integers(0, 10**8).map(lambda fen: Money(fen=fen))


@st.composite
def schedules(draw) -> CoverageSchedule:
    heads = draw(st.lists(st.sampled_from(list(CoverageHead)), min_size=1, max_size=6, unique=True))
    terms = [
        HeadTerms(
            head=head,
            sublimit=draw(amounts),
            retention=draw(small_amounts),
            coinsurance_bps=draw(st.integers(0, 10_000)),
        )
        for head in heads
    ]
    bi_terms = None
    if BI in heads:
        bi_terms = BusinessInterruptionTerms(
            waiting_minutes=draw(st.integers(0, 48 * 60)),
            rule=draw(st.sampled_from(list(BusinessInterruptionRule))),
            restoration_cap_minutes=draw(st.integers(1, 270 * 24 * 60)),
        )
    return CoverageSchedule(
        aggregate_limit=draw(amounts),
        heads=terms,
        business_interruption=bi_terms,
        retroactive_date=date(2025, 1, 1),
        notice_condition_minutes=24 * 60,
        panel_vendor_ids=PANEL,
        overdue_critical_retention_uplift_bps=draw(st.integers(0, 5_000)),
    )


@st.composite
def loss_items(draw, schedule: CoverageSchedule) -> list[LossItem]:
    heads = [terms.head for terms in schedule.heads]
    chosen = draw(st.lists(st.sampled_from(heads), min_size=1, max_size=8))
    if chosen.count(BI) > 1:  # one outage window per claim
        chosen = [head for head in chosen if head is not BI] + [BI]
    items = []
    for index, head in enumerate(chosen):
        vendor = draw(st.sampled_from([None, "panel-a", "other-x", "other-y"]))
        if head is BI:
            loss = BusinessInterruptionLoss(
                net_profit_per_hour=draw(small_amounts),
                continuing_expenses_per_hour=draw(small_amounts),
                outage_start=START,
                outage_end=START + timedelta(minutes=draw(st.integers(1, 400 * 24 * 60))),
            )
            items.append(
                LossItem(item_id=f"item-{index}", head=head, business_interruption=loss, vendor_id=vendor)
            )
        else:
            items.append(LossItem(item_id=f"item-{index}", head=head, amount=draw(amounts), vendor_id=vendor))
    return items


conditions = st.builds(
    LossConditions,
    state_backed_attack=st.booleans(),
    war_exclusion_applies=st.booleans(),
    first_intrusion_at=st.none()
    | st.datetimes(
        min_value=datetime(2024, 6, 1), max_value=datetime(2026, 6, 1), timezones=st.just(timezone.utc)
    ),
    known_before_inception=st.booleans(),
    consented_non_panel_vendor_ids=st.lists(st.sampled_from(["other-x", "other-y"]), unique=True),
    ransom_paid_with_insurer_consent=st.booleans(),
    police_report_filed=st.booleans(),
    overdue_critical_on_exploited_asset=st.booleans(),
)


@st.composite
def limits_used(draw, schedule: CoverageSchedule) -> LimitsUsed:
    heads = [terms.head for terms in schedule.heads]
    used_heads = draw(st.lists(st.sampled_from(heads), unique=True))
    return LimitsUsed(aggregate=draw(amounts), by_head={head: draw(amounts) for head in used_heads})


@st.composite
def claims(draw):
    schedule = draw(schedules())
    return schedule, draw(loss_items(schedule)), draw(conditions), draw(limits_used(schedule))


def _money_figures(statement: LossStatement) -> list[int]:
    figures = [statement.total_payable.fen, statement.aggregate_remaining_after.fen]
    for line in statement.lines:
        figures += [
            line.gross.fen,
            line.retention.fen,
            line.net_of_retention.fen,
            line.after_coinsurance.fen,
            line.sublimit_remaining.fen,
            line.after_sublimit.fen,
            line.aggregate_remaining_before.fen,
            line.payable.fen,
        ]
    return figures


@given(claim=claims())
def test_nothing_is_negative_and_each_head_pays_within_its_steps(claim):
    statement = determine_loss(*claim)
    assert min(_money_figures(statement)) >= 0
    for line in statement.lines:
        assert line.after_coinsurance.fen <= line.net_of_retention.fen
        assert line.payable.fen <= line.sublimit_remaining.fen
        assert line.payable.fen <= line.net_of_retention.fen
        assert line.payable.fen <= line.after_sublimit.fen <= line.after_coinsurance.fen
        assert line.payable.fen <= line.aggregate_remaining_before.fen


@given(claim=claims())
def test_the_heads_add_up_to_the_total_within_the_remaining_aggregate(claim):
    schedule, _, _, used = claim
    statement = determine_loss(*claim)
    remaining = max(schedule.aggregate_limit.fen - used.aggregate.fen, 0)
    assert statement.total_payable.fen <= remaining
    assert sum(line.payable.fen for line in statement.lines) == statement.total_payable.fen
    assert statement.aggregate_remaining_after.fen == remaining - statement.total_payable.fen
    assert statement.limits_used_after.aggregate.fen == used.aggregate.fen + statement.total_payable.fen
    for line in statement.lines:
        assert (
            statement.limits_used_after.by_head[line.head].fen
            == used.for_head(line.head).fen + line.payable.fen
        )
    orders = [line.head.order for line in statement.lines]  # property heads first, each head once
    assert orders == sorted(orders) and len(orders) == len(set(orders))


@given(claim=claims())
def test_the_same_claim_gives_the_same_statement(claim):
    assert determine_loss(*claim) == determine_loss(*claim)


@given(claim=claims(), more_aggregate=amounts, more_by_head=amounts, head_index=st.integers(0, 5))
def test_limits_used_by_earlier_claims_never_raise_what_this_one_pays(
    claim, more_aggregate, more_by_head, head_index
):
    schedule, items, facts, used = claim
    head = schedule.heads[head_index % len(schedule.heads)].head
    more_used = LimitsUsed(
        aggregate=used.aggregate + more_aggregate,
        by_head={**used.by_head, head: used.for_head(head) + more_by_head},
    )
    before = determine_loss(schedule, items, facts, used).total_payable.fen
    assert determine_loss(schedule, items, facts, more_used).total_payable.fen <= before


@given(claim=claims())
def test_an_excluded_item_pays_nothing(claim):
    schedule, items, facts, used = claim
    statement = determine_loss(*claim)
    excluded = {line.item_id for line in statement.items if line.is_excluded}
    for line in statement.lines:
        if set(line.items) <= excluded:
            assert line.gross.fen == 0 and line.payable.fen == 0
    # The claim pays exactly what it would pay had the excluded items never been claimed.
    kept = [item for item in items if item.item_id not in excluded]
    without = determine_loss(schedule, kept, facts, used).total_payable.fen if kept else 0
    assert statement.total_payable.fen == without
