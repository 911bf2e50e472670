"""`cyberins endpoints`, `cyberins email` and `cyberins events`: any party's notification settings and
events, for the platform's administrator.

Talks to the database directly (DATABASE_URL, or the running dev stack's PostgreSQL) like `cyberins
keys`; only a redelivery also needs Temporal. The rules are the API's own (api/subscriptions.py,
domain/endpoints.py), so nothing is registered here that the API would refuse. A party is `kind:id`;
`operator:operators` names the operators, who are told of failed deliveries and the pilot's deadlines.
The API's and the database's modules are imported inside the commands, so `--help` does not load them.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.errors import EXIT_BAD_INPUT, fail
from cli.output import table_console

if TYPE_CHECKING:
    from storage.unit_of_work import UnitOfWork

endpoints_app = typer.Typer(
    help="Any party's webhook endpoints: add, list, pause, resume, delete, rotate.", no_args_is_help=True
)
email_app = typer.Typer(help="Any party's e-mail recipients, the operators' too.", no_args_is_help=True)
events_app = typer.Typer(help="Any party's events, and sending one again.", no_args_is_help=True)

PARTY_KINDS = ("insured", "vendor", "insurer", "platform")
OPERATORS = ("operator", "operators")
PARTY_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
PARTY_HELP = "kind:id, e.g. vendor:vendor-7 (insured, vendor, insurer, platform; or operator:operators)"

PartyOption = Annotated[str, typer.Option("--party", help=PARTY_HELP)]
OptionalParty = Annotated[str | None, typer.Option("--party", help="Only this party's: " + PARTY_HELP)]
TypesOption = Annotated[str, typer.Option("--types", help="Comma-separated event types, or * for every type")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON")]
EndpointArgument = Annotated[str, typer.Argument(help="The endpoint's id, e.g. ep-3f2a9c41b7d0")]


def parse_party(text: str) -> tuple[str, str]:
    kind, _, party_id = text.partition(":")
    if (kind, party_id) == OPERATORS:
        return OPERATORS
    if kind not in PARTY_KINDS or not PARTY_ID.match(party_id):
        fail(f"--party: {PARTY_HELP}", EXIT_BAD_INPUT)
    return kind, party_id


def parse_types(text: str) -> list[str]:
    from api.notification_schemas import subscription

    try:
        return subscription([name.strip() for name in text.split(",") if name.strip()] or ["*"])
    except ValueError as error:
        fail(f"--types: {error}", EXIT_BAD_INPUT)


def _in_database(work, doing: str) -> Any:
    """`work(uow)` in one transaction; a refusal by the rules ends the command with its reason."""
    from api import subscriptions
    from cli.database import with_database
    from cli.running import run_async
    from storage.unit_of_work import UnitOfWork

    async def run(engine, sessions):
        async with UnitOfWork(sessions) as uow:
            return await work(uow)

    try:
        return run_async(with_database(run, doing=doing))
    except subscriptions.Refused as refusal:
        fail(refusal.detail)


def _show(rows: list[dict[str, Any]], columns: list[str], title: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, default=str, ensure_ascii=False))
        return
    if not rows:
        typer.echo(f"No {title.lower()}.")
        return
    from rich.table import Table

    table = Table(title=f"{title} ({len(rows)})", title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    table_console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return ",".join(value) if isinstance(value, list) else str(value)


# -- Endpoints -------------------------------------------------------------------------------------------


@endpoints_app.command("add")
def add_endpoint(
    party: PartyOption,
    url: Annotated[str, typer.Option("--url", help="https, to a public host")],
    types: TypesOption = "*",
    description: Annotated[str | None, typer.Option(help="A note for the party")] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a webhook endpoint for a party. Its signing secret is printed once."""
    from api import subscriptions
    from api.notification_schemas import EndpointView
    from domain.endpoints import check_endpoint_url
    from settings import get_settings

    who, event_types = parse_party(party), parse_types(types)
    http_loopback = get_settings().webhook_http_loopback
    try:
        check_endpoint_url(url, http_loopback=http_loopback)
    except ValueError as error:
        fail(f"--url: {error}", EXIT_BAD_INPUT)
    endpoint, secret = _in_database(
        lambda uow: subscriptions.register_endpoint(
            uow,
            who,
            subscriptions.new_endpoint_id(),
            url=url,
            event_types=event_types,
            description=description,
            http_loopback=http_loopback,
        ),
        "register the endpoint",
    )
    if as_json:
        typer.echo(json.dumps({**EndpointView.of(endpoint).model_dump(mode="json"), "secret": secret}))
        return
    typer.echo(f"Endpoint {endpoint.endpoint_id} for {who[0]} {who[1]}: {url}")
    typer.echo("Signing secret; shown only now, hand it to the party:")
    typer.echo(f"  {secret}")


