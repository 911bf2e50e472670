"""A bank simulator: the payment service as an outside party, for fault tests and local runs.

    python -m payments.simulator --port 8400 --state /tmp/bank.sqlite

It keeps payouts by idempotency key in a SQLite file (the bank's books, not ours), committed before
it answers, so a payout survives a crash of either side. A repeated key is answered with the payout
already made (header `Idempotent-Replayed: true`); the same key for a different payout is refused
(422). Every request is logged. `POST /admin/hold?seconds=N` makes it hold its answer to each newly
accepted payout for N seconds, which opens a window between the effect (the payout is on the books)
and the acknowledgement (the caller hears of it) for a test to crash the caller in.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Header, HTTPException, Query, Response

from domain.money import Money
from payments.messages import IDEMPOTENCY_HEADER, REPLAYED_HEADER, PaymentConfirmation, PayoutOrder

SCHEMA = """
CREATE TABLE IF NOT EXISTS payouts (
    idempotency_key TEXT PRIMARY KEY,
    payment_reference TEXT NOT NULL UNIQUE,
    claim_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    amount_fen INTEGER NOT NULL,
    currency TEXT NOT NULL,
    terms TEXT NOT NULL,
    accepted_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL,
    outcome TEXT NOT NULL,
    received_at TEXT NOT NULL,
    held_seconds REAL NOT NULL DEFAULT 0
);
"""


class KeyReused(Exception):
    pass


class PayoutBook:
    """The bank's books. Callers run on one event loop thread, so check-and-insert never interleaves."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        # WAL with NORMAL sync: a committed payout survives the process being killed.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def accept(self, key: str, order: PayoutOrder) -> PaymentConfirmation:
        """The payout for `key`: made now, or the one made before (`replayed`)."""
        terms = _terms(order)
        row = self._db.execute("SELECT * FROM payouts WHERE idempotency_key = ?", (key,)).fetchone()
        if row is not None:
            if row["terms"] != terms:
                raise KeyReused(f"{key} was already used for a different payout")
            return _confirmation(row, replayed=True)
        reference = f"BNK-{uuid.uuid4().hex[:16].upper()}"
        self._db.execute(
            "INSERT INTO payouts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                reference,
                order.claim_id,
                order.sequence,
                order.amount.fen,
                order.amount.currency,
                terms,
                _now(),
            ),
        )
        row = self._db.execute("SELECT * FROM payouts WHERE idempotency_key = ?", (key,)).fetchone()
        return _confirmation(row, replayed=False)

    def get(self, key: str) -> PaymentConfirmation | None:
        row = self._db.execute("SELECT * FROM payouts WHERE idempotency_key = ?", (key,)).fetchone()
        return None if row is None else _confirmation(row, replayed=True)

    def log(self, key: str, outcome: str, held_seconds: float = 0) -> None:
        self._db.execute(
            "INSERT INTO requests (idempotency_key, outcome, received_at, held_seconds) VALUES (?, ?, ?, ?)",
            (key, outcome, _now(), held_seconds),
        )

    def payouts(self) -> list[dict]:
        rows = self._db.execute(
            "SELECT idempotency_key, payment_reference, claim_id, sequence, amount_fen, currency, accepted_at"
            " FROM payouts ORDER BY accepted_at, idempotency_key"
        )
        return [dict(row) for row in rows]

    def requests(self) -> list[dict]:
        return [dict(row) for row in self._db.execute("SELECT * FROM requests ORDER BY id")]

    def close(self) -> None:
        self._db.close()


def create_app(state: Path) -> FastAPI:
    book = PayoutBook(state)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            book.close()

    app = FastAPI(title="bank simulator", openapi_url=None, lifespan=lifespan)
    app.state.hold_seconds = 0.0

    @app.post("/v1/payouts", status_code=201)
    async def make_payout(
        order: PayoutOrder, response: Response, key: str | None = Header(None, alias=IDEMPOTENCY_HEADER)
    ) -> PaymentConfirmation:
        if not key:
            raise HTTPException(400, f"the {IDEMPOTENCY_HEADER} header is required")
        try:
            confirmation = book.accept(key, order)
        except KeyReused as refused:
            book.log(key, "conflict")
            raise HTTPException(422, str(refused)) from None
        if confirmation.replayed:
            book.log(key, "replayed")
            response.status_code = 200
            response.headers[REPLAYED_HEADER] = "true"
            return confirmation
        hold = app.state.hold_seconds
        book.log(key, "accepted", held_seconds=hold)
        if hold > 0:
            await asyncio.sleep(hold)  # paid and on the books; the caller has not heard yet
        return confirmation

    @app.get("/v1/payouts/{key}")
    async def find_payout(key: str) -> PaymentConfirmation:
        found = book.get(key)
        if found is None:
            raise HTTPException(404, f"no payout {key}")
        return found

    @app.post("/admin/hold")
    async def hold_answers(seconds: float = Query(ge=0, le=3600)) -> dict:
        app.state.hold_seconds = seconds
        return {"hold_seconds": seconds}

    @app.get("/admin/payouts")
    async def all_payouts() -> list[dict]:
        return book.payouts()

    @app.get("/admin/requests")
    async def request_log() -> list[dict]:
        return book.requests()

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    return app


def _terms(order: PayoutOrder) -> str:
    """What makes two instructions the same payout; the request time may differ between resends."""
    return order.model_dump_json(include={"claim_id", "sequence", "amount", "head", "interim"})


def _confirmation(row: sqlite3.Row, *, replayed: bool) -> PaymentConfirmation:
    return PaymentConfirmation(
        idempotency_key=row["idempotency_key"],
        payment_reference=row["payment_reference"],
        amount=Money(fen=row["amount_fen"], currency=row["currency"]),
        accepted_at=datetime.fromisoformat(row["accepted_at"]),
        replayed=replayed,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m payments.simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True, help="SQLite file of the bank's books")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.state), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
