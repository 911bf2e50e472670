"""The OpenAPI document declares every problem an operation can answer with, as problem+json with its
schema and examples: what a generated client and schemathesis rely on. No servers: the document is
made from the routes alone, and a 405 is answered before any dependency needs a database."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.context import MAX_IDEMPOTENCY_KEY
from api.openapi import ProblemDocument
from api.problems import MEDIA_TYPE, TITLES
from domain.boundaries import MAX_FEN, MAX_INTEGER

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
UNAUTHENTICATED = {("GET", "/health"), ("GET", "/ready")}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app().openapi()


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def statuses(document: dict[str, Any], method: str, path: str) -> set[int]:
    return {int(status) for status in document["paths"][path][method.lower()]["responses"]}


def test_every_error_response_is_a_problem_document_with_examples(document):
    for (method, path), operation in operations(document).items():
        for status, response in operation["responses"].items():
            if int(status) < 400 or (method, path) == ("GET", "/ready"):
                continue  # /ready's 503 is its readiness report, as the load balancer reads it
            where = f"{method} {path} {status}"
            assert set(response["content"]) == {MEDIA_TYPE}, where
            media = response["content"][MEDIA_TYPE]
            assert media["schema"] == {"$ref": "#/components/schemas/ProblemDocument"}, where
            assert media["examples"], where
            for example in media["examples"].values():
                problem = ProblemDocument.model_validate(example["value"])
                assert problem.status == int(status), where
                assert problem.title == TITLES[problem.status], where
                assert problem.type.endswith("/" + problem.code), where


def test_fastapis_json_validation_error_is_gone(document):
    assert "HTTPValidationError" not in str(document)
    for (method, path), operation in operations(document).items():
        for status, response in operation["responses"].items():
            if int(status) >= 400 and (method, path) != ("GET", "/ready"):
                assert "application/json" not in response.get("content", {}), f"{method} {path} {status}"


def test_the_problem_schema_is_published(document):
    schema = document["components"]["schemas"]["ProblemDocument"]
    assert set(schema["required"]) == {"type", "title", "status", "detail", "code"}
    assert schema["additionalProperties"] is True  # extensions such as `reason` and `delivered`
    assert document["components"]["schemas"]["FieldError"]["required"] == ["field", "message"]


def test_every_authenticated_operation_declares_401_with_its_challenge_503_and_422(document):
    for (method, path), operation in operations(document).items():
        if (method, path) in UNAUTHENTICATED:
            assert not statuses(document, method, path) & {401, 403, 404}, f"{method} {path}"
            continue
        responses = operation["responses"]
        assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True, f"{method} {path}"
        assert {401, 422, 503} <= statuses(document, method, path), f"{method} {path}"


def test_party_restricted_operations_declare_403_and_readers_do_not(document):
    for method, path in operations(document):
        declared = statuses(document, method, path)
        if method == "POST":
            assert 403 in declared, f"{method} {path}"  # every POST is for some kinds of party only
        else:
            assert 403 not in declared, f"{method} {path}"  # any party may read what it can see


def test_404_is_declared_where_an_object_is_named_in_the_path_or_the_body(document):
    for method, path in operations(document):
        declared = statuses(document, method, path)
        if "{" in path:
            assert 404 in declared, f"{method} {path}"
    for named_in_body in ("/v1/incidents", "/v1/claims", "/v1/findings"):
        assert 404 in statuses(document, "POST", named_in_body), named_in_body
    for names_nothing in ("/v1/policies", "/v1/qualifications"):
        assert 404 not in statuses(document, "POST", names_nothing), names_nothing
        assert 404 not in statuses(document, "GET", names_nothing), names_nothing


def test_bodies_declare_400_413_and_422(document):
    for (method, path), operation in operations(document).items():
        if "requestBody" in operation:
            assert {400, 413, 422} <= statuses(document, method, path), f"{method} {path}"
    # A vendor's POST without a body: its key is its webhook-id, so no Idempotency-Key 400 either.
    assert 400 not in statuses(document, "POST", "/v1/incidents/{incident_id}/acknowledgement")
    assert 413 in statuses(document, "POST", "/v1/incidents/{incident_id}/acknowledgement")


def test_temporal_failures_are_declared_where_temporal_is_reached(document):
    update = statuses(document, "POST", "/v1/claims/{claim_id}/approvals")
    assert {409, 429, 502, 503, 504} <= update
    signal = statuses(document, "POST", "/v1/incidents/{incident_id}/progress")
    assert {409, 429, 502, 503} <= signal and 504 not in signal  # a signal is stored, never awaited
    start = statuses(document, "POST", "/v1/policies")
    assert {429, 502, 503} <= start and not start & {409, 504}
    query = statuses(document, "GET", "/v1/policies/{policy_id}")
    assert {409, 429, 502, 503} <= query
    assert 409 not in statuses(document, "GET", "/v1/policies/{policy_id}/history")  # history is no query
    listing = statuses(document, "GET", "/v1/policies")
    assert not listing & {404, 409, 429, 502, 504}  # a listing reads PostgreSQL only


def test_the_idempotency_key_schema_is_what_the_api_accepts(document):
    parameter = next(
        p for p in document["paths"]["/v1/policies"]["post"]["parameters"] if p["name"] == "Idempotency-Key"
    )
    schema = parameter["schema"]
    assert (schema["minLength"], schema["maxLength"]) == (1, MAX_IDEMPOTENCY_KEY)
    pattern = re.compile(schema["pattern"])
    for accepted in ("3f2a9c41-b7d0-4b1e-9c0a-7d2f1e8b6a55", "a", "order 17 / retry", "clé"):
        assert pattern.match(accepted), accepted
    for refused in (" ", "tab\there", "\x7f", "\xa0nbsp", " leading", "trailing "):
        assert not pattern.match(refused), repr(refused)


def test_replayable_posts_declare_the_replayed_header(document):
    created = document["paths"]["/v1/policies"]["post"]["responses"]["201"]
    assert created["headers"]["Idempotent-Replayed"]["required"] is False
    assert set(created["content"]) == {"application/json"}


async def test_an_unsupported_method_is_405_naming_every_method_of_the_path():
    """Starlette named only the first route matching the path: OPTIONS /v1/claims said `Allow: POST`."""
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        answer = await client.request("OPTIONS", "/v1/claims")
        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET, POST"
        assert answer.headers["content-type"] == MEDIA_TYPE
        assert ProblemDocument.model_validate(answer.json()).code == "method_not_allowed"
        answer = await client.request("DELETE", "/v1/claims/clm-1/history")
        assert (answer.status_code, answer.headers["allow"]) == (405, "GET")


def _schemas(node: Any) -> Any:
    """Every schema of message content: headers (keys, signatures) have rules of their own."""
    if isinstance(node, dict) and node.get("in") == "header":
        return
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for key, value in node.items():
            if key not in ("examples", "example", "default", "enum", "const"):
                yield from _schemas(value)
    elif isinstance(node, list):
        for member in node:
            yield from _schemas(member)


def test_every_string_and_number_states_the_boundary_rules(document):
    """What domain.boundaries refuses is written in the document, so a conforming client is accepted."""
    strings = [s for s in _schemas(document) if s["type"] == "string"]
    numbers = [s for s in _schemas(document) if s["type"] in ("integer", "number")]
    assert strings and numbers
    for schema in strings:
        if "pattern" in schema:
            assert not any(re.fullmatch(schema["pattern"], f"a{c}b") for c in "\x00\x01\x1b\x7f"), schema
        else:
            assert {"enum", "const", "format"} & schema.keys(), schema
    for schema in numbers:
        assert schema.get("maximum", schema.get("exclusiveMaximum")) <= MAX_INTEGER, schema
        assert schema.get("minimum", schema.get("exclusiveMinimum")) >= -MAX_INTEGER, schema
        if schema["type"] == "integer":
            assert all(isinstance(schema[b], int) for b in ("maximum", "minimum") if b in schema), schema
    money = document["components"]["schemas"]["Money"]["properties"]["fen"]
    assert (money["minimum"], money["maximum"]) == (0, MAX_FEN)
