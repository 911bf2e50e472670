"""Each entry of the trail names who made the change: the party and key of an API request, the
workflow run and activity of a worker's write (and the party it acts for, when its input names one),
the operator of a command, else the database role. The hash covers the name: an actor changed or
removed behind the triggers is found, and entries from before actors were recorded still verify."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta

import httpx
import pytest
from alembic import command as migration
from pydantic import BaseModel
from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.log_context import ActingActivities
from activities.policy import PolicyActivities
from api.app import create_app
from api.context import PartyKind, Services
from api.provisioning import issue_credentials
from contracts.claim import ClaimStatus
from storage.audit import Actor, ActorKind, ChainProblem, acting_as, current_actor
from storage.db import create_session_factory
from storage.migrate import alembic_config, upgrade_to_head
from storage.models import ClaimPhaseRow
from storage.unit_of_work import UnitOfWork
from tests.activities import builders
from tests.audit.conftest import Activities, Sessions, as_superuser_without_triggers, entries, verify
from tests.audit.test_tampering import REPO


def actor_of(entry) -> Actor:
    actor = Actor.from_text(entry.actor)
    assert actor is not None, entry
    return actor


async def test_an_api_request_records_the_calling_party_and_its_key(
    dev_client: Client, session_factory: Sessions, engine: AsyncEngine, task_queue: str
) -> None:
    issued = await issue_credentials(session_factory, PartyKind.INSURED, f"insured-{uuid.uuid4().hex[:8]}")
    app = create_app()
    app.state.services = Services(dev_client, session_factory, task_queue)  # no lifespan in-process
    # In-process, the request runs in this test's task: the block keeps its actor from staying here.
    with acting_as(None):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api",
            headers={"Authorization": f"Bearer {issued.token}"},
        ) as client:
            answer = await client.post(
                "/v1/endpoints", json={"url": "https://hooks.example.com/cyberins", "event_types": ["*"]}
            )
    assert answer.status_code == 201, answer.text

    registered = [e for e in await entries(engine) if (e.table_name, e.operation) == ("webhook_endpoints", "INSERT")]
    assert len(registered) == 1
    assert actor_of(registered[0]) == Actor(
        ActorKind.PARTY, party_kind="insured", party_id=issued.party_id, key_id=issued.key_id
    )
    assert (await verify(engine))[0].intact


async def test_an_activity_records_its_workflow_run_activity_and_attempt(
    dev_client: Client, session_factory: Sessions, engine: AsyncEngine, task_queue: str
) -> None:
    from tests.faults.claims import until
    from tests.workflows.support import start_policy
    from worker import build_worker

    async with build_worker(dev_client, session_factory, task_queue):
        handle = await start_policy(dev_client, task_queue)
        recorded = await until(
            lambda: entries(engine), lambda found: any(e.table_name == "applications" for e in found),
            seconds=30, what="the application recorded",
        )
    await handle.terminate("test over")

    application = next(e for e in recorded if e.table_name == "applications")
    assert actor_of(application) == Actor(
        ActorKind.WORKFLOW, workflow_type="PolicyWorkflow", workflow_id=handle.id,
        run_id=handle.result_run_id, activity="record_application", attempt=1,
    )
    assert (await verify(engine))[0].intact


async def test_the_payout_and_the_approval_that_offered_it_name_the_claim_workflow_and_their_activities(
    dev_client: Client, session_factory: Sessions, engine: AsyncEngine, task_queue: str
) -> None:
    """Who approved this payout: the payout's entry names the claim's run and `pay`; the entry that
    put the claim on offer names the same run and `record_claim_phase`, written on the approval."""
    from tests.faults.claims import accept_offers, offered_claims, settled
    from worker import build_worker

    async with build_worker(dev_client, session_factory, task_queue):
        [claim] = await offered_claims(dev_client, task_queue, session_factory, policies=1, incidents_per_policy=1)
        [paid] = await settled(await accept_offers([claim]), seconds=120)
    assert isinstance(paid, ClaimStatus) and paid.payouts == 1
    async with session_factory() as session:
        offered = await session.scalar(
            select(ClaimPhaseRow.id).where(
                ClaimPhaseRow.claim_id == claim.claim_id, ClaimPhaseRow.phase == "offered"
            )
        )

    trail = [e for e in await entries(engine) if e.claim_id == claim.claim_id and e.operation == "INSERT"]
    payout = actor_of(next(e for e in trail if e.table_name == "payouts"))
    approval = actor_of(next(e for e in trail if json.loads(e.row_key) == {"id": offered}
                             and e.table_name == "claim_phase_history"))
    assert (payout.kind, payout.workflow_type, payout.workflow_id, payout.activity) == (
        ActorKind.WORKFLOW, "ClaimWorkflow", claim.handle.id, "pay"
    )
    assert (approval.workflow_id, approval.run_id, approval.activity) == (
        claim.handle.id, payout.run_id, "record_claim_phase"
    )
    assert (await verify(engine))[0].intact


# -- An activity acting on a party's request ----------------------------------------------------------


class Requester(BaseModel):
    party_kind: str
    party_id: str
    key_id: str


class ApplicationOnRequest(BaseModel):
    policy_id: str
    on_behalf_of: Requester


class RequestedApplication:
    def __init__(self, sessions: Sessions) -> None:
        self._policies = PolicyActivities(sessions)

    @activity.defn(name="record_requested_application")
    async def record(self, command: ApplicationOnRequest) -> None:
        await self._policies.record_application(builders.record_application(command.policy_id))


@workflow.defn(name="RequestedApplicationWorkflow")
class RequestedApplicationWorkflow:
    @workflow.run
    async def run(self, command: ApplicationOnRequest) -> None:
        await workflow.execute_activity(
            "record_requested_application", command, start_to_close_timeout=timedelta(seconds=30)
        )


async def test_an_activity_acting_on_a_partys_request_names_that_party_beside_itself(
    dev_client: Client, session_factory: Sessions, engine: AsyncEngine, task_queue: str
) -> None:
    command = ApplicationOnRequest(
        policy_id=builders.policy_id(),
        on_behalf_of=Requester(party_kind="insurer", party_id="insurer-7", key_id="k0000000007"),
    )
    async with Worker(
        dev_client, task_queue=task_queue, workflows=[RequestedApplicationWorkflow],
        activities=[RequestedApplication(session_factory).record], interceptors=[ActingActivities()],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await dev_client.start_workflow(
            RequestedApplicationWorkflow.run, command, id=f"requested-{command.policy_id}", task_queue=task_queue
        )
        await handle.result()

    application = next(e for e in await entries(engine) if e.table_name == "applications")
    assert actor_of(application) == Actor(
        ActorKind.WORKFLOW, party_kind="insurer", party_id="insurer-7", key_id="k0000000007",
        workflow_type="RequestedApplicationWorkflow", workflow_id=handle.id, run_id=handle.result_run_id,
        activity="record_requested_application", attempt=1,
    )


# -- Operators, the database role, and the command ----------------------------------------------------


async def test_an_operators_write_names_the_operator_and_the_command_shows_who(
    activities: Activities, engine: AsyncEngine, database_url: str
) -> None:
    policy = builders.policy_id()
    with acting_as(Actor.of_operator("ops-7")):
        await activities.policies.record_application(builders.record_application(policy))
    assert current_actor() is None
    await activities.policies.bind_policy(builders.bind_policy(policy))  # nobody named

    chain = await entries(engine)
    by_table = {e.table_name: actor_of(e) for e in chain}
    assert by_table["applications"] == Actor.of_operator("ops-7")
    role = make_url(database_url).username
    assert by_table["policies"] == Actor(ActorKind.SYSTEM, database_role=role)

    shown = await asyncio.to_thread(run_trail, database_url, "--policy", policy)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any(" applications INSERT " in line and line.endswith("by operator ops-7") for line in lines), lines
    assert any(" policies INSERT " in line and line.endswith(f"by database role {role} (no actor set)") for line in lines)
    as_json = await asyncio.to_thread(run_trail, database_url, "--table", "applications", "--json")
    [document] = json.loads(as_json.stdout)
    assert (document["seq"], document["actor"]) == (
        next(e.seq for e in chain if e.table_name == "applications"), {"kind": "operator", "operator": "ops-7"}
    )


def run_trail(database_url: str, *options: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CYBERINS_")}
    environment["DATABASE_URL"] = database_url
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "audit", "trail", *options],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


# -- The hash covers the actor; older entries still verify ------------------------------------------


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ("replace(actor, 'ops-7', 'ops-8')", "the operator renamed"),
        ("NULL", "the actor removed, as if written before actors were"),
    ],
)
async def test_an_actor_changed_behind_the_triggers_breaks_its_entrys_hash(
    change: str, where: str, activities: Activities, engine: AsyncEngine, database_url: str
) -> None:
    with acting_as(Actor.of_operator("ops-7")):
        await activities.policies.record_application(builders.record_application(builders.policy_id()))
    seq = next(e.seq for e in await entries(engine) if e.table_name == "applications")

    await as_superuser_without_triggers(database_url, f"UPDATE audit_log SET actor = {change} WHERE seq = {seq}")

    report, _ = await verify(engine)
    assert report.first_break is not None, where
    assert (report.first_break.seq, report.first_break.problem) == (seq, ChainProblem.HASH_MISMATCH)


async def test_entries_from_before_actors_still_verify_and_cannot_be_given_one(empty_database_url: str) -> None:
    await asyncio.to_thread(upgrade_to, empty_database_url, "0009")
    engine, sessions = create_session_factory(empty_database_url, pool_size=1)
    policy = builders.policy_id()
    try:
        with acting_as(Actor.of_operator("ops-7")):  # set, but nothing stores it yet
            await PolicyActivities(sessions).record_application(builders.record_application(policy))
        await engine.dispose()
        await asyncio.to_thread(upgrade_to_head, empty_database_url)
        engine, sessions = create_session_factory(empty_database_url, pool_size=1)
        with acting_as(Actor.of_operator("ops-7")):
            await PolicyActivities(sessions).bind_policy(builders.bind_policy(policy))

        chain = await entries(engine)
        old = [e for e in chain if e.actor is None]
        assert {e.table_name for e in old} == {"organisations", "applications"}
        assert all(actor_of(e) == Actor.of_operator("ops-7") for e in chain[len(old):])
        report, rows = await verify(engine, rows=True)
        assert report.intact and report.entries == len(chain) and rows is not None and rows.intact

        await as_superuser_without_triggers(
            empty_database_url, """UPDATE audit_log SET actor = '{"kind":"operator","operator":"ops-7"}' WHERE seq = 1"""
        )
        report, _ = await verify(engine)
        assert report.first_break is not None
        assert (report.first_break.seq, report.first_break.problem) == (1, ChainProblem.HASH_MISMATCH)
    finally:
        await engine.dispose()


def upgrade_to(database_url: str, revision: str) -> None:
    migration.upgrade(alembic_config(database_url), revision)


async def test_the_actor_is_set_once_per_writing_transaction_and_never_for_one_that_only_reads(
    database_url: str,
) -> None:
    engine, sessions = create_session_factory(database_url, pool_size=1)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        with acting_as(Actor.of_operator("ops-7")):
            async with UnitOfWork(sessions) as uow:
                assert not await uow.incidents.exists("inc-unknown")
            reads = len(statements)
            await PolicyActivities(sessions).record_application(builders.record_application(builders.policy_id()))
    finally:
        await engine.dispose()

    settings = [s for s in statements if "set_config" in s]
    assert not any("set_config" in s for s in statements[:reads])
    assert len(settings) == 1 and len(statements) - reads > 2  # one, before several writes


async def test_a_downgrade_that_would_break_the_hashes_of_named_entries_is_refused(
    activities: Activities, database_url: str, engine: AsyncEngine
) -> None:
    with acting_as(Actor.of_operator("ops-7")):
        await activities.policies.record_application(builders.record_application(builders.policy_id()))

    with pytest.raises(DBAPIError, match="name their actor"):
        await asyncio.to_thread(downgrade_to, database_url, "0009")

    assert (await verify(engine))[0].intact and all(e.actor for e in await entries(engine))


def downgrade_to(database_url: str, revision: str) -> None:
    migration.downgrade(alembic_config(database_url), revision)


async def test_a_commands_database_work_is_named_by_its_operator(
    activities: Activities, engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cyberins` commands that write to the database (keys, listeners, the demo's keys) run their
    work as the operator: CYBERINS_OPERATOR, else the login name."""
    from cli.database import operator_actor, with_database

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CYBERINS_OPERATOR", "ops-on-call")
    assert operator_actor() == Actor.of_operator("ops-on-call")
    policy = builders.policy_id()

    async def work(_engine, _sessions):
        assert current_actor() == Actor.of_operator("ops-on-call")
        await activities.policies.record_application(builders.record_application(policy))

    await with_database(work, doing="record an application")
    assert current_actor() is None
    chain = await entries(engine)
    assert [actor_of(e) for e in chain if e.table_name == "applications"][-1] == Actor.of_operator("ops-on-call")
