"""Running the API: `cyberins api` in production, and inside `cyberins dev`."""

from __future__ import annotations

import asyncio
from contextlib import nullcontext

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.context import Services
from settings import Settings
from storage.db import create_session_factory
from temporal_connection import connect_temporal


def app_from_settings(settings: Settings, *, target_host: str | None = None) -> FastAPI:
    async def connect():
        client = await connect_temporal(settings, target_host=target_host, component="api")
        engine, sessions = create_session_factory(settings.effective_database_url, pool_size=10)
        return Services(temporal=client, sessions=sessions, task_queue=settings.task_queue), engine.dispose

    return create_app(connect=connect)


class _Server(uvicorn.Server):
    """Leaves SIGINT and SIGTERM to the caller, who stops it by setting `should_exit`."""

    def capture_signals(self):  # type: ignore[override]
        return nullcontext()


# An idle keep-alive connection is closed by the client first (httpx after 5 s, load balancers after
# about 60 s), never by us: a server closing at the moment a client reuses the connection drops that
# request unanswered (seen once in 2,500 fuzzed requests with uvicorn's default of 5 s).
KEEP_ALIVE_SECONDS = 75


def server(app: FastAPI, host: str, port: int) -> _Server:
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    return _Server(config)


async def serve_until(app: FastAPI, host: str, port: int, stop: asyncio.Event) -> None:
    running = server(app, host, port)
    task = asyncio.create_task(running.serve())
    waiting = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    running.should_exit = True
    waiting.cancel()
    await task
