"""Money as integer fen (分) with a currency code; never a float."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.boundaries import MAX_FEN, Fen

Currency = Literal["CNY"]


class Money(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    fen: Fen = Field(description=f"Amount in fen (1/100 yuan), a whole number from 0 to {MAX_FEN} (¥10 trillion)")
    currency: Currency = "CNY"

    @classmethod
    def yuan(cls, amount: int, currency: Currency = "CNY") -> Money:
        return cls(fen=amount * 100, currency=currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(fen=self.fen + other.fen, currency=self.currency)

    def minus_floor_zero(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(fen=max(self.fen - other.fen, 0), currency=self.currency)

    def scaled_bps(self, bps: int) -> Money:
        """This amount times bps/10000, rounded down to the fen."""
        return Money(fen=self.fen * bps // 10_000, currency=self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __str__(self) -> str:
        return f"{self.currency} {self.fen // 100}.{self.fen % 100:02d}"


def zero(currency: Currency = "CNY") -> Money:
    return Money(fen=0, currency=currency)
