"""The claim's messages take turns under its one lock, each asking the claim's process again when its
turn comes. Time-skipped, with a real worker and PostgreSQL.

To see the order of turns, a few claim activities are replaced by name with the real ones wrapped: the
first attempt of a chosen one (the loss items' write, an interim payout, loading the claim's basis) is
held until the test lets it go, so that its update holds the lock meanwhile, and every write says in a
log when it is done. Each test fails on the claim as it was before its messages took turns.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateHandle, WorkflowUpdateStage

from activities.claim import ClaimActivities
from contracts.claim import (
    Approval,
    ClaimClosure,
    Denial,
    InterimPaymentRequest,
    LossItemsSubmission,
    SubrogationRequest,
)
from contracts.claim_activities import (
    ClaimBasis,
    LoadClaimBasis,
    PayoutInstruction,
    PayoutReceipt,
    RecordClaimPhase,
    RecordLossItems,
    RecordSubrogation,
)
from domain.claim import ClaimPhase, ClaimRules
from domain.money import Money
from tests.properties.claim_stage import open_claim
from tests.properties.test_claim_regressions import RESPONDER_BILL
from tests.workflows.post_cover import start_claim
from tests.workflows.support import scalar
from tests.workflows.test_post_cover_scenarios import covered_incident, incident_id
from worker import activities_for, build_worker
from workflows.claim import ClaimWorkflow
from workflows.claim_handlers import MOVED_ON

WAIT = 60  # seconds: for something that is bound to happen, on a busy machine
ACCEPTED = WorkflowUpdateStage.ACCEPTED
SUBROGATION = SubrogationRequest(
    liable_party="the managed-service provider", basis="contractual security obligations",
    amount_sought=Money.yuan(100_000),
)


@dataclass
class Gate:
    """Holds the first attempt of an activity until the test lets it go."""

    held: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def pass_through(self) -> None:
        if activity.info().attempt == 1:
            self.held.set()
            await asyncio.wait_for(self.released.wait(), WAIT)


@dataclass
class Writes:
    """What the claim's activities wrote, in order, and the gates (by activity name) the test holds."""

    log: list[str] = field(default_factory=list)
    gates: dict[str, Gate] = field(default_factory=dict)
    subrogation_written: asyncio.Event = field(default_factory=asyncio.Event)

    def hold(self, activity_name: str) -> Gate:
        return self.gates.setdefault(activity_name, Gate())

    async def pass_gate(self, activity_name: str) -> None:
        if activity_name in self.gates:
            await self.gates[activity_name].pass_through()


def watched_activities(session_factory, writes: Writes) -> dict:
    claims = ClaimActivities(session_factory)

    @activity.defn(name="record_loss_items")
    async def record_loss_items(command: RecordLossItems) -> None:
        await writes.pass_gate("record_loss_items")
        await claims.record_loss_items(command)
        writes.log.append("loss items")

    @activity.defn(name="record_subrogation")
    async def record_subrogation(command: RecordSubrogation) -> None:
        await writes.pass_gate("record_subrogation")
        await claims.record_subrogation(command)
        writes.log.append("subrogation")
        writes.subrogation_written.set()

    @activity.defn(name="pay")
    async def pay(instruction: PayoutInstruction) -> PayoutReceipt:
        await writes.pass_gate("pay")
        return await claims.pay(instruction)

    @activity.defn(name="record_claim_phase")
    async def record_claim_phase(command: RecordClaimPhase) -> None:
        await claims.record_claim_phase(command)
        writes.log.append(f"phase {command.phase.value}")

    @activity.defn(name="load_claim_basis")
    async def load_claim_basis(command: LoadClaimBasis) -> ClaimBasis:
        await writes.pass_gate("load_claim_basis")
        return await claims.load_claim_basis(command)

    return {f.__name__: f for f in (record_loss_items, record_subrogation, pay, record_claim_phase, load_claim_basis)}


@asynccontextmanager
async def watching_worker(client, session_factory, task_queue, writes: Writes):
    replaced = watched_activities(session_factory, writes)
    activities = [replaced.get(a.__name__, a) for a in activities_for(client, session_factory)]
    async with build_worker(client, session_factory, task_queue, activities=activities):
        yield


async def holding_the_lock(claim, writes: Writes, write: str, update, *args) -> tuple[WorkflowUpdateHandle, Gate]:
    """`update` sent and held in its `write` (an activity's name): it holds the claim's lock until the
    gate is released."""
    gate = writes.hold(write)
    handle = await claim.start_update(update, *args, wait_for_stage=ACCEPTED)
    await asyncio.wait_for(gate.held.wait(), WAIT)
    return handle, gate


async def test_a_subrogation_waits_its_turn_behind_the_message_before_it(
    time_skipping_env, session_factory, task_queue
):
    """A subrogation sent while the loss items are being written is recorded after them, and a close
    sent after the subrogation waits for it: one message at a time, in the order they came."""
    writes = Writes()
    async with watching_worker(time_skipping_env.client, session_factory, task_queue, writes):
        stage = await open_claim(time_skipping_env, session_factory, task_queue, notice="on_time", rules=ClaimRules())
        claim, writes.log[:] = stage.claim, []
        items, gate = await holding_the_lock(
            claim, writes, "record_loss_items", ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[RESPONDER_BILL])
        )
        subrogation = await claim.start_update(ClaimWorkflow.record_subrogation, SUBROGATION, wait_for_stage=ACCEPTED)
        close = await claim.start_update(
            ClaimWorkflow.close, ClaimClosure(reason="withdrawn by the insured"), wait_for_stage=ACCEPTED
        )
        # Out of turn, the subrogation would be written now, ahead of the loss items; in turn it is not.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(writes.subrogation_written.wait(), 3)
        gate.released.set()

        await items.result()
        recorded = await subrogation.result()
        closed = await close.result()

    assert writes.log == ["loss items", "subrogation", "phase closed"]
    assert recorded.phase is ClaimPhase.GATHERING_LOSS  # its turn came before the close's
    assert closed.phase is ClaimPhase.CLOSED
    assert await scalar(session_factory, "SELECT count(*) FROM subrogations WHERE claim_id = :c", c=stage.claim_id) == 1


