"""What goes over the wire to the payment service and back: one instruction in, one confirmation out."""

from __future__ import annotations


from domain.boundaries import Instant
from pydantic import BaseModel, ConfigDict, Field

from domain.money import Money

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


class PayoutOrder(BaseModel):
    """A payout instruction. The Idempotency-Key header, not the body, says which payout it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    claim_id: str = Field(min_length=1, max_length=128)
    sequence: int = Field(ge=1)
    amount: Money
    head: str | None = None
    interim: bool = False
    requested_at: Instant


class PaymentConfirmation(BaseModel):
    """The payment service's answer: the same reference however often the key is sent."""

    model_config = ConfigDict(frozen=True)

    idempotency_key: str
    payment_reference: str = Field(max_length=32)
    amount: Money
    accepted_at: Instant
    replayed: bool = Field(default=False, description="True when the key had been accepted before")
