"""`cyberins audit verify`: recompute the audit log's hash chain and name the first tampered entry.
`cyberins audit trail`: the newest entries, each with who made the change.

Talks to the database directly (DATABASE_URL, or the running dev stack's PostgreSQL), in one
read-only snapshot, so entries appended while it reads do not disturb it. Imports stay inside the
command: `cyberins --help` must not pay for SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from storage.audit import AuditEntry, ChainReport, RowsReport

app = typer.Typer(help="Check the hash-chained audit trail of policies, incidents and claims.", no_args_is_help=True)

EXIT_TAMPERED = 1


@app.command("verify")
def verify(
    rows: Annotated[
        bool, typer.Option("--rows", help="Also check every business row against its latest audit entry")
    ] = False,
    anchor: Annotated[
        str | None,
        typer.Option(help="SEQ:HASH printed by an earlier verify and kept elsewhere; the chain must still hold it"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """Recompute every hash of the audit log in order. Exit 0 when intact, 1 naming the first bad
    sequence number (a changed byte, a deleted or a reordered entry)."""
    from cli.errors import EXIT_BAD_INPUT, fail
    from cli.running import run_async

    anchored = None
    if anchor is not None:
        seq, _, digest = anchor.partition(":")
        if not (seq.isdigit() and len(digest) == 64):
            fail("--anchor must be SEQ:HASH, e.g. 1200:<64 hex digits>", EXIT_BAD_INPUT)
        anchored = (int(seq), digest.lower())

    chain, checked_rows = run_async(_verify(anchored, with_rows=rows))
    intact = chain.intact and (checked_rows is None or checked_rows.intact)
    if as_json:
        import json

        typer.echo(json.dumps(_as_document(chain, checked_rows, intact)))
    else:
        _print(chain, checked_rows)
    if not intact:
        raise typer.Exit(EXIT_TAMPERED)


async def _verify(anchor: tuple[int, str] | None, *, with_rows: bool) -> tuple[ChainReport, RowsReport | None]:
    from cli.database import with_database
    from storage.audit import verify_chain, verify_rows

    async def verify(engine, _sessions) -> tuple[ChainReport, RowsReport | None]:
        async with engine.connect() as connection:
            # One snapshot for the chain and the rows: a concurrent writer cannot make them disagree.
            await connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            chain = await verify_chain(connection, anchor=anchor)
            checked_rows = await verify_rows(connection) if with_rows else None
            return chain, checked_rows

    return await with_database(verify, doing="read the audit log")


def _as_document(chain: ChainReport, checked_rows: RowsReport | None, intact: bool) -> dict:
    broken = chain.first_break
    document: dict = {
        "intact": intact,
        "entries": chain.entries,
        "last_seq": chain.last_seq,
        "last_hash": chain.last_hash,
        "first_break": None
        if broken is None
        else {"seq": broken.seq, "problem": broken.problem.value, "detail": broken.detail},
    }
    if checked_rows is not None:
        document["rows"] = {
            "checked": checked_rows.rows,
            "drift_count": checked_rows.drift_count,
            "drifts": [
                {"table": d.table, "row_key": d.row_key, "problem": d.problem.value, "last_seq": d.last_seq}
                for d in checked_rows.drifts
            ],
        }
    return document


_PROBLEMS = {
    "missing": "the entry is missing (deleted, or renumbered)",
    "out_of_order": "the sequence runs out of order",
    "broken_link": "it does not follow the entry before it (changed, moved or reordered)",
    "hash_mismatch": "its content was changed",
    "anchor_mismatch": "it differs from the anchored chain",
    "changed": "changed without an audit entry",
    "not_in_trail": "exists without any audit entry",
    "deleted_unrecorded": "deleted without an audit entry",
    "reappeared": "exists although its last audit entry deleted it",
}


def _print(chain: ChainReport, checked_rows: RowsReport | None) -> None:
    broken = chain.first_break
    if broken is None:
        if chain.last_seq is None:
            typer.echo("Audit log intact: no entries yet.")
        else:
            typer.echo(f"Audit log intact: {chain.entries:,} entries, seq 1 to {chain.last_seq}.")
            typer.echo(f"Last hash (keep it to pass as --anchor {chain.last_seq}:<hash> later): {chain.last_hash}")
    else:
        held = f" Entries 1 to {broken.seq - 1} hold." if broken.seq > 1 else ""
        typer.echo(
            f"Audit log TAMPERED at seq {broken.seq}: {_PROBLEMS[broken.problem.value]}; {broken.detail}.{held}"
        )
    if checked_rows is None:
        return
    if checked_rows.intact:
        typer.echo(f"Business rows match their latest audit entries: {checked_rows.rows:,} rows.")
        return
    typer.echo(
        f"{checked_rows.drift_count:,} business row(s) of {checked_rows.rows:,} differ from the audit log:"
    )
    for drift in checked_rows.drifts:
        since = f" (last entry seq {drift.last_seq})" if drift.last_seq is not None else ""
        typer.echo(f"  {drift.table} {drift.row_key}: {_PROBLEMS[drift.problem.value]}{since}")


@app.command("trail")
def trail(
    policy: Annotated[str | None, typer.Option("--policy", help="Only entries of this policy")] = None,
    incident: Annotated[str | None, typer.Option("--incident", help="Only entries of this incident")] = None,
    claim: Annotated[str | None, typer.Option("--claim", help="Only entries of this claim")] = None,
    table: Annotated[str | None, typer.Option("--table", help="Only entries of this table, e.g. payouts")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="How many of the newest entries")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """The newest entries, oldest first, each with who made the change: the party and key of an API
    request, the workflow run and activity of a worker, the operator of a command."""
    from datetime import UTC

    from cli.running import run_async

    found = run_async(_trail(policy_id=policy, incident_id=incident, claim_id=claim, table_name=table, limit=limit))
    if as_json:
        import json

        typer.echo(json.dumps([_entry_document(entry) for entry in found], ensure_ascii=False))
        return
    if not found:
        typer.echo("No audit entries match.")
    for entry in found:
        about = " ".join(f"{name} {value}" for name, value in (
            ("policy", entry.policy_id), ("incident", entry.incident_id), ("claim", entry.claim_id)) if value)
        typer.echo(
            f"{entry.seq}  {entry.recorded_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z  {entry.table_name} {entry.operation} "
            f"{entry.row_key}{'  ' + about if about else ''}  by {who(entry.actor)}"
        )


async def _trail(**filters) -> list[AuditEntry]:
    from cli.database import with_database
    from storage.audit import trail_entries

    async def read(engine, _sessions) -> list[AuditEntry]:
        async with engine.connect() as connection:
            return await trail_entries(connection, **filters)

    return await with_database(read, doing="read the audit log")


def who(actor_text: str | None) -> str:
    """One line naming the actor an entry records."""
    from storage.audit import Actor, ActorKind

    if actor_text is None:
        return "not recorded (written before the trail named actors)"
    actor = Actor.from_text(actor_text)
    if actor is None:
        return f"an actor the trail cannot read: {actor_text[:200]}"
    party = f"{actor.party_kind} {actor.party_id}" + (f" with key {actor.key_id}" if actor.key_id else "")
    if actor.kind is ActorKind.PARTY:
        return party
    if actor.kind is ActorKind.WORKFLOW:
        run = f" run {actor.run_id}" if actor.run_id else ""
        acting = f"workflow {actor.workflow_type} {actor.workflow_id}{run}, activity {actor.activity} attempt {actor.attempt}"
        return acting + (f", for {party}" if actor.party_id else "")
    if actor.kind is ActorKind.OPERATOR:
        return f"operator {actor.operator}"
    return f"database role {actor.database_role} (no actor set)"


def _entry_document(entry: AuditEntry) -> dict:
    import json
    from dataclasses import asdict

    from storage.audit import Actor

    document = asdict(entry) | {"recorded_at": entry.recorded_at.isoformat()}
    # Readable actors as objects; one the trail cannot read is shown as it was stored.
    document["actor"] = json.loads(entry.actor) if Actor.from_text(entry.actor) else entry.actor
    return document