@endpoints_app.command("list")
def list_endpoints(party: OptionalParty = None, as_json: JsonOption = False) -> None:
    """Webhook endpoints that are not deleted, oldest first."""
    from api.notification_schemas import EndpointView

    who = parse_party(party) if party else None
    rows = _in_database(lambda uow: uow.endpoints.of_party(who), "list the endpoints")
    shown = [
        {"party": f"{row.party_kind}:{row.party_id}", **EndpointView.of(row).model_dump(mode="json")}
        for row in rows
    ]
    _show(
        shown,
        ["endpoint_id", "party", "status", "url", "event_types", "status_reason", "failing_since"],
        "Webhook endpoints",
        as_json,
    )


def _change(endpoint_id: str, change, doing: str) -> None:
    async def work(uow: UnitOfWork):
        endpoint = await uow.endpoints.get(None, endpoint_id)
        if endpoint is None:
            fail(f"no endpoint {endpoint_id} (or it is deleted)")
        return await change(uow, endpoint)

    typer.echo(_in_database(work, doing))


@endpoints_app.command("pause")
def pause_endpoint(endpoint_id: EndpointArgument) -> None:
    """Stop delivering to an endpoint until it is resumed."""
    from api import subscriptions

    async def change(uow, endpoint):
        await subscriptions.pause(uow, endpoint, by="an administrator")
        return f"Endpoint {endpoint_id} is paused."

    _change(endpoint_id, change, "pause the endpoint")


@endpoints_app.command("resume")
def resume_endpoint(endpoint_id: EndpointArgument) -> None:
    """Deliver to a paused or disabled endpoint again; its record of failures starts afresh."""

    async def change(uow, endpoint):
        await uow.endpoints.set_status(endpoint_id, "active")
        return f"Endpoint {endpoint_id} is active."

    _change(endpoint_id, change, "resume the endpoint")


@endpoints_app.command("delete")
def delete_endpoint(endpoint_id: EndpointArgument) -> None:
    """Delete an endpoint: nothing more is delivered to it."""

    async def change(uow, endpoint):
        await uow.endpoints.set_status(endpoint_id, "deleted", reason="deleted by an administrator")
        return f"Endpoint {endpoint_id} is deleted."

    _change(endpoint_id, change, "delete the endpoint")


@endpoints_app.command("rotate")
def rotate_endpoint(endpoint_id: EndpointArgument) -> None:
    """A new signing secret, printed once; the old one signs beside it for the overlap."""
    from datetime import timedelta

    from api import subscriptions
    from settings import get_settings

    overlap = timedelta(hours=get_settings().webhook_secret_overlap_hours)

    async def change(uow, endpoint):
        secret, until = await subscriptions.rotate(uow, endpoint_id, overlap=overlap)
        return (
            f"New signing secret of {endpoint_id}; shown only now:\n  {secret}\n"
            f"The previous one signs too until {until:%Y-%m-%d %H:%M} UTC."
        )

    _change(endpoint_id, change, "rotate the secret")


