"""Loss determination (docs/domain.md, "Loss determination"), worked by hand. 1 yuan = 100 fen; every division rounds down."""

from datetime import datetime, timedelta, timezone

import pytest

from domain.loss import (
    EXCLUSION_WORDING,
    BusinessInterruptionLoss,
    Exclusion,
    LimitsUsed,
    LossConditions,
    LossItem,
    determine_loss,
)
from domain.money import Money
from domain.schedule import BusinessInterruptionRule, HeadTerms
from tests.domain.loss_builders import (
    BI,
    BREACH,
    CLEAN,
    NOTHING_USED,
    OUTAGE_START,
    PANEL_VENDOR,
    RANSOM,
    RANSOM_CONDITIONS_MET,
    RESPONSE,
    RESTORATION,
    bi_item,
    item,
    schedule,
    yuan,
)


# ---- ordinary heads ---------------------------------------------------------------------------


def test_items_on_one_head_are_summed_and_the_retention_taken_once():
    # 180,000 + 70,000 = 250,000 yuan; less R 20,000 once (not per item) = 230,000 yuan.
    statement = determine_loss(
        schedule(),
        [item("restore-db", RESTORATION, yuan(180_000)), item("restore-files", RESTORATION, yuan(70_000))],
        CLEAN,
        NOTHING_USED,
    )
    (line,) = statement.lines
    assert line.items == ["restore-db", "restore-files"]
    assert line.gross.fen == 25_000_000 and line.retention.fen == 2_000_000
    assert line.net_of_retention.fen == 23_000_000
    assert line.after_coinsurance.fen == line.after_sublimit.fen == line.payable.fen == 23_000_000
    assert line.sublimit_remaining.fen == 100_000_000 and line.aggregate_remaining_before.fen == 500_000_000
    assert statement.total_payable.fen == 23_000_000
    assert statement.aggregate_remaining_after.fen == 500_000_000 - 23_000_000
    assert [i.claimed.fen for i in statement.items] == [18_000_000, 7_000_000]
    assert statement.exclusions_applied == []


def test_a_loss_below_the_retention_pays_nothing():
    statement = determine_loss(schedule(), [item("er", RESPONSE, yuan(9_999))], CLEAN, NOTHING_USED)
    assert statement.lines[0].net_of_retention.fen == 0 and statement.total_payable.fen == 0


# ---- business interruption --------------------------------------------------------------------


def test_bi_under_the_waiting_period_rule():
    # rate = 6,000 + 4,000 = 10,000 yuan/h = 1,000,000 fen/h; outage 30 h = 1,800 min, cap 120 days,
    # so covered = 1,800 min; waiting 12 h = 720 min.
    # paid hours = 1,800 - 720 = 1,080 min: floor(1,000,000 × 1,080 / 60) = 18,000,000 fen;
    # less R 50,000 yuan = 5,000,000 fen -> 13,000,000 fen (130,000 yuan).
    statement = determine_loss(schedule(), [bi_item()], CLEAN, NOTHING_USED)
    (line,) = statement.lines
    assert line.bi_rule is BusinessInterruptionRule.WAITING_PERIOD
    assert line.bi_covered_minutes == 1_800 and line.bi_waiting_minutes == 720
    assert line.gross.fen == 30_000_000  # floor(1,000,000 × 1,800 / 60): the whole covered loss
    assert statement.items[0].claimed.fen == 30_000_000
    assert line.net_of_retention.fen == 18_000_000 - 5_000_000
    assert line.payable.fen == 13_000_000
    assert any("waiting period 720 min" in note for note in line.notes)


