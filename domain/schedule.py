"""The coverage schedule that binding fixes for a term (承保)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.boundaries import Day, PartyId
from domain.coverage import CoverageHead
from domain.money import Money


class BusinessInterruptionRule(StrEnum):
    WAITING_PERIOD = "waiting_period"  # loss in the waiting period is never paid
    HIGHER_OF = "higher_of"  # deductible = higher of retention and waiting-period loss


class HeadTerms(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    head: CoverageHead
    sublimit: Money
    retention: Money
    coinsurance_bps: int = Field(default=0, ge=0, le=10_000, description="the insured's share")


class BusinessInterruptionTerms(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    waiting_minutes: int = Field(ge=0)
    rule: BusinessInterruptionRule
    restoration_cap_minutes: int = Field(gt=0)


class CoverageSchedule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    aggregate_limit: Money
    heads: list[HeadTerms] = Field(min_length=1)
    business_interruption: BusinessInterruptionTerms | None = None
    retroactive_date: Day
    notice_condition_minutes: int = Field(gt=0, description="insurer to be told within this")
    panel_vendor_ids: list[PartyId] = Field(default_factory=list, max_length=100)
    overdue_critical_retention_uplift_bps: int = Field(default=1_000, ge=0)

    @model_validator(mode="after")
    def _bi_terms_with_bi_head(self) -> CoverageSchedule:
        has_bi = any(h.head is CoverageHead.BUSINESS_INTERRUPTION for h in self.heads)
        if has_bi and self.business_interruption is None:
            raise ValueError("business interruption cover needs its waiting period and rule")
        return self

    def terms_for(self, head: CoverageHead) -> HeadTerms | None:
        return next((h for h in self.heads if h.head is head), None)

    def with_head_limit(self, head: CoverageHead, sublimit: Money) -> CoverageSchedule:
        heads = [h.model_copy(update={"sublimit": sublimit}) if h.head is head else h for h in self.heads]
        return self.model_copy(update={"heads": heads})
