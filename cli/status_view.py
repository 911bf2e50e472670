"""Statuses as Rich tables for `cyberins policy|incident|claim|qualification show`, and a loss statement's lines.

One row per field of the status model, in the model's order, so that a field added to the query shows
up here without a change; only the values that need a human layout have a formatter. Money reads as
everywhere in the CLI (`domain.money.format_money`: ¥1,200,000.00); `--json` keeps integer fen.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel
from rich.table import Table

from contracts.incident import RegulatoryFiling
from contracts.qualification import ContactDue
from domain.findings import FindingSummary, Severity
from domain.loss_statement import LossStatement
from domain.money import Money, format_money
from domain.policy import CHINA_STANDARD_TIME, Quote
from domain.qualification import ProofProblem

NOT_YET = "-"


def _by_severity(counts: dict[Severity, int]) -> str:
    shown = [f"{severity.value} {counts[severity]}" for severity in Severity if counts.get(severity)]
    return ", ".join(shown) or "none"


def _findings(summary: FindingSummary) -> str:
    return (
        f"{summary.total} reported, {summary.closed} closed, "
        f"{summary.awaiting_verification} awaiting verification, {summary.escalations} escalated\n"
        f"open: {_by_severity(summary.open_by_severity)}\n"
        f"overdue: {_by_severity(summary.overdue_by_severity)}\n"
        f"went overdue this term: {_by_severity(summary.ever_overdue_by_severity)}"
    )


def _quote(quote: Quote) -> str:
    return f"{quote.quote_id}: premium {format_money(quote.premium)}, expires {_value(quote.expires_at)}"


def _filing(filing: RegulatoryFiling) -> str:
    return f"{filing.kind.value} {filing.reference} via {filing.channel}, {_value(filing.filed_at)}"


def _statement(statement: LossStatement) -> str:
    lines = [f"total payable {format_money(statement.total_payable)}"]
    lines += [
        f"{line.head.value}: {format_money(line.payable)} of {format_money(line.gross)} claimed"
        for line in statement.lines
    ]
    if statement.exclusions_applied:
        lines.append("exclusions: " + ", ".join(e.value for e in statement.exclusions_applied))
    return "\n".join(lines)


def _value(value: Any) -> str:
    if value is None or value == []:
        return NOT_YET
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Money):
        return format_money(value)
    if isinstance(value, FindingSummary):
        return _findings(value)
    if isinstance(value, Quote):
        return _quote(value)
    if isinstance(value, RegulatoryFiling):
        return _filing(value)
    if isinstance(value, LossStatement):
        return _statement(value)
    if isinstance(value, ContactDue):
        return _contact(value)
    if isinstance(value, ProofProblem):
        return f"{value.code}: {value.message}"
    if isinstance(value, list):
        return "\n".join(_value(item) for item in value)
    if isinstance(value, BaseModel):
        # A part of a status with no layout of its own (yet): its fields, each laid out as above.
        return ", ".join(f"{name.replace('_', ' ')} {_value(field)}" for name, field in value)
    return str(value)


def _contact(due: ContactDue) -> str:
    """A service level: when it is due (Beijing time), and what has happened."""
    shown = f"due {due.due.astimezone(CHINA_STANDARD_TIME).isoformat(timespec='minutes')}"
    if due.provisional:
        shown += " (provisional: the holiday calendar of that year is not loaded)"
    if due.done_at is not None:
        return f"{shown}; done {_value(due.done_at)}" + (" (late)" if due.done_at > due.due else "")
    return shown + ("; escalated" if due.escalated else "; reminded" if due.reminded else "")


def status_table(status: BaseModel, *, title: str, skip: tuple[str, ...] = ()) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name in type(status).model_fields:
        if name not in skip:
            table.add_row(name.replace("_", " ").capitalize(), _value(getattr(status, name)))
    return table


def statement_table(statement: LossStatement) -> Table:
    """`claim determine`: each head from what was claimed to what it pays (docs/domain.md, "Loss determination", steps 1-4)."""
    table = Table(
        title=f"Loss statement: {format_money(statement.total_payable)} payable", title_justify="left",
        caption=f"aggregate left after this claim: {format_money(statement.aggregate_remaining_after)}",
    )
    for heading in ("head", "claimed", "retention", "coinsurance", "sublimit left", "payable"):
        table.add_column(heading, justify="left" if heading == "head" else "right")
    for line in statement.lines:
        table.add_row(
            line.head.value, format_money(line.gross), format_money(line.retention), f"{line.coinsurance_bps / 100:g}%",
            format_money(line.sublimit_remaining), format_money(line.payable),
        )
    for item in statement.items:
        if item.excluded_by:
            table.add_row(f"  {item.item_id} excluded", format_money(item.claimed), "", "", "",
                          ", ".join(e.value for e in item.excluded_by))
    return table
