"""Turning failures into one clear message and an exit code, never a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from pydantic import ValidationError

# Exit codes: 1 = could not do it (server, conflict, unknown policy), 2 = bad input.
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _location(loc: tuple[int | str, ...]) -> str:
    """('organisation', 'systems', 0, 'mlps_level') -> 'organisation.systems[0].mlps_level'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe_validation_error(error: ValidationError, *, whole: str) -> list[str]:
    """One line per problem: the field's path and what is wrong, without echoing the input.

    The input is left out on purpose: it can be an organisation's name or credit code.
    """
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        message = problem["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        lines.append(f"{_location(problem['loc']) or whole}: {message}")
    return lines
