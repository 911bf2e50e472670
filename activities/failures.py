"""Which activity failures are worth retrying, decided once for every activity (the worker applies it).

A retry helps when the moment was wrong: a connection PostgreSQL closed, a serialization failure or
deadlock, a statement timeout, a server starting or out of resources. It never helps when the data
is wrong: a number out of range, a byte PostgreSQL cannot store, a broken constraint, a business
rule. Those would fail every attempt for ever, and a workflow waiting on them would never answer
again, so they become non-retryable `ApplicationError`s that the workflow turns into a refusal.

Messages name the problem and where it is (SQLSTATE, constraint, table, column, query argument),
never the value: a value may be personal data, and the failure travels to Temporal and the logs.
Anything not recognised here is retried, as Temporal does by default.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, StatementError
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.log_context import activity_log
from domain.boundaries import describe_invalid
from domain.errors import DomainRuleError

# Stable `ApplicationError.type`s: what a workflow, a test or an operator's search may rely on.
INVALID_DATA = "invalid_data"  # SQLSTATE class 22, or a message that fails its model
CONSTRAINT_VIOLATED = "constraint_violated"  # class 23, and 40002 (a deferred constraint at commit)
STATEMENT_REJECTED = "statement_rejected"  # classes 0A, 21, 42: a bug in our SQL or schema, still permanent
VALUE_TOO_LARGE = "value_too_large"  # class 54: e.g. a text too long for an index
RULE_RAISED = "rule_raised"  # class P0: a PL/pgSQL RAISE in a trigger

# By the first two characters of the SQLSTATE: (type, what went wrong). Other classes are transient:
# 08 connection, 25 transaction state (a standby after failover), 40 rollback, 53 resources,
# 55 lock not available, 57 operator intervention (statement timeout, shutdown), 58 system, XX internal.
PERMANENT_CLASSES: dict[str, tuple[str, str]] = {
    "22": (INVALID_DATA, "a value does not fit its column"),
    "23": (CONSTRAINT_VIOLATED, "the write breaks a database constraint"),
    "42": (STATEMENT_REJECTED, "PostgreSQL rejected the statement (syntax, schema or privilege)"),
    "0A": (STATEMENT_REJECTED, "PostgreSQL does not support the statement"),
    "21": (STATEMENT_REJECTED, "a statement met more rows than it allows"),
    "54": (VALUE_TOO_LARGE, "a value exceeds a PostgreSQL limit"),
    "P0": (RULE_RAISED, "a database rule refused the write"),
}
PERMANENT_CODES: dict[str, tuple[str, str]] = {
    "40002": (CONSTRAINT_VIOLATED, "the transaction breaks a database constraint"),
}
# Finer wording for the data exceptions met in practice.
DATA_EXCEPTIONS = {
    "22001": "a text is longer than its column allows",
    "22003": "a number is out of range for its column",
    "22007": "a time is not in a form PostgreSQL reads",
    "22008": "a time is out of range",
    "22021": "a text holds a byte sequence PostgreSQL cannot store (such as NUL)",
    "22P02": "a value is not in a form its column type reads",
    "22P05": "a JSON text holds a character PostgreSQL cannot store (such as \\u0000)",
}
# asyncpg refuses some values before sending them (SQLSTATE 22000): say which kind, not which value.
CLIENT_SIDE = {
    OverflowError: "a number is out of range for its column type",
    UnicodeError: "a text cannot be encoded as UTF-8 (a lone surrogate)",
    TypeError: "a value has the wrong type for its column",
    ValueError: "a value is not valid for its column type",
}
_ARGUMENT = re.compile(r"query argument \$(\d+)")


def permanent_failure(error: BaseException) -> tuple[str, str] | None:
    """(type, message) when `error` fails every attempt whatever the moment; None when a retry may help.

    Already-decided failures (an `ApplicationError`, a cancellation) are never reclassified."""
    if isinstance(error, FailureError):
        return None
    if isinstance(error, DomainRuleError):
        return error.code, error.message
    if isinstance(error, ValidationError):
        return INVALID_DATA, describe_validation_error(error)
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return None
        return _by_sqlstate(error)
    if isinstance(error, StatementError) and isinstance(error.orig, tuple(CLIENT_SIDE)):
        # SQLAlchemy could not even bind the parameters: no attempt can.
        return INVALID_DATA, f"{_client_side(error.orig)} (before the statement was sent)"
    return None


def describe_validation_error(error: ValidationError) -> str:
    """Where and why a model refused its data: locations and rules, without the input itself."""
    return f"{error.title} is not valid: {describe_invalid(error)}"


def _by_sqlstate(error: DBAPIError) -> tuple[str, str] | None:
    driver_error = _driver_error(error)
    sqlstate = str(getattr(error.orig, "sqlstate", None) or getattr(driver_error, "sqlstate", None) or "")
    if len(sqlstate) != 5:
        return None
    kind = PERMANENT_CODES.get(sqlstate) or PERMANENT_CLASSES.get(sqlstate[:2])
    if kind is None:
        return None
    type_, what = kind
    if sqlstate == "22000" and driver_error is not None and isinstance(driver_error.__cause__, tuple(CLIENT_SIDE)):
        what = _client_side(driver_error.__cause__)
    what = DATA_EXCEPTIONS.get(sqlstate, what)
    return type_, f"{what} (SQLSTATE {sqlstate}{_where(driver_error)})"


def _driver_error(error: DBAPIError) -> BaseException | None:
    """asyncpg's own exception behind SQLAlchemy's adapter: it knows the constraint, table and column."""
    seen: BaseException | None = error.orig
    for _ in range(5):  # adapter → asyncpg → Python's own (OverflowError…): a short chain
        if seen is None or type(seen).__module__.startswith("asyncpg"):
            return seen
        seen = seen.__cause__
    return None


def _where(driver_error: Any) -> str:
    places = [
        f"{label} {name}"
        for label, name in (
            ("constraint", getattr(driver_error, "constraint_name", None)),
            ("table", getattr(driver_error, "table_name", None)),
            ("column", getattr(driver_error, "column_name", None)),
        )
        if name
    ]
    argument = _ARGUMENT.search(str(driver_error.args[0])) if driver_error is not None and driver_error.args else None
    if argument:
        places.append(f"query argument ${argument.group(1)}")
    return "".join(f", {place}" for place in places)


def _client_side(cause: BaseException) -> str:
    for kind, what in CLIENT_SIDE.items():
        if isinstance(cause, kind):
            return what
    return CLIENT_SIDE[ValueError]


class ActivityFailures(Interceptor):
    """Registered on every worker (worker.py): each activity's failure is classified on its way out."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ClassifyingInbound(next)


class _ClassifyingInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except Exception as error:
            permanent = permanent_failure(error)
            if permanent is None:
                raise
            type_, message = permanent
            activity_log().warning(
                "activity failed permanently; not retried", failure_type=type_, error_class=type(error).__name__
            )
            # `from None`: the original's text may quote the value, and Temporal would keep it as the cause.
            raise ApplicationError(message, type=type_, non_retryable=True) from None
