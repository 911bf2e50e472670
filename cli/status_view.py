"""A policy's status as a Rich table for `cyberins policy show`.

One row per field of `PolicyStatus`, in the model's order, so that a field added to the query shows
up here without a change; only the values that need a human layout have a formatter.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from rich.table import Table

from domain.findings import FindingSummary, Severity
from domain.money import Money
from domain.policy import Quote
from workflows.messages import PolicyStatus

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
    return f"{quote.quote_id}: premium {quote.premium}, expires {_value(quote.expires_at)}"


def _value(value: Any) -> str:
    if value is None or value == []:
        return NOT_YET
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Money):
        return str(value)
    if isinstance(value, FindingSummary):
        return _findings(value)
    if isinstance(value, Quote):
        return _quote(value)
    if isinstance(value, list):
        return "\n".join(_value(item) for item in value)
    return str(value)


def status_table(status: PolicyStatus) -> Table:
    table = Table(title=f"Policy {status.policy_id}", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name in type(status).model_fields:
        if name == "policy_id":
            continue
        table.add_row(name.replace("_", " ").capitalize(), _value(getattr(status, name)))
    return table
