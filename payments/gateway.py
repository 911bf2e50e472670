"""The client side of the payment service: a payout instruction POSTed with its idempotency key.

The payment service is an outside party (the insurer's bank or payment system). It carries out each
idempotency key at most once and answers a repeated key with the payout it already made, so a
caller that lost an answer (timeout, crash) sends the same instruction again with the same key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx

from payments.messages import IDEMPOTENCY_HEADER, PaymentConfirmation, PayoutOrder

PAYMENT_URL_VARIABLE = "CYBERINS_PAYMENT_URL"

# Below the pay activity's start-to-close timeout (30 s), so a hung call fails here, with a reason,
# and is retried, rather than being cut off by Temporal.
REQUEST_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


class PaymentRefused(Exception):
    """The payment service answered no. Sending the same instruction again will not change that."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"the payment service refused the payout ({status}): {detail}")
        self.status = status
        self.detail = detail

    @property
    def conflict(self) -> bool:
        """The key was already used for a different payout."""
        return self.status in (409, 422)


class PaymentServiceUnavailable(Exception):
    """No answer or a transient one: the payout may or may not have been made; resend with the same key."""


class PaymentGateway:
    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=REQUEST_TIMEOUT,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            transport=transport,
        )

    async def pay(self, order: PayoutOrder, *, idempotency_key: str) -> PaymentConfirmation:
        try:
            response = await self._http.post(
                "/v1/payouts",
                content=order.model_dump_json(),
                headers={IDEMPOTENCY_HEADER: idempotency_key, "Content-Type": "application/json"},
            )
        except httpx.HTTPError as error:
            raise PaymentServiceUnavailable(
                f"no answer from the payment service at {self.base_url}: {type(error).__name__} {error}"
            ) from error
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise PaymentServiceUnavailable(f"the payment service answered {response.status_code}")
        if response.status_code >= 400:
            raise PaymentRefused(response.status_code, _detail(response))
        return PaymentConfirmation.model_validate_json(response.content)

    async def aclose(self) -> None:
        await self._http.aclose()


def payment_gateway_from_env(environ: Mapping[str, str] | None = None) -> PaymentGateway | None:
    """The gateway to CYBERINS_PAYMENT_URL; None when unset, and the payouts table is the payment."""
    url = (os.environ if environ is None else environ).get(PAYMENT_URL_VARIABLE, "").strip()
    return PaymentGateway(url) if url else None


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))[:500]
    except ValueError:
        return response.text[:500]
