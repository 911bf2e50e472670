"""Operators' lists of policies, incidents and claims, from Temporal visibility.

Visibility holds the search attributes the workflows publish (workflows/search_attributes.py): ids and
states, never personal data. It is eventually consistent: a change shows up a moment after it happens.
Runs closed by continue-as-new are left out, so a policy is one row however many runs it has had.
Temporal is imported inside the functions: the `list` commands' options are read from here for `--help`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import typer

from cli.errors import EXIT_BAD_INPUT, fail
from cli.output import table_console

if TYPE_CHECKING:
    from rich.table import Table
    from temporalio.client import Client, WorkflowExecution
    from temporalio.common import SearchAttributeKey

DEFAULT_LIMIT = 50
MAX_LIMIT = 10_000
SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
LAG_NOTE = "From Temporal visibility: a change can take a few seconds to show."
LIMIT_HELP = f"At most this many rows (1 to {MAX_LIMIT:,}): open workflows first, then the latest closed"


@dataclass(frozen=True)
class Listing:
    """What one `list` command shows: which workflows, how their rows are named, and which columns."""

    plural: str
    workflow_type: str
    id_prefix: str
    id_column: str
    columns: dict[str, SearchAttributeKey]


# One condition of the query: a search attribute, an operator, a value. A value of None drops it.
Clause = tuple["SearchAttributeKey", str, Any]


def checked_id(value: str | None, option: str) -> str | None:
    """Ids go into the query's text, so only the characters ids are made of are let through."""
    if value is not None and not SAFE_ID.match(value):
        fail(f"{option}: an id is letters, digits, `_`, `.` and `-`", EXIT_BAD_INPUT)
    return value


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = value.value if isinstance(value, Enum) else str(value)
    return "'" + text.replace("'", "") + "'"


def visibility_query(listing: Listing, clauses: Sequence[Clause]) -> str:
    parts = [f"WorkflowType = '{listing.workflow_type}'", "ExecutionStatus != 'ContinuedAsNew'"]
    parts += [f"{key.name} {op} {_literal(value)}" for key, op, value in clauses if value is not None]
    return " AND ".join(parts)


def _row(listing: Listing, execution: WorkflowExecution) -> dict[str, Any]:
    attributes = execution.typed_search_attributes
    row: dict[str, Any] = {listing.id_column: execution.id.removeprefix(listing.id_prefix)}
    row.update({column: attributes.get(key) for column, key in listing.columns.items()})
    row["started_at"] = execution.start_time
    row["temporal_status"] = execution.status.name.lower() if execution.status else None
    return row


async def fetch_rows(
    client: Client, listing: Listing, clauses: Sequence[Clause], limit: int
) -> list[dict[str, Any]]:
    from temporalio.service import RPCError, RPCStatusCode

    query = visibility_query(listing, clauses)
    try:
        return [_row(listing, execution) async for execution in client.list_workflows(query, limit=limit)]
    except RPCError as error:
        if error.status == RPCStatusCode.INVALID_ARGUMENT:
            fail(
                f"Temporal refused the query ({error.message}); are the Cyberins search attributes "
                "registered in this namespace? See the README"
            )
        fail(f"listing {listing.plural} failed: {error.message}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    raise TypeError(f"{type(value).__name__} is not JSON")


def rows_table(listing: Listing, rows: list[dict[str, Any]], *, limit: int) -> Table:
    from rich.table import Table

    title = f"{listing.plural.capitalize()} ({len(rows)})"
    caption = LAG_NOTE + (f"\nThere may be more than {limit}: raise --limit." if len(rows) >= limit else "")
    table = Table(title=title, title_justify="left", caption=caption)
    headings = [listing.id_column, *listing.columns, "started_at", "temporal_status"]
    for heading in headings:
        table.add_column(heading.replace("_", " "), no_wrap=heading == listing.id_column)
    for row in rows:
        table.add_row(*(_cell(row[heading]) for heading in headings))
    return table


def print_listing(
    listing: Listing, clauses: Sequence[Clause], *, limit: int, as_json: bool, wide: bool = False
) -> None:
    from cli.running import run_async

    rows = run_async(_fetch(listing, clauses, limit))
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=_json_value))
    else:
        table_console(wide=wide).print(rows_table(listing, rows, limit=limit))


async def _fetch(listing: Listing, clauses: Sequence[Clause], limit: int) -> list[dict[str, Any]]:
    from cli.connection import connect_or_fail
    from settings import get_settings

    client = await connect_or_fail(get_settings())
    return await fetch_rows(client, listing, clauses, limit)
