"""Malformed requests get a 4xx problem document that says what is wrong, never a 5xx, and never the
values sent back (they can be an organisation's name or credit code)."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from typing import Any

import httpx
import pytest

from api.app import MAX_BODY_BYTES
from api.context import PartyKind
from tests import builders

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
async def insured(api_stack):
    issued = await api_stack.credentials(PartyKind.INSURED)
    async with httpx.AsyncClient(
        base_url=api_stack.base_url, timeout=60, headers={"Authorization": f"Bearer {issued.token}"}
    ) as http:
        yield http


def valid_application() -> dict[str, Any]:
    application = builders.application(
        organisation=builders.organisation(unified_social_credit_code=builders.uscc(secrets.randbelow(10**9))),
        alternative_vendor_ids=[],
    )
    return {"insurer_id": "insurer-malformed", "application": application.model_dump(mode="json")}


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["code"] == code, body
    assert body["type"].endswith("/" + code) and body["title"] and body["detail"]
    return body


def fields(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body["errors"]}


async def test_bad_json_is_400_malformed_json(insured):
    for content in (b'{"insurer_id": ', b"{'single': 'quotes'}", b"[1, 2,]", b"\x00"):
        answer = await insured.post("/v1/policies", content=content, headers={"Content-Type": "application/json"})
        problem(answer, 400, "malformed_json")


async def test_wrong_types_and_missing_fields_name_each_field_and_echo_no_value(insured):
    marker = f"MARKER{uuid.uuid4().hex}"
    body = valid_application()
    application = body["application"]
    body["insurer_id"] = f"{marker} not an id"  # fails the id pattern
    application["organisation"]["revenue_band"] = marker  # not one of the bands
    application["organisation"]["systems"][0]["mlps_level"] = marker  # not a number
    application["coverages"][0]["limit"]["fen"] = marker
    application["coverages"][1]["head"] = {"nested": marker}  # an object for a string
    del application["aggregate_limit"]

    answer = await insured.post("/v1/policies", json=body)

    described = problem(answer, 422, "invalid_request")
    assert {
        "body.insurer_id",
        "body.application.organisation.revenue_band",
        "body.application.organisation.systems[0].mlps_level",
        "body.application.coverages[0].limit.fen",
        "body.application.coverages[1].head",
        "body.application.aggregate_limit",
    } <= fields(described), described
    assert all(error["message"] for error in described["errors"])
    assert marker not in answer.text


async def test_a_body_of_the_wrong_shape_is_422(insured):
    for content in (b"[]", b'"a string"', b"null", b"42", b"{}"):
        answer = await insured.post("/v1/policies", content=content, headers={"Content-Type": "application/json"})
        assert "body" in {f.split(".")[0] for f in fields(problem(answer, 422, "invalid_request"))}


async def test_rule_violations_inside_the_application_echo_no_value(insured):
    """Checks made by the domain's own validators, whose messages are written by hand."""
    marker = f"MARKER{uuid.uuid4().hex}"
    body = valid_application()
    organisation = body["application"]["organisation"]
    organisation["systems"] = [{"name": marker, "mlps_level": 2}, {"name": marker, "mlps_level": 3}]

    answer = await insured.post("/v1/policies", json=body)

    assert fields(problem(answer, 422, "invalid_request")) == {"body.application.organisation"}
    assert marker not in answer.text


async def test_bad_query_and_path_parameters_echo_no_value(insured):
    marker = f"MARKER{uuid.uuid4().hex}"
    answer = await insured.get("/v1/policies", params={"limit": marker})
    assert fields(problem(answer, 422, "invalid_request")) == {"query.limit"}
    assert marker not in answer.text

    answer = await insured.get("/v1/policies", params={"limit": 0})
    assert fields(problem(answer, 422, "invalid_request")) == {"query.limit"}

    answer = await insured.get(f"/v1/policies/{marker}!*")
    assert fields(problem(answer, 422, "invalid_request")) == {"path.policy_id"}
    assert marker not in answer.text


