"""`cyberins dev`: the whole local stack in one process (what `make dev` runs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def dev(
    state_dir: Annotated[Path | None, typer.Option(help="Default: .state in the project")] = None,
    temporal_port: Annotated[int | None, typer.Option(help="Default: 7233")] = None,
    ui_port: Annotated[int | None, typer.Option(help="Default: 8233")] = None,
    pg_port: Annotated[int | None, typer.Option(help="Default: 55432 (unused with DATABASE_URL)")] = None,
    api_port: Annotated[int | None, typer.Option(help="Default: 8300")] = None,
    codec_port: Annotated[int | None, typer.Option(help="Default: 8301")] = None,
    max_restarts: Annotated[
        int,
        typer.Option(
            min=0,
            help="Restarts in a row of a Temporal or PostgreSQL server that died before the stack gives up "
            "and stops (0: stop at the first death)",
        ),
    ] = 5,
) -> None:
    """Run Temporal, PostgreSQL, a worker, the HTTP API and the codec server until Ctrl-C; state persists
    in the state folder."""
    overrides = {
        "state_dir": state_dir,
        "temporal_port": temporal_port,
        "temporal_ui_port": ui_port,
        "postgres_port": pg_port,
        "api_port": api_port,
        "codec_port": codec_port,
    }
    from rich.console import Console

    from cli.running import run_async
    from devstack.stack import run_dev_stack
    from devstack.supervision import RestartPolicy
    from settings import get_settings

    settings = get_settings().model_copy(update={k: v for k, v in overrides.items() if v is not None})
    if "CYBERINS_WEBHOOK_HTTP_LOOPBACK" not in os.environ:
        # On a developer's machine a party's receiver is a local http:// server (the demo's is). Set in
        # the environment too: the API's routes read their settings afresh.
        os.environ["CYBERINS_WEBHOOK_HTTP_LOOPBACK"] = "true"
        settings = settings.model_copy(update={"webhook_http_loopback": True})
    restarts = RestartPolicy(max_attempts=max_restarts)
    raise typer.Exit(run_async(run_dev_stack(settings, Console(soft_wrap=True), restarts)))
