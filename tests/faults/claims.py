"""Many claims at once, set up through the Temporal client as the workflow tests do: bound policies,
an incident each, a claim each taken to the offer; then every offer accepted together, so that the
payouts are in flight at the same time when a fault test strikes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import text
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateHandle,
    WorkflowUpdateStage,
)
from temporalio.service import RPCError, RPCStatusCode

from contracts.claim import Approval, ClaimStatus, LossItemsSubmission, OfferAnswer
from contracts.policy import AssessmentSubmission, QuoteAcceptance, policy_workflow_id
from domain.application import CoverageRequest
from domain.claim import ClaimRules
from domain.coverage import CoverageHead
from domain.incident import IncidentGrade
from domain.loss import LossItem
from domain.money import Money
from tests.builders import application, assessment
from tests.patience import patience
from tests.workflows.post_cover import incident_report, report_incident, start_claim
from tests.workflows.support import start_policy
from workflows.claim import ClaimWorkflow
from workflows.policy import PolicyWorkflow

T = TypeVar("T")

EMERGENCY_COVER = application(
    coverages=[
        *application().coverages,
        CoverageRequest(head=CoverageHead.EMERGENCY_RESPONSE, limit=Money.yuan(1_000_000)),
    ]
)
# No reopening window: a claim's workflow completes once the claim is paid and closed.
ENDS_WHEN_CLOSED = ClaimRules(reopen_window_minutes=0)
# Above the ¥50,000 retention, and a different amount for every claim of a policy.
CLAIMED = Money.yuan(80_000)
POLL_SECONDS = 0.5


@dataclass
class OfferedClaim:
    claim_id: str
    handle: WorkflowHandle
    total_payable: Money
    workflow_ids: tuple[str, ...]  # its policy's, its incident's and its own

    @property
    def payout_key(self) -> str:
        return f"{self.claim_id}:payout:1"


async def until(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], *, seconds: float, what: str
) -> T:
    """Poll `probe` until `check` holds on its value; RPC errors (a server restarting) count as not yet."""
    deadline = time.monotonic() + patience(seconds)
    last: object = None
    while True:
        try:
            last = await probe()
            if check(last):
                return last
        except (RPCError, RPCTimeoutOrCancelledError) as error:
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {seconds:.0f} s; last seen: {last!r}"[:2000])
        await asyncio.sleep(POLL_SECONDS)


# Refusals a resend cures: a busy or restarting server, a workflow task being retried.
TRANSIENT = {
    RPCStatusCode.FAILED_PRECONDITION,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
}


async def update(
    handle: WorkflowHandle,
    method,
    *args,
    stage: WorkflowUpdateStage = WorkflowUpdateStage.COMPLETED,
    seconds: float = 180,
):
    """An update, sent again after a transient refusal. Its id (the workflow's and the update's name)
    makes a resend the same update: a workflow that already has it answers with its outcome."""
    update_id = f"{handle.id}:{method.__name__}"
    deadline = time.monotonic() + patience(seconds)
    while True:
        try:
            started = await handle.start_update(method, *args, id=update_id, wait_for_stage=stage)
            return started if stage is WorkflowUpdateStage.ACCEPTED else await started.result()
        except (RPCTimeoutOrCancelledError, RPCError) as error:
            if isinstance(error, RPCError) and error.status not in TRANSIENT or time.monotonic() > deadline:
                raise
            await asyncio.sleep(POLL_SECONDS)


async def offered_claims(
    client: Client, task_queue: str, session_factory, *, policies: int, incidents_per_policy: int
) -> list[OfferedClaim]:
    """Stage by stage, every workflow of a stage at once: the stages' latencies add up, not the claims'."""
    bound = await asyncio.gather(*(_bound_policy(client, task_queue) for _ in range(policies)))
    cases = [
        (policy_id, term_start, n) for policy_id, term_start in bound for n in range(incidents_per_policy)
    ]
    incidents = await asyncio.gather(*(
        report_incident(
            client, task_queue,
            incident_report(policy_id, term_start, grade=IncidentGrade.GENERAL, reference=f"ticket-{n}"),
        )
        for policy_id, term_start, n in cases
    ))  # fmt: skip
    # A claim's basis is the incident's record: one look at the table instead of a query per incident.
    ids = [incident.id.removeprefix("incident-") for incident in incidents]
    await until(
        lambda: recorded_incidents(session_factory, ids),
        lambda n: n == len(ids),
        seconds=240,
        what="incidents recorded",
    )
    return list(
        await asyncio.gather(
            *(
                _claim_to_offer(client, task_queue, incident, policy_id, n)
                for (policy_id, _, n), incident in zip(cases, incidents, strict=True)
            )
        )
    )


async def recorded_incidents(session_factory, incident_ids: list[str]) -> int:
    async with session_factory() as session:
        found = await session.execute(
            text("SELECT count(*) FROM incidents WHERE incident_id = ANY(:ids)"), {"ids": incident_ids}
        )
        return found.scalar_one()


async def _bound_policy(client: Client, task_queue: str) -> tuple[str, datetime]:
    policy = await start_policy(client, task_queue, app=EMERGENCY_COVER)
    policy_id = policy.id.removeprefix("policy-")
    await update(policy, PolicyWorkflow.submit_assessment, AssessmentSubmission(report=assessment()))
    await until(
        lambda: policy.query(PolicyWorkflow.status), lambda s: s.quote is not None, seconds=180, what="quote"
    )
    await update(policy, PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=f"{policy_id}-t1"))
    bound = await until(
        lambda: policy.query(PolicyWorkflow.status),
        lambda s: s.phase.value == "in_force",
        seconds=180,
        what="bound",
    )
    return policy_id, bound.term_start


async def _claim_to_offer(
    client: Client, task_queue: str, incident: WorkflowHandle, policy_id: str, n: int
) -> OfferedClaim:
    claim = await start_claim(
        client, task_queue, incident.id.removeprefix("incident-"), rules=ENDS_WHEN_CLOSED
    )
    item = LossItem(item_id="er-1", head=CoverageHead.EMERGENCY_RESPONSE, amount=Money(fen=CLAIMED.fen + n))
    # Refused if the incident had no cover: the claim would have been rejected.
    await update(claim, ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[item]))
    statement = await update(claim, ClaimWorkflow.determine)
    offered = await update(claim, ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))
    assert offered.phase.value == "offered" and statement.total_payable.fen > 0, offered
    return OfferedClaim(
        claim.id.removeprefix("claim-"),
        claim,
        statement.total_payable,
        workflow_ids=(policy_workflow_id(policy_id), incident.id, claim.id),
    )


async def accept_offers(claims: list[OfferedClaim]) -> list[WorkflowUpdateHandle[ClaimStatus]]:
    """Every insured accepts at once; returns when every acceptance is in its workflow's history."""
    return list(
        await asyncio.gather(
            *(
                update(
                    claim.handle,
                    ClaimWorkflow.accept_offer,
                    OfferAnswer(),
                    stage=WorkflowUpdateStage.ACCEPTED,
                )
                for claim in claims
            )
        )
    )


