"""The HTTP API: one FastAPI app for insureds, security vendors and insurers. OpenAPI at /docs and
/redoc, served with their assets from the API itself (api/docs_assets.py), so they work offline."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import docs_assets, openapi
from api.context import MAX_BULK_BODY_BYTES, Services
from api.problems import install as install_problem_handlers
from api.problems import problem_response
from api.routes import claims, endpoints, events, incidents, policies, qualifications, timelines
from api.wall_clock import WallClock
from logs import get_logger
from observability.health import database_check, readiness, temporal_check
from observability.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from observability.metrics import ApiMetrics

log = get_logger(__name__)

MAX_BODY_BYTES = MAX_BULK_BODY_BYTES  # the largest any endpoint takes; each endpoint may take less

DESCRIPTION = """
Cyber-security insurance (网络安全保险) as durable Temporal workflows.

* **Authentication**: every call carries `Authorization: Bearer cyk_…`, a key issued to one party
  (an insured company, a security vendor or an insurer) with `cyberins keys create`.
* **Vendors sign every POST** per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
  `webhook-signature`: HMAC-SHA256 over `id.timestamp.body`, ±5 minutes). A webhook-id already
  applied is answered with the first response and not applied again.
* **Idempotency-Key** on any other POST: the same key and body returns the first response; the
  same key with another body is refused with 422.
* **Objects you may not see answer 404**, exactly like objects that do not exist.
* **Errors** are RFC 9457 `application/problem+json` with a stable `code`.
* **A 2xx means it is durable in Temporal**: the workflow started, the signal stored, the update done.
"""


class BodyLimit:
    """413 for a body over the limit, whether announced by Content-Length or streamed in chunks."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit
        self.detail = f"the body may be at most {limit} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # FastAPI passes its own HTTPException through body parsing; the problem
                    # handlers turn it into the same 413 as a too-large Content-Length.
                    raise HTTPException(413, detail=self.detail)
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(413, "body_too_large", self.detail)
        await response(scope, receive, send)


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


class RequestLog:
    """One log line per request: method, route template, status, the caller's kind and key id, time;
    and the same in the metrics. Never the path itself or the body, which can carry ids of people or
    organisations."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None)
            caller = scope.get("state", {}).get("caller")
            self.metrics.observe(scope["method"], route, status, seconds)
            log.info(
                "api_request", method=scope["method"], route=route, status=status,
                party=caller.kind.value if caller else None, key_id=caller.key_id if caller else None,
                ms=round(seconds * 1000, 1),
            )


def create_app(services: Services | None = None, *, connect=None) -> FastAPI:
    """With `services` (tests) the app uses them; otherwise `connect()` makes them at startup and
    the returned closer is awaited at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            yield
            return
        made, close = await connect()
        app.state.services = made
        try:
            yield
        finally:
            await close()

    app = FastAPI(
        title="cyberins API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # docs_assets serves both pages over local assets
        redoc_url=None,
    )
    install_problem_handlers(app)
    for module in (policies, incidents, claims, qualifications, timelines, endpoints, events):
        app.include_router(module.router)

    @app.get("/health", tags=["operations"], summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready", tags=["operations"], summary="Readiness: PostgreSQL and Temporal answer",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not ready: `checks` names what failed"}},
    )
    async def ready(request: Request) -> JSONResponse:
        services: Services = request.app.state.services
        status, body = await readiness({
            "database": database_check(services.sessions), "temporal": temporal_check(services.temporal),
        })
        return JSONResponse(body, status_code=status)

    metrics = ApiMetrics()

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        """Requests by route template and status: no ids, no caller, so no key is asked for."""
        return Response(metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    openapi.install(app)
    docs_assets.install(app)
    app.add_middleware(WallClock)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(RequestLog, metrics=metrics)
    return app
