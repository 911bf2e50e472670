"""Every route of the app, from its OpenAPI document: its parameters and body schema, and, from the
route's dependencies, the kinds of party it is for and the model its body must satisfy."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.context import PartyKind

PREFERENCE = (PartyKind.INSURED, PartyKind.INSURER, PartyKind.PLATFORM, PartyKind.VENDOR)


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    role: str | None  # the world's party that sends it: insured, insurer, platform, vendor, panel
    schema: str | None  # the body's component schema
    model: type[BaseModel] | None
    path_params: tuple[tuple[str, dict], ...]
    query_params: tuple[tuple[str, dict], ...]

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def has_places(self) -> bool:
        return bool(self.schema or self.path_params or self.query_params)


def _api_routes(routes, prefix: str = ""):
    """APIRoutes, through included routers (FastAPI nests them since 0.16x)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes, prefix + route.include_context.prefix)


def allowed_parties(dependant) -> tuple[PartyKind, ...] | None:
    """The kinds `api.context.party(...)` allows; every kind for a reader; None without a key."""
    for dependency in dependant.dependencies:
        call = dependency.call
        names = getattr(getattr(call, "__code__", None), "co_freevars", ())
        if "allowed" in names:
            cells = dict(zip(names, (cell.cell_contents for cell in call.__closure__), strict=True))
            return tuple(cells["allowed"])
        if getattr(call, "__name__", "") == "authenticate":
            return tuple(PartyKind)
        found = allowed_parties(dependency)
        if found:
            return found
    return None


def _role(kinds: tuple[PartyKind, ...] | None, template: str) -> str | None:
    if not kinds:
        return None
    kind = next(kind for kind in PREFERENCE if kind in kinds)
    if kind is PartyKind.VENDOR:
        return "panel" if "{incident_id}" in template else "vendor"
    return kind.value


def discover(app: FastAPI) -> list[Route]:
    endpoints = {(method, path): route for path, route in _api_routes(app.routes) for method in route.methods}
    found = []
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            route = endpoints[(method.upper(), path)]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            params = operation.get("parameters", [])
            body_params = route.dependant.body_params
            found.append(Route(
                method.upper(), path, _role(allowed_parties(route.dependant), path),
                body["$ref"].rsplit("/", 1)[-1] if "$ref" in body else None,
                body_params[0].field_info.annotation if body_params else None,
                tuple((p["name"], p.get("schema", {})) for p in params if p["in"] == "path"),
                tuple((p["name"], p.get("schema", {})) for p in params if p["in"] == "query"),
            ))
    return found
