"""Money as integer fen (分) with a currency code; never a float.

`format_money` is how an amount reads to people (`¥1,200,000.00`); JSON keeps `{"fen", "currency"}`.
"""

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
        """The one way money is written for people: ¥1,200,000.00 (see `format_fen`)."""
        return format_fen(self.fen, self.currency)


def format_fen(fen: int, currency: str = "CNY") -> str:
    """¥1,200,000.00 for CNY; another currency leads with its code (USD 1,200.00). Whole-number
    arithmetic, so no amount is ever rounded through a float."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    symbol = "¥" if currency == "CNY" else f"{currency} "
    return f"{sign}{symbol}{whole:,}.{cents:02d}"


def format_money(money: Money | None, *, missing: str = "-") -> str:
    return missing if money is None else format_fen(money.fen, money.currency)


def zero(currency: Currency = "CNY") -> Money:
    return Money(fen=0, currency=currency)
