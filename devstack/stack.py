"""`cyberins dev`: Temporal dev server, PostgreSQL and a worker, started and stopped as one.

Start order: payload keys ready, ports checked, the mail sink (CYBERINS_MAIL_SINK), Temporal and
PostgreSQL started, database migrated, worker, API and codec server running. Stop order is the
reverse, so the worker finishes its tasks while both servers still answer.
Everything the servers keep lives in the state folder, so a second run finds the first run's policies,
and a server that dies while the stack runs is started again on it (devstack/supervision.py).
The codec server here trusts the dev UI by its origin on loopback, so the UI decodes from the first
click; `cyberins codec-server` in production never does (api/codec_server.py).
"""

from __future__ import annotations

import asyncio
import fcntl
import signal
from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI
from rich.console import Console

from api.codec_server import codec_app
from api.server import app_from_settings, serve_until
from codec.keyring import KeyringError
from devstack.panel import print_stack
from devstack.ports import taken_ports
from devstack.postgres import EmbeddedPostgres, EmbeddedPostgresError
from devstack.protection import prepare as prepare_data_protection
from devstack.supervision import PartKeptFailing, RestartPolicy, Supervisor, supervisors
from devstack.temporal import TemporalDevServer, TemporalDevServerError
from logs import get_logger
from mail.sink import MailSink
from observability.health import Check, database_check, temporal_check
from settings import Settings
from storage.db import create_session_factory
from storage.migrate import upgrade_to_head
from temporal_connection import connect_temporal
from worker import run_worker

log = get_logger(__name__)

WORKER_STOP_TIMEOUT_SECONDS = 30
# With the Temporal server gone the worker can report nothing it finishes, and the SDK spends about
# 25 s on a last heartbeat to it: the stack does not wait for that.
WORKER_STOP_WITHOUT_TEMPORAL_SECONDS = 3
READY_LINE = "Ready. Press Ctrl-C to stop."


class DevStackError(RuntimeError):
    """A reason the stack cannot run, worded for the person who started it."""


def _hold_state_lock(state_dir: Path, stack: AsyncExitStack) -> None:
    """One stack per state folder: a second one would stop the first one's servers as leftovers."""
    lock = (state_dir / "dev.lock").open("w")
    stack.callback(lock.close)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise DevStackError(f"another `cyberins dev` already runs from {state_dir}") from None


def _ports_to_check(settings: Settings) -> dict[str, int]:
    wanted = {
        "Temporal gRPC": settings.temporal_port,
        "Temporal UI": settings.temporal_ui_port,
        "API": settings.api_port,
        "codec server": settings.codec_port,
    }
    if settings.database_url is None:
        wanted["PostgreSQL"] = settings.postgres_port
    if settings.mail_sink:
        wanted["mail sink"] = settings.smtp_port
    return wanted


def _stop_on_signals(shutdown: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, shutdown.set)


async def _start_postgres(postgres: EmbeddedPostgres, database: str, stack: AsyncExitStack) -> None:
    stack.callback(postgres.stop)
    await asyncio.to_thread(postgres.start)
    await asyncio.to_thread(postgres.create_database, database)


async def _start_worker(
    settings: Settings,
    server: TemporalDevServer,
    database_url: str,
    shutdown: asyncio.Event,
    stack: AsyncExitStack,
) -> tuple[asyncio.Task[None], dict[str, Check]]:
    """The worker's task, and the checks by which it shows it reaches Temporal and the database."""
    client = await connect_temporal(settings, target_host=server.target_host)
    engine, sessions = create_session_factory(database_url)
    stack.push_async_callback(engine.dispose)
    task = asyncio.create_task(
        run_worker(client, sessions, settings.task_queue, shutdown, cached_workflows=settings.worker_cached_workflows,
                   settings=settings)
    )

    async def stop_worker() -> None:
        shutdown.set()
        seconds = WORKER_STOP_WITHOUT_TEMPORAL_SECONDS if server.has_exited() else WORKER_STOP_TIMEOUT_SECONDS
        try:
            await asyncio.wait_for(task, seconds)
        except TimeoutError:
            if server.has_exited():
                log.info("worker_left_without_temporal", seconds=seconds)
            else:
                log.warning("worker_stop_timed_out", seconds=seconds)
        except Exception as error:  # noqa: BLE001 - reported while running; stopping must go on
            log.debug("worker_stopped_with_error", error=type(error).__name__)

    stack.push_async_callback(stop_worker)
    return task, {"temporal": temporal_check(client), "database": database_check(sessions)}


