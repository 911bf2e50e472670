"""`cyberins search-attributes`: register on a namespace the search attributes the workflows publish.

Safe to run again: what is there already is left alone. An attribute of the same name with another
type cannot be changed by us and is reported. Temporal Cloud namespaces take search attributes from
the Cloud UI or `tcld` instead; there the server refuses and the message says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

from cli.errors import fail

if TYPE_CHECKING:
    from temporalio.client import Client


@dataclass
class Registration:
    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    conflicting: dict[str, str] = field(default_factory=dict)  # name -> the type the namespace has


def _type_name(value: int) -> str:
    """A type as the server's listing gives it, spelt as `search_attributes.type_name` spells ours."""
    from temporalio.api.enums.v1 import IndexedValueType

    return IndexedValueType.Name(value).removeprefix("INDEXED_VALUE_TYPE_").capitalize()


async def register_search_attributes(client: Client, namespace: str | None = None) -> Registration:
    """Adds what is missing of `search_attributes.ALL` to `namespace` (the client's by default)."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

    from workflows import search_attributes

    namespace = namespace or client.namespace
    existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    known = {**existing.system_attributes, **existing.custom_attributes}
    registration, missing = Registration(), {}
    for key in search_attributes.ALL:
        if key.name not in known:
            missing[key.name] = key.indexed_value_type
        elif known[key.name] == key.indexed_value_type:
            registration.present.append(key.name)
        else:
            registration.conflicting[key.name] = _type_name(known[key.name])
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
        registration.added = sorted(missing)
    return registration


def command() -> None:
    """Register the search attributes the workflows publish on TEMPORAL_NAMESPACE (safe to run again)."""
    from temporalio.service import RPCError, RPCStatusCode

    from cli.connection import connect_or_fail
    from cli.running import run_async
    from settings import get_settings
    from workflows import search_attributes

    settings = get_settings()

    async def register() -> Registration:
        client = await connect_or_fail(settings)
        try:
            return await register_search_attributes(client)
        except RPCError as error:
            if error.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
                fail(f"the server refused ({error.message}). On Temporal Cloud add them in the Cloud UI or with "
                     "`tcld namespace search-attributes add`; the README's Production section lists them")
            fail(f"could not register the search attributes: {error.message}")

    registration = run_async(register())
    for name in registration.added:
        typer.echo(f"added    {name}")
    for name in registration.present:
        typer.echo(f"present  {name}")
    if registration.conflicting:
        wanted = {key.name: search_attributes.type_name(key) for key in search_attributes.ALL}
        fail("; ".join(f"{name} exists as {have}, the workflows publish {wanted[name]}"
                       for name, have in registration.conflicting.items()))
