"""`cyberins keys`: issue and revoke the parties' API keys and vendors' webhook secrets.

Talks to the database directly (DATABASE_URL, or the running dev stack's PostgreSQL): this is the
platform administrator's tool, not something a party does through the API.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from cli.errors import EXIT_BAD_INPUT, fail
from cli.running import run_async

app = typer.Typer(help="Issue and revoke API keys and vendors' webhook secrets.", no_args_is_help=True)


class PartyChoice(StrEnum):
    insured = "insured"
    vendor = "vendor"
    insurer = "insurer"
    platform = "platform"


async def _with_sessions(work, doing: str = "change the keys"):
    """`await work(sessions)` as the operator, with the CLI's database errors (cli/database.py)."""
    from cli.database import with_database

    return await with_database(lambda _engine, sessions: work(sessions), doing=doing)


@app.command("create")
def create(
    party: Annotated[PartyChoice, typer.Option(help="The kind of party the key is for")],
    party_id: Annotated[str, typer.Option("--id", help="The party's id, e.g. vendor-a (no personal data)")],
    label: Annotated[str | None, typer.Option(help="A note for administrators, e.g. which system holds it")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """Issue an API key (and, for a vendor, a webhook signing secret). Shown once; only a hash is kept."""
    from rich.console import Console

    from api.parties import PartyKind
    from api.provisioning import issue_credentials

    try:
        issued = run_async(_with_sessions(lambda s: issue_credentials(s, PartyKind(party.value), party_id, label=label)))
    except ValueError as error:
        fail(str(error), EXIT_BAD_INPUT)
    if as_json:
        import json

        typer.echo(json.dumps({
            "party_kind": issued.party_kind.value, "party_id": issued.party_id, "key_id": issued.key_id,
            "api_key": issued.token, "webhook_secret": issued.webhook_secret,
        }))
        return
    console = Console()
    console.print(f"API key for {issued.party_kind.value} {issued.party_id} (key id {issued.key_id}); shown only now:")
    console.print(f"  {issued.token}", markup=False)
    if issued.webhook_secret:
        console.print("Webhook signing secret (sign every POST with it):")
        console.print(f"  {issued.webhook_secret}", markup=False)


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (the 12 characters after cyk_)")]) -> None:
    """Revoke an API key at once."""
    from api.provisioning import revoke_key

    if not run_async(_with_sessions(lambda s: revoke_key(s, key_id))):
        fail(f"no active key {key_id}")
    typer.echo(f"Key {key_id} revoked.")


@app.command("add-webhook-secret")
def add_secret(vendor_id: Annotated[str, typer.Argument(help="The vendor's id")]) -> None:
    """Add a webhook secret beside the vendor's current ones: the first step of a rotation."""
    from api.provisioning import add_webhook_secret

    secret_id, secret = run_async(_with_sessions(lambda s: add_webhook_secret(s, vendor_id)))
    typer.echo(f"Webhook secret {secret_id} for {vendor_id}; shown only now:")
    typer.echo(f"  {secret}")
    typer.echo(f"Once the vendor signs with it, revoke the old one: cyberins keys revoke-webhook-secret {vendor_id} <id>")


@app.command("revoke-webhook-secret")
def revoke_secret(
    vendor_id: Annotated[str, typer.Argument(help="The vendor's id")],
    secret_id: Annotated[int, typer.Argument(help="The secret's number, printed when it was added")],
) -> None:
    """Stop accepting pushes signed with one of a vendor's secrets."""
    from api.provisioning import revoke_webhook_secret

    if not run_async(_with_sessions(lambda s: revoke_webhook_secret(s, vendor_id, secret_id))):
        fail(f"no active webhook secret {secret_id} for {vendor_id}")
    typer.echo(f"Webhook secret {secret_id} of {vendor_id} revoked.")
