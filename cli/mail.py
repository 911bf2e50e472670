"""`cyberins mail`: the e-mail the dev stack's mail sink caught, listed and read from its folder.

Reads the .eml files only; it needs no running server, so it also shows what an earlier run received.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mail.sink import StoredMail

app = typer.Typer(help="E-mail caught by the dev stack's mail sink (`cyberins mail` lists it).")

DEFAULT_LIMIT = 50
# The headers that say who, what and which event; the rest (MIME, routing) is noise to a reader.
SHOWN_HEADERS = (
    "From", "To", "X-Envelope-To", "Subject", "Date", "Message-ID",
    "X-Cyberins-Event-Id", "X-Cyberins-Event-Type",
)

FolderOption = Annotated[
    Path | None, typer.Option("--folder", help="Where the sink stores mail; default: the state folder's mail")
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="Only messages to this address (an envelope recipient)")
]
LimitOption = Annotated[int, typer.Option("--limit", min=1, help="At most this many, the newest")]


@app.callback(invoke_without_command=True)
def _list_when_alone(
    context: typer.Context,
    folder: FolderOption = None,
    to: ToOption = None,
    limit: LimitOption = DEFAULT_LIMIT,
) -> None:
    """E-mail caught by the dev stack's mail sink. Alone: the stored messages, newest last."""
    context.obj = folder  # `cyberins mail --folder F show 3` reads F as well
    if context.invoked_subcommand is None:
        _print_list(_folder(folder), to=to, limit=limit)


@app.command("list")
def list_messages(
    context: typer.Context,
    folder: FolderOption = None,
    to: ToOption = None,
    limit: LimitOption = DEFAULT_LIMIT,
) -> None:
    """The stored messages, newest last: number, when received, to whom, subject, event type."""
    _print_list(_folder(folder or context.obj), to=to, limit=limit)


def _print_list(where: Path, *, to: str | None, limit: int) -> None:
    from rich.table import Table

    from cli.output import table_console
    from mail.sink import stored_messages

    messages = stored_messages(where)
    if not messages:
        _nothing_in(where)
        return
    if to is not None:
        messages = [message for message in messages if _addressed_to(message, to)]
        if not messages:
            typer.echo(f"No message in {where} is addressed to {to}.")
            return
    shown = messages[-limit:]
    left_out = len(messages) - len(shown)
    caption = f"{left_out} older not shown: raise --limit." if left_out else None
    table = Table(title=f"Mail in {where} ({len(messages)})", title_justify="left", caption=caption)
    for heading in ("number", "received (UTC)", "to", "subject", "event type"):
        table.add_column(heading, no_wrap=heading == "number")
    for message in shown:
        table.add_row(
            str(message.number),
            message.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            ", ".join(message.recipients),
            message.subject,
            message.event_type or "-",
        )
    table_console().print(table)


@app.command("show")
def show(
    context: typer.Context,
    number: Annotated[int, typer.Argument(help="The message's number, as `cyberins mail` lists it")],
    folder: FolderOption = None,
) -> None:
    """One message: its headers and its plain-text part."""
    from email import message_from_bytes
    from email.policy import default as default_policy

    from cli.errors import fail
    from mail.sink import stored_messages

    where = _folder(folder or context.obj)
    found = [message for message in stored_messages(where) if message.number == number]
    if not found:
        fail(f"there is no message number {number} in {where}; `cyberins mail` lists them")
    parsed = message_from_bytes(found[0].path.read_bytes(), policy=default_policy)
    for name in SHOWN_HEADERS:
        if parsed[name] is not None:
            typer.echo(f"{name}: {parsed[name]}")
    typer.echo(f"File: {found[0].path}")
    typer.echo("")
    plain = parsed.get_body(preferencelist=("plain",))
    typer.echo(plain.get_content().rstrip("\n") if plain is not None else "(no plain-text part)")


def _folder(folder: Path | None) -> Path:
    if folder is not None:
        return folder
    from settings import get_settings

    return get_settings().mail_dir


def _addressed_to(message: StoredMail, address: str) -> bool:
    wanted = address.strip().lower()
    return any(recipient.lower() == wanted for recipient in message.recipients)


def _nothing_in(folder: Path) -> None:
    if folder.is_dir():
        typer.echo(f"No mail in {folder} yet.")
    else:
        typer.echo(
            f"{folder} does not exist: no mail has been received there. `cyberins dev` runs the mail sink "
            "(unless CYBERINS_MAIL_SINK=false) and stores what it receives there."
        )
