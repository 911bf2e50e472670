"""The limits of one policy period and what claims hold of them.

A claim holds what its latest statement makes payable, head by head. A new determination sees
every other claim's hold as used, so claims on one period can never together pay past a limit.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from domain.boundaries import Instant
from domain.coverage import CoverageHead
from domain.errors import DomainRuleError
from domain.loss import LossConditions, LossItem, determine_loss
from domain.loss_statement import LimitsUsed, LossStatement
from domain.money import Money
from domain.schedule import CoverageSchedule


class ClaimHold(BaseModel):
    model_config = ConfigDict(frozen=True)

    determination: int
    statement: LossStatement
    by_head: dict[CoverageHead, int] = Field(description="fen held per head")
    paid_fen: int = 0
    final: bool = False

    @property
    def held_fen(self) -> int:
        return sum(self.by_head.values())


class TermLedger(BaseModel):
    term_number: int
    term_end: Instant
    schedule: CoverageSchedule
    holds: dict[str, ClaimHold] = Field(default_factory=dict)

    @property
    def currency(self) -> str:
        return self.schedule.aggregate_limit.currency

    @property
    def open_claims(self) -> list[str]:
        return [claim for claim, hold in self.holds.items() if not hold.final]

    def used_by_others(self, claim_id: str) -> LimitsUsed:
        by_head: dict[CoverageHead, int] = {}
        for other, hold in self.holds.items():
            if other != claim_id:
                for head, fen in hold.by_head.items():
                    by_head[head] = by_head.get(head, 0) + fen
        currency = self.currency
        return LimitsUsed(
            aggregate=Money(fen=sum(by_head.values()), currency=currency),
            by_head={head: Money(fen=fen, currency=currency) for head, fen in by_head.items()},
        )

    def determine_and_hold(
        self, claim_id: str, determination: int, items: list[LossItem], conditions: LossConditions
    ) -> LossStatement:
        """The claim's statement against what is left; the same determination asked again is answered again."""
        current = self.holds.get(claim_id)
        if current is not None:
            if current.final:
                raise DomainRuleError("claim_settled", f"claim {claim_id} is settled; its hold is closed")
            if determination == current.determination:
                return current.statement
            if determination < current.determination:
                raise DomainRuleError(
                    "stale_determination",
                    f"determination {determination} is older than the held {current.determination}",
                )
        statement = determine_loss(self.schedule, items, conditions, self.used_by_others(claim_id))
        by_head = {line.head: line.payable.fen for line in statement.lines if line.payable.fen}
        paid = current.paid_fen if current else 0
        if paid > statement.total_payable.fen:
            raise DomainRuleError(
                "below_paid", f"the new statement pays {statement.total_payable.fen} fen, less than {paid} already paid"
            )
        self.holds[claim_id] = ClaimHold(
            determination=determination, statement=statement, by_head=by_head, paid_fen=paid
        )
        return statement

    def settle(self, claim_id: str, paid: Money, *, final: bool) -> None:
        """Record what the claim has paid in all; when final, release whatever it held beyond that."""
        hold = self.holds.get(claim_id)
        if hold is None:
            if paid.fen:
                raise DomainRuleError("no_hold", f"claim {claim_id} holds nothing, so it cannot have paid")
            self.holds[claim_id] = ClaimHold(
                determination=0, statement=_empty_statement(self.currency), by_head={}, final=final
            )
            return
        if paid.fen > hold.held_fen:
            raise DomainRuleError(
                "above_hold", f"claim {claim_id} paid {paid.fen} fen but holds only {hold.held_fen} fen"
            )
        by_head = _allocate(paid.fen, hold.by_head) if final else hold.by_head
        self.holds[claim_id] = hold.model_copy(update={"paid_fen": paid.fen, "by_head": by_head, "final": final})

    def position(self) -> tuple[int, int, int]:
        """(aggregate remaining, held but unpaid, paid), in fen."""
        held = sum(h.held_fen for h in self.holds.values())
        paid = sum(h.paid_fen for h in self.holds.values())
        return self.schedule.aggregate_limit.fen - held, held - paid, paid


def _allocate(paid_fen: int, by_head: dict[CoverageHead, int]) -> dict[CoverageHead, int]:
    """What a settled claim keeps: its payment spread over its heads in §3 order."""
    kept: dict[CoverageHead, int] = {}
    for head in sorted(by_head, key=lambda h: h.order):
        take = min(by_head[head], paid_fen)
        if take:
            kept[head] = take
        paid_fen -= take
    return kept


def _empty_statement(currency: str) -> LossStatement:
    zero_money = Money(fen=0, currency=currency)
    return LossStatement(
        currency=currency, lines=[], items=[], total_payable=zero_money, aggregate_remaining_after=zero_money,
        limits_used_after=LimitsUsed(aggregate=zero_money), exclusions_applied=[],
    )
