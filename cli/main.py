"""The `cyberins` command."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from cli import (
    audit,
    claim,
    demo,
    dev,
    incident,
    keys,
    listen,
    mail,
    notifications,
    operations,
    pilot,
    policy,
    provider,
    qualification,
    report,
    search_attributes,
    signals,
)
from cli import codec_server as codec_command
from cli.errors import EXIT_BAD_INPUT, describe_validation_error, fail
from logs import configure_logging
from settings import get_settings

# No pretty exceptions: Typer's show local variables, and those can hold an application's data.
app = typer.Typer(
    help="Cyber-security insurance policies as durable Temporal workflows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _configure() -> None:
    try:
        settings = get_settings()
    except ValidationError as error:
        fail(
            "the environment's settings are not valid:\n  "
            + "\n  ".join(describe_validation_error(error, whole="settings")),
            EXIT_BAD_INPUT,
        )
    configure_logging(settings.log_level, settings.log_format)


app.command("dev")(dev.dev)
app.command("demo")(demo.demo)
app.command("worker")(operations.worker)
app.command("migrate")(operations.migrate)
app.command("api")(operations.api)
app.command("codec-server")(codec_command.codec_server)
app.command("search-attributes")(search_attributes.command)
app.add_typer(keys.app, name="keys")
app.add_typer(policy.app, name="policy")
app.add_typer(incident.app, name="incident")
app.add_typer(claim.app, name="claim")
app.add_typer(signals.app, name="signals")
app.add_typer(audit.app, name="audit")
app.add_typer(report.app, name="report")
app.add_typer(qualification.app, name="qualification")
app.add_typer(pilot.app, name="pilot")
app.add_typer(provider.app, name="provider")
app.add_typer(mail.app, name="mail")
notifications.endpoints_app.command("listen")(listen.listen)
app.add_typer(notifications.endpoints_app, name="endpoints")
app.add_typer(notifications.email_app, name="email")
app.add_typer(notifications.events_app, name="events")

if __name__ == "__main__":
    app()
