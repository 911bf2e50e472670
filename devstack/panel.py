"""The panel `cyberins dev` prints once everything answers: what runs where."""

from __future__ import annotations

import shlex
from pathlib import Path

from rich.panel import Panel
from rich.table import Table
from sqlalchemy.engine import make_url

from devstack.postgres import EmbeddedPostgres
from devstack.protection import DataProtection
from devstack.supervision import RestartPolicy
from devstack.temporal import TemporalDevServer
from settings import LOCAL_HOST, Settings, project_root

DEFAULT_TEMPORAL_PORT = 7233
DEFAULT_UI_PORT = 8233
DEFAULT_API_PORT = 8300
DEFAULT_PG_PORT = 55432
EXAMPLE_APPLICATION = "examples/application.json"


def _stack_env(settings: Settings, server: TemporalDevServer) -> list[str]:
    """What a command run beside this stack needs set when the stack runs on other ports."""
    env = []
    if server.port != DEFAULT_TEMPORAL_PORT:
        env.append(f"TEMPORAL_ADDRESS={server.target_host}")
    if server.ui_port != DEFAULT_UI_PORT:
        env.append(f"CYBERINS_TEMPORAL_UI_PORT={server.ui_port}")
    if settings.task_queue != "cyberins-policy":
        env.append(f"CYBERINS_TASK_QUEUE={shlex.quote(settings.task_queue)}")
    # The CLI finds the stack's payload keys in its state folder.
    if settings.state_dir.resolve() != (project_root() / ".state").resolve():
        env.insert(0, f"CYBERINS_STATE_DIR={shlex.quote(str(settings.state_dir.resolve()))}")
    return env


def apply_command(settings: Settings, server: TemporalDevServer) -> str:
    """The command that starts a policy against this stack."""
    return " ".join([*_stack_env(settings, server), ".venv/bin/cyberins policy apply", EXAMPLE_APPLICATION])


def demo_command(settings: Settings, server: TemporalDevServer) -> str:
    """The demo talks to the API, and issues its parties' keys in the stack's database."""
    env = _stack_env(settings, server)
    if settings.api_port != DEFAULT_API_PORT:
        env.append(f"CYBERINS_API_PORT={settings.api_port}")
    if settings.database_url is None and settings.postgres_port != DEFAULT_PG_PORT:
        env.append(f"CYBERINS_POSTGRES_PORT={settings.postgres_port}")
    return " ".join([*env, ".venv/bin/cyberins demo"])


def temporal_cli_codec_env(protection: DataProtection) -> str:
    """What the Temporal CLI needs to encrypt inputs and show decrypted results."""
    token = f"$(cat {shlex.quote(str(protection.token_file))})" if protection.token_file else "$CYBERINS_CODEC_TOKEN"
    return f'export TEMPORAL_CODEC_ENDPOINT={protection.endpoint} TEMPORAL_CODEC_AUTH="Bearer {token}"'


def stack_panel(
    settings: Settings,
    server: TemporalDevServer,
    postgres: EmbeddedPostgres | None,
    database_url: str,
    state_dir: Path,
    protection: DataProtection,
    restarts: RestartPolicy | None = None,
) -> Panel:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("Temporal gRPC", server.target_host)
    table.add_row("Temporal UI", f"http://localhost:{server.ui_port}")
    table.add_row("API", f"http://{settings.api_host}:{settings.api_port}  (OpenAPI: /docs)")
    database = make_url(database_url).render_as_string(hide_password=True)
    table.add_row("PostgreSQL", database + ("" if postgres else "  (DATABASE_URL)"))
    table.add_row("Task queue", settings.task_queue)
    table.add_row("Payloads", protection.describe_keys())
    token = str(protection.token_file) if protection.token_file else "CYBERINS_CODEC_TOKEN"
    table.add_row(
        "Codec server",
        f"{protection.endpoint}  (operators only: sign in there with the token in {token}, then in the UI's "
        "codec server settings use your browser's setting, this endpoint, and tick \"Include cross-origin "
        "credentials\")",
    )
    table.add_row("Temporal CLI", temporal_cli_codec_env(protection))
    table.add_row(*_mail_row(settings))
    table.add_row("State folder", str(state_dir))
    logs = [server.log_file] + ([postgres.log_file] if postgres else [])
    table.add_row("Server logs", "\n".join(str(path) for path in logs))
    if restarts is not None:
        table.add_row("If a server dies", restart_note(restarts))
    table.add_row("Start a policy", apply_command(settings, server))
    table.add_row("Watch a demo", demo_command(settings, server))
    return Panel(table, title="cyberins dev stack", expand=False)


def _mail_row(settings: Settings) -> tuple[str, str]:
    if not settings.mail_sink:
        return "Mail", f"smtp://{settings.smtp_host}:{settings.smtp_port}  (no local sink: CYBERINS_MAIL_SINK is off)"
    folder = settings.mail_dir.resolve()
    try:
        shown = folder.relative_to(Path.cwd())
    except ValueError:
        shown = folder
    return "Mail sink", f"smtp://{LOCAL_HOST}:{settings.smtp_port} → {shown}  (cyberins mail)"


def restart_note(restarts: RestartPolicy) -> str:
    if restarts.max_attempts == 0:
        return "the stack stops (restarts are off)"
    return (
        f"it is restarted, up to {restarts.max_attempts} times in a row, {restarts.delay(1):g} s after it "
        "stopped and twice as long before each next try; every stop and restart is printed below"
    )
