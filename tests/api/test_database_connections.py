"""The API's database connections are not pinged when they leave the pool (storage/db.py). When
PostgreSQL closes them (a restart, a failover, an idle timeout), the request that meets a closed
connection is answered 503 with Retry-After, never 500, and the next request is served."""

from __future__ import annotations

import httpx

from api.context import PartyKind
from tests.fixtures.postgres import close_client_connections

PROBLEM = "application/problem+json"


async def test_a_connection_the_database_closed_is_503_with_retry_after_then_served(api_stack):
    issued = await api_stack.credentials(PartyKind.INSURER)
    headers = {"Authorization": f"Bearer {issued.token}"}
    async with httpx.AsyncClient(base_url=api_stack.base_url, headers=headers, timeout=30) as http:
        assert (await http.get("/v1/incidents")).status_code == 200  # the pool now holds an open connection

        try:
            assert await close_client_connections(api_stack.env["DATABASE_URL"]) > 0
            lost = await http.get("/v1/incidents")
            again = await http.get("/v1/incidents")
        finally:
            await api_stack.engine.dispose()  # this process's pool lost its connections too; later tests use it

    assert lost.status_code == 503, lost.text
    assert lost.headers["content-type"] == PROBLEM
    assert lost.headers["retry-after"] == "1"
    assert lost.json()["code"] == "database_unavailable"
    assert again.status_code == 200, again.text