def test_the_same_bi_loss_under_higher_of():
    # covered loss floor(1,000,000 × 1,800 / 60) = 30,000,000; waiting-period loss
    # floor(1,000,000 × min(720, 1,800) / 60) = 12,000,000; deductible = max(5,000,000, 12,000,000)
    # = 12,000,000 -> 18,000,000 fen (180,000 yuan).
    statement = determine_loss(
        schedule(rule=BusinessInterruptionRule.HIGHER_OF), [bi_item()], CLEAN, NOTHING_USED
    )
    (line,) = statement.lines
    assert line.bi_rule is BusinessInterruptionRule.HIGHER_OF
    assert line.gross.fen == 30_000_000
    assert line.net_of_retention.fen == 30_000_000 - 12_000_000
    assert any("= ¥120,000.00" in note for note in line.notes)


def test_higher_of_takes_the_retention_when_it_is_the_higher():
    # R 150,000 yuan = 15,000,000 fen > the 12,000,000 waiting-period loss: 30,000,000 - 15,000,000.
    statement = determine_loss(
        schedule(rule=BusinessInterruptionRule.HIGHER_OF, bi_retention=yuan(150_000)),
        [bi_item()],
        CLEAN,
        NOTHING_USED,
    )
    assert statement.lines[0].net_of_retention.fen == 15_000_000


def test_the_restoration_cap_bounds_a_longer_outage():
    # cap 24 h = 1,440 min < outage 1,800 min: covered 1,440; paid 1,440 - 720 = 720 min:
    # floor(1,000,000 × 720 / 60) = 12,000,000 - 5,000,000 = 7,000,000 fen.
    statement = determine_loss(schedule(restoration_cap_minutes=1_440), [bi_item()], CLEAN, NOTHING_USED)
    (line,) = statement.lines
    assert line.bi_covered_minutes == 1_440
    assert line.gross.fen == 24_000_000
    assert line.net_of_retention.fen == 7_000_000


@pytest.mark.parametrize("rule", list(BusinessInterruptionRule))
def test_a_cap_shorter_than_the_waiting_period_pays_nothing(rule):
    # covered = min(1,800, 600) = 600 < waiting 720. waiting_period: floor(rate × 0 / 60) - R -> 0.
    # higher_of: floor(rate × 600 / 60) - max(R, floor(rate × min(720, 600) / 60)) = 10,000,000 - 10,000,000.
    statement = determine_loss(
        schedule(rule=rule, restoration_cap_minutes=600), [bi_item()], CLEAN, NOTHING_USED
    )
    assert statement.lines[0].net_of_retention.fen == 0 and statement.total_payable.fen == 0


def test_bi_rounds_down_to_the_fen_and_counts_whole_minutes():
    # rate 100,001 fen/h; outage 61 min 59 s counts as 61 min; no waiting, no retention:
    # floor(100,001 × 61 / 60) = floor(6,100,061 / 60) = floor(101,667.68) = 101,667 fen.
    loss = BusinessInterruptionLoss(
        net_profit_per_hour=Money(fen=100_001),
        continuing_expenses_per_hour=Money(fen=0),
        outage_start=OUTAGE_START,
        outage_end=OUTAGE_START + timedelta(minutes=61, seconds=59),
    )
    assert loss.outage_minutes == 61
    statement = determine_loss(
        schedule(waiting_hours=0, bi_retention=Money(fen=0)),
        [LossItem(item_id="bi", head=BI, business_interruption=loss)],
        CLEAN,
        NOTHING_USED,
    )
    assert statement.total_payable.fen == 101_667


# ---- coinsurance, sublimit, aggregate ---------------------------------------------------------


def test_coinsurance_on_ransomware():
    # 800,000 - R 50,000 = 750,000 yuan = 75,000,000 fen; the insured bears 2,000 bps:
    # floor(75,000,000 × 8,000 / 10,000) = 60,000,000 fen (600,000 yuan).
    statement = determine_loss(
        schedule(), [item("ransom", RANSOM, yuan(800_000))], RANSOM_CONDITIONS_MET, NOTHING_USED
    )
    (line,) = statement.lines
    assert line.coinsurance_bps == 2_000
    assert line.net_of_retention.fen == 75_000_000
    assert line.after_coinsurance.fen == 60_000_000 and line.payable.fen == 60_000_000


