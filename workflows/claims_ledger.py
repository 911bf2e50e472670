"""The policy workflow as the single owner of remaining limits: claims hold and settle through it.

Every determination and settlement runs inside this one workflow, one at a time, so concurrent
claims on a policy period can never together be granted more than its limits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.failures import INVALID_DATA, describe_validation_error
    from contracts.claim_activities import LedgerPosition, ReserveLimits, SettleReservation
    from contracts.policy import PolicyState
    from domain.errors import DomainRuleError
    from domain.ledger import TermLedger
    from domain.loss_statement import LossStatement
    from domain.money import Money
    from domain.policy import BoundPolicy
    from workflows.underwriting import refusal


class ClaimsLedger:
    def __init__(self, state: PolicyState, runoff: timedelta) -> None:
        self.state = state
        self.runoff = runoff

    def open_term(self, policy: BoundPolicy, now: datetime) -> None:
        """A newly bound term gets its own limits; long-finished terms with nothing open are dropped."""
        ledgers = self.state.ledgers
        for term, ledger in list(ledgers.items()):
            if ledger.term_end + self.runoff < now and not ledger.open_claims:
                del ledgers[term]
        ledgers[policy.term_number] = TermLedger(
            term_number=policy.term_number, term_end=policy.term_end, schedule=policy.schedule
        )

    def follow_endorsement(self, policy: BoundPolicy) -> None:
        ledger = self.state.ledgers.get(policy.term_number)
        if ledger is not None:
            ledger.schedule = policy.schedule

    def has_open_claims(self) -> bool:
        return any(ledger.open_claims for ledger in self.state.ledgers.values())

    def check(self, term_number: int) -> None:
        if term_number not in self.state.ledgers:
            raise refusal("no_limits", f"term {term_number} of this policy has no limits to claim against", lasting=True)

    def reserve(self, request: ReserveLimits) -> LossStatement:
        ledger = self.state.ledgers[request.term_number]
        try:
            return ledger.determine_and_hold(request.claim_id, request.determination, request.items, request.conditions)
        except DomainRuleError as err:
            raise ApplicationError(err.message, type=err.code, non_retryable=True) from None
        except ValidationError as err:  # a figure no amount may hold: the update fails, not the policy's task
            raise ApplicationError(describe_validation_error(err), type=INVALID_DATA, non_retryable=True) from None

    def settle(self, request: SettleReservation) -> LedgerPosition:
        ledger = self.state.ledgers[request.term_number]
        try:
            ledger.settle(request.claim_id, request.paid, final=request.final)
        except DomainRuleError as err:
            raise ApplicationError(err.message, type=err.code, non_retryable=True) from None
        except ValidationError as err:
            raise ApplicationError(describe_validation_error(err), type=INVALID_DATA, non_retryable=True) from None
        return self.position(request.term_number)

    def position(self, term_number: int) -> LedgerPosition:
        ledger = self.state.ledgers[term_number]
        remaining, reserved, paid = ledger.position()
        currency = ledger.currency
        return LedgerPosition(
            term_number=term_number,
            aggregate_remaining=Money(fen=remaining, currency=currency),
            reserved=Money(fen=reserved, currency=currency),
            paid=Money(fen=paid, currency=currency),
        )
