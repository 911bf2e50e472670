"""How long a test waits for an effect before it calls it missing: generous, because machines get busy.

Every wait in the suite ends as soon as its effect is seen, so a generous bound costs nothing when
the code works; it only decides how long a real failure takes to report. The bounds written in the
tests are what an idle two-core machine needs with room to spare; `patience()` multiplies them by
CYBERINS_TEST_PATIENCE (default 3), so a machine loaded by other work does not fail a test that is
only slow. Raise it further on a slower machine; nothing else changes.
"""

from __future__ import annotations

import os

FACTOR = max(1.0, float(os.environ.get("CYBERINS_TEST_PATIENCE", "3") or 3))


def patience(seconds: float) -> float:
    return seconds * FACTOR
