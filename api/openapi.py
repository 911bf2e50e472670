"""The OpenAPI document tells the truth about errors: every operation declares the problem documents
it can answer with, derived from the route itself rather than written by hand per route, so that a
route added tomorrow is documented by the same rules.

What a route tells: whether it authenticates (401, and 503 when the key store is out of reach), which
kinds of party it admits (403), whether it names an object in its path or body (404), whether it
takes a body or parameters (400, 413, 422), and whether it reaches Temporal (409, 429, 502, 503, 504).
The success status tells what it does in Temporal: 201 starts a workflow, 202 signals one, 200 on a
POST runs an update and waits for its result. A route about a party's own records (its webhook
endpoints, e-mail recipients and events) reads and writes PostgreSQL; it says with `facts()` whether it
also starts workflows and which conflicts of its own it can answer with.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field

from api.boundary_schema import state_boundaries
from api.context import MAX_IDEMPOTENCY_KEY, authenticate, party
from api.parties import ObjectKind, PartyKind
from api.problems import MEDIA_TYPE, TYPE_BASE, problem_body
from api.schemas import History
from api.signatures import TOLERANCE_SECONDS


class FieldError(BaseModel):
    field: str = Field(description="where, e.g. `body.application.organisation.name` or `query.limit`")
    message: str = Field(description="what is wrong with it; never the value sent")


class ProblemDocument(BaseModel):
    """An RFC 9457 problem document. Members other than these are extensions of one `code`, e.g.
    `reason` (409 refused: the workflow's own error type) or `delivered` (findings applied before a
    failure)."""

    model_config = ConfigDict(extra="allow", title="ProblemDocument")

    type: str = Field(description="a URI naming the problem: " + TYPE_BASE + "<code>")
    title: str = Field(description="the status's title; the same for every problem of that status")
    status: int = Field(ge=400, le=599, description="the HTTP status, repeated")
    detail: str = Field(description="what went wrong, for a person")
    code: str = Field(description="stable, for a program to act on")
    errors: list[FieldError] | None = Field(
        default=None, description="422 invalid_request and invalid_value: each field and what is wrong"
    )


SCHEMA_REF = {"$ref": "#/components/schemas/ProblemDocument"}
OBJECT_IDS = {f"{kind.value}_id" for kind in ObjectKind}
# A party's own records, by their path parameter: another party's is not found, as a missing one.
OWN_RECORD_IDS = {"endpoint_id", "recipient_id", "event_id"}
FACTS = "x-cyberins-facts"  # what a route declares of itself; taken out of the published document

# code -> (status, an example detail, extension members); the details are the API's own words.
CAUSES: dict[str, tuple[int, str, dict[str, Any]]] = {
    "malformed_json": (400, "the body is not valid JSON", {}),
    "malformed_body": (400, "There was an error parsing the body", {}),
    "malformed_idempotency_key": (
        400, f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters", {}
    ),
    "missing_api_key": (401, "send your API key as `Authorization: Bearer cyk_…`", {}),
    "malformed_api_key": (401, "an API key looks like cyk_<12 characters>_<43 characters>", {}),
    "invalid_api_key": (401, "this API key is unknown or revoked", {}),
    "bad_signature": (401, "webhook-signature does not match the body under any active secret", {}),
    "timestamp_too_old": (401, f"webhook-timestamp is more than {TOLERANCE_SECONDS} s old", {}),
    "missing_header": (401, "the webhook-signature header is required", {}),
    "no_webhook_secret": (401, "this vendor has no active webhook secret; ask for one to be issued", {}),
    "wrong_party": (403, "this endpoint is for insurer; your key is a vendor's", {}),
    "not_found": (404, "no policy pol-3f2a9c41b7d0 that you can see", {}),
    "refused": (
        409, "policy pol-3f2a9c41b7d0 refused this: the quote has expired", {"reason": "quote_expired"}
    ),
    "closed": (409, "policy pol-3f2a9c41b7d0 is closed and takes no more messages", {}),
    "query_failed": (409, "policy pol-3f2a9c41b7d0 could not answer: the workflow task failed", {}),
    "no_active_endpoint": (409, "you have no active webhook endpoint to deliver to", {}),
    "endpoint_not_active": (409, "endpoint ep-3f2a9c41b7d0 is paused; resume it first", {}),
    "too_many_endpoints": (409, "a party may have at most 20 endpoints; delete one first", {}),
    "endpoint_id_taken": (409, "endpoint id ep-3f2a9c41b7d0 cannot be used; try again", {}),
    "body_too_large": (413, "the body may be at most 16777216 bytes", {}),
    "invalid_request": (422, "query.limit: Input should be less than or equal to 500", {
        "errors": [{"field": "query.limit", "message": "Input should be less than or equal to 500"}],
    }),
    "key_reused": (422, "this Idempotency-Key was already used for a different request", {}),
    "invalid_value": (422, "body.reason: text may not contain the NUL character (U+0000)", {
        "errors": [{"field": "body.reason", "message": "text may not contain the NUL character (U+0000)"}],
    }),
    "rejected_by_temporal": (422, "Temporal rejected the request: payload too large", {}),
    "temporal_rate_limited": (429, "Temporal is rate limiting; try again shortly", {}),
    "temporal_error": (502, "Temporal failed this call (INTERNAL); try again", {}),
    "database_busy": (
        503, "the service is too busy to reach its database; retry shortly with the same key", {}
    ),
    "database_unavailable": (
        503, "the connection to the database was lost; retry shortly with the same key", {}
    ),
    "temporal_unavailable": (503, "Temporal is not reachable; nothing was applied, try again", {}),
    "temporal_busy": (503, "policy pol-1 did not answer in time; nothing was applied, try again shortly", {}),
    "timed_out": (504, "policy pol-1 did not answer in time; retrying with the same key is safe", {}),
}
# The code a 429 really carries: temporal_calls names it temporal_busy, like the 503 it resembles.
SENT_AS = {"temporal_rate_limited": "temporal_busy"}

DESCRIPTIONS = {
    400: "The body is not JSON, or the Idempotency-Key is malformed",
    401: "No valid API key, or (vendors' POSTs) no valid Standard Webhooks signature",
    403: "This operation is for another kind of party",
    404: "No such object that you can see: missing and not yours look the same",
    409: "The workflow or record refused this in its current state, or the workflow has closed",
    413: "The body is over the limit; it was not read",
    422: "A field, parameter or replay key is invalid: `errors` names each field",
    429: "Temporal is rate limiting; retry shortly",
    502: "Temporal failed the call; nothing is known to be applied, retrying with the same key is safe",
    503: "PostgreSQL or Temporal is out of reach or overloaded; retry shortly with the same key",
    504: "The workflow did not answer in time; retrying with the same key is safe",
}
REPLAYED_HEADER = {"Idempotent-Replayed": {
    "required": False, "schema": {"type": "string", "enum": ["true"]},
    "description": "`true` on a repeat of an Idempotency-Key or webhook-id: the first answer, applied once",
}}
HEADERS = {
    401: {"WWW-Authenticate": {"required": True, "description": "`Bearer`", "schema": {"type": "string"}}},
    503: {"Retry-After": {"required": False, "description": "seconds to wait", "schema": {"type": "string"}}},
}


@dataclass(frozen=True)
class RouteFacts:
    """What an operation's route says about itself."""

    method: str
    success: int
    authenticated: bool
    parties: frozenset[PartyKind] | None  # None: any party with a key
    has_body: bool
    has_params: bool
    object_in_path: bool
    object_in_body: bool
    reads_history: bool
    own_record_in_path: bool = False
    temporal: bool | None = None  # declared by the route (facts()); None: follow the rule below
    conflicts: tuple[str, ...] = ()

    @property
    def reaches_temporal(self) -> bool:
        if self.temporal is not None:
            return self.temporal
        # Listing reads only PostgreSQL; everything else on an object, and every POST, is Temporal's.
        return self.object_in_path or self.method == "POST"