@endpoints_app.command("attempts")
def endpoint_attempts(
    endpoint_id: EndpointArgument,
    after: Annotated[int, typer.Option(min=0, help="Only attempts after this number")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Delivery attempts to an endpoint, oldest first."""
    rows = _in_database(
        lambda uow: uow.endpoints.endpoint_attempts(endpoint_id, after=after, limit=limit),
        "read the attempts",
    )
    shown = [
        {
            column: getattr(row, column)
            for column in ("id", "at", "event_id", "attempt", "outcome", "status_code", "latency_ms", "error")
        }
        for row in rows
    ]
    _show(shown, list(shown[0]) if shown else [], f"Attempts to {endpoint_id}", as_json)


# -- E-mail recipients -----------------------------------------------------------------------------------


@email_app.command("add")
def add_address(
    party: PartyOption,
    address: Annotated[str, typer.Argument(help="The e-mail address")],
    types: TypesOption = "*",
    language: Annotated[str, typer.Option(help="zh or en")] = "zh",
) -> None:
    """E-mail a party's events to an address; an address already there takes the new types and language."""
    from domain.endpoints import check_email_address

    who, event_types = parse_party(party), parse_types(types)
    if language not in ("zh", "en"):
        fail("--language: zh or en", EXIT_BAD_INPUT)
    try:
        address = check_email_address(address)
    except ValueError as error:
        fail(f"address: {error}", EXIT_BAD_INPUT)
    row = _in_database(
        lambda uow: uow.endpoints.add_recipient(who, address, event_types=event_types, language=language),
        "add the address",
    )
    typer.echo(f"Recipient {row.id}: {address} hears of {', '.join(event_types)} for {who[0]} {who[1]}.")


@email_app.command("list")
def list_addresses(party: OptionalParty = None, as_json: JsonOption = False) -> None:
    """E-mail recipients, oldest first."""
    from api.notification_schemas import RecipientView

    who = parse_party(party) if party else None
    rows = _in_database(lambda uow: uow.endpoints.recipients_of(who), "list the addresses")
    shown = [
        {"party": f"{row.party_kind}:{row.party_id}", **RecipientView.of(row).model_dump(mode="json")}
        for row in rows
    ]
    _show(
        shown,
        ["recipient_id", "party", "address", "event_types", "language", "status"],
        "E-mail recipients",
        as_json,
    )


@email_app.command("delete")
def delete_address(
    recipient_id: Annotated[int, typer.Argument(help="The number `email list` shows")],
) -> None:
    """Stop e-mailing an address."""
    if not _in_database(lambda uow: uow.endpoints.delete_recipient(None, recipient_id), "delete the address"):
        fail(f"no e-mail recipient {recipient_id}")
    typer.echo(f"Recipient {recipient_id} deleted.")


# -- Events ----------------------------------------------------------------------------------------------


@events_app.command("list")
def list_events(
    party: PartyOption,
    types: Annotated[
        str | None, typer.Option("--types", help="Only these event types, comma-separated")
    ] = None,
    after: Annotated[str | None, typer.Option(help="The cursor printed after an earlier list")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: JsonOption = False,
) -> None:
    """A party's events, oldest first, as the party's own feed shows them."""
    from api.notification_schemas import CURSOR_PATTERN, EventView, decode_cursor, encode_cursor

    who = parse_party(party)
    wanted = parse_types(types) if types else None
    if wanted == ["*"]:
        wanted = None
    if after is not None and not re.match(CURSOR_PATTERN, after):
        fail("--after: a cursor such as c1z, as printed after an earlier list", EXIT_BAD_INPUT)
    rows = _in_database(
        lambda uow: uow.endpoints.feed(who, after=decode_cursor(after), types=wanted, limit=limit),
        "list the events",
    )
    shown = [EventView.of(row).model_dump(mode="json") for row in rows]
    _show(
        shown, ["id", "type", "occurred_at", "object", "object_id", "urgent"], f"Events of {party}", as_json
    )
    if rows and not as_json:
        typer.echo(f"Next: --after {encode_cursor(rows[-1].id)}")


@events_app.command("redeliver")
def redeliver_event(
    event_id: Annotated[str, typer.Argument(help="The event's id (msg_…)")],
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Only this endpoint of the event's party")
    ] = None,
) -> None:
    """Send an event again: to the endpoint given, else to every active endpoint of its party subscribed
    to its type. Needs Temporal (TEMPORAL_ADDRESS, or the dev stack's)."""
    from api import subscriptions
    from cli.connection import connect_or_fail
    from cli.running import run_async
    from settings import get_settings

    async def plan(uow: UnitOfWork) -> list[str]:
        event = await uow.endpoints.event(None, event_id)
        if event is None:
            fail(f"no event {event_id}")
        endpoints = await uow.endpoints.of_party((event.party_kind, event.party_id))
        try:
            targets = subscriptions.redelivery_targets(endpoints, event.event_type, endpoint)
        except LookupError:
            fail(f"no endpoint {endpoint} of {event.party_kind} {event.party_id}")
        await uow.endpoints.plan_redelivery([event_id], targets)
        return targets

    targets = _in_database(plan, "plan the redelivery")
    settings, run_key = get_settings(), subscriptions.new_run_key()

    async def start() -> list[str]:
        client = await connect_or_fail(settings)
        return await subscriptions.start_deliveries(client, settings.task_queue, [event_id], run_key, targets=targets)

    workflow_ids = run_async(start())
    typer.echo(f"Event {event_id} goes again to {', '.join(targets)}: workflow {workflow_ids[0]}.")
