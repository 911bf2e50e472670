"""Changes to one policy sent at the same time apply one after the other, each from the state the
previous one left: neither is lost, and no premium is computed from a stale schedule."""

import asyncio

from contracts.policy import CancellationRequest, EndorsementRequest
from domain.coverage import CoverageHead
from domain.money import Money
from domain.policy import CancellingParty
from tests.builders import assessment
from tests.workflows.support import bind, running_worker, scalar, start_policy, status
from workflows.policy import PolicyWorkflow


def policy_id_of(handle) -> str:
    return handle.id.removeprefix("policy-")


async def test_two_endorsements_sent_at_once_both_change_the_schedule_and_the_premium(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        bound = await bind(handle, assessment())
        interruption = EndorsementRequest(
            request_id="end-bi", head=CoverageHead.BUSINESS_INTERRUPTION, new_sublimit=Money.yuan(3_000_000)
        )
        ransomware = EndorsementRequest(
            request_id="end-rw", head=CoverageHead.RANSOMWARE_EXTORTION, new_sublimit=Money.yuan(1_500_000)
        )
        receipts = await asyncio.gather(
            handle.execute_update(PolicyWorkflow.endorse, interruption),
            handle.execute_update(PolicyWorkflow.endorse, ransomware),
        )
        added = sum(r.additional_premium.fen - r.return_premium.fen for r in receipts)
        assert all(r.additional_premium.fen > 0 for r in receipts)
        after = await status(handle)
        assert after.endorsements == 2
        assert after.premium_charged.fen == bound.premium_charged.fen + added

        # The schedule kept both changes: the next endorsement of each head starts from the new limit.
        for head, limit in ((CoverageHead.BUSINESS_INTERRUPTION, 3_000_000), (CoverageHead.RANSOMWARE_EXTORTION, 1_500_000)):
            await handle.execute_update(
                PolicyWorkflow.endorse,
                EndorsementRequest(request_id=f"again-{head.value}", head=head, new_sublimit=Money.yuan(limit + 100_000)),
            )
            previous = await scalar(
                session_factory,
                "SELECT previous_sublimit_fen FROM endorsements WHERE policy_id = :p AND request_id = :r",
                p=policy_id_of(handle), r=f"again-{head.value}",
            )
            assert previous == Money.yuan(limit).fen, head


async def test_a_cancellation_sent_with_an_endorsement_returns_premium_on_what_was_charged(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        handle = await start_policy(client, task_queue)
        bound = await bind(handle, assessment())
        endorsement = EndorsementRequest(
            request_id="end-bi", head=CoverageHead.BUSINESS_INTERRUPTION, new_sublimit=Money.yuan(3_000_000)
        )
        cancellation = CancellationRequest(cancelled_by=CancellingParty.INSURED, reason="business sold")
        endorsed, cancelled = await asyncio.gather(
            handle.execute_update(PolicyWorkflow.endorse, endorsement),
            handle.execute_update(PolicyWorkflow.cancel, cancellation),
            return_exceptions=True,
        )
        outcome = await handle.result()
        assert outcome.phase.value == "cancelled"
        charged = bound.premium_charged.fen
        if not isinstance(endorsed, BaseException):
            charged += endorsed.additional_premium.fen - endorsed.return_premium.fen
        # Cancelled at once, so all but a sliver of what was charged comes back.
        assert charged - charged // 100 <= cancelled.return_premium.fen <= charged
