"""The HTTP API: one FastAPI app for insureds, security vendors and insurers. OpenAPI at /docs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import Services
from api.problems import install as install_problem_handlers
from api.problems import problem_response
from api.routes import claims, incidents, policies
from logs import get_logger

log = get_logger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024  # a batch of 50,000 findings fits; anything larger is refused unread

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            if refused:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(413, "body_too_large", f"the body may be at most {self.limit} bytes")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


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
        responses={
            401: {"description": "No valid API key, or (vendors) no valid signature"},
            403: {"description": "This endpoint is for another kind of party"},
            404: {"description": "No such object that you can see"},
        },
    )
    install_problem_handlers(app)
    for module in (policies, incidents, claims):
        app.include_router(module.router)

    @app.get("/health", tags=["operations"], summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.middleware("http")
    async def log_requests(request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        caller = getattr(request.state, "caller", None)
        log.info(
            "api_request", method=request.method, route=getattr(route, "path", None), status=response.status_code,
            party=caller.kind.value if caller else None, key_id=caller.key_id if caller else None,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    return app