def test_coinsurance_rounds_down():
    # net 75,000,003 fen: floor(75,000,003 × 8,000 / 10,000) = floor(60,000,002.4) = 60,000,002.
    statement = determine_loss(
        schedule(), [item("ransom", RANSOM, Money(fen=80_000_003))], RANSOM_CONDITIONS_MET, NOTHING_USED
    )
    assert statement.lines[0].after_coinsurance.fen == 60_000_002


def test_a_sublimit_partly_used_by_an_earlier_claim():
    # Emergency response sublimit 500,000; an earlier claim took 420,000 -> 80,000 remain.
    # 150,000 - R 10,000 = 140,000, capped at 80,000.
    used = LimitsUsed(aggregate=yuan(420_000), by_head={RESPONSE: yuan(420_000)})
    statement = determine_loss(
        schedule(), [item("er", RESPONSE, yuan(150_000), vendor_id=PANEL_VENDOR)], CLEAN, used
    )
    (line,) = statement.lines
    assert line.net_of_retention.fen == 14_000_000
    assert line.sublimit_remaining.fen == 8_000_000
    assert line.after_sublimit.fen == 8_000_000 and line.payable.fen == 8_000_000
    assert "capped by what remains of the head's sublimit" in line.notes
    assert statement.limits_used_after.by_head[RESPONSE].fen == 50_000_000
    assert statement.limits_used_after.aggregate.fen == 50_000_000
    assert statement.aggregate_remaining_after.fen == 500_000_000 - 50_000_000


def test_a_sublimit_already_overdrawn_leaves_nothing():
    used = LimitsUsed(aggregate=yuan(600_000), by_head={RESPONSE: yuan(600_000)})
    statement = determine_loss(schedule(), [item("er", RESPONSE, yuan(150_000))], CLEAN, used)
    assert statement.lines[0].sublimit_remaining.fen == 0 and statement.total_payable.fen == 0


def test_the_aggregate_runs_out_with_property_heads_paid_before_liability():
    # Aggregate 5,000,000, earlier claims used 4,700,000: 300,000 remain. The liability item comes
    # first in the claim but is paid last:
    #   data asset restoration 250,000 - 20,000 = 230,000 -> paid 230,000, 70,000 remain
    #   emergency response     60,000 - 10,000 =  50,000 -> paid  50,000, 20,000 remain
    #   data breach liability 1,000,000 - 50,000 = 950,000 -> paid 20,000, 0 remain
    used = LimitsUsed(aggregate=yuan(4_700_000), by_head={BREACH: yuan(2_000_000)})
    items = [
        item("regulator-fine-defence", BREACH, yuan(1_000_000)),
        item("restore", RESTORATION, yuan(250_000)),
        item("er", RESPONSE, yuan(60_000)),
    ]
    statement = determine_loss(schedule(), items, CLEAN, used)
    assert [line.head for line in statement.lines] == [RESTORATION, RESPONSE, BREACH]
    assert [line.aggregate_remaining_before.fen for line in statement.lines] == [
        30_000_000,
        7_000_000,
        2_000_000,
    ]
    assert [line.payable.fen for line in statement.lines] == [23_000_000, 5_000_000, 2_000_000]
    assert statement.lines[2].after_sublimit.fen == 95_000_000  # the sublimit (1,000,000 left) did not bind
    assert "capped by what remains of the aggregate limit" in statement.lines[2].notes
    assert statement.total_payable.fen == 30_000_000 and statement.aggregate_remaining_after.fen == 0
    assert statement.limits_used_after.aggregate.fen == 500_000_000
    assert statement.limits_used_after.by_head[BREACH].fen == 202_000_000  # 2,000,000 + 20,000 yuan
    assert [i.item_id for i in statement.items] == ["regulator-fine-defence", "restore", "er"]


def test_an_aggregate_used_up_by_earlier_claims_pays_nothing():
    used = LimitsUsed(aggregate=yuan(5_000_000))
    statement = determine_loss(schedule(), [item("restore", RESTORATION, yuan(250_000))], CLEAN, used)
    assert statement.lines[0].after_sublimit.fen == 23_000_000
    assert statement.total_payable.fen == 0 and statement.aggregate_remaining_after.fen == 0


