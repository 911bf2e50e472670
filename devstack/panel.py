"""What `cyberins dev` prints once everything answers: a panel of what runs where, then the lines an
operator copies (commands, and Temporal UI links for the questions an operator asks first).

The copyable lines are printed below the panel, each on one line that Rich never breaks: a terminal
may show a long line folded, but copying it gives the whole command or link.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from urllib.parse import quote

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from sqlalchemy.engine import make_url

from api.codec_server import LOOPBACK_HOSTS
from devstack.postgres import EmbeddedPostgres
from devstack.protection import DataProtection
from devstack.supervision import RestartPolicy
from devstack.temporal import TemporalDevServer
from settings import LOCAL_HOST, Settings, project_root
from workflows import search_attributes as attributes

DEFAULT_TEMPORAL_PORT = 7233
DEFAULT_UI_PORT = 8233
DEFAULT_API_PORT = 8300
DEFAULT_PG_PORT = 55432
EXAMPLE_APPLICATION = "examples/application.json"
# The shortest contact service level (the platform's, one working day): a qualification still
# waiting for a contact and started longer ago than this is at or past its service level. The time
# is fixed when the panel prints, since the qualification workflow publishes no overdue flag to ask for.
RUNNING = 'ExecutionStatus = "Running"'


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


def operator_questions() -> list[tuple[str, str]]:
    """The questions an operator asks first, each as a Temporal visibility query over the search
    attributes the workflows publish (workflows/search_attributes.py)."""
    return [
        ("Reports to the authorities overdue", f"{attributes.REPORT_OVERDUE.name} = true AND {RUNNING}"),
        ("Claims waiting for approval", f'{attributes.CLAIM_PHASE.name} = "in_review" AND {RUNNING}'),
        ("Referrals waiting for an underwriter", f'{attributes.POLICY_PHASE.name} = "referred" AND {RUNNING}'),
        ("Qualifications past their contact service level", f"{attributes.CONTACT_OVERDUE.name} = true AND {RUNNING}"),
    ]


def workflow_list_url(ui_base_url: str, namespace: str, query: str) -> str:
    return f"{ui_base_url}/namespaces/{quote(namespace, safe='')}/workflows?query={quote(query, safe='')}"


def operator_links(ui_base_url: str, namespace: str) -> list[tuple[str, str]]:
    """(question, link to the UI's workflow list that answers it)."""
    return [
        (question, workflow_list_url(ui_base_url, namespace, query))
        for question, query in operator_questions()
    ]


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
    local_ui = settings.codec_host in LOOPBACK_HOSTS
    shown = "payloads decrypted, no sign-in" if local_ui else (
        f"to decrypt: sign in at {protection.endpoint}, then include credentials in the UI's codec settings"
    )
    table.add_row("Temporal UI", f"http://localhost:{server.ui_port}  ({shown})")
    table.add_row("API", f"http://{settings.api_host}:{settings.api_port}  (OpenAPI: /docs, /redoc)")
    database = make_url(database_url).render_as_string(hide_password=True)
    table.add_row("PostgreSQL", database + ("" if postgres else "  (DATABASE_URL)"))
    table.add_row("Task queue", settings.task_queue)
    table.add_row("Payloads", protection.describe_keys())
    token = str(protection.token_file) if protection.token_file else "CYBERINS_CODEC_TOKEN"
    callers = "this machine's Temporal UI, and callers with" if local_ui else "callers with"
    table.add_row("Codec server", f"{protection.endpoint}  (decrypts for {callers} the operator token in {token})")
    table.add_row(*_mail_row(settings))
    table.add_row("State folder", str(state_dir))
    logs = [server.log_file] + ([postgres.log_file] if postgres else [])
    table.add_row("Server logs", "\n".join(str(path) for path in logs))
    if restarts is not None:
        table.add_row("If a server dies", restart_note(restarts))
    return Panel(table, title="cyberins dev stack", expand=False)


def copyable_lines(settings: Settings, server: TemporalDevServer, protection: DataProtection) -> list[tuple[str, str]]:
    """(what it is, the line to copy): commands beside the stack, and the operator's UI links."""
    lines = [
        ("Temporal CLI with decrypted payloads", temporal_cli_codec_env(protection)),
        ("Start a policy", apply_command(settings, server)),
        ("Watch a demo", demo_command(settings, server)),
    ]
    ui = f"http://localhost:{server.ui_port}"
    return lines + operator_links(ui, server.namespace)


def print_stack(
    console: Console,
    settings: Settings,
    server: TemporalDevServer,
    postgres: EmbeddedPostgres | None,
    database_url: str,
    state_dir: Path,
    protection: DataProtection,
    restarts: RestartPolicy | None = None,
) -> None:
    console.print(stack_panel(settings, server, postgres, database_url, state_dir, protection, restarts))
    for label, line in copyable_lines(settings, server, protection):
        console.print(f"{label}:", style="bold", markup=False, highlight=False)
        console.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)


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