async def test_a_message_the_claim_moved_past_while_it_waited_is_refused_in_its_turn(
    time_skipping_env, session_factory, task_queue
):
    """The insured withdraws and an adjuster denies at once: both are admitted while the claim is
    gathering its loss, the withdrawal's turn comes first, and the denial, at its turn, finds the claim
    closed and is refused in the process's words. The claim is closed once."""
    writes = Writes()
    async with watching_worker(time_skipping_env.client, session_factory, task_queue, writes):
        stage = await open_claim(time_skipping_env, session_factory, task_queue, notice="on_time", rules=ClaimRules())
        claim, writes.log[:] = stage.claim, []
        items, gate = await holding_the_lock(
            claim, writes, "record_loss_items", ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[RESPONDER_BILL])
        )
        close = await claim.start_update(
            ClaimWorkflow.close, ClaimClosure(reason="withdrawn by the insured"), wait_for_stage=ACCEPTED
        )
        deny = await claim.start_update(
            ClaimWorkflow.deny, Denial(approver_id="adjuster-1", reasons=["excluded"]), wait_for_stage=ACCEPTED
        )
        gate.released.set()

        await items.result()
        closed = await close.result()
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await deny.result()
        status = await claim.query(ClaimWorkflow.status)

    assert refused.value.cause.type == MOVED_ON
    assert refused.value.cause.message == "the claim is closed; it cannot be denied now"
    assert closed.phase is ClaimPhase.CLOSED and status.closing_reason == "withdrawn by the insured"
    assert writes.log == ["loss items", "phase closed"]


async def test_a_subrogation_sent_as_the_claim_opens_waits_for_its_basis_and_a_rejected_claim_refuses_it(
    time_skipping_env, session_factory, task_queue
):
    """Sent before the claim's basis is loaded, the subrogation is admitted (the claim is gathering its
    loss); at its turn the claim has been rejected for late notice, and it is refused, nothing written."""
    writes = Writes()
    basis = writes.hold("load_claim_basis")
    client = time_skipping_env.client
    async with watching_worker(client, session_factory, task_queue, writes):
        _, _, incident, _ = await covered_incident(time_skipping_env, task_queue, reported_after=timedelta(days=2))
        claim = await start_claim(client, task_queue, incident_id(incident), rules=ClaimRules(deny_on_late_notice=True))
        subrogation = await claim.start_update(ClaimWorkflow.record_subrogation, SUBROGATION, wait_for_stage=ACCEPTED)
        basis.released.set()

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await subrogation.result()
        outcome = await claim.result()

    assert refused.value.cause.message == "a rejected claim paid nothing to recover"
    assert outcome.phase is ClaimPhase.REJECTED and outcome.closing_reason.startswith("late notice")
    claim_id = claim.id.removeprefix("claim-")
    assert await scalar(session_factory, "SELECT count(*) FROM subrogations WHERE claim_id = :c", c=claim_id) == 0
    assert "subrogation" not in writes.log


async def test_one_adjuster_approving_twice_at_once_counts_once(time_skipping_env, session_factory, task_queue):
    """Above the single approver's limit a second, different adjuster must approve. The same adjuster's
    approval sent twice while an interim payment holds the turn passes both validators; in its turn the
    second is refused as the validator would refuse it now, and the claim stays in review, unoffered."""
    writes = Writes()
    rules = ClaimRules(single_approver_limit=Money.yuan(1))
    async with watching_worker(time_skipping_env.client, session_factory, task_queue, writes):
        stage = await open_claim(time_skipping_env, session_factory, task_queue, notice="on_time", rules=rules)
        claim = stage.claim
        await claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[RESPONDER_BILL]))
        statement = await claim.execute_update(ClaimWorkflow.determine)
        assert statement.total_payable.fen > rules.single_approver_limit.fen
        interim, gate = await holding_the_lock(
            claim, writes, "pay", ClaimWorkflow.interim_payment,
            InterimPaymentRequest(head=RESPONDER_BILL.head, amount=Money.yuan(1_000), approver_id="adjuster-2"),
        )
        first, second = [
            await claim.start_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"), wait_for_stage=ACCEPTED)
            for _ in range(2)
        ]
        gate.released.set()

        await interim.result()
        approved = await first.result()
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await second.result()
        status = await claim.query(ClaimWorkflow.status)

    assert approved.approvals == ["adjuster-1"] and approved.approvals_required == 2
    assert refused.value.cause.type == MOVED_ON
    assert refused.value.cause.message == (
        "same_approver: adjuster-1 has already approved; a second approval needs another person"
    )
    assert status.phase is ClaimPhase.IN_REVIEW and status.approvals == ["adjuster-1"]