# ---- the overdue-critical uplift --------------------------------------------------------------


def test_an_overdue_critical_raises_the_retention_by_ten_percent_rounded_down():
    # R = floor(1,234,567 × 11,000 / 10,000) = floor(1,358,023.7) = 1,358,023 fen;
    # 2,000,000 - 1,358,023 = 641,977 fen.
    terms = HeadTerms(head=RESTORATION, sublimit=yuan(1_000_000), retention=Money(fen=1_234_567))
    statement = determine_loss(
        schedule(heads=[terms], business_interruption=None),
        [item("restore", RESTORATION, Money(fen=2_000_000))],
        LossConditions(overdue_critical_on_exploited_asset=True),
        NOTHING_USED,
    )
    (line,) = statement.lines
    assert line.retention_uplifted and line.retention.fen == 1_358_023
    assert line.net_of_retention.fen == 641_977
    assert any("raised by 1000 bps" in note for note in line.notes)


def test_the_uplift_is_configuration():
    statement = determine_loss(
        schedule(overdue_critical_retention_uplift_bps=2_500),
        [item("restore", RESTORATION, yuan(100_000))],
        LossConditions(overdue_critical_on_exploited_asset=True),
        NOTHING_USED,
    )
    assert statement.lines[0].retention.fen == 2_500_000  # 20,000 × 1.25 yuan


def test_the_uplift_enters_the_bi_higher_of_comparison():
    # R 150,000 × 1.1 = 165,000 yuan = 16,500,000 fen > waiting loss 12,000,000: 30,000,000 - 16,500,000.
    statement = determine_loss(
        schedule(rule=BusinessInterruptionRule.HIGHER_OF, bi_retention=yuan(150_000)),
        [bi_item()],
        LossConditions(overdue_critical_on_exploited_asset=True),
        NOTHING_USED,
    )
    assert statement.lines[0].net_of_retention.fen == 13_500_000


def test_without_the_penalty_the_retention_is_unchanged():
    statement = determine_loss(schedule(), [item("restore", RESTORATION, yuan(100_000))], CLEAN, NOTHING_USED)
    assert not statement.lines[0].retention_uplifted and statement.lines[0].retention.fen == 2_000_000


# ---- exclusions -------------------------------------------------------------------------------

EVERYTHING = [
    bi_item(),
    item("restore", RESTORATION, yuan(250_000)),
    item("er", RESPONSE, yuan(60_000), vendor_id=PANEL_VENDOR),
]


@pytest.mark.parametrize(
    ("conditions", "exclusion"),
    [
        (LossConditions(war_exclusion_applies=True), Exclusion.WAR_OR_STATE_BACKED),
        (LossConditions(state_backed_attack=True), Exclusion.WAR_OR_STATE_BACKED),
        # 2024-12-31 23:59 in Beijing is before the retroactive date 2025-01-01.
        (
            LossConditions(first_intrusion_at=datetime(2024, 12, 31, 15, 59, tzinfo=timezone.utc)),
            Exclusion.BEFORE_RETROACTIVE_DATE,
        ),
        (LossConditions(known_before_inception=True), Exclusion.KNOWN_BEFORE_INCEPTION),
    ],
)
def test_a_claim_wide_exclusion_excludes_every_item(conditions, exclusion):
    statement = determine_loss(schedule(), EVERYTHING, conditions, NOTHING_USED)
    assert all(line.excluded_by == [exclusion] for line in statement.items)
    assert statement.exclusions_applied == [exclusion]
    assert statement.total_payable.fen == 0
    assert all(line.gross.fen == 0 and line.payable.fen == 0 for line in statement.lines)
    assert statement.items[0].claimed.fen == 30_000_000  # the excluded BI loss is still shown
    assert any(EXCLUSION_WORDING[exclusion] in note for note in statement.lines[0].notes)


