"""The `cyberins` command.

Quick to start: the groups are imported when used (cli/command_groups.py), and the top-level commands'
modules import their heavy parts inside the commands. Settings and logging are set up for work, not
for `--help` or `--version`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli import codec_server as codec_command
from cli import demo, dev, operations, search_attributes
from cli.command_groups import DeferredGroups, only_help_asked
from cli.errors import EXIT_BAD_INPUT, describe_validation_error, fail
from logs import configure_logging

# No pretty exceptions: Typer's show local variables, and those can hold an application's data.
app = typer.Typer(
    cls=DeferredGroups,
    help="Cyber-security insurance policies as durable Temporal workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"cyberins {version('cyberins')}")
        raise typer.Exit()


@app.callback()
def _configure(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    if only_help_asked(ctx):
        return
    from pydantic import ValidationError

    from settings import get_settings

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

if __name__ == "__main__":
    app()
