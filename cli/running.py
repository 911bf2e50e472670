"""Running the CLI's async work so that the process always exits with the code we chose."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer

T = TypeVar("T")


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, then collect the Temporal client while the interpreter is still whole.

    A client left to interpreter shutdown can abort the process ("PyGILState_Release ... must be
    current when releasing", temporalio/sdk-python#300): its Rust threads outlive Python's. The
    exit code is taken out of a `typer.Exit` first, because the exception's traceback keeps the
    client alive.
    """
    exit_code: int | None = None
    try:
        return asyncio.run(work)
    except typer.Exit as requested:
        exit_code = requested.exit_code
    except KeyError as error:
        if "binary/encrypted" not in str(error):
            raise
        typer.echo(
            "error: this workflow's data is encrypted and this command has no payload keys; set "
            "CYBERINS_PAYLOAD_KEYS, or CYBERINS_STATE_DIR to the dev stack's state folder",
            err=True,
        )
        exit_code = 1
    finally:
        gc.collect()
    raise typer.Exit(exit_code)