def test_an_intrusion_on_the_retroactive_date_in_beijing_is_covered():
    # 2024-12-31 16:30 UTC is 2025-01-01 00:30 in Beijing: on the retroactive date, not before it.
    conditions = LossConditions(first_intrusion_at=datetime(2024, 12, 31, 16, 30, tzinfo=timezone.utc))
    statement = determine_loss(schedule(), EVERYTHING, conditions, NOTHING_USED)
    assert statement.exclusions_applied == [] and statement.total_payable.fen > 0


def test_a_non_panel_vendor_without_consent_excludes_its_item_only():
    # restore: 250,000 - 20,000 = 230,000 paid; the non-panel vendor's 60,000 pays nothing.
    items = [
        item("restore", RESTORATION, yuan(250_000)),
        item("er", RESPONSE, yuan(60_000), vendor_id="vendor-x"),
    ]
    statement = determine_loss(schedule(), items, CLEAN, NOTHING_USED)
    assert statement.item("er").excluded_by == [Exclusion.NON_PANEL_VENDOR_WITHOUT_CONSENT]
    assert statement.item("restore").excluded_by == []
    assert statement.line_for(RESPONSE).payable.fen == 0
    assert statement.total_payable.fen == 23_000_000


def test_a_non_panel_vendor_with_consent_is_paid():
    items = [item("er", RESPONSE, yuan(60_000), vendor_id="vendor-x")]
    statement = determine_loss(
        schedule(), items, LossConditions(consented_non_panel_vendor_ids=["vendor-x"]), NOTHING_USED
    )
    assert statement.exclusions_applied == [] and statement.total_payable.fen == 5_000_000


def test_only_the_excluded_items_on_a_head_drop_out_before_the_retention():
    # 40,000 (panel) + 60,000 (non-panel, excluded): gross 40,000 - R 10,000 = 30,000.
    items = [
        item("er-panel", RESPONSE, yuan(40_000), vendor_id=PANEL_VENDOR),
        item("er-other", RESPONSE, yuan(60_000), vendor_id="vendor-x"),
    ]
    statement = determine_loss(schedule(), items, CLEAN, NOTHING_USED)
    assert statement.lines[0].gross.fen == 4_000_000 and statement.total_payable.fen == 3_000_000


@pytest.mark.parametrize(
    ("consent", "police", "expected"),
    [
        (False, True, [Exclusion.RANSOM_WITHOUT_CONSENT]),
        (True, False, [Exclusion.RANSOM_WITHOUT_POLICE_REPORT]),
        (False, False, [Exclusion.RANSOM_WITHOUT_CONSENT, Exclusion.RANSOM_WITHOUT_POLICE_REPORT]),
    ],
)
def test_a_ransom_without_consent_or_police_report_pays_nothing(consent, police, expected):
    items = [item("ransom", RANSOM, yuan(800_000)), item("restore", RESTORATION, yuan(250_000))]
    conditions = LossConditions(ransom_paid_with_insurer_consent=consent, police_report_filed=police)
    statement = determine_loss(schedule(), items, conditions, NOTHING_USED)
    assert statement.item("ransom").excluded_by == expected
    assert statement.exclusions_applied == expected
    assert statement.line_for(RANSOM).payable.fen == 0
    assert statement.total_payable.fen == 23_000_000  # the restoration item is unaffected


def test_exclusions_add_up_on_one_item():
    conditions = LossConditions(war_exclusion_applies=True, known_before_inception=True)
    statement = determine_loss(
        schedule(), [item("er", RESPONSE, yuan(1), vendor_id="vendor-x")], conditions, NOTHING_USED
    )
    assert statement.items[0].excluded_by == [
        Exclusion.WAR_OR_STATE_BACKED,
        Exclusion.KNOWN_BEFORE_INCEPTION,
        Exclusion.NON_PANEL_VENDOR_WITHOUT_CONSENT,
    ]


def test_every_exclusion_has_wording():
    assert set(EXCLUSION_WORDING) == set(Exclusion)
