"""Test kit: real PostgreSQL and real Temporal servers on free ports in temporary folders."""

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.temporal"]