def facts(*, temporal: bool, conflicts: tuple[str, ...] = ()) -> dict[str, Any]:
    """A route's `openapi_extra` for what its dependencies cannot tell: whether it starts or messages
    workflows, and the 409 codes of its own (each one in CAUSES)."""
    unknown = [code for code in conflicts if CAUSES.get(code, (0,))[0] != 409]
    assert not unknown, f"409 codes not in CAUSES: {unknown}"
    return {FACTS: {"temporal": temporal, "conflicts": list(conflicts)}}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


_PARTY_CODE = party().__code__  # every closure party(...) makes shares this code object


def _parties(calls: list[Callable[..., Any]]) -> frozenset[PartyKind] | None:
    for call in calls:
        if getattr(call, "__code__", None) is _PARTY_CODE:
            return frozenset(inspect.getclosurevars(call).nonlocals["allowed"])
    return None


def _property_names(schema: Any, components: dict[str, Any], seen: set[str]) -> Iterator[str]:
    """Every property name in a schema, through $refs, arrays and unions."""
    if isinstance(schema, list):
        for item in schema:
            yield from _property_names(item, components, seen)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref not in seen:
        seen.add(ref)
        yield from _property_names(components.get(ref.rsplit("/", 1)[-1]), components, seen)
    for name, sub in (schema.get("properties") or {}).items():
        yield name
        yield from _property_names(sub, components, seen)
    for key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties", "prefixItems"):
        if key in schema:
            yield from _property_names(schema[key], components, seen)


def _describe(
    route: RouteContext, method: str, operation: dict[str, Any], components: dict[str, Any]
) -> RouteFacts:
    calls = list(_calls(route.dependant))
    path_names = {param.name for param in route.dependant.path_params}
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    declared = operation.pop(FACTS, {})
    return RouteFacts(
        method=method,
        success=route.status_code or 200,
        authenticated=authenticate in calls,
        parties=_parties(calls),
        has_body=route.body_field is not None,
        has_params=bool(path_names or route.dependant.query_params),
        object_in_path=bool(path_names & OBJECT_IDS),
        object_in_body=bool(set(_property_names(body, components, set())) & OBJECT_IDS),
        reads_history=route.response_model is History,
        own_record_in_path=bool(path_names & OWN_RECORD_IDS),
        temporal=declared.get("temporal"),
        conflicts=tuple(declared.get("conflicts", ())),
    )