async def settled(updates: list[WorkflowUpdateHandle[ClaimStatus]], *, seconds: float) -> list[ClaimStatus]:
    """The accepted offers' outcomes: each claim paid and closed (the result outlives a server restart)."""

    async def outcome(accepted: WorkflowUpdateHandle[ClaimStatus]) -> ClaimStatus:
        while True:
            try:
                return await accepted.result()
            except (RPCError, RPCTimeoutOrCancelledError):
                await asyncio.sleep(POLL_SECONDS)

    return list(await asyncio.wait_for(asyncio.gather(*(outcome(u) for u in updates)), seconds))


def retried_activities(history: WorkflowHistory, *, since_update: str = "accept_offer") -> Counter[str]:
    """Activity type → how many of its executions needed more than one attempt, counting those
    scheduled after the update `since_update` was accepted (the phase a fault test strikes in)."""
    accepted = min(
        (
            event.event_id for event in history.events
            if event.HasField("workflow_execution_update_accepted_event_attributes")
            and event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            == since_update
        ),
        default=0,
    )  # fmt: skip
    scheduled = {
        event.event_id: event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes") and event.event_id > accepted
    }
    return Counter(
        scheduled[event.activity_task_started_event_attributes.scheduled_event_id]
        for event in history.events
        if event.HasField("activity_task_started_event_attributes")
        and event.activity_task_started_event_attributes.scheduled_event_id in scheduled
        and event.activity_task_started_event_attributes.attempt > 1
    )


async def each(items: list, read: Callable[[object], Awaitable[T]], *, at_once: int = 8) -> list[T]:
    """`read` for every item, a few at a time and retried: a busy dev server answers a burst of reads
    with errors (even "namespace not found")."""
    gate = asyncio.Semaphore(at_once)

    async def one(item) -> T:
        async with gate:
            for attempt in range(5):
                try:
                    return await read(item)
                except RPCError:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(1)
        raise AssertionError("unreachable")

    return list(await asyncio.gather(*(one(item) for item in items)))


async def retries_in(claims: list[OfferedClaim]) -> Counter[str]:
    total: Counter[str] = Counter()
    for history in await each(claims, lambda claim: claim.handle.fetch_history()):
        total.update(retried_activities(history))
    return total
