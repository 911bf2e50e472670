"""Counting payouts on both sides: the bank's books and our payouts table must agree, one per claim."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import text

from contracts.claim import ClaimStatus
from tests.faults.claims import OfferedClaim, each
from tests.faults.processes import Bank


async def payout_rows(session_factory) -> dict[str, tuple[str, int]]:
    """Our payouts table: idempotency key → (payment reference, amount in fen); asserts one row per key."""
    async with session_factory() as session:
        rows = (
            await session.execute(text("SELECT idempotency_key, payment_reference, amount_fen FROM payouts"))
        ).all()
    keys = Counter(row.idempotency_key for row in rows)
    assert not [key for key, n in keys.items() if n > 1], "a key recorded twice"
    return {row.idempotency_key: (row.payment_reference, row.amount_fen) for row in rows}


async def assert_paid_once(
    claims: list[OfferedClaim], outcomes: list[ClaimStatus], bank: Bank, session_factory
) -> dict[str, int]:
    """Every claim closed, paid its statement and its workflow completed; exactly one payout at the
    bank and one row in our table per claim, with the bank's reference. Returns the bank's request
    outcomes by kind."""
    for claim, outcome in zip(claims, outcomes, strict=True):
        assert outcome.phase.value == "closed", outcome
        assert outcome.paid == claim.total_payable, (claim.claim_id, outcome.paid, claim.total_payable)
    finished = await each(claims, lambda claim: claim.handle.result())
    assert [status.phase.value for status in finished] == ["closed"] * len(claims), (
        "a claim workflow did not end"
    )
    at_bank = await bank.payouts()
    booked = Counter(payout["idempotency_key"] for payout in at_bank)
    expected = {claim.payout_key for claim in claims}
    assert set(booked) == expected and set(booked.values()) == {1}, (
        "not exactly one payout per claim at the bank"
    )
    assert len({p["payment_reference"] for p in at_bank}) == len(at_bank)
    ours = await payout_rows(session_factory)
    assert set(ours) == expected, "not exactly one payouts row per claim"
    for payout in at_bank:
        reference, fen = ours[payout["idempotency_key"]]
        assert (reference, fen) == (payout["payment_reference"], payout["amount_fen"]), payout
    for claim in claims:
        assert ours[claim.payout_key][1] == claim.total_payable.fen
    return dict(Counter(request["outcome"] for request in await bank.requests()))


async def claims_closed(session_factory) -> int:
    """Claims paid and closed so far (a claim closes only after its payout was answered)."""
    async with session_factory() as session:
        found = await session.execute(
            text("SELECT count(DISTINCT claim_id) FROM claim_phase_history WHERE phase = 'closed'")
        )
        return found.scalar_one()


async def repeated_keys(bank: Bank) -> int:
    """Keys the bank was sent more than once: payouts whose first answer never reached a worker."""
    return sum(1 for n in Counter(r["idempotency_key"] for r in await bank.requests()).values() if n > 1)
