"""RFC 9457 problem details: every error the API gives is `application/problem+json` saying what is wrong.

Validation problems name each field and what is wrong with it, never the value sent: a value can be
an organisation's name, a credit code or a bank account.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from logs import get_logger

log = get_logger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://cyberins.invalid/problems/"


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document; `code` is stable for clients."""

    def __init__(self, status: int, code: str, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extensions = extensions


TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Not allowed for this party",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict with the current state",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Timed out",
}


def problem_body(status: int, code: str, detail: str, **extensions: Any) -> dict[str, Any]:
    """The document itself: what is sent, and what the OpenAPI examples show."""
    return {
        "type": TYPE_BASE + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        **extensions,
    }


def problem_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extensions: Any) -> JSONResponse:
    body = problem_body(status, code, detail, **extensions)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """`[{"field": "body.application.organisation.name", "message": "..."}]` without the input values."""
    described = []
    for error in errors:
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        described.append({"field": _location(tuple(error.get("loc", ()))), "message": message})
    return described


async def _on_problem(request: Request, problem: Problem) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
    return problem_response(problem.status, problem.code, problem.detail, headers, **problem.extensions)


async def _on_validation(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = list(error.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem_response(400, "malformed_json", "the body is not valid JSON")
    fields = describe_errors(errors)
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    more = f" (and {len(fields) - 5} more)" if len(fields) > 5 else ""
    return problem_response(422, "invalid_request", summary + more, errors=fields)


def _allowed_methods(request: Request) -> str:
    """Every method the path is served with. Starlette's own Allow names only the first route whose
    path matched, so OPTIONS /v1/claims said `POST` although GET /v1/claims exists."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):  # through included routers
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


async def _on_http(request: Request, error: StarletteHTTPException) -> JSONResponse:
    codes = {400: "malformed_body", 404: "no_such_route", 405: "method_not_allowed", 413: "body_too_large"}
    detail = error.detail if isinstance(error.detail, str) else TITLES.get(error.status_code, "Error")
    headers = dict(error.headers or {})
    if error.status_code == 404:
        detail = f"there is no {request.url.path} in this API; see /docs"
    if error.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
        detail = f"{request.method} is not served here; this path takes {headers['Allow']}"
    return problem_response(error.status_code, codes.get(error.status_code, "http_error"), detail, headers)


def _route(request: Request) -> str | None:
    """The route template for a log line, never the path: a path carries ids."""
    route = request.scope.get("route")
    return route.path if route else None


async def _on_database_busy(request: Request, error: PoolTimeout) -> JSONResponse:
    """Every database connection stayed in use past the pool's timeout: a load to come back from."""
    log.warning("api_database_busy", path=_route(request))
    return problem_response(
        503, "database_busy", "the service is too busy to reach its database; retry shortly with the same key",
        {"Retry-After": "1"},
    )


async def _on_database_error(request: Request, error: DBAPIError) -> JSONResponse:
    """A connection PostgreSQL had closed (a restart, a failover, an idle timeout): the pool has let go
    of it and its siblings, so the same request shortly after succeeds. Any other database error is a
    fault of ours."""
    if not error.connection_invalidated:
        return await _on_unexpected(request, error)
    log.warning("api_database_connection_lost", path=_route(request))
    return problem_response(
        503, "database_unavailable", "the connection to the database was lost; retry shortly with the same key",
        {"Retry-After": "1"},
    )


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("api_unexpected_error", path=_route(request))
    return problem_response(500, "internal_error", "something went wrong on our side; retrying with the same Idempotency-Key or webhook-id is safe")


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(PoolTimeout, _on_database_busy)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected)


def not_found(kind: str, object_id: str) -> Problem:
    """The same answer for "does not exist" and "not yours": it reveals nothing."""
    return Problem(404, "not_found", f"no {kind} {object_id} that you can see")
