"""What the claim state machine (and reading its paths) found, one test each. A bug not yet fixed is
pinned here as a strict xfail, so that its fix shows up as an unexpected pass; then remove the
marker, and the matching KNOWN_BUG flag in test_claim_state_machine.py."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError

from contracts.claim import Approval, ClaimClosure, InterimPaymentRequest, LossItemsSubmission, OfferAnswer
from domain.claim import ClaimPhase, ClaimRules
from domain.coverage import CoverageHead
from domain.loss import BusinessInterruptionLoss, LossItem
from domain.money import Money
from tests.properties.claim_stage import open_claim
from tests.workflows.post_cover import hours
from tests.workflows.support import running_worker
from workflows.claim import ClaimWorkflow

RESPONDER_BILL = LossItem(
    item_id="ir", head=CoverageHead.EMERGENCY_RESPONSE, amount=Money.yuan(300_000), vendor_id="panel-ir-01"
)


async def test_a_reopened_claim_pays_only_what_its_policy_holds(time_skipping_env, session_factory, task_queue):
    """`reopen` once put the claim back in review with its old statement while its policy held none
    of it (closing had released the hold). Approving and accepting that statement wrote a payout the
    policy's ledger then refused (`above_hold`), leaving the claim stuck in `paying`. Now a reopened
    claim gathers its loss again, and only a new determination, held afresh, can be approved."""
    async with running_worker(time_skipping_env.client, session_factory, task_queue):
        stage = await open_claim(time_skipping_env, session_factory, task_queue, notice="on_time", rules=ClaimRules())
        claim = stage.claim
        await claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[RESPONDER_BILL]))
        statement = await claim.execute_update(ClaimWorkflow.determine)
        assert statement.total_payable.fen > 0
        await claim.execute_update(ClaimWorkflow.close, ClaimClosure(reason="closed before paying"))
        reopened = await claim.execute_update(
            ClaimWorkflow.reopen, ClaimClosure(reason="the insured sent more evidence")
        )
        assert reopened.phase is ClaimPhase.GATHERING_LOSS

        with pytest.raises(WorkflowUpdateFailedError) as refusal:
            await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))
        assert "only a determined claim in review" in str(refusal.value.cause)
        seen = await stage.observe()
        assert seen.payouts == () and seen.limits[0].reserved.fen == 0, "the released hold came back unasked"

        again = await claim.execute_update(ClaimWorkflow.determine)
        assert (await stage.observe()).limits[0].reserved.fen == again.total_payable.fen
        await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))
        await claim.execute_update(ClaimWorkflow.accept_offer, OfferAnswer())

        seen = await stage.observe()
        (term,) = seen.limits
        assert seen.payouts == (again.total_payable.fen,)
        assert term.paid.fen == sum(seen.payouts) and term.reserved.fen == 0
        assert seen.status.phase is ClaimPhase.CLOSED


async def test_a_claim_that_settles_the_same_amount_twice_is_settled_twice(
    time_skipping_env, session_factory, task_queue
):
    """An interim payment settles the hold at what was paid (not final); closing settles it final at
    the same amount; reopening settles it not final at that amount again. The third settlement once
    carried the first one's update id (`<claim>:settle:<paid>:False`), so Temporal answered it with
    the old result and applied nothing: the hold stayed final and every later determination was
    refused as `claim_settled`."""
    async with running_worker(time_skipping_env.client, session_factory, task_queue):
        stage = await open_claim(time_skipping_env, session_factory, task_queue, notice="on_time", rules=ClaimRules())
        claim = stage.claim
        await claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[RESPONDER_BILL]))
        await claim.execute_update(ClaimWorkflow.determine)
        interim = Money.yuan(50_000)
        await claim.execute_update(
            ClaimWorkflow.interim_payment, InterimPaymentRequest(head=CoverageHead.EMERGENCY_RESPONSE, amount=interim, approver_id="adjuster-1")
        )
        await claim.execute_update(ClaimWorkflow.close, ClaimClosure(reason="the insured withdrew the rest"))
        await claim.execute_update(ClaimWorkflow.reopen, ClaimClosure(reason="the insured asked again"))

        statement = await claim.execute_update(ClaimWorkflow.determine)
        await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))
        await claim.execute_update(ClaimWorkflow.accept_offer, OfferAnswer())

        seen = await stage.observe()
        assert seen.payouts == (interim.fen, statement.total_payable.fen - interim.fen)
        assert seen.limits[0].paid.fen == statement.total_payable.fen
        assert seen.status.phase is ClaimPhase.CLOSED


async def test_a_claim_refused_a_determination_can_be_determined_once_its_items_are_put_right(
    time_skipping_env, session_factory, task_queue
):
    """The ledger refuses a claim with two BI items. The adjuster replaces the second one; the next
    determination carries the same number; it once sent the same update id (`<claim>:reserve:<n>`) and
    Temporal answered with the first refusal, whatever the items were now."""
    async with running_worker(time_skipping_env.client, session_factory, task_queue):
        stage = await open_claim(time_skipping_env, session_factory, task_queue, notice="on_time", rules=ClaimRules())
        claim = stage.claim

        def outage(item_id: str) -> LossItem:
            figures = BusinessInterruptionLoss(
                net_profit_per_hour=Money.yuan(6_000), continuing_expenses_per_hour=Money.yuan(4_000),
                outage_start=stage.discovered, outage_end=stage.discovered + hours(30),
            )
            return LossItem(item_id=item_id, head=CoverageHead.BUSINESS_INTERRUPTION, business_interruption=figures)

        items = [RESPONDER_BILL, outage("bi"), outage("bi-2")]
        await claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=items))
        with pytest.raises(WorkflowUpdateFailedError):
            await claim.execute_update(ClaimWorkflow.determine)  # one outage window per claim

        put_right = RESPONDER_BILL.model_copy(update={"item_id": "bi-2"})  # the second BI item replaced
        await claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[put_right]))
        try:
            statement = await claim.execute_update(ClaimWorkflow.determine)
        except WorkflowUpdateFailedError as refusal:
            pytest.fail(f"refused with the first refusal's words: {getattr(refusal.cause, 'message', refusal)}")
        assert statement.line_for(CoverageHead.BUSINESS_INTERRUPTION) is not None
