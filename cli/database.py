"""Commands that read or write PostgreSQL directly (DATABASE_URL, or the dev stack's): one engine for
the command, and one line saying why when the database cannot be used."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from cli.errors import fail

ResultT = TypeVar("ResultT")


def operator_actor():
    """Who the audit trail names for a command's writes: CYBERINS_OPERATOR, else the login name."""
    import getpass
    import os

    from storage.audit import Actor

    try:
        name = os.environ.get("CYBERINS_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        name = f"uid:{os.getuid()}"
    return Actor.of_operator(name)


async def with_database(work: Callable[..., Awaitable[ResultT]], *, doing: str) -> ResultT:
    """`await work(engine, sessions)`; exit 1 with what could not be done (`doing`) and why."""
    from sqlalchemy.exc import DBAPIError

    from settings import get_settings
    from storage.audit import acting_as
    from storage.db import create_session_factory

    engine, sessions = create_session_factory(get_settings().effective_database_url, pool_size=1)
    try:
        with acting_as(operator_actor()):
            return await work(engine, sessions)
    except OSError as error:
        fail(f"cannot reach the database ({error.strerror or error}); is `make dev` running, or DATABASE_URL set?")
    except DBAPIError as error:
        reason = str(error.orig).splitlines()[0] if error.orig else str(error)
        fail(f"cannot {doing} ({reason}); has `cyberins migrate` been run?")
    finally:
        await engine.dispose()
