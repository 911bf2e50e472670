"""A small client of the cyberins API for the CLI (`demo`, `signals send`) and tests.

Signs every POST when it holds a vendor's webhook secret, and sends an Idempotency-Key otherwise,
so that a retried request is applied once.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from api.signatures import decode_secret, sign


class ApiError(RuntimeError):
    """A problem document from the API (or a transport failure, with status 0)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"{status} {problem.get('code', '')}: {problem.get('detail', problem)}")


class ApiClient:
    def __init__(self, base_url: str, token: str, *, webhook_secret: str | None = None, timeout: float = 60.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, headers={"Authorization": f"Bearer {token}"}
        )
        self._secret = decode_secret(webhook_secret) if webhook_secret else None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def signed_headers(self, body: bytes, *, webhook_id: str | None = None, timestamp: int | None = None) -> dict[str, str]:
        assert self._secret is not None, "only a vendor's client signs"
        webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
        timestamp = int(time.time()) if timestamp is None else timestamp
        return {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._secret, webhook_id, timestamp, body),
        }

    async def post_raw(self, path: str, body: Any = None, *, key: str | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """POST, signed (vendor) or with an Idempotency-Key; `key` fixes the webhook-id or the key."""
        content = json.dumps(body if body is not None else {}, default=str).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        if self._secret is not None:
            sent.update(self.signed_headers(content, webhook_id=key))
        else:
            sent["Idempotency-Key"] = key or str(uuid.uuid4())
        return await self._http.post(path, content=content, headers=sent)

    async def post(self, path: str, body: Any = None, *, key: str | None = None) -> Any:
        return _answer(await self.post_raw(path, body, key=key))

    async def get(self, path: str, **params: Any) -> Any:
        return _answer(await self._http.get(path, params={k: v for k, v in params.items() if v is not None}))

    async def get_raw(self, path: str, **params: Any) -> httpx.Response:
        return await self._http.get(path, params=params)

    async def delete_raw(self, path: str) -> httpx.Response:
        return await self._http.delete(path)

    async def delete(self, path: str) -> None:
        response = await self.delete_raw(path)
        if not response.is_success:
            _answer(response)


def _answer(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json()
    try:
        problem = response.json()
    except ValueError:
        problem = {"detail": response.text[:500]}
    raise ApiError(response.status_code, problem if isinstance(problem, dict) else {"detail": problem})
