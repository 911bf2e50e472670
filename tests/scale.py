"""How big the heaviest tests run: small enough for `make test` on two cores, full size under
`make test-long` (CYBERINS_LONG_TESTS=1), which runs the same tests at the sizes they were built for."""

from __future__ import annotations

import os

LONG = os.environ.get("CYBERINS_LONG_TESTS", "") not in ("", "0")


def sized(short: int, long: int) -> int:
    return long if LONG else short
