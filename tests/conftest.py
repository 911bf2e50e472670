"""Test kit: real PostgreSQL and real Temporal servers on free ports in temporary folders."""

import os

# No test's worker may mail the dev stack's sink (127.0.0.1:8325, the default): without a mail server
# named, e-mails are recorded as not sent. Tests of e-mail name their own sink (tests/notifications).
os.environ["CYBERINS_SMTP_HOST"] = ""

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.temporal"]
