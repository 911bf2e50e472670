"""Each request is validated against the wall clock: a time the sender says has happened
(`domain.boundaries.PastInstant`) may not lie ahead of it by more than the clock skew."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.types import ASGIApp, Receive, Scope, Send

from domain.boundaries import checked_against


def _now() -> datetime:
    return datetime.now(UTC)


class WallClock:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with checked_against(_now):
            await self.app(scope, receive, send)
