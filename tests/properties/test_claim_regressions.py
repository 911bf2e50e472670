"""What the claim state machine found, one test each; strict xfail until fixed, so that a fix shows
up as an unexpected pass (then remove the marker, and the matching KNOWN_BUG flag in
test_claim_state_machine.py)."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain.claim import ClaimPhase, ClaimRules
from domain.coverage import CoverageHead
from domain.loss import BusinessInterruptionLoss, LossItem
from domain.money import Money
from tests.properties.claim_stage import open_claim
from tests.workflows.post_cover import hours
from tests.workflows.support import running_worker
from workflows.claim import ClaimWorkflow
from workflows.claim_messages import Approval, ClaimClosure, LossItemsSubmission, OfferAnswer

RESPONDER_BILL = LossItem(
    item_id="ir", head=CoverageHead.EMERGENCY_RESPONSE, amount=Money.yuan(300_000), vendor_id="panel-ir-01"
)


@pytest.mark.xfail(strict=True, reason="known bug: reopening does not hold the statement's limits again")
async def test_a_reopened_claim_pays_only_what_its_policy_holds(time_skipping_env, session_factory, task_queue):
    """`reopen` settles the claim's hold as not final but leaves it at what was paid (here nothing),
    then puts the claim back in review with its old statement. Approving and accepting that statement
    pays its balance (a payout row is written), the policy's ledger refuses the settlement
    (`above_hold`), the update fails, and the claim is stuck in `paying` with money out that the
    policy's limits never counted."""
    async with running_worker(time_skipping_env.client, session_factory, task_queue):
        stage = await open_claim(time_skipping_env, session_factory, task_queue, notice="on_time", rules=ClaimRules())
        claim = stage.claim
        await claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[RESPONDER_BILL]))
        statement = await claim.execute_update(ClaimWorkflow.determine)
        assert statement.total_payable.fen > 0
        await claim.execute_update(ClaimWorkflow.close, ClaimClosure(reason="closed before paying"))
        await claim.execute_update(ClaimWorkflow.reopen, ClaimClosure(reason="the insured sent more evidence"))

        try:
            await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))
            await claim.execute_update(ClaimWorkflow.accept_offer, OfferAnswer())
        except WorkflowUpdateFailedError:
            pass  # refusing is fine, as long as nothing was paid

        seen = await stage.observe()
        (term,) = seen.limits
        assert term.paid.fen == sum(seen.payouts), (
            f"paid {sum(seen.payouts)} fen that the policy's ledger does not count ({term.paid.fen} fen)"
        )
        assert seen.status.phase is not ClaimPhase.PAYING, "the claim is stuck paying"


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