async def run_dev_stack(settings: Settings, console: Console, restarts: RestartPolicy | None = None) -> int:
    """Run until SIGINT/SIGTERM; 0 after a clean stop, 1 when the stack could not run or a server kept
    failing (`restarts` says how hard to try)."""
    errors = Console(stderr=True, soft_wrap=True)
    restarts = restarts or RestartPolicy()
    state_dir = settings.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    shutdown = asyncio.Event()
    _stop_on_signals(shutdown)
    try:
        settings, protection = prepare_data_protection(settings, state_dir)
    except KeyringError as error:
        errors.print(f"cyberins dev: {error}", style="red", markup=False)
        return 1
    server = TemporalDevServer(
        state_dir, settings.temporal_port, settings.temporal_ui_port, ui_codec_endpoint=protection.endpoint
    )
    postgres = (
        None if settings.database_url else EmbeddedPostgres(state_dir / "postgres", settings.postgres_port)
    )
    database_url = settings.effective_database_url
    try:
        async with AsyncExitStack() as stack:
            _hold_state_lock(state_dir, stack)
            # A run that was killed outright leaves its servers running, maybe on other ports.
            server.stop_leftover()
            if postgres is not None and postgres.is_running():
                log.info("stopping_leftover_postgres")
                await asyncio.to_thread(postgres.stop)
            taken = taken_ports(_ports_to_check(settings))
            if taken:
                listed = ", ".join(f"{port} ({purpose})" for purpose, port in taken.items())
                raise DevStackError(
                    f"port {listed} is already in use by another program. Stop it, or choose other "
                    "ports with --temporal-port / --ui-port / --pg-port / --api-port / --codec-port "
                    "(the mail sink: CYBERINS_SMTP_PORT)."
                )
            if settings.mail_sink:
                # Started before the worker and stopped after it, so no e-mail it sends finds it gone.
                sink = MailSink(settings.mail_dir, port=settings.smtp_port)
                stack.callback(sink.stop)
                await asyncio.to_thread(sink.start)
            stack.callback(server.stop)
            server.start()
            if postgres is not None:
                await _start_postgres(postgres, settings.database_name, stack)
            await server.wait_until_serving()
            await asyncio.to_thread(upgrade_to_head, database_url)
            if shutdown.is_set():
                return 0
            worker, worker_checks = await _start_worker(settings, server, database_url, shutdown, stack)
            api = app_from_settings(settings, target_host=server.target_host)
            servers = {
                "API": _start_http(api, settings.api_host, settings.api_port, "api", shutdown, stack),
                "codec server": _start_http(
                    # The dev UI decodes without signing in: it is trusted by its origin on loopback.
                    codec_app(settings, protection.codec, protection.token, trust_local_ui=True),
                    settings.codec_host, settings.codec_port, "codec_server", shutdown, stack,
                ),
            }
            await _listening(settings.api_host, settings.api_port, servers["API"], "the API")
            await _listening(settings.codec_host, settings.codec_port, servers["codec server"], "the codec server")
            services = api.state.services  # made by the API's startup, done once it listens
            watchers = supervisors(
                server, postgres, restarts, lambda line: console.print(line, markup=False, highlight=False),
                temporal_users={"the worker": worker_checks["temporal"], "the API": temporal_check(services.temporal)},
                database_users={"the worker": worker_checks["database"], "the API": database_check(services.sessions)},
            )
            print_stack(console, settings, server, postgres, database_url, state_dir, protection, restarts)
            console.print(READY_LINE)
            log.info("dev_stack_ready", task_queue=settings.task_queue)
            await _run_until_stopped(shutdown, worker, watchers, servers)
            log.info("dev_stack_stopping")
        console.print("Stopped.")
        return 0
    except (DevStackError, TemporalDevServerError, EmbeddedPostgresError, PartKeptFailing) as error:
        errors.print(f"cyberins dev: {error}", style="red", markup=False)
        return 1
    except Exception:
        log.exception("dev_stack_failed")
        errors.print(f"cyberins dev failed; the servers' logs are in {state_dir}", style="red", markup=False)
        return 1


async def _listening(host: str, port: int, task: asyncio.Task[None], name: str) -> None:
    """Ready means answering: wait until the port accepts connections (or the server has failed)."""
    for _ in range(600):
        if task.done():
            task.result()
            raise DevStackError(f"{name} stopped while starting")
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise DevStackError(f"{name} did not start listening on {host}:{port} within 30 s")


def _start_http(
    app: FastAPI, host: str, port: int, name: str, shutdown: asyncio.Event, stack: AsyncExitStack
) -> asyncio.Task[None]:
    """An HTTP server (the API, the codec server) on its documented port; it stops before the
    worker, so no request is cut off from the workflows it talks to."""
    task = asyncio.create_task(serve_until(app, host, port, shutdown))

    async def stop_server() -> None:
        shutdown.set()
        try:
            await asyncio.wait_for(task, WORKER_STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning(f"{name}_stop_timed_out", seconds=WORKER_STOP_TIMEOUT_SECONDS)
        except Exception as error:  # noqa: BLE001 - reported while running; stopping must go on
            log.debug(f"{name}_stopped_with_error", error=type(error).__name__)

    stack.push_async_callback(stop_server)
    return task


async def _run_until_stopped(
    shutdown: asyncio.Event,
    worker: asyncio.Task[None],
    watchers: list[Supervisor],
    servers: dict[str, asyncio.Task[None]],
) -> None:
    waiting = asyncio.create_task(shutdown.wait())
    watching = [asyncio.create_task(watcher.run(shutdown)) for watcher in watchers]
    done, _ = await asyncio.wait(
        {waiting, worker, *watching, *servers.values()}, return_when=asyncio.FIRST_COMPLETED
    )
    waiting.cancel()
    # A restart under way finishes or is abandoned before the stack stops the servers.
    for task in watching:
        task.cancel()
    await asyncio.gather(*watching, return_exceptions=True)
    if waiting in done:
        return
    for task in watching:
        if task in done:
            task.result()  # PartKeptFailing: a server did not stay up
    if worker in done:
        worker.result()  # re-raises what stopped the worker
        raise DevStackError("the worker stopped although nobody asked it to")
    for name, task in servers.items():
        if task in done:
            task.result()
            raise DevStackError(f"the {name} stopped although nobody asked it to")
