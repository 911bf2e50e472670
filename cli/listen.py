"""`cyberins endpoints listen`: a local webhook receiver registered for a party, printing what it is told.

For a developer's machine: it starts a receiver on loopback, registers it as the party's endpoint
(straight into the database, as an administrator, so the http:// rule for parties does not apply),
prints each delivery as it arrives, verified with the `standardwebhooks` reference package, and
deletes the endpoint when stopped with Ctrl-C. Importing this module adds the command to the
`endpoints` group (cli/command_groups.py builds that group from here).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from cli.notifications import PartyOption, TypesOption, endpoints_app, parse_party, parse_types

if TYPE_CHECKING:
    from devstack.webhook_receiver import Received


def listen(
    party: PartyOption,
    types: TypesOption = "*",
    port: Annotated[int, typer.Option(min=0, max=65535, help="0: any free port")] = 0,
    seconds: Annotated[float | None, typer.Option(help="Stop after this long (default: until Ctrl-C)")] = None,
) -> None:
    """Receive a party's webhooks on this machine and print each as it arrives."""
    from cli.database import with_database
    from cli.running import run_async

    who, event_types = parse_party(party), parse_types(types)
    run_async(with_database(lambda engine, sessions: _listen(sessions, who, event_types, port, seconds),
                            doing="register the listening endpoint"))


async def _listen(sessions, who: tuple[str, str], event_types: list[str], port: int, seconds: float | None) -> None:
    from rich.console import Console

    from api import subscriptions
    from devstack.webhook_receiver import WebhookReceiver
    from storage.unit_of_work import UnitOfWork

    console = Console(soft_wrap=True)

    def show(received: Received) -> None:
        data = {k: v for k, v in received.data.items() if k not in ("event_id", "urgent", "object", "object_id")}
        subject = f"{received.data.get('object')} {received.data.get('object_id') or ''}".strip()
        urgent = " [bold red]urgent[/]" if received.data.get("urgent") else ""
        console.print(f"{received.received_at:%H:%M:%S}  [bold]{received.event_type}[/]{urgent}  {subject}  "
                      f"{received.webhook_id}  verified  {data or ''}")

    receiver = WebhookReceiver(on_delivery=show, port=port)
    await receiver.start()
    endpoint_id = subscriptions.new_endpoint_id()
    try:
        async with UnitOfWork(sessions) as uow:
            _, secret = await subscriptions.register_endpoint(
                uow, who, endpoint_id, url=receiver.url, event_types=event_types,
                description="cyberins endpoints listen", http_loopback=True,
            )
        receiver.secrets = [secret]
        console.print(f"Listening on {receiver.url} as endpoint {endpoint_id} of {who[0]} {who[1]} "
                      f"for {', '.join(event_types)}. Ctrl-C stops and deletes the endpoint.")
        await _until_stopped(seconds)
    finally:
        await receiver.stop()
        async with UnitOfWork(sessions) as uow:
            await uow.endpoints.set_status(endpoint_id, "deleted", reason="the listener stopped")
        console.print(f"Stopped: {len(receiver.applied)} event(s) received; endpoint {endpoint_id} deleted.")


async def _until_stopped(seconds: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


endpoints_app.command("listen")(listen)
