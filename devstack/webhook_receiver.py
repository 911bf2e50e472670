"""A webhook receiver as a party would run one: it verifies every delivery with the `standardwebhooks`
reference package, applies each `webhook-id` once, and answers as told (2xx, or a failure to test
retries). `cyberins demo` runs one for the panel vendor; the delivery tests run it as the far side.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    webhook_id: str
    event_type: str
    data: dict
    received_at: datetime
    verified: bool


@dataclass
class WebhookReceiver:
    """`secrets`: the endpoint's `whsec_` secrets (set after registering). `answer(n)` gives the status
    for the n-th request (1-based); by default 204. `on_delivery` sees each new, verified event once."""

    secrets: list[str] = field(default_factory=list)
    answer: Callable[[int], int] = lambda n: 204
    on_delivery: Callable[[Received], None] | None = None
    host: str = "127.0.0.1"
    requests: int = 0
    deliveries: list[Received] = field(default_factory=list)  # every request, in arrival order
    applied: dict[str, Received] = field(default_factory=dict)  # each webhook-id once
    rejected: int = 0  # requests whose signature no secret verifies
    _server: uvicorn.Server | None = None
    _task: asyncio.Task | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/cyberins"

    async def _receive(self, request: Request) -> Response:
        self.requests += 1
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = any(_verifies(secret, body, headers) for secret in self.secrets)
        if not verified:
            self.rejected += 1
            return Response(status_code=401)
        status = self.answer(self.requests)
        if 200 <= status < 300:
            payload = json.loads(body)
            received = Received(headers["webhook-id"], payload["type"], payload["data"], datetime.now(UTC), True)
            self.deliveries.append(received)
            if received.webhook_id not in self.applied:
                self.applied[received.webhook_id] = received
                if self.on_delivery is not None:
                    self.on_delivery(received)
        return Response(status_code=status)

    async def start(self) -> WebhookReceiver:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        self.port = listener.getsockname()[1]
        app = Starlette(routes=[Route("/hooks/cyberins", self._receive, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._task = asyncio.create_task(self._server.serve(sockets=[listener]))
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None

    async def __aenter__(self) -> WebhookReceiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except (WebhookVerificationError, KeyError, ValueError):
        return False
    return True
