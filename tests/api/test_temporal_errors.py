"""What Temporal says becomes a problem document a caller can act on, never a 500."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError, RPCStatusCode

from api.problems import Problem
from api.temporal_calls import temporal_errors


@pytest.mark.parametrize(
    ("status", "message", "http_status", "code"),
    [
        (RPCStatusCode.NOT_FOUND, "workflow not found", 404, "not_found"),
        (RPCStatusCode.NOT_FOUND, "workflow execution already completed", 409, "closed"),
        (RPCStatusCode.UNAVAILABLE, "connection refused", 503, "temporal_unavailable"),
        (RPCStatusCode.DEADLINE_EXCEEDED, "context deadline exceeded", 503, "temporal_unavailable"),
        # Seen under a 10-minute load on 2 cores: the server gave up on queries it could not hand to
        # the busy worker, and the API answered 500.
        (RPCStatusCode.CANCELLED, "context canceled", 503, "temporal_busy"),
        (RPCStatusCode.ABORTED, "buffered query cleared, please retry", 503, "temporal_busy"),
        (RPCStatusCode.RESOURCE_EXHAUSTED, "namespace rate limit exceeded", 429, "temporal_busy"),
        (RPCStatusCode.INVALID_ARGUMENT, "bad id", 422, "rejected_by_temporal"),
        (RPCStatusCode.INTERNAL, "something broke in the server", 502, "temporal_error"),
    ],
)
async def test_each_rpc_failure_has_its_answer(status, message, http_status, code):
    with pytest.raises(Problem) as problem:
        async with temporal_errors("policy pol-1"):
            raise RPCError(message, status, b"")
    assert (problem.value.status, problem.value.code) == (http_status, code)


async def test_a_database_pool_that_stays_busy_is_503_with_retry_after_never_500():
    """A request that waited out the pool's timeout for a connection: the service is busy, not broken."""
    from fastapi import FastAPI
    from httpx import ASGITransport, AsyncClient
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from api import problems

    app = FastAPI()
    problems.install(app)

    @app.get("/busy")
    async def busy():
        raise PoolTimeout("QueuePool limit of size 10 overflow 10 reached, connection timed out, timeout 30.00")

    async with AsyncClient(transport=ASGITransport(app=app, raise_app_exceptions=False), base_url="http://api") as http:
        answer = await http.get("/busy")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["code"] == "database_busy"
