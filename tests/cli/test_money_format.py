"""One way money reads in the CLI: `¥1,200,000.00`; JSON keeps integer fen."""

from __future__ import annotations

import pytest

from cli.demo import yuan
from cli.status_view import status_table
from contracts.policy import UnderwriterDecisionReceipt
from domain.money import Money, format_fen, format_money
from domain.rating import Decision


@pytest.mark.parametrize(
    ("fen", "currency", "shown"),
    [
        (120_000_000, "CNY", "¥1,200,000.00"),
        (1, "CNY", "¥0.01"),
        (0, "CNY", "¥0.00"),
        (38_000_001, "CNY", "¥380,000.01"),
        (-5, "CNY", "-¥0.05"),
        (120_000, "USD", "USD 1,200.00"),
    ],
)
def test_amounts_read_with_the_symbol_and_thousands(fen, currency, shown):
    assert format_fen(fen, currency) == shown


def test_money_and_its_absence():
    assert format_money(Money.yuan(1_200_000)) == "¥1,200,000.00"
    assert format_money(None) == "-"


def test_the_demo_prints_the_apis_json_the_same_way():
    assert yuan({"fen": 15_000_000, "currency": "CNY"}) == "¥150,000.00"
    assert yuan(None) == "—"


def test_a_status_table_shows_money_formatted_and_json_keeps_fen():
    from rich.console import Console

    receipt = UnderwriterDecisionReceipt(decision=Decision.ACCEPT, premium=Money.yuan(150_000))
    console = Console(width=120, record=True)
    console.print(status_table(receipt, title="Receipt"))
    assert "¥150,000.00" in console.export_text()
    assert '"fen":15000000' in receipt.model_dump_json()