async def test_a_malformed_idempotency_key_is_400(insured):
    answer = await insured.post("/v1/policies", json=valid_application(), headers={"Idempotency-Key": "x" * 256})
    problem(answer, 400, "malformed_idempotency_key")


# -- Too large -----------------------------------------------------------------------------------------


async def test_a_body_announced_over_the_limit_is_413_unread(api_stack, insured):
    """Refused on the Content-Length alone: the headers are sent, the body never is."""
    host, port = api_stack.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST /v1/policies HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: {insured.headers['Authorization']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status_line, *header_lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in header_lines if line)
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    finally:
        writer.close()
    assert status_line.startswith("HTTP/1.1 413"), status_line
    assert headers["content-type"] == PROBLEM
    assert json.loads(body)["code"] == "body_too_large"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_over_the_limit_is_413(insured, framing):
    content = b"x" * (MAX_BODY_BYTES + 1)

    async def chunks():
        for start in range(0, len(content), 1 << 20):
            yield content[start : start + (1 << 20)]

    try:
        answer = await insured.post("/v1/policies", content=content if framing == "content-length" else chunks())
    except (httpx.WriteError, httpx.RemoteProtocolError) as error:
        pytest.fail(f"the connection broke before an answer: {error!r}")
    assert ("content-length" in answer.request.headers) == (framing == "content-length")
    problem(answer, 413, "body_too_large")


async def test_a_body_at_the_limit_is_read(insured):
    """Exactly MAX_BODY_BYTES is not too large: it is read and judged (here: not JSON)."""
    content = b" " * (MAX_BODY_BYTES - 1) + b"x"
    answer = await insured.post("/v1/policies", content=content, headers={"Content-Type": "application/json"})
    problem(answer, 400, "malformed_json")


# -- Routes and methods --------------------------------------------------------------------------------


async def test_an_unknown_route_is_a_404_problem(api_stack, insured):
    for path in ("/v1/nothing-here", "/v2/policies", "/v1/policies/pol-1/nothing"):
        problem(await insured.get(path), 404, "no_such_route")
    async with httpx.AsyncClient(base_url=api_stack.base_url) as anonymous:
        problem(await anonymous.get("/v1/nothing-here"), 404, "no_such_route")


async def test_a_wrong_method_is_a_405_problem(insured):
    wrong = (("DELETE", "/v1/policies"), ("PUT", "/v1/policies/pol-1"), ("GET", "/v1/findings"), ("PATCH", "/v1/claims"))
    for method, path in wrong:
        answer = await insured.request(method, path)
        problem(answer, 405, "method_not_allowed")
        assert answer.headers.get("allow"), answer.headers


async def test_no_malformed_request_is_a_server_error(insured):
    """Odd inputs the tests above do not name: whatever they answer, it is a 4xx problem."""
    as_json = {"Content-Type": "application/json"}
    requests = [
        ("POST", "/v1/policies", b"[" * 100_000 + b"]" * 100_000, as_json),  # too deep for the parser
        ("POST", "/v1/policies", b'{"insurer_id": "\xff\xfe"}', as_json),  # not UTF-8
        ("POST", "/v1/policies", b"", as_json),
        ("POST", "/v1/policies", b"insurer_id=x", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("POST", "/v1/policies", json.dumps(valid_application()).encode(), {"Content-Type": "text/plain"}),
        ("GET", "/v1/policies?limit=99999999999999999999999", None, {}),
        ("GET", "/v1/policies?after=" + "a" * 5000, None, {}),
        ("GET", "/v1/policies/" + "p" * 129, None, {}),
    ]
    for method, path, content, headers in requests:
        answer = await insured.request(method, path, content=content, headers=headers)
        assert 400 <= answer.status_code < 500, (method, path[:80], answer.status_code, answer.text[:300])
        assert answer.headers["content-type"] == PROBLEM, (method, path[:80], answer.headers)
