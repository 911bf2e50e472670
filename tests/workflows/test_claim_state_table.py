"""The claim workflow asks its process table: every update it offers is on the table, and every
validator refuses, in the table's words, each update the claim's phase does not accept. No server:
the validators are plain methods over the claim's state."""

from __future__ import annotations

import itertools

import pytest
from temporalio.workflow._definition import _Definition

from contracts.claim import (
    Approval,
    ClaimClosure,
    ClaimWorkflowInput,
    ConditionsUpdate,
    Denial,
    InterimPaymentRequest,
    LossItemsSubmission,
    OfferAnswer,
    SubrogationRequest,
)
from domain.claim import ClaimPhase
from domain.claim_process import ClaimUpdate, refusal_for
from domain.coverage import CoverageHead
from domain.loss import LossItem
from domain.money import Money
from workflows.claim import ClaimWorkflow

UPDATES = _Definition.must_from_class(ClaimWorkflow).updates
ER = CoverageHead.EMERGENCY_RESPONSE
# One well-formed message for each update, so that only the claim's phase can refuse it.
MESSAGES: dict[ClaimUpdate, tuple] = {
    ClaimUpdate.SUBMIT_LOSS_ITEMS: (LossItemsSubmission(items=[LossItem(item_id="ir", head=ER, amount=Money.yuan(1))]),),
    ClaimUpdate.SET_CONDITIONS: (ConditionsUpdate(police_report_filed=True),),
    ClaimUpdate.DETERMINE: (),
    ClaimUpdate.APPROVE: (Approval(approver_id="adjuster-1"),),
    ClaimUpdate.DENY: (Denial(approver_id="adjuster-1", reasons=["excluded"]),),
    ClaimUpdate.ACCEPT_OFFER: (OfferAnswer(),),
    ClaimUpdate.DISPUTE_OFFER: (OfferAnswer(reason="too little"),),
    ClaimUpdate.INTERIM_PAYMENT: (InterimPaymentRequest(head=ER, amount=Money.yuan(1), approver_id="adjuster-1"),),
    ClaimUpdate.RECORD_SUBROGATION: (SubrogationRequest(liable_party="the MSP", basis="contract",
                                                        amount_sought=Money.yuan(1)),),
    ClaimUpdate.CLOSE: (ClaimClosure(reason="withdrawn"),),
    ClaimUpdate.REOPEN: (ClaimClosure(reason="new evidence"),),
}


def claim_in(phase: ClaimPhase) -> ClaimWorkflow:
    claim = ClaimWorkflow(ClaimWorkflowInput(claim_id="clm-1", incident_id="inc-1"))
    claim.state.phase, claim.state.recorded = phase, True
    return claim


def test_every_update_the_claim_offers_is_on_its_process_table():
    assert set(UPDATES) == {update.value for update in ClaimUpdate}
    assert all(UPDATES[update.value].validator is not None for update in ClaimUpdate), "each update is validated"


REFUSED = [(phase, update) for phase, update in itertools.product(ClaimPhase, ClaimUpdate)
           if refusal_for(phase, update) is not None]


@pytest.mark.parametrize(("phase", "update"), REFUSED, ids=lambda v: v.value)
def test_a_validator_refuses_in_the_words_of_the_process(phase: ClaimPhase, update: ClaimUpdate):
    validator = UPDATES[update.value].validator
    assert validator is not None
    with pytest.raises(ValueError) as refused:
        validator(claim_in(phase), *MESSAGES[update])
    assert str(refused.value) == refusal_for(phase, update)


@pytest.mark.parametrize("update", [ClaimUpdate.DENY, ClaimUpdate.CLOSE, ClaimUpdate.SET_CONDITIONS,
                                    ClaimUpdate.RECORD_SUBROGATION, ClaimUpdate.REOPEN], ids=lambda u: u.value)
def test_a_validator_lets_through_what_the_phase_accepts(update: ClaimUpdate):
    """Updates whose message says all the validator needs: accepted in every phase the table accepts them."""
    for phase in ClaimPhase:
        if refusal_for(phase, update) is None:
            UPDATES[update.value].validator(claim_in(phase), *MESSAGES[update])
