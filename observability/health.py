"""A worker's `/health` and `/ready` over plain HTTP, for container probes.

A worker serves no traffic, so it has no web framework; this answers two GETs with JSON and nothing
else. `/health` says the process's event loop answers (liveness: restart it if not). `/ready` runs
every readiness check, each with a deadline, and answers 503 naming the ones that failed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

# None when all is well, else what is wrong, in words an operator can act on.
Check = Callable[[], Awaitable[str | None]]

CHECK_SECONDS = 3.0
_REQUEST_SECONDS = 5.0
_MAX_HEADER_LINES = 100
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 400: "Bad Request", 503: "Service Unavailable"}


async def run_checks(checks: Mapping[str, Check]) -> dict[str, str]:
    """Every check at once; a check that raises or overruns CHECK_SECONDS has failed."""
    async def one(check: Check) -> str:
        try:
            problem = await asyncio.wait_for(check(), CHECK_SECONDS)
        except TimeoutError:
            return f"no answer within {CHECK_SECONDS:g} s"
        except Exception as error:  # a probe reports; it never crashes the worker
            return f"{type(error).__name__}: {error}"[:300]
        return problem or "ok"

    names = list(checks)
    results = await asyncio.gather(*(one(checks[name]) for name in names))
    return dict(zip(names, results, strict=True))


async def readiness(checks: Mapping[str, Check]) -> tuple[int, dict]:
    """The status and body of a readiness answer: 200 when every check is ok, else 503 naming them."""
    results = await run_checks(checks)
    ready = all(result == "ok" for result in results.values())
    return (200 if ready else 503), {"status": "ready" if ready else "not_ready", "checks": results}


def database_check(sessions: async_sessionmaker[AsyncSession]) -> Check:
    async def check() -> str | None:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
        return None
    return check


def temporal_check(client: Client) -> Check:
    """The frontend answers a cheap call of the namespace's API: GetSystemInfo, which every Temporal
    (Cloud too) serves to any client, unlike the gRPC health service."""
    async def check() -> str | None:
        await client.workflow_service.get_system_info(GetSystemInfoRequest())
        return None
    return check


class HealthServer:
    """Serves `/health` and `/ready` on `host:port` while entered."""

    def __init__(self, host: str, port: int, checks: Mapping[str, Check]) -> None:
        self.host, self.port, self.checks = host, port, checks
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> HealthServer:
        self._server = await asyncio.start_server(self._answer, self.host, self.port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await asyncio.wait_for(self._respond(reader), _REQUEST_SECONDS)
        except (TimeoutError, ValueError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
            status, body = 400, {"error": "expected GET /health or GET /ready"}
        payload = json.dumps(body).encode()
        head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
        try:
            writer.write(head.encode() + payload)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, dict]:
        method, target, _version = (await reader.readline()).decode("latin-1").split(" ", 2)
        for _ in range(_MAX_HEADER_LINES):  # the headers say nothing a probe needs
            if (await reader.readline()) in (b"\r\n", b"\n", b""):
                break
        path = target.split("?", 1)[0]
        if path not in ("/health", "/ready"):
            return 404, {"error": f"no {path} here; GET /health or /ready"}
        if method != "GET":
            return 405, {"error": "GET only"}
        if path == "/health":
            return 200, {"status": "ok"}
        return await readiness(self.checks)
