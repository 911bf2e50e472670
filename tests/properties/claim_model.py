"""What a claim should do with each command: a plain model of the claim's rules, written from
domain/claim.py, domain/ledger.py and the README, that the real ClaimWorkflow is compared with.

Each command returns the next model, or `Refused` saying why. The model also keeps what the
policy's ledger should hold for the claim, so that it refuses what the ledger would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from contracts.claim import ConditionsUpdate
from domain.claim import ClaimPhase, ClaimRules, approvals_required
from domain.coverage import CoverageHead
from domain.errors import DomainRuleError
from domain.loss import LossConditions, LossItem, LossStatement, determine_loss
from domain.loss_statement import LimitsUsed
from domain.money import Money
from domain.schedule import CoverageSchedule

REVIEWABLE = (ClaimPhase.GATHERING_LOSS, ClaimPhase.IN_REVIEW)


@dataclass(frozen=True)
class Refused:
    why: str
    by_ledger: bool = False  # refused by the policy's ledger (through reserve_limits), not the claim's validator


@dataclass(frozen=True)
class ClaimModel:
    schedule: CoverageSchedule
    rules: ClaimRules
    phase: ClaimPhase
    items: dict[str, LossItem] = field(default_factory=dict)  # insertion order, as the workflow keeps it
    conditions: LossConditions = field(default_factory=LossConditions)
    statement: LossStatement | None = None
    approvals: tuple[str, ...] = ()
    determination: int = 0
    disputes: int = 0
    payouts: int = 0
    paid_fen: int = 0
    interim_paid_fen: dict[CoverageHead, int] = field(default_factory=dict)
    held_fen: int = 0  # what the policy's ledger holds for this claim, paid or not
    days_closed: int = 0  # since the claim last closed
    finished: bool = False  # the reopening window lapsed (or the claim was rejected): the workflow ended

    @property
    def total_payable_fen(self) -> int:
        return self.statement.total_payable.fen if self.statement else 0

    # -- Loss items, conditions, determination ---------------------------------------------------

    def submit_loss_items(self, items: list[LossItem]) -> ClaimModel | Refused:
        if refused := self._not_reviewable("loss items"):
            return refused
        uncovered = sorted({i.head.value for i in items if self.schedule.terms_for(i.head) is None})
        if uncovered:
            return Refused(f"head_not_covered: {', '.join(uncovered)}")
        merged = dict(self.items)
        merged.update({item.item_id: item for item in items})
        return self._facts_changed(items=merged)

    def set_conditions(self, update: ConditionsUpdate) -> ClaimModel | Refused:
        if refused := self._not_reviewable("conditions"):
            return refused
        return self._facts_changed(conditions=self.conditions.model_copy(update=update.model_dump()))

    def determine(self) -> ClaimModel | Refused:
        if refused := self._not_reviewable("a determination"):
            return refused
        if not self.items:
            return Refused("there are no loss items to determine")
        try:
            # One claim per policy in these tests: nobody else holds any of the limits.
            nobody = LimitsUsed(aggregate=Money(fen=0, currency=self.schedule.aggregate_limit.currency))
            statement = determine_loss(self.schedule, list(self.items.values()), self.conditions, nobody)
        except DomainRuleError as error:
            return Refused(error.code, by_ledger=True)
        if statement.total_payable.fen < self.paid_fen:
            return Refused("below_paid", by_ledger=True)
        return replace(
            self, statement=statement, determination=self.determination + 1, approvals=(), phase=ClaimPhase.IN_REVIEW,
            held_fen=statement.total_payable.fen,
        )

    # -- Review, offer, payment ------------------------------------------------------------------

    def approve(self, approver_id: str) -> ClaimModel | Refused:
        if self.finished or self.phase is not ClaimPhase.IN_REVIEW or self.statement is None:
            return Refused(f"only a determined claim in review can be approved (it is {self.phase.value})")
        if approver_id in self.approvals:
            return Refused("same_approver")
        approvals = (*self.approvals, approver_id)
        offered = len(approvals) >= approvals_required(self.statement.total_payable, self.rules)
        return replace(self, approvals=approvals, phase=ClaimPhase.OFFERED if offered else self.phase)

    def accept_offer(self) -> ClaimModel | Refused:
        if self.finished or self.phase is not ClaimPhase.OFFERED:
            return Refused(f"no approved offer to accept (it is {self.phase.value})")
        balance = self.total_payable_fen - self.paid_fen
        if balance > 0 and self.total_payable_fen > self.held_fen:
            return Refused(f"above_hold: would pay {self.total_payable_fen} fen, the ledger holds {self.held_fen}")
        settled = replace(self, payouts=self.payouts + 1) if balance > 0 else self
        return settled._closed(paid_fen=self.paid_fen + max(balance, 0))

    def dispute_offer(self, reason: str | None) -> ClaimModel | Refused:
        if self.finished or self.phase is not ClaimPhase.OFFERED:
            return Refused(f"no offer to dispute (it is {self.phase.value})")
        if not reason:
            return Refused("a dispute needs a reason")
        return replace(self, phase=ClaimPhase.IN_REVIEW, approvals=(), disputes=self.disputes + 1)

    def interim_payment(self, head: CoverageHead, amount_fen: int) -> ClaimModel | Refused:
        if self.finished or self.phase is not ClaimPhase.IN_REVIEW or self.statement is None:
            return Refused("interim payments follow a determination, while the claim is in review")
        if head not in self.rules.interim_payment_heads:
            return Refused("interim_head_not_allowed")
        if amount_fen <= 0:
            return Refused("interim_amount")
        line = self.statement.line_for(head)
        payable = line.payable.fen if line else 0
        on_head = self.interim_paid_fen.get(head, 0)
        if on_head + amount_fen > payable:
            return Refused("interim_above_payable")
        if self.paid_fen + amount_fen > self.held_fen:
            return Refused(f"above_hold: would pay {self.paid_fen + amount_fen} fen, the ledger holds {self.held_fen}")
        interim_paid = {**self.interim_paid_fen, head: on_head + amount_fen}
        return replace(self, paid_fen=self.paid_fen + amount_fen, payouts=self.payouts + 1, interim_paid_fen=interim_paid)

    # -- Closing, reopening, time ----------------------------------------------------------------

    def deny(self) -> ClaimModel | Refused:
        return self.close()

    def close(self) -> ClaimModel | Refused:
        if self.finished or self.phase.is_terminal or self.phase is ClaimPhase.PAYING:
            return Refused(f"it cannot be closed now (it is {self.phase.value})")
        return self._closed(paid_fen=self.paid_fen)

    def reopen(self) -> ClaimModel | Refused:
        if self.finished or self.phase is not ClaimPhase.CLOSED:
            return Refused(f"only a closed claim can be reopened (it is {self.phase.value})")
        # Closing released the hold beyond what was paid: only a new determination holds it again.
        return replace(self, phase=ClaimPhase.GATHERING_LOSS, approvals=())

    def time_passes(self, days: int) -> ClaimModel:
        if self.phase is not ClaimPhase.CLOSED or self.finished:
            return self
        days_closed = self.days_closed + days
        lapsed = days_closed * 24 * 60 >= self.rules.reopen_window_minutes
        return replace(self, days_closed=days_closed, finished=lapsed)

    # -- Plumbing --------------------------------------------------------------------------------

    def _not_reviewable(self, what: str) -> Refused | None:
        if self.finished or self.phase not in REVIEWABLE:
            return Refused(f"{what} cannot be changed now (it is {self.phase.value})")
        return None

    def _facts_changed(self, **changes) -> ClaimModel:
        """New facts make the statement stale: back to gathering, approvals gone (the hold stays)."""
        return replace(self, **changes, approvals=(), phase=ClaimPhase.GATHERING_LOSS)

    def _closed(self, *, paid_fen: int) -> ClaimModel:
        """Settled for good: the ledger keeps what was paid and releases the rest of the hold."""
        held = paid_fen if self.statement is not None else 0
        return replace(self, phase=ClaimPhase.CLOSED, paid_fen=paid_fen, held_fen=held, days_closed=0)
