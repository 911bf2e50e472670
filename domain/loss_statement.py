"""The documents of loss determination: a claim's items and conditions going in, and the loss
statement (定损结果) coming out, with every figure on the way to what each head pays.

`domain.loss` does the arithmetic and re-exports all of these names.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.boundaries import PartyId, PastInstant
from domain.coverage import CoverageHead
from domain.money import Currency, Money, zero
from domain.schedule import BusinessInterruptionRule


class BusinessInterruptionLoss(BaseModel):
    """The adjuster's figures for one outage window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    net_profit_per_hour: Money
    continuing_expenses_per_hour: Money
    outage_start: PastInstant
    outage_end: PastInstant

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> BusinessInterruptionLoss:
        if self.outage_end <= self.outage_start:
            raise ValueError("outage_end must be after outage_start")
        return self

    @property
    def outage_minutes(self) -> int:
        return (self.outage_end - self.outage_start) // timedelta(minutes=1)

    @property
    def rate_fen_per_hour(self) -> int:
        return self.net_profit_per_hour.fen + self.continuing_expenses_per_hour.fen


class LossItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str = Field(min_length=1, max_length=128, description="unique within the claim")
    head: CoverageHead
    amount: Money | None = Field(default=None, description="required for every head except BI")
    business_interruption: BusinessInterruptionLoss | None = Field(default=None, description="BI only")
    evidence_refs: list[str] = Field(default_factory=list, max_length=200, description="evidence ids or SHA-256s")
    vendor_id: PartyId | None = Field(default=None, description="who did the work (response, forensics)")
    description: str = Field(default="", max_length=2000)


class LossConditions(BaseModel):
    """The facts the exclusions and conditions turn on; every default means "nothing wrong"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_backed_attack: bool = False
    war_exclusion_applies: bool = False
    first_intrusion_at: PastInstant | None = None
    known_before_inception: bool = False
    consented_non_panel_vendor_ids: list[PartyId] = Field(default_factory=list, max_length=100)
    ransom_paid_with_insurer_consent: bool = False
    police_report_filed: bool = False
    overdue_critical_on_exploited_asset: bool = False


class Exclusion(StrEnum):
    """Why an item pays nothing (docs/domain.md, "Loss determination", exclusions and conditions)."""

    WAR_OR_STATE_BACKED = "war_or_state_backed"
    BEFORE_RETROACTIVE_DATE = "before_retroactive_date"
    KNOWN_BEFORE_INCEPTION = "known_before_inception"
    NON_PANEL_VENDOR_WITHOUT_CONSENT = "non_panel_vendor_without_consent"
    RANSOM_WITHOUT_CONSENT = "ransom_without_consent"
    RANSOM_WITHOUT_POLICE_REPORT = "ransom_without_police_report"


EXCLUSION_WORDING: dict[Exclusion, str] = {
    Exclusion.WAR_OR_STATE_BACKED: "war, or an attack attributed to a state, beyond the policy's threshold",
    Exclusion.BEFORE_RETROACTIVE_DATE: "the first intrusion happened before the policy's retroactive date",
    Exclusion.KNOWN_BEFORE_INCEPTION: "the incident was known to the insured before the policy began",
    Exclusion.NON_PANEL_VENDOR_WITHOUT_CONSENT: (
        "the work was done by a vendor not on the insurer's panel, without the insurer's consent"
    ),
    Exclusion.RANSOM_WITHOUT_CONSENT: "the ransom was paid without the insurer's consent",
    Exclusion.RANSOM_WITHOUT_POLICE_REPORT: "the ransom was paid without a report to the police",
}


class LimitsUsed(BaseModel):
    """What earlier claims of the same policy period already took from the limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    aggregate: Money = Field(default_factory=zero)
    by_head: dict[CoverageHead, Money] = Field(default_factory=dict)

    def for_head(self, head: CoverageHead) -> Money:
        return self.by_head.get(head, zero(self.aggregate.currency))


class ItemLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str
    head: CoverageHead
    claimed: Money = Field(
        description="the amount; for BI the loss over the covered minutes, floor(rate × covered / 60)"
    )
    excluded_by: list[Exclusion] = Field(default_factory=list)

    @property
    def is_excluded(self) -> bool:
        return bool(self.excluded_by)


class HeadLine(BaseModel):
    """One head of one claim, step by step (docs/domain.md, "Loss determination", steps 1-4)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    head: CoverageHead
    items: list[str] = Field(description="the item ids on this head, in the order given")
    gross: Money = Field(description="sum of the items not excluded; BI: floor(rate × covered / 60)")
    retention: Money = Field(description="R, after the overdue-critical uplift when it applies")
    retention_uplifted: bool
    net_of_retention: Money = Field(description="step 1")
    coinsurance_bps: int
    after_coinsurance: Money = Field(description="step 2")
    sublimit_remaining: Money = Field(description="the head's sublimit less what earlier claims took")
    after_sublimit: Money = Field(description="step 3")
    aggregate_remaining_before: Money = Field(description="what the aggregate still held when this head came")
    payable: Money = Field(description="step 4")
    bi_covered_minutes: int | None = None
    bi_waiting_minutes: int | None = None
    bi_rule: BusinessInterruptionRule | None = None
    notes: list[str] = Field(default_factory=list)


class LossStatement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: Currency
    lines: list[HeadLine] = Field(description="one per head with items, property heads first (§3 order)")
    items: list[ItemLine] = Field(description="one per item, in the order given")
    total_payable: Money
    aggregate_remaining_after: Money
    limits_used_after: LimitsUsed
    exclusions_applied: list[Exclusion] = Field(description="every exclusion met by some item, each once")

    def line_for(self, head: CoverageHead) -> HeadLine | None:
        return next((line for line in self.lines if line.head is head), None)

    def item(self, item_id: str) -> ItemLine | None:
        return next((line for line in self.items if line.item_id == item_id), None)
