"""The application for cover (投保意向单) and the organisation that applies."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.boundaries import PartyId
from domain.coverage import CoverageHead, Industry, PolicyClass, RevenueBand
from domain.money import Money

# GB 32100-2015: the unified social credit code's alphabet (no I, O, S, V, Z) and weights.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_character(first_seventeen: str) -> str:
    total = sum(_USCC_ALPHABET.index(ch) * w for ch, w in zip(first_seventeen, _USCC_WEIGHTS))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code: str) -> str:
    """Return the code in upper case, or raise ValueError naming what is wrong."""
    code = code.strip().upper()
    if len(code) != 18:
        raise ValueError(f"unified social credit code must have 18 characters, got {len(code)}")
    bad = [str(i + 1) for i, ch in enumerate(code) if ch not in _USCC_ALPHABET]
    if bad:
        # Positions, not the characters: an error message never repeats what was sent.
        raise ValueError(f"unified social credit code has characters outside GB 32100 at positions {', '.join(bad)}")
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        raise ValueError("unified social credit code fails its check character (GB 32100-2015)")
    return code


# A credit code as a field type: upper-cased and checked where it is declared.
USCC_PATTERN = r"^\s*[0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]{18}\s*$"  # the schema's word; validate_uscc is the rule
UnifiedSocialCreditCode = Annotated[
    str,
    AfterValidator(validate_uscc),
    Field(
        description="unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters with its check character",
        json_schema_extra={"pattern": USCC_PATTERN},
    ),
]


class InformationSystem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    mlps_level: int = Field(ge=1, le=5, description="MLPS (等保) protection level")
    is_critical_infrastructure: bool = False


class Organisation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    unified_social_credit_code: UnifiedSocialCreditCode
    industry: Industry
    revenue_band: RevenueBand
    operates_critical_infrastructure: bool = False
    is_state_organ: bool = False
    systems: list[InformationSystem] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_system_names(self) -> Organisation:
        names = [s.name for s in self.systems]
        repeats = [f"systems[{i}]" for i, n in enumerate(names) if names.index(n) != i]
        if repeats:
            raise ValueError(f"information systems listed twice (repeated at {', '.join(repeats)})")
        return self


class CoverageRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    head: CoverageHead
    limit: Money

    @field_validator("limit")
    @classmethod
    def _positive(cls, value: Money) -> Money:
        if value.fen <= 0:
            raise ValueError("a requested limit must be above zero")
        return value


class PolicyApplication(BaseModel):
    """What the insured asks for. Validation errors name the field and the problem."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    organisation: Organisation
    policy_class: PolicyClass = PolicyClass.ENTERPRISE
    coverages: list[CoverageRequest] = Field(min_length=1)
    aggregate_limit: Money
    assessing_vendor_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    alternative_vendor_ids: list[PartyId] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _consistent(self) -> PolicyApplication:
        heads = [c.head for c in self.coverages]
        repeated = sorted({h.value for h in heads if heads.count(h) > 1})
        if repeated:
            raise ValueError(f"coverage heads requested twice: {', '.join(repeated)}")
        currencies = {c.limit.currency for c in self.coverages} | {self.aggregate_limit.currency}
        if len(currencies) > 1:
            raise ValueError("all limits must be in one currency")
        over = [c.head.value for c in self.coverages if c.limit.fen > self.aggregate_limit.fen]
        if over:
            raise ValueError(f"sublimits above the aggregate limit: {', '.join(over)}")
        if self.assessing_vendor_id in self.alternative_vendor_ids:
            raise ValueError("the assessing vendor cannot also be its own alternative")
        return self

    @property
    def currency(self) -> str:
        return self.aggregate_limit.currency
