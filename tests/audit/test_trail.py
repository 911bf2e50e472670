"""Every business event of policies, incidents and claims lands in the audit log as one entry of a
single gapless hash chain, without the activities doing anything for it."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict

from alembic import command
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.policy import PolicyActivities
from storage.audit import GENESIS_HASH, audited_tables, chain_hash
from storage.db import create_session_factory
from storage.migrate import alembic_config, upgrade_to_head
from storage.models import Base
from tests.activities import builders
from tests.audit.conftest import Activities, a_policy_through_to_a_payout, entries, verify
from tests.builders import VALID_USCC


async def test_each_business_event_of_a_policy_its_incident_and_claim_is_one_chained_entry(
    activities: Activities, engine: AsyncEngine
) -> None:
    await a_policy_through_to_a_payout(activities)

    chain = await entries(engine)
    assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
    assert [e.prev_hash for e in chain] == [GENESIS_HASH] + [e.hash for e in chain[:-1]]
    assert all(chain_hash(e) == e.hash for e in chain)
    events = Counter((e.table_name, e.operation) for e in chain)
    assert events[("organisations", "INSERT")] == events[("applications", "INSERT")] == 1
    assert events[("policies", "INSERT")] == 1
    assert events[("coverage_heads", "INSERT")] >= 1
    assert events[("findings", "INSERT")] == 2
    assert events[("incident_escalations", "INSERT")] == 1
    assert events[("findings", "UPDATE")] == 1  # the resolved finding's new status
    assert events[("finding_resolutions", "INSERT")] == 1
    assert events[("incidents", "INSERT")] == events[("evidence", "INSERT")] == 1
    assert events[("claims", "INSERT")] == events[("payouts", "INSERT")] == 1
    # Every stored row has its INSERT entry.
    async with engine.connect() as connection:
        for table in audited_tables():
            stored = await connection.scalar(select(func.count()).select_from(Base.metadata.tables[table]))
            assert events[(table, "INSERT")] == stored, table

    report, rows = await verify(engine, rows=True)
    assert report.intact and report.entries == len(chain) and report.last_hash == chain[-1].hash
    assert rows is not None and rows.intact and rows.rows == sum(events[(t, "INSERT")] for t in audited_tables())


async def test_entries_carry_the_business_keys_but_none_of_the_content(
    activities: Activities, engine: AsyncEngine
) -> None:
    policy = await a_policy_through_to_a_payout(activities)

    chain = await entries(engine)
    by_table = {e.table_name: e for e in chain}
    assert json.loads(by_table["policies"].row_key) == {"policy_id": policy, "term_number": 1}
    assert json.loads(by_table["findings"].row_key).keys() == {"id"}
    claim = by_table["claims"]
    assert (claim.policy_id, claim.incident_id, claim.claim_id) == (policy, "inc-1", "clm-inc-1")
    assert by_table["payouts"].claim_id == "clm-inc-1"
    assert all(e.policy_id == policy for e in chain if e.table_name in {"findings", "applications", "incidents"})
    # The organisation's name and credit code stay in its own table: the entry has only a digest.
    everything = json.dumps([vars_of(e) for e in chain], ensure_ascii=False, default=str)
    for content in (VALID_USCC, "Test Manufacturing Co", "ransomware encrypted", "memory image"):
        assert content not in everything


def vars_of(entry) -> dict:
    return {name: getattr(entry, name) for name in entry.__slots__}


async def test_an_update_that_changes_a_row_is_an_event_and_one_that_changes_nothing_is_not(
    activities: Activities, engine: AsyncEngine
) -> None:
    await a_policy_through_to_a_payout(activities)
    before = len(await entries(engine))

    async with engine.begin() as connection:
        await connection.execute(text("UPDATE findings SET title = title"))  # every column as it was
    assert len(await entries(engine)) == before

    async with engine.begin() as connection:
        await connection.execute(text("UPDATE claims SET phase = 'in_review' WHERE claim_id = 'clm-inc-1'"))
    chain = await entries(engine)
    assert len(chain) == before + 1
    assert (chain[-1].table_name, chain[-1].operation, chain[-1].claim_id) == ("claims", "UPDATE", "clm-inc-1")
    report, rows = await verify(engine, rows=True)
    assert report.intact and rows is not None and rows.intact


async def test_a_delete_is_an_event_and_the_row_is_then_expected_gone(
    activities: Activities, engine: AsyncEngine
) -> None:
    await a_policy_through_to_a_payout(activities)

    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM payouts"))
    last = (await entries(engine))[-1]

    assert (last.table_name, last.operation, last.claim_id) == ("payouts", "DELETE", "clm-inc-1")
    report, rows = await verify(engine, rows=True)
    assert report.intact and rows is not None and rows.intact


async def test_a_rolled_back_write_leaves_neither_an_entry_nor_a_gap(
    activities: Activities, engine: AsyncEngine
) -> None:
    await a_policy_through_to_a_payout(activities)
    before = len(await entries(engine))

    async with engine.connect() as connection:
        await connection.execute(text("UPDATE claims SET phase = 'closed'"))
        await connection.rollback()
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE claims SET phase = 'paying'"))

    chain = await entries(engine)
    assert [e.seq for e in chain] == list(range(1, before + 2))
    assert (await verify(engine))[0].intact


async def test_concurrent_writers_make_one_gapless_chain_with_each_transaction_in_one_piece(
    database_url: str, engine: AsyncEngine
) -> None:
    writers = 16
    big_engine, sessions = create_session_factory(database_url, pool_size=writers)
    policies = PolicyActivities(sessions)
    batches = {builders.policy_id(): [builders.finding(f"ev-{n}") for n in range(25)] for _ in range(writers)}
    try:
        await asyncio.gather(
            *(policies.record_findings(builders.record_findings(p, batch)) for p, batch in batches.items()),
            *(policies.record_application(builders.record_application(p)) for p in batches),
        )
    finally:
        await big_engine.dispose()

    chain = await entries(engine)
    assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
    assert sum(e.table_name == "findings" for e in chain) == writers * 25
    seqs: dict[str, list[int]] = defaultdict(list)
    for e in chain:
        if e.table_name == "findings":
            seqs[e.policy_id].append(e.seq)
    # The chain lock is held to commit: one transaction's entries are never interleaved with another's.
    assert all(s == list(range(s[0], s[0] + len(s))) for s in seqs.values())
    report, rows = await verify(engine, rows=True)
    assert report.intact and report.entries == len(chain)
    assert rows is not None and rows.intact


async def test_every_business_table_has_the_audit_triggers_with_its_primary_key_and_no_other_table_does(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        found = (
            await connection.execute(
                text(
                    "SELECT c.relname, t.tgname, t.tgargs FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE t.tgname LIKE 'audit_trail%'"
                )
            )
        ).all()

    triggers: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for table, trigger, arguments in found:
        triggers[table][trigger] = [a.decode() for a in bytes(arguments).split(b"\x00")[:-1]]
    assert triggers.keys() == audited_tables().keys()
    for table, key_columns in audited_tables().items():
        assert triggers[table] == {
            "audit_trail_insert": key_columns,
            "audit_trail_update": key_columns,
            "audit_trail_delete": key_columns,
        }, table
    assert not {"notification_outbox", "api_keys", "api_grants", "api_requests", "webhook_secrets"} & triggers.keys()


async def test_rows_stored_before_the_trail_began_get_a_baseline_entry(empty_database_url: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(empty_database_url), "0003")
    old_engine, sessions = create_session_factory(empty_database_url, pool_size=1)
    policies = PolicyActivities(sessions)
    policy = builders.policy_id()
    try:
        await policies.record_application(builders.record_application(policy))
        await policies.bind_policy(builders.bind_policy(policy))
    finally:
        await old_engine.dispose()

    await asyncio.to_thread(upgrade_to_head, empty_database_url)

    engine, sessions = create_session_factory(empty_database_url, pool_size=1)
    try:
        baseline = await entries(engine)
        assert {e.operation for e in baseline} == {"BASELINE"}
        assert {"organisations", "applications", "policies", "coverage_heads"} <= {e.table_name for e in baseline}
        await PolicyActivities(sessions).record_findings(builders.record_findings(policy, [builders.finding("a")]))
        chain = await entries(engine)
        assert (chain[-1].seq, chain[-1].operation) == (len(baseline) + 1, "INSERT")
        report, rows = await verify(engine, rows=True)
        assert report.intact and rows is not None and rows.intact
    finally:
        await engine.dispose()