def causes(route: RouteFacts) -> set[str]:
    """The problem codes an operation can answer with."""
    found: set[str] = set()
    post = route.method == "POST"
    if route.authenticated:
        # Every caller's dependency also checks each path, query and body value against the
        # boundary rules (context.refuse_what_no_message_may_hold), whatever the route declares.
        found |= {"missing_api_key", "malformed_api_key", "invalid_api_key", "invalid_value"}
        found |= {"database_busy", "database_unavailable"}  # the key is looked up in PostgreSQL
    if route.parties is not None:
        found.add("wrong_party")
        if post:
            # Checked before any route code, whatever body the route takes: the size and the replay key.
            found |= {"body_too_large", "key_reused"}
            if PartyKind.VENDOR in route.parties:
                found |= {"bad_signature", "timestamp_too_old", "missing_header", "no_webhook_secret"}
            if route.parties - {PartyKind.VENDOR}:
                found.add("malformed_idempotency_key")
    if route.has_body:
        found |= {"malformed_json", "malformed_body", "body_too_large", "invalid_request"}
    if route.has_params:
        found.add("invalid_request")
    if route.object_in_path or route.object_in_body or route.own_record_in_path:
        found.add("not_found")
    found |= set(route.conflicts)
    if route.reaches_temporal:
        found |= {"temporal_unavailable", "temporal_busy", "temporal_rate_limited", "temporal_error"}
        found.add("rejected_by_temporal")
        acts_on_existing = route.object_in_path or (route.object_in_body and route.success != 201)
        if acts_on_existing and post:
            found.add("closed")
        if route.object_in_path and post and route.success == 200:
            found |= {"refused", "timed_out"}
        if route.object_in_path and not post and not route.reads_history:
            found.add("query_failed")
    return found


def _example(code: str) -> dict[str, Any]:
    status, detail, extensions = CAUSES[code]
    return {"summary": code, "value": problem_body(status, SENT_AS.get(code, code), detail, **extensions)}


def responses_for(codes: set[str]) -> dict[str, dict[str, Any]]:
    by_status: dict[int, list[str]] = {}
    for code in sorted(codes):
        by_status.setdefault(CAUSES[code][0], []).append(code)
    responses = {}
    for status, listed in sorted(by_status.items()):
        sent = sorted({SENT_AS.get(code, code) for code in listed})
        response: dict[str, Any] = {
            "description": f"{DESCRIPTIONS[status]}. Codes: " + ", ".join(f"`{code}`" for code in sent),
            "content": {MEDIA_TYPE: {
                "schema": SCHEMA_REF, "examples": {code: _example(code) for code in listed},
            }},
        }
        if status in HEADERS:
            response["headers"] = HEADERS[status]
        responses[str(status)] = response
    return responses


_VISIBLE = "[!-~\u00a1-\u00ac\u00ae-\u00ff]"
_PRINTABLE = "[ -~\u00a1-\u00ac\u00ae-\u00ff]"
IDEMPOTENCY_KEY_SCHEMA = {
    # What context.party() accepts: printable Latin-1 (how headers arrive), not only spaces; and
    # no space at either end, which HTTP strips from every header value before the API sees it.
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_IDEMPOTENCY_KEY,
    "pattern": f"^{_VISIBLE}(?:{_PRINTABLE}*{_VISIBLE})?$",
}


def _document(schema: dict[str, Any], routes: list[Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemDocument.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["ProblemDocument"] = problem
    served = {
        (route.path_format, method.lower()): route
        for route in iter_route_contexts(routes) if isinstance(route.original_route, APIRoute)
        for method in route.methods or ()
    }
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            route = served.get((path, method))
            if route is None:
                continue
            facts = _describe(route, method.upper(), operation, components)
            responses = operation.setdefault("responses", {})
            # FastAPI's own 422 is application/json HTTPValidationError; ours is a problem document.
            responses.pop("422", None)
            responses.update(responses_for(causes(facts)))
            if facts.method == "POST" and facts.parties is not None:
                responses[str(facts.success)].setdefault("headers", {}).update(REPLAYED_HEADER)
            for parameter in operation.get("parameters", []):
                if (parameter["in"], parameter["name"]) == ("header", "Idempotency-Key"):
                    described = parameter.get("description", "")
                    parameter["schema"] = dict(IDEMPOTENCY_KEY_SCHEMA, description=described)
    state_boundaries(schema)
    if "HTTPValidationError" not in str(schema["paths"]):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)


def install(app: FastAPI) -> None:
    """The document is made at its first request, from the routes served by then, and kept."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document(generate(), app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
