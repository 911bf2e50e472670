"""The real thing the claim model is compared with: a bound policy, a covered incident and a claim on
the time-skipping server, with a real worker and PostgreSQL. Async; the state machine reaches it
through a `LoopBridge`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from contracts.claim import ClaimStatus
from contracts.claim_activities import LedgerPosition
from contracts.policy import AssessmentSubmission, QuoteAcceptance
from domain.application import CoverageRequest
from domain.claim import ClaimRules
from domain.coverage import CoverageHead
from domain.incident import IncidentCategory, IncidentGrade
from domain.money import Money
from domain.schedule import CoverageSchedule
from tests.builders import application, assessment
from tests.workflows.post_cover import incident_report, report_incident, start_claim
from tests.workflows.support import eventually, scalar, start_policy, until_notified
from workflows.claim import ClaimWorkflow
from workflows.incident import IncidentWorkflow
from workflows.policy import PolicyWorkflow

ResultT = TypeVar("ResultT")

# Four heads on the schedule, so that loss items can name heads that are not on it.
APPLICATION = application(
    coverages=[
        CoverageRequest(head=CoverageHead.BUSINESS_INTERRUPTION, limit=Money.yuan(1_500_000)),
        CoverageRequest(head=CoverageHead.EMERGENCY_RESPONSE, limit=Money.yuan(600_000)),
        CoverageRequest(head=CoverageHead.RANSOMWARE_EXTORTION, limit=Money.yuan(1_000_000)),
        CoverageRequest(head=CoverageHead.DATA_BREACH_LIABILITY, limit=Money.yuan(2_000_000)),
    ],
    aggregate_limit=Money.yuan(3_000_000),
)
# Days into the term when the claim is opened; the incident is discovered before that.
OPENED_DAYS_IN = 3


class LoopBridge:
    """Runs coroutines on the test's event loop from the thread Hypothesis drives the machine in.

    The Temporal client, the worker and the SQLAlchemy engine all belong to that loop, so every
    awaitable must run there; the loop is free because the test awaits the machine's thread.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, *, timeout: float = 120) -> None:
        self.loop, self.timeout = loop, timeout

    def run(self, coroutine: Coroutine[Any, Any, ResultT]) -> ResultT:
        future: Future[ResultT] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(self.timeout)


@dataclass(frozen=True)
class Observation:
    """Everything a step may change: the claim's status, its policy's limits, the payouts made."""

    status: ClaimStatus
    limits: list[LedgerPosition]
    payouts: tuple[int, ...]  # amount_fen of each payout row, in order
    running: bool


@dataclass
class Outcome:
    refusal: BaseException | None
    result: Any = None


@dataclass
class ClaimStage:
    env: WorkflowEnvironment
    sessions: Any
    policy: WorkflowHandle
    claim: WorkflowHandle
    schedule: CoverageSchedule
    discovered: datetime

    @property
    def claim_id(self) -> str:
        return self.claim.id.removeprefix("claim-")

    async def send(self, update: Any, *args: Any) -> Outcome:
        """One update; a refusal is an outcome, anything else fails the test."""
        try:
            return Outcome(None, await self.claim.execute_update(update, *args))
        except WorkflowUpdateFailedError as refusal:  # a validator's or a handler's
            return Outcome(refusal)
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
            return Outcome(error)  # the workflow has ended: its reopening window lapsed, or it was rejected

    async def let_time_pass(self, days: int) -> None:
        await self.env.sleep(timedelta(days=days))

    async def observe(self, *, running: bool | None = None) -> Observation:
        """The claim, its limits and its payouts now; with `running`, once the workflow is (or is no
        longer) running, as a lapsed reopening window ends it a moment after its timer fires."""
        if running is not None:
            await self._until_running_is(running)
        status = await self.claim.query(ClaimWorkflow.status)
        limits = await self.policy.query(PolicyWorkflow.limits)
        payouts = await scalar(
            self.sessions,
            "SELECT coalesce(array_agg(amount_fen ORDER BY sequence), '{}') FROM payouts WHERE claim_id = :c",
            c=self.claim_id,
        )
        return Observation(status, limits, tuple(payouts), await self._running())

    async def _running(self) -> bool:
        return (await self.claim.describe()).status is WorkflowExecutionStatus.RUNNING

    async def _until_running_is(self, wanted: bool, seconds: float = 10) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while await self._running() != wanted and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)


async def open_claim(env: WorkflowEnvironment, sessions, task_queue: str, *, notice: str, rules: ClaimRules) -> ClaimStage:
    """A policy bound for this claim alone, an incident `OPENED_DAYS_IN` days into the term and a
    claim on it. `notice` is `on_time` or `late` (discovered two days before it is reported)."""
    client = env.client
    policy = await start_policy(client, task_queue, app=APPLICATION)
    await policy.execute_update(PolicyWorkflow.submit_assessment, AssessmentSubmission(report=assessment()))
    quote = (await eventually(policy, lambda s: s.quote is not None)).quote
    await policy.execute_update(PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=quote.quote_id))
    bound = await eventually(policy, lambda s: s.phase.value == "in_force")
    assert bound.term_start is not None
    await env.sleep(timedelta(days=OPENED_DAYS_IN))
    before_report = timedelta(days=2) if notice == "late" else timedelta(hours=2)
    discovered = bound.term_start + timedelta(days=OPENED_DAYS_IN) - before_report
    report = incident_report(
        policy.id.removeprefix("policy-"), discovered, grade=IncidentGrade.GENERAL, category=IncidentCategory.NETWORK_ATTACK
    )
    incident = await report_incident(client, task_queue, report)
    await eventually(incident, lambda s: s.covered is not None, query=IncidentWorkflow.status)
    claim = await start_claim(client, task_queue, incident.id.removeprefix("incident-"), rules=rules)
    stage = ClaimStage(env, sessions, policy, claim, quote.schedule, discovered)
    await _settled_in(stage, rejected=notice == "late" and rules.deny_on_late_notice, flagged=notice == "late")
    return stage


async def _settled_in(stage: ClaimStage, *, rejected: bool, flagged: bool) -> None:
    """Wait until the claim has loaded its basis and said what it had to: commands sent earlier
    would race its start, which is not what this test is about."""
    deadline = asyncio.get_running_loop().time() + 30
    while not await scalar(stage.sessions, "SELECT count(*) FROM claims WHERE claim_id = :c", c=stage.claim_id):
        assert asyncio.get_running_loop().time() < deadline, "the claim was never recorded"
        await asyncio.sleep(0.05)
    if rejected:
        await eventually(stage.claim, lambda s: s.phase.value == "rejected", query=ClaimWorkflow.status)
        await stage.claim.result()
    elif flagged:
        await until_notified(stage.sessions, stage.policy.id.removeprefix("policy-"), "late_notice_on_claim")
