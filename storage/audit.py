"""Who changed what on the audit trail, and verifying it: the actor each write is made by, the hash
chain of `audit_log` recomputed to name the first entry that does not hold, and the business rows
compared with their latest entries.

Who: the API (the calling party's key), the worker (the workflow run and its activity) and the
`cyberins` commands (the operator) set the `Actor` of the current task; each unit of work hands it to
the trail's trigger in the transaction's `cyberins.actor` setting, and the trigger stores it, as the
JSON text `Actor.as_text` gives, in the entry's `actor` column. A write with no actor set (a
migration, a session outside the application) names the database role that made it.

The triggers of migrations 0004 and 0010 write the chain; this module recomputes every hash from the
same canonical form. An entry's hash is the lowercase hex SHA-256 of these lines, joined by one LF
(0x0A), no LF at the end, encoded as UTF-8:

    cyberins-audit-v1
    field(prev_hash)
    seq                      decimal
    field(table_name)
    field(operation)         INSERT, UPDATE, DELETE or BASELINE
    field(row_key)           the row's primary key as JSON text, e.g. {"id": 42}
    field(policy_id)
    field(incident_id)
    field(claim_id)
    field(row_digest)        SHA-256 of to_jsonb(row)::text, timestamps in UTC
    recorded_at              decimal microseconds since 1970-01-01T00:00:00Z

where field(NULL) is "-" and field(text) is "<UTF-8 byte length of text>:<text>", so that no
value can run into the next. The first entry (seq 1) has a prev_hash of 64 zeros; each later one
holds the previous entry's hash.

Entries written since migration 0010 carry an actor and use version 2: the first line is
`cyberins-audit-v2` and one more line, field(actor), follows recorded_at. Entries from before keep
version 1 and still verify; an actor added to one of them, or taken from a later one, breaks its hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import ARRAY, Text, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import AuditLogRow, Base

CANONICAL_VERSION = "cyberins-audit-v1"
CANONICAL_VERSION_WITH_ACTOR = "cyberins-audit-v2"
GENESIS_HASH = "0" * 64
# Tables whose changes are not business events: API access, the delivery queue and its log, endpoints' secrets, the intake queue of
# findings (each finding is on the trail once recorded), the trail itself.
NOT_AUDITED = frozenset({
    "api_keys", "webhook_secrets", "api_grants", "api_requests", "notification_outbox", "finding_batches", "audit_log",
    "party_events", "endpoint_secrets", "deliveries", "delivery_attempts",
})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# The transaction setting the trail's trigger reads (migration 0010).
ACTOR_SETTING = "cyberins.actor"


class ActorKind(StrEnum):
    PARTY = "party"  # an API request, under one of the party's keys
    WORKFLOW = "workflow"  # an activity of a workflow run
    OPERATOR = "operator"  # a `cyberins` command run by an operator
    SYSTEM = "system"  # nobody named: the trigger records the database role instead


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes the writes of the current task. Ids only, never names or secrets: a key is named by
    its id, a party by its id. A workflow's activity that acts on a party's request names that party
    as well (`of_activity(..., on_behalf_of=...)`)."""

    kind: ActorKind
    party_kind: str | None = None
    party_id: str | None = None
    key_id: str | None = None
    workflow_type: str | None = None
    workflow_id: str | None = None
    run_id: str | None = None
    activity: str | None = None
    attempt: int | None = None
    operator: str | None = None
    database_role: str | None = None

    @classmethod
    def of_party(cls, party_kind: str, party_id: str, key_id: str | None) -> Actor:
        return cls(ActorKind.PARTY, party_kind=party_kind, party_id=party_id, key_id=key_id)

    @classmethod
    def of_activity(
        cls, *, workflow_type: str | None, workflow_id: str | None, run_id: str | None, activity: str,
        attempt: int, on_behalf_of: Actor | None = None,
    ) -> Actor:
        party = on_behalf_of or cls(ActorKind.WORKFLOW)
        return cls(
            ActorKind.WORKFLOW, party_kind=party.party_kind, party_id=party.party_id, key_id=party.key_id,
            workflow_type=workflow_type, workflow_id=workflow_id, run_id=run_id, activity=activity, attempt=attempt,
        )

    @classmethod
    def of_operator(cls, operator: str) -> Actor:
        return cls(ActorKind.OPERATOR, operator=operator)

    def as_text(self) -> str:
        """Compact JSON without the empty fields: what the trigger stores and the hash covers."""
        named = {name: value for name, value in asdict(self).items() if value is not None}
        return json.dumps(named, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_text(cls, text: str | None) -> Actor | None:
        """The actor an entry names; None for an entry from before actors were recorded, or for a
        text that is not one (any session may set the setting: the hash proves it was stored so)."""
        if text is None:
            return None
        try:
            named = json.loads(text)
            return cls(**{**named, "kind": ActorKind(named["kind"])})
        except (ValueError, TypeError, KeyError):
            return None


_acting: ContextVar[Actor | None] = ContextVar("cyberins_actor", default=None)


def current_actor() -> Actor | None:
    return _acting.get()


def act_as(actor: Actor | None) -> Token[Actor | None]:
    """The actor for the rest of the current task (an API request's task ends with the request)."""
    return _acting.set(actor)


@contextmanager
def acting_as(actor: Actor | None) -> Iterator[Actor | None]:
    """The actor for the writes made inside the block."""
    token = _acting.set(actor)
    try:
        yield actor
    finally:
        _acting.reset(token)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of `audit_log`, in its column order."""

    seq: int
    recorded_at: datetime
    table_name: str
    operation: str
    row_key: str
    policy_id: str | None
    incident_id: str | None
    claim_id: str | None
    row_digest: str
    prev_hash: str
    hash: str
    actor: str | None = None  # Actor.as_text(); None on entries from before migration 0010


_ENTRY_COLUMNS = tuple(field.name for field in fields(AuditEntry))


def _field(value: str | None) -> str:
    return "-" if value is None else f"{len(value.encode())}:{value}"


def chain_hash(entry: AuditEntry) -> str:
    """The hash the entry should carry: every column but `hash` in the canonical form, version 2
    when it names an actor and version 1 when it does not."""
    with_actor = entry.actor is not None
    message = "\n".join((
        CANONICAL_VERSION_WITH_ACTOR if with_actor else CANONICAL_VERSION,
        _field(entry.prev_hash),
        str(entry.seq),
        _field(entry.table_name),
        _field(entry.operation),
        _field(entry.row_key),
        _field(entry.policy_id),
        _field(entry.incident_id),
        _field(entry.claim_id),
        _field(entry.row_digest),
        str((entry.recorded_at - _EPOCH) // _MICROSECOND),
        *((_field(entry.actor),) if with_actor else ()),
    ))
    return hashlib.sha256(message.encode()).hexdigest()


class ChainProblem(StrEnum):
    MISSING = "missing"  # a number is skipped: the entry was deleted or renumbered
    OUT_OF_ORDER = "out_of_order"  # a number repeats or comes before the chain's start
    BROKEN_LINK = "broken_link"  # prev_hash is not the previous entry's hash: changed or moved
    HASH_MISMATCH = "hash_mismatch"  # the entry's content no longer gives its hash: a changed byte
    ANCHOR_MISMATCH = "anchor_mismatch"  # the chain no longer holds a hash recorded earlier


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: ChainProblem
    detail: str


@dataclass(frozen=True)
class ChainReport:
    entries: int  # entries that hold, read before the first break
    last_seq: int | None
    last_hash: str
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


class ChainVerifier:
    """Takes the entries in `seq` order and stops at the first one that does not hold."""

    def __init__(self, anchor: tuple[int, str] | None = None) -> None:
        self._anchor = anchor
        self._entries = 0
        self._last_seq: int | None = None
        self._last_hash = GENESIS_HASH
        self.first_break: ChainBreak | None = None

    def add(self, entry: AuditEntry) -> ChainBreak | None:
        expected = 1 if self._last_seq is None else self._last_seq + 1
        if entry.seq > expected:
            after = "the chain starts at" if expected == 1 else f"the entry after seq {expected - 1} is"
            return self._break(expected, ChainProblem.MISSING, f"{after} seq {entry.seq}")
        if entry.seq < expected:
            return self._break(entry.seq, ChainProblem.OUT_OF_ORDER, f"seq {entry.seq} comes where seq {expected} should")
        if entry.prev_hash != self._last_hash:
            before = "the genesis hash (64 zeros)" if expected == 1 else f"the hash of seq {expected - 1}"
            return self._break(entry.seq, ChainProblem.BROKEN_LINK, f"prev_hash is not {before}")
        if chain_hash(entry) != entry.hash:
            return self._break(entry.seq, ChainProblem.HASH_MISMATCH, "its columns no longer give its stored hash")
        if self._anchor is not None and entry.seq == self._anchor[0] and entry.hash != self._anchor[1]:
            return self._break(entry.seq, ChainProblem.ANCHOR_MISMATCH, "its hash is not the anchored hash")
        self._entries += 1
        self._last_seq, self._last_hash = entry.seq, entry.hash
        return None

    def finish(self) -> ChainReport:
        if self.first_break is None and self._anchor is not None and (self._last_seq or 0) < self._anchor[0]:
            missing = (self._last_seq or 0) + 1
            self._break(missing, ChainProblem.MISSING, f"the chain ends before the anchored seq {self._anchor[0]}")
        return ChainReport(self._entries, self._last_seq, self._last_hash, self.first_break)

    def _break(self, seq: int, problem: ChainProblem, detail: str) -> ChainBreak:
        self.first_break = ChainBreak(seq, problem, detail)
        return self.first_break


def verify_entries(entries: Iterable[AuditEntry], *, anchor: tuple[int, str] | None = None) -> ChainReport:
    verifier = ChainVerifier(anchor)
    for entry in entries:
        if verifier.add(entry) is not None:
            break
    return verifier.finish()


async def verify_chain(
    connection: AsyncConnection, *, anchor: tuple[int, str] | None = None, batch_size: int = 10_000
) -> ChainReport:
    """Read the whole chain in `seq` order through a server-side cursor, a batch at a time."""
    table = AuditLogRow.__table__
    statement = select(*(table.c[name] for name in _ENTRY_COLUMNS)).order_by(table.c.seq)
    verifier = ChainVerifier(anchor)
    result = await connection.stream(statement, execution_options={"yield_per": batch_size})
    try:
        async for batch in result.partitions():
            for row in batch:
                if verifier.add(AuditEntry(*row)) is not None:
                    return verifier.finish()
    finally:
        await result.close()
    return verifier.finish()


async def trail_entries(
    connection: AsyncConnection, *, policy_id: str | None = None, incident_id: str | None = None,
    claim_id: str | None = None, table_name: str | None = None, limit: int = 50,
) -> list[AuditEntry]:
    """The newest `limit` entries matching every filter given, oldest first."""
    table = AuditLogRow.__table__
    wanted = {"policy_id": policy_id, "incident_id": incident_id, "claim_id": claim_id, "table_name": table_name}
    statement = select(*(table.c[name] for name in _ENTRY_COLUMNS)).where(
        *(table.c[name] == value for name, value in wanted.items() if value is not None)
    )
    found = await connection.execute(statement.order_by(table.c.seq.desc()).limit(limit))
    return [AuditEntry(*row) for row in reversed(found.all())]


def audited_tables() -> dict[str, list[str]]:
    """Every business table with its primary key columns, from the models."""
    return {
        table.name: [column.name for column in table.primary_key.columns]
        for table in Base.metadata.sorted_tables
        if table.name not in NOT_AUDITED
    }


class RowProblem(StrEnum):
    CHANGED = "changed"  # differs from the state its latest entry recorded
    NOT_IN_TRAIL = "not_in_trail"  # no entry at all: inserted with the triggers off
    DELETED_UNRECORDED = "deleted_unrecorded"  # its latest entry says it exists; it does not
    REAPPEARED = "reappeared"  # its latest entry is a DELETE; it exists


@dataclass(frozen=True)
class RowDrift:
    table: str
    row_key: str
    problem: RowProblem
    last_seq: int | None  # the row's latest entry, if any


@dataclass(frozen=True)
class RowsReport:
    rows: int  # business rows compared
    drift_count: int
    drifts: list[RowDrift]  # the first few per table, tables in dependency order

    @property
    def intact(self) -> bool:
        return self.drift_count == 0


# The same functions the trigger uses, so both sides compute the key and digest alike.
_DRIFT_SQL = """
WITH latest AS (
    SELECT DISTINCT ON (row_key) row_key, operation, row_digest, seq
    FROM audit_log WHERE table_name = :table_name ORDER BY row_key, seq DESC
), present AS (
    SELECT audit_row_key(r, :key_columns) AS row_key, audit_row_digest(r) AS row_digest
    FROM (SELECT to_jsonb(t) AS r FROM {table} AS t OFFSET 0) AS snapshot  -- once per row, not per use
)
SELECT coalesce(p.row_key, l.row_key) AS row_key, l.seq,
       CASE WHEN l.row_key IS NULL THEN 'not_in_trail'
            WHEN p.row_key IS NULL THEN 'deleted_unrecorded'
            WHEN l.operation = 'DELETE' THEN 'reappeared'
            ELSE 'changed' END AS problem,
       count(*) OVER () AS drift_count
FROM present AS p FULL JOIN latest AS l ON l.row_key = p.row_key
WHERE l.row_key IS NULL
   OR (p.row_key IS NULL AND l.operation <> 'DELETE')
   OR (p.row_key IS NOT NULL AND (l.operation = 'DELETE' OR l.row_digest <> p.row_digest))
ORDER BY l.seq NULLS LAST, 1
LIMIT :limit
"""


async def verify_rows(connection: AsyncConnection, *, examples_per_table: int = 20) -> RowsReport:
    """Compare every business row with its latest audit entry: a difference is a change the
    triggers did not see (made by a superuser or the owner with triggers disabled)."""
    # The digests were taken with timestamps in UTC; so must these be.
    await connection.execute(text("SELECT set_config('TimeZone', 'UTC', true)"))
    quote = connection.dialect.identifier_preparer.quote
    rows = drift_count = 0
    drifts: list[RowDrift] = []
    for table, key_columns in audited_tables().items():
        rows += await connection.scalar(select(func.count()).select_from(Base.metadata.tables[table])) or 0
        statement = text(_DRIFT_SQL.format(table=quote(table))).bindparams(
            bindparam("key_columns", key_columns, type_=ARRAY(Text)),
            table_name=table,
            limit=examples_per_table,
        )
        found = (await connection.execute(statement)).all()
        if found:
            drift_count += found[0].drift_count
            drifts += [RowDrift(table, row.row_key, RowProblem(row.problem), row.seq) for row in found]
    return RowsReport(rows, drift_count, drifts)
