"""A superuser with the triggers off changes a byte, deletes or reorders entries: `audit verify`
names the first tampered sequence number, from Python and from the command line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.audit import ChainProblem, RowProblem, verify_chain
from tests.audit.conftest import (
    Activities,
    a_policy_through_to_a_payout,
    as_superuser_without_triggers,
    entries,
    verify,
)

REPO = Path(__file__).resolve().parents[2]


def flip_first_character(column: str, seq: int) -> str:
    return (
        f"UPDATE audit_log SET {column} = overlay({column} placing "
        f"(CASE WHEN left({column}, 1) = '0' THEN '1' ELSE '0' END) from 1 for 1) WHERE seq = {seq}"
    )


# name: (statements, first bad seq, problem); the chain of a_policy_through_to_a_payout has more than 12 entries.
TAMPERING = {
    "one byte of a row digest": ([flip_first_character("row_digest", 5)], 5, ChainProblem.HASH_MISMATCH),
    "one byte of a table name": (
        ["UPDATE audit_log SET table_name = 'findingz' WHERE seq = 7 AND table_name = 'findings'",
         "UPDATE audit_log SET table_name = upper(table_name) WHERE seq = 7"],
        7, ChainProblem.HASH_MISMATCH,
    ),
    "a microsecond of a recorded time": (
        ["UPDATE audit_log SET recorded_at = recorded_at + interval '1 microsecond' WHERE seq = 9"],
        9, ChainProblem.HASH_MISMATCH,
    ),
    "one byte of a stored hash": ([flip_first_character("hash", 10)], 10, ChainProblem.HASH_MISMATCH),
    "one byte of a previous hash": ([flip_first_character("prev_hash", 8)], 8, ChainProblem.BROKEN_LINK),
    "a deleted entry": (["DELETE FROM audit_log WHERE seq = 4"], 4, ChainProblem.MISSING),
    "the first entry deleted": (["DELETE FROM audit_log WHERE seq = 1"], 1, ChainProblem.MISSING),
    "two entries swapped": (
        ["UPDATE audit_log SET seq = -3 WHERE seq = 3", "UPDATE audit_log SET seq = 3 WHERE seq = 7",
         "UPDATE audit_log SET seq = 7 WHERE seq = -3"],
        3, ChainProblem.BROKEN_LINK,
    ),
    "an entry moved to the end": (["UPDATE audit_log SET seq = 1000 WHERE seq = 6"], 6, ChainProblem.MISSING),
    "the chain renumbered after a deletion": (
        ["DELETE FROM audit_log WHERE seq = 5", "UPDATE audit_log SET seq = seq - 1 WHERE seq > 5"],
        5, ChainProblem.BROKEN_LINK,
    ),
}


@pytest.fixture
async def chain_length(activities: Activities, engine: AsyncEngine) -> int:
    await a_policy_through_to_a_payout(activities)
    length = len(await entries(engine))
    assert length > 12
    return length


def run_verify(database_url: str, *options: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CYBERINS_")}
    environment["DATABASE_URL"] = database_url
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "audit", "verify", *options],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


@pytest.mark.parametrize("case", TAMPERING)
async def test_the_first_tampered_sequence_number_is_named(
    case: str, chain_length: int, database_url: str, engine: AsyncEngine
) -> None:
    statements, first_bad, problem = TAMPERING[case]
    await as_superuser_without_triggers(database_url, *statements)

    report, _ = await verify(engine)

    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (first_bad, problem)
    assert report.entries == first_bad - 1


@pytest.mark.parametrize("case", ["one byte of a row digest", "a deleted entry", "two entries swapped"])
async def test_the_command_names_the_first_tampered_sequence_number_and_exits_1(
    case: str, chain_length: int, database_url: str
) -> None:
    statements, first_bad, problem = TAMPERING[case]
    await as_superuser_without_triggers(database_url, *statements)

    as_text, as_json = await asyncio.gather(
        asyncio.to_thread(run_verify, database_url), asyncio.to_thread(run_verify, database_url, "--json")
    )

    assert as_text.returncode == 1 and as_json.returncode == 1
    assert f"TAMPERED at seq {first_bad}:" in as_text.stdout
    document = json.loads(as_json.stdout)
    assert document["intact"] is False
    assert document["first_break"]["seq"] == first_bad and document["first_break"]["problem"] == problem.value


async def test_the_command_says_an_intact_log_is_intact_and_exits_0(chain_length: int, database_url: str) -> None:
    as_text, as_json = await asyncio.gather(
        asyncio.to_thread(run_verify, database_url, "--rows"),
        asyncio.to_thread(run_verify, database_url, "--json", "--rows"),
    )

    assert as_text.returncode == 0 and as_json.returncode == 0, as_text.stdout + as_text.stderr
    assert f"Audit log intact: {chain_length:,} entries, seq 1 to {chain_length}." in as_text.stdout
    document = json.loads(as_json.stdout)
    assert (document["intact"], document["entries"], document["first_break"]) == (True, chain_length, None)
    assert document["rows"]["drift_count"] == 0 and document["rows"]["checked"] > 0


async def test_a_missing_tail_is_found_against_an_anchor_and_by_the_rows_it_recorded(
    chain_length: int, database_url: str, engine: AsyncEngine
) -> None:
    last = (await entries(engine))[-1]
    await as_superuser_without_triggers(database_url, f"DELETE FROM audit_log WHERE seq = {last.seq}")

    # The chain alone cannot tell a cut-off end from an end ...
    report, rows = await verify(engine, rows=True)
    assert report.intact and report.last_seq == last.seq - 1
    # ... but a hash kept from an earlier run can, and so can the row whose entry went.
    async with engine.connect() as connection:
        anchored = await verify_chain(connection, anchor=(last.seq, last.hash))
    assert anchored.first_break is not None
    assert (anchored.first_break.seq, anchored.first_break.problem) == (last.seq, ChainProblem.MISSING)
    assert rows is not None and [(d.table, d.problem) for d in rows.drifts] == [(last.table_name, RowProblem.NOT_IN_TRAIL)]

    result = await asyncio.to_thread(run_verify, database_url, "--anchor", f"{last.seq}:{last.hash}")
    assert result.returncode == 1 and f"TAMPERED at seq {last.seq}:" in result.stdout


ROW_TAMPERING = {
    "a row changed": (
        "UPDATE findings SET title = 'nothing to see' WHERE vendor_event_id = 'ioc-1'",
        "findings", RowProblem.CHANGED,
    ),
    "a row inserted": (
        (
            "INSERT INTO policy_phase_history (policy_id, term_number, phase, reason, at) "
            "SELECT policy_id, 1, 'cancelled', 'backdated', now() FROM policies"
        ),
        "policy_phase_history", RowProblem.NOT_IN_TRAIL,
    ),
    "a row deleted": ("DELETE FROM payouts", "payouts", RowProblem.DELETED_UNRECORDED),
}


@pytest.mark.parametrize("case", ROW_TAMPERING)
async def test_a_business_row_changed_behind_the_triggers_is_named_by_table_and_key(
    case: str, chain_length: int, database_url: str, engine: AsyncEngine
) -> None:
    statement, table, problem = ROW_TAMPERING[case]
    await as_superuser_without_triggers(database_url, statement)

    report, rows = await verify(engine, rows=True)

    assert report.intact  # the chain itself was not touched
    assert rows is not None and rows.drift_count == 1
    (drift,) = rows.drifts
    assert (drift.table, drift.problem) == (table, problem)
    assert json.loads(drift.row_key).keys() == {"id"}


async def test_the_command_names_a_business_row_changed_behind_the_triggers(
    chain_length: int, database_url: str
) -> None:
    statement, _, _ = ROW_TAMPERING["a row changed"]
    await as_superuser_without_triggers(database_url, statement)

    result = await asyncio.to_thread(run_verify, database_url, "--rows")

    assert result.returncode == 1
    assert "Audit log intact" in result.stdout
    assert "1 business row(s) of" in result.stdout
    assert 'findings {"id": 1}: changed without an audit entry' in result.stdout


async def test_a_row_deleted_through_the_trail_and_put_back_behind_it_has_reappeared(
    chain_length: int, database_url: str, engine: AsyncEngine
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE kept_payouts AS SELECT * FROM payouts"))
        await connection.execute(text("DELETE FROM payouts"))
    await as_superuser_without_triggers(database_url, "INSERT INTO payouts SELECT * FROM kept_payouts")

    _, rows = await verify(engine, rows=True)

    assert rows is not None and [(d.table, d.problem) for d in rows.drifts] == [("payouts", RowProblem.REAPPEARED)]
