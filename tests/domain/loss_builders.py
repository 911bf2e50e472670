"""Schedules, items and figures for the loss determination tests."""

from datetime import date, datetime, timedelta, timezone


from domain.coverage import CoverageHead
from domain.loss import (
    BusinessInterruptionLoss,
    LimitsUsed,
    LossConditions,
    LossItem,
)
from domain.money import Money
from domain.schedule import BusinessInterruptionRule, BusinessInterruptionTerms, CoverageSchedule, HeadTerms

BI = CoverageHead.BUSINESS_INTERRUPTION
RESTORATION = CoverageHead.DATA_ASSET_RESTORATION
RESPONSE = CoverageHead.EMERGENCY_RESPONSE
RANSOM = CoverageHead.RANSOMWARE_EXTORTION
BREACH = CoverageHead.DATA_BREACH_LIABILITY
PANEL_VENDOR = "vendor-panel-01"
OUTAGE_START = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
CLEAN = LossConditions()
NOTHING_USED = LimitsUsed()
RANSOM_CONDITIONS_MET = LossConditions(ransom_paid_with_insurer_consent=True, police_report_filed=True)


def yuan(amount: int) -> Money:
    return Money.yuan(amount)


BI_RETENTION = yuan(50_000)
NET_PROFIT_PER_HOUR = yuan(6_000)
EXPENSES_PER_HOUR = yuan(4_000)


def schedule(
    *,
    rule: BusinessInterruptionRule = BusinessInterruptionRule.WAITING_PERIOD,
    waiting_hours: int = 12,
    restoration_cap_minutes: int = 120 * 24 * 60,
    bi_retention: Money = BI_RETENTION,
    **overrides,
) -> CoverageSchedule:
    values = {
        "aggregate_limit": yuan(5_000_000),
        "heads": [
            HeadTerms(head=BI, sublimit=yuan(2_000_000), retention=bi_retention),
            HeadTerms(head=RESTORATION, sublimit=yuan(1_000_000), retention=yuan(20_000)),
            HeadTerms(head=RESPONSE, sublimit=yuan(500_000), retention=yuan(10_000)),
            HeadTerms(head=RANSOM, sublimit=yuan(1_000_000), retention=yuan(50_000), coinsurance_bps=2_000),
            HeadTerms(head=BREACH, sublimit=yuan(3_000_000), retention=yuan(50_000)),
        ],
        "business_interruption": BusinessInterruptionTerms(
            waiting_minutes=waiting_hours * 60, rule=rule, restoration_cap_minutes=restoration_cap_minutes
        ),
        "retroactive_date": date(2025, 1, 1),
        "notice_condition_minutes": 24 * 60,
        "panel_vendor_ids": [PANEL_VENDOR],
    }
    values.update(overrides)
    return CoverageSchedule(**values)


def item(item_id: str, head: CoverageHead, amount: Money, **overrides) -> LossItem:
    return LossItem(item_id=item_id, head=head, amount=amount, **overrides)


def outage(
    hours: float = 30, net_profit: Money = NET_PROFIT_PER_HOUR, expenses: Money = EXPENSES_PER_HOUR
) -> BusinessInterruptionLoss:
    return BusinessInterruptionLoss(
        net_profit_per_hour=net_profit,
        continuing_expenses_per_hour=expenses,
        outage_start=OUTAGE_START,
        outage_end=OUTAGE_START + timedelta(hours=hours),
    )


def bi_item(item_id: str = "bi-1", **outage_figures) -> LossItem:
    return LossItem(item_id=item_id, head=BI, business_interruption=outage(**outage_figures))
