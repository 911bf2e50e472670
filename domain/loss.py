"""Loss determination (定责定损): what one claim pays under a coverage schedule (docs/domain.md, "Loss determination").

Items on the same head are summed and the head's retention applies once per claim; then, head by
head, coinsurance, what remains of the sublimit, and what remains of the aggregate, property heads
first. All money is integer fen and every division rounds down.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from domain.boundaries import MAX_FEN
from domain.coverage import CoverageHead
from domain.errors import DomainRuleError
from domain.loss_statement import (
    EXCLUSION_WORDING,
    BusinessInterruptionLoss,
    Exclusion,
    HeadLine,
    ItemLine,
    LimitsUsed,
    LossConditions,
    LossItem,
    LossStatement,
)
from domain.money import Currency, Money
from domain.policy import local_date
from domain.schedule import BusinessInterruptionRule, BusinessInterruptionTerms, CoverageSchedule, HeadTerms

__all__ = [
    "EXCLUSION_WORDING",
    "BusinessInterruptionLoss",
    "Exclusion",
    "HeadLine",
    "ItemLine",
    "LimitsUsed",
    "LossConditions",
    "LossItem",
    "LossStatement",
    "determine_loss",
]

BI = CoverageHead.BUSINESS_INTERRUPTION
FULL_BPS = 10_000


def determine_loss(
    schedule: CoverageSchedule,
    items: list[LossItem],
    conditions: LossConditions,
    limits_used: LimitsUsed,
) -> LossStatement:
    """The loss statement of one claim; raises DomainRuleError (and returns nothing) on a bad claim."""
    _check_claim(schedule, items, limits_used)
    currency = schedule.aggregate_limit.currency
    claim_wide = _claim_wide_exclusions(schedule, conditions)
    item_lines = [
        _item_line(
            item, schedule.business_interruption, claim_wide + _item_exclusions(item, schedule, conditions)
        )
        for item in items
    ]
    aggregate_left = max(schedule.aggregate_limit.fen - limits_used.aggregate.fen, 0)
    lines = []
    for head in sorted({item.head for item in items}, key=lambda h: h.order):
        on_head = [(item, line) for item, line in zip(items, item_lines, strict=True) if item.head is head]
        line = _head_line(schedule, on_head, conditions, limits_used, aggregate_left)
        aggregate_left -= line.payable.fen
        lines.append(line)
    total = sum(line.payable.fen for line in lines)
    by_head = dict(limits_used.by_head)
    for line in lines:
        by_head[line.head] = limits_used.for_head(line.head) + line.payable
    applied = {exclusion for line in item_lines for exclusion in line.excluded_by}
    return LossStatement(
        currency=currency,
        lines=lines,
        items=item_lines,
        total_payable=Money(fen=total, currency=currency),
        aggregate_remaining_after=Money(fen=aggregate_left, currency=currency),
        limits_used_after=LimitsUsed(
            aggregate=limits_used.aggregate + Money(fen=total, currency=currency),
            by_head=dict(sorted(by_head.items(), key=lambda kv: kv[0].order)),
        ),
        exclusions_applied=[exclusion for exclusion in Exclusion if exclusion in applied],
    )


def _check_claim(schedule: CoverageSchedule, items: list[LossItem], limits_used: LimitsUsed) -> None:
    if not items:
        raise DomainRuleError("no_items", "a claim needs at least one loss item")
    seen: set[str] = set()
    for item in items:
        if item.item_id in seen:
            raise DomainRuleError(
                "duplicate_item_id", f"item id {item.item_id!r} is used by more than one item"
            )
        seen.add(item.item_id)
    for item in items:
        if schedule.terms_for(item.head) is None:
            raise DomainRuleError(
                "head_not_covered", f"item {item.item_id}: {item.head.value} is not on this policy's schedule"
            )
        _check_item_figures(item)
    _check_sums_fit(schedule, items)
    bi_items = [item.item_id for item in items if item.head is BI]
    if len(bi_items) > 1:
        raise DomainRuleError(
            "one_business_interruption_item",
            f"a claim has one outage window, so one business interruption item; got {', '.join(bi_items)}",
        )
    if bi_items and schedule.business_interruption is None:
        raise DomainRuleError(
            "no_business_interruption_terms",
            f"item {bi_items[0]}: the schedule has no business interruption terms (waiting period, rule)",
        )
    expected = schedule.aggregate_limit.currency
    for where, money in _every_amount(schedule, items, limits_used):
        if money.currency != expected:
            raise DomainRuleError(
                "currency_mismatch", f"{where} is in {money.currency}; the policy is in {expected}"
            )


def _check_sums_fit(schedule: CoverageSchedule, items: list[LossItem]) -> None:
    """Each head's claimed loss must itself be an amount the service can hold (boundaries.MAX_FEN):
    many items, or a large hourly rate over a long outage, could otherwise sum past it."""
    claimed: dict[CoverageHead, int] = {}
    for item in items:
        if item.amount is not None:
            claimed[item.head] = claimed.get(item.head, 0) + item.amount.fen
        elif item.business_interruption is not None and schedule.business_interruption is not None:
            figures = _bi_figures(item.business_interruption, schedule.business_interruption)
            claimed[item.head] = claimed.get(item.head, 0) + figures.covered_loss
    for head, fen in claimed.items():
        if fen > MAX_FEN:
            raise DomainRuleError(
                "claimed_amount_too_large",
                f"the items on {head.value} claim more than {MAX_FEN} fen together, the most one amount may be",
            )


def _check_item_figures(item: LossItem) -> None:
    if item.head is BI:
        if item.business_interruption is None:
            raise DomainRuleError(
                "business_interruption_details_missing",
                f"item {item.item_id}: a business interruption item needs its business_interruption figures",
            )
        if item.amount is not None:
            raise DomainRuleError(
                "amount_not_allowed",
                f"item {item.item_id}: a business interruption loss is computed from its figures; "
                "leave amount out",
            )
        return
    if item.amount is None:
        raise DomainRuleError(
            "amount_missing", f"item {item.item_id}: a {item.head.value} item needs an amount"
        )
    if item.business_interruption is not None:
        raise DomainRuleError(
            "business_interruption_details_not_allowed",
            f"item {item.item_id}: business_interruption figures belong on a business_interruption item only",
        )


def _every_amount(
    schedule: CoverageSchedule, items: list[LossItem], limits_used: LimitsUsed
) -> Iterator[tuple[str, Money]]:
    for terms in schedule.heads:
        yield f"the schedule's {terms.head.value} sublimit", terms.sublimit
        yield f"the schedule's {terms.head.value} retention", terms.retention
    yield "limits_used.aggregate", limits_used.aggregate
    for head, used in limits_used.by_head.items():
        yield f"limits_used.by_head.{head.value}", used
    for item in items:
        if item.amount is not None:
            yield f"item {item.item_id}'s amount", item.amount
        if item.business_interruption is not None:
            yield f"item {item.item_id}'s net profit per hour", item.business_interruption.net_profit_per_hour
            yield (
                f"item {item.item_id}'s continuing expenses per hour",
                item.business_interruption.continuing_expenses_per_hour,
            )


def _claim_wide_exclusions(schedule: CoverageSchedule, conditions: LossConditions) -> list[Exclusion]:
    found = []
    if conditions.war_exclusion_applies or conditions.state_backed_attack:
        found.append(Exclusion.WAR_OR_STATE_BACKED)
    # The retroactive date is a Beijing calendar date, so the intrusion is compared by its Beijing date.
    intrusion = conditions.first_intrusion_at
    if intrusion is not None and local_date(intrusion) < schedule.retroactive_date:
        found.append(Exclusion.BEFORE_RETROACTIVE_DATE)
    if conditions.known_before_inception:
        found.append(Exclusion.KNOWN_BEFORE_INCEPTION)
    return found


def _item_exclusions(
    item: LossItem, schedule: CoverageSchedule, conditions: LossConditions
) -> list[Exclusion]:
    found = []
    approved = set(schedule.panel_vendor_ids) | set(conditions.consented_non_panel_vendor_ids)
    if item.vendor_id is not None and item.vendor_id not in approved:
        found.append(Exclusion.NON_PANEL_VENDOR_WITHOUT_CONSENT)
    if item.head is CoverageHead.RANSOMWARE_EXTORTION:
        if not conditions.ransom_paid_with_insurer_consent:
            found.append(Exclusion.RANSOM_WITHOUT_CONSENT)
        if not conditions.police_report_filed:
            found.append(Exclusion.RANSOM_WITHOUT_POLICE_REPORT)
    return found


def _item_line(
    item: LossItem, bi_terms: BusinessInterruptionTerms | None, excluded_by: list[Exclusion]
) -> ItemLine:
    if item.head is BI:
        loss = item.business_interruption
        claimed = Money(
            fen=_bi_figures(loss, bi_terms).covered_loss, currency=loss.net_profit_per_hour.currency
        )
    else:
        claimed = item.amount
    return ItemLine(item_id=item.item_id, head=item.head, claimed=claimed, excluded_by=excluded_by)


class _BusinessInterruptionFigures(NamedTuple):
    rate: int  # fen per hour
    outage: int  # minutes
    covered: int  # minutes, after the restoration cap
    waiting: int  # minutes
    covered_loss: int  # fen: floor(rate × covered / 60)
    after_waiting_loss: int  # fen: floor(rate × max(covered − waiting, 0) / 60)
    waiting_loss: int  # fen: floor(rate × min(waiting, covered) / 60)


def _bi_figures(
    loss: BusinessInterruptionLoss, terms: BusinessInterruptionTerms
) -> _BusinessInterruptionFigures:
    rate, outage = loss.rate_fen_per_hour, loss.outage_minutes
    covered, waiting = min(outage, terms.restoration_cap_minutes), terms.waiting_minutes
    return _BusinessInterruptionFigures(
        rate=rate,
        outage=outage,
        covered=covered,
        waiting=waiting,
        covered_loss=rate * covered // 60,
        after_waiting_loss=rate * max(covered - waiting, 0) // 60,
        waiting_loss=rate * min(waiting, covered) // 60,
    )


def _retention(terms: HeadTerms, schedule: CoverageSchedule, conditions: LossConditions) -> Money:
    if not conditions.overdue_critical_on_exploited_asset:
        return terms.retention
    raised = terms.retention.fen * (FULL_BPS + schedule.overdue_critical_retention_uplift_bps) // FULL_BPS
    return Money(fen=min(raised, MAX_FEN), currency=terms.retention.currency)


def _head_line(
    schedule: CoverageSchedule,
    on_head: list[tuple[LossItem, ItemLine]],
    conditions: LossConditions,
    limits_used: LimitsUsed,
    aggregate_left: int,
) -> HeadLine:
    head = on_head[0][0].head
    terms = schedule.terms_for(head)
    currency = schedule.aggregate_limit.currency
    retention = _retention(terms, schedule, conditions)
    notes = [
        f"item {line.item_id} pays nothing: " + "; ".join(EXCLUSION_WORDING[e] for e in line.excluded_by)
        for _, line in on_head
        if line.is_excluded
    ]
    if conditions.overdue_critical_on_exploited_asset:
        notes.append(
            f"retention {terms.retention} raised by {schedule.overdue_critical_retention_uplift_bps} bps "
            f"to {retention}: an overdue critical finding on the exploited asset"
        )
    bi_fields: dict = {}
    if head is BI:
        item, item_line = on_head[0]
        bi_terms = schedule.business_interruption
        figures = _bi_figures(item.business_interruption, bi_terms)
        gross = 0 if item_line.is_excluded else figures.covered_loss
        net = 0 if item_line.is_excluded else _bi_net(figures, bi_terms.rule, retention.fen)
        notes.extend(_bi_notes(figures, bi_terms, retention, currency))
        bi_fields = {
            "bi_covered_minutes": figures.covered,
            "bi_waiting_minutes": figures.waiting,
            "bi_rule": bi_terms.rule,
        }
    else:
        gross = sum(line.claimed.fen for _, line in on_head if not line.is_excluded)
        net = max(gross - retention.fen, 0)
    after_coinsurance = net * (FULL_BPS - terms.coinsurance_bps) // FULL_BPS
    sublimit_remaining = max(terms.sublimit.fen - limits_used.for_head(head).fen, 0)
    after_sublimit = min(after_coinsurance, sublimit_remaining)
    payable = min(after_sublimit, aggregate_left)
    if after_sublimit < after_coinsurance:
        notes.append("capped by what remains of the head's sublimit")
    if payable < after_sublimit:
        notes.append("capped by what remains of the aggregate limit")

    def money(fen: int) -> Money:
        return Money(fen=fen, currency=currency)

    return HeadLine(
        head=head,
        items=[line.item_id for _, line in on_head],
        gross=money(gross),
        retention=retention,
        retention_uplifted=conditions.overdue_critical_on_exploited_asset,
        net_of_retention=money(net),
        coinsurance_bps=terms.coinsurance_bps,
        after_coinsurance=money(after_coinsurance),
        sublimit_remaining=money(sublimit_remaining),
        after_sublimit=money(after_sublimit),
        aggregate_remaining_before=money(aggregate_left),
        payable=money(payable),
        notes=notes,
        **bi_fields,
    )


def _bi_net(figures: _BusinessInterruptionFigures, rule: BusinessInterruptionRule, retention_fen: int) -> int:
    if rule is BusinessInterruptionRule.WAITING_PERIOD:
        return max(figures.after_waiting_loss - retention_fen, 0)
    return max(figures.covered_loss - max(retention_fen, figures.waiting_loss), 0)


def _bi_notes(
    figures: _BusinessInterruptionFigures,
    terms: BusinessInterruptionTerms,
    retention: Money,
    currency: Currency,
) -> Iterator[str]:
    def money(fen: int) -> Money:
        return Money(fen=fen, currency=currency)

    yield f"loss per hour {money(figures.rate)} (net profit + continuing expenses)"
    yield (
        f"outage {figures.outage} min, covered {figures.covered} min "
        f"(period of restoration capped at {terms.restoration_cap_minutes} min)"
    )
    if terms.rule is BusinessInterruptionRule.WAITING_PERIOD:
        yield (
            f"waiting period {figures.waiting} min not paid: loss after it "
            f"{money(figures.after_waiting_loss)}, less retention {retention}"
        )
    else:
        deductible = max(retention.fen, figures.waiting_loss)
        yield (
            f"deductible = higher of retention {retention} and the loss in the {figures.waiting} min waiting "
            f"period {money(figures.waiting_loss)} = {money(deductible)}"
        )
