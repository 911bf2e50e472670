"""Property: for any chain and any single changed character (or microsecond, or number) anywhere in
any entry, its actor included, verification names exactly that entry's sequence number."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.audit import GENESIS_HASH, AuditEntry, ChainBreak, chain_hash, verify_chain, verify_entries
from storage.models.audit import AUDIT_OPERATIONS
from tests.audit.conftest import Activities, a_policy_through_to_a_payout, entries

COLUMNS = [
    "seq", "recorded_at", "table_name", "operation", "row_key", "policy_id", "incident_id",
    "claim_id", "row_digest", "prev_hash", "hash", "actor",
]
# Any character PostgreSQL can store in text: no NUL, no lone surrogate.
CHARACTERS = st.characters(codec="utf-8", exclude_characters="\x00")
HEX = "0123456789abcdef"


def changed(data: st.DataObject, entry: AuditEntry, column: str, chain_end: int) -> tuple[object, int]:
    """A new value for one column of the entry, and the sequence number verification must name."""
    value = getattr(entry, column)
    if column == "seq":
        # Renumbered to a number no other entry has (the primary key allows nothing else): past
        # the end, the entry is missing where it was; before the start, it is out of order there.
        new = data.draw(st.one_of(st.integers(chain_end + 1, 2**62), st.integers(-(2**62), 0)))
        return new, entry.seq if new > 0 else new
    if column == "recorded_at":
        delta = data.draw(st.integers(-(10**12), 10**12).filter(bool))
        return value + timedelta(microseconds=delta), entry.seq
    if column == "operation":  # a CHECK constraint keeps it to the known operations
        return data.draw(st.sampled_from([o for o in AUDIT_OPERATIONS if o != value])), entry.seq
    if not value:
        return data.draw(st.text(CHARACTERS, min_size=0 if value is None else 1, max_size=3)), entry.seq
    at = data.draw(st.integers(0, len(value) - 1))
    character = data.draw(CHARACTERS.filter(lambda c: c != value[at]))
    return value[:at] + character + value[at + 1 :], entry.seq


@st.composite
def chains(draw: st.DrawFn) -> list[AuditEntry]:
    chain: list[AuditEntry] = []
    prev_hash = GENESIS_HASH
    moment = draw(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)))
    for seq in range(1, draw(st.integers(1, 12)) + 1):
        moment += timedelta(microseconds=draw(st.integers(0, 10**9)))
        optional = st.none() | st.text(CHARACTERS, max_size=12)
        entry = AuditEntry(
            seq=seq,
            recorded_at=moment,
            table_name=draw(st.text(CHARACTERS, min_size=1, max_size=12)),
            operation=draw(st.sampled_from(AUDIT_OPERATIONS)),
            row_key=draw(st.text(CHARACTERS, min_size=1, max_size=20)),
            policy_id=draw(optional),
            incident_id=draw(optional),
            claim_id=draw(optional),
            row_digest=draw(st.text(HEX, min_size=64, max_size=64)),
            prev_hash=prev_hash,
            hash="",
            actor=draw(optional),  # None: an entry from before actors were recorded
        )
        entry = replace(entry, hash=chain_hash(entry))
        chain.append(entry)
        prev_hash = entry.hash
    return chain


@settings(max_examples=250, deadline=None)
@given(chain=chains(), data=st.data())
def test_one_change_anywhere_in_a_generated_chain_is_named_by_its_sequence_number(
    chain: list[AuditEntry], data: st.DataObject
) -> None:
    assert verify_entries(chain).intact
    index = data.draw(st.integers(0, len(chain) - 1))
    column = data.draw(st.sampled_from(COLUMNS))
    value, expected = changed(data, chain[index], column, len(chain))

    tampered = sorted(chain[:index] + [replace(chain[index], **{column: value})] + chain[index + 1 :], key=lambda e: e.seq)
    report = verify_entries(tampered)

    assert report.first_break is not None and report.first_break.seq == expected


async def test_one_change_anywhere_in_a_chain_the_triggers_wrote_is_named_by_its_sequence_number(
    activities: Activities, engine: AsyncEngine
) -> None:
    """The same property against PostgreSQL: each change is made in the database (triggers off, in
    a transaction rolled back afterwards) and the chain read back through the cursor."""
    await a_policy_through_to_a_payout(activities)
    chain = await entries(engine)
    loop = asyncio.get_running_loop()

    async def first_break_after(seq: int, column: str, value: object) -> ChainBreak | None:
        async with engine.connect() as connection:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
            await connection.execute(
                text(f"UPDATE audit_log SET {column} = :value WHERE seq = :seq"), {"value": value, "seq": seq}
            )
            report = await verify_chain(connection, batch_size=4)
            await connection.rollback()
        return report.first_break

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def property(data: st.DataObject) -> None:
        entry = chain[data.draw(st.integers(0, len(chain) - 1))]
        column = data.draw(st.sampled_from(COLUMNS))
        value, expected = changed(data, entry, column, len(chain))
        found = asyncio.run_coroutine_threadsafe(first_break_after(entry.seq, column, value), loop).result(120)
        assert found is not None and found.seq == expected, (column, value, found)

    # Hypothesis drives synchronously, so it runs in a thread; the database work runs on this loop.
    await asyncio.to_thread(property)
