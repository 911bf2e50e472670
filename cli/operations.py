"""`cyberins worker` and `cyberins migrate`: what a production deployment runs."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

import typer

from cli.errors import fail

if TYPE_CHECKING:
    from settings import Settings


def worker() -> None:
    """Run a worker for the policy task queue (DATABASE_URL and TEMPORAL_ADDRESS from the environment)."""
    from worker import main as run_worker_from_settings

    run_worker_from_settings()
    gc.collect()  # before interpreter shutdown: see cli.running.run_async


def api() -> None:
    """Serve the HTTP API (DATABASE_URL, TEMPORAL_ADDRESS, CYBERINS_API_HOST/PORT from the environment)."""
    import asyncio
    import signal

    from api.server import app_from_settings, serve_until
    from cli.running import run_async
    from settings import get_settings

    settings = get_settings()

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve_until(app_from_settings(settings), settings.api_host, settings.api_port, stop)

    run_async(serve())


def migrate() -> None:
    """Bring the database to the latest schema: DATABASE_URL, or the dev stack's embedded PostgreSQL."""
    from sqlalchemy.engine import make_url

    from settings import get_settings
    from storage.migrate import upgrade_to_head

    settings = get_settings()
    if settings.database_url:
        upgrade_to_head(settings.database_url)
    else:
        _migrate_embedded(settings, upgrade_to_head)
    shown = make_url(settings.effective_database_url).render_as_string(hide_password=True)
    typer.echo(f"{shown} is at the latest migration.")


def _migrate_embedded(settings: Settings, upgrade_to_head) -> None:
    """Uses the running dev stack's server, or starts the server just for this and stops it after."""
    from devstack.postgres import EmbeddedPostgres, EmbeddedPostgresError

    postgres = EmbeddedPostgres(settings.state_dir / "postgres", settings.postgres_port)
    started_here = not postgres.is_running()
    try:
        if started_here:
            postgres.start()
        postgres.create_database(settings.database_name)
        upgrade_to_head(settings.embedded_database_url)
    except EmbeddedPostgresError as error:
        fail(str(error))
    finally:
        if started_here:
            postgres.stop()
