"""The `cyberins` command's groups, imported only when one is used.

A group's module brings in what its commands need (Temporal, SQLAlchemy, the API's schemas), which takes
seconds; `cyberins --help` and a typo should not wait for that. `--help` lists each group by the
summary written here, so a group stays one line in this table; the test suite checks that each summary
is still its group's own help.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from typer._click import Command, Context

# name -> ("module:Typer attribute", the group's help), in the order `--help` lists them.
GROUPS: dict[str, tuple[str, str]] = {
    "keys": ("cli.keys:app", "Issue and revoke API keys and vendors' webhook secrets."),
    "policy": ("cli.policy:app", "Start policies, move them through underwriting, look at them."),
    "incident": ("cli.incident:app", "Report incidents and look at them."),
    "claim": ("cli.claim:app", "Start claims, work them, look at them, and work out what a claim would pay."),
    "signals": ("cli.signals:app", "Send monitoring findings to the API as the monitoring vendor."),
    "audit": ("cli.audit:app", "Check the hash-chained audit trail of policies, incidents and claims."),
    "report": ("cli.report:app", "Reports for the pilot programme's authorities."),
    "qualification": ("cli.qualification:app", "Provider qualifications by insurance on the open platform."),
    "pilot": ("cli.pilot:app", "The cyber-insurance pilot programme: schemes, applications, deadlines."),
    "provider": ("cli.provider:app", "A service provider's platform qualification, through the API."),
    "mail": ("cli.mail:app", "E-mail caught by the dev stack's mail sink (`cyberins mail` lists it)."),
    # cli.listen adds its `listen` command to the endpoints group when it is imported.
    "endpoints": ("cli.listen:endpoints_app", "Any party's webhook endpoints: add, list, pause, resume, delete, rotate."),
    "email": ("cli.notifications:email_app", "Any party's e-mail recipients, the operators' too."),
    "events": ("cli.notifications:events_app", "Any party's events, and sending one again."),
}


def group_app(name: str) -> typer.Typer:
    """The group's Typer application (this imports its module)."""
    module_name, attribute = GROUPS[name][0].split(":")
    return getattr(importlib.import_module(module_name), attribute)


class _Summary(TyperCommand):
    """Stands for a group in a listing (help, shell completion) until the group is used."""

    def __init__(self, name: str, summary: str) -> None:
        super().__init__(name=name, help=summary, callback=None)


class DeferredGroups(TyperGroup):
    """The root group: each group of `GROUPS` is built from its module on first use."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False
        for name, (_, summary) in GROUPS.items():
            self.commands.setdefault(name, _Summary(name, summary))

    @contextmanager
    def _only_listing(self) -> Iterator[None]:
        self._listing = True
        try:
            yield
        finally:
            self._listing = False

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = self.commands.get(cmd_name)
        if isinstance(command, _Summary) and not self._listing:
            command = self.commands[cmd_name] = self._build(cmd_name)
        return command

    def _build(self, name: str) -> Command:
        from typer.main import get_group_from_info
        from typer.models import TyperInfo

        return get_group_from_info(
            TyperInfo(group_app(name), name=name),
            pretty_exceptions_short=True,
            suggest_commands=self.suggest_commands,
            rich_markup_mode=self.rich_markup_mode,
        )

    def format_help(self, ctx: Context, formatter: Any) -> None:
        with self._only_listing():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: Context, incomplete: str) -> list[Any]:
        with self._only_listing():
            return super().shell_complete(ctx, incomplete)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        """Also notes what follows the group's name, so the root callback can tell a `--help` from work."""
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta["cyberins.rest"] = rest
        ctx.meta["cyberins.help_alone"] = isinstance(command, TyperGroup) and command.no_args_is_help
        return name, command, rest


def only_help_asked(ctx: Context) -> bool:
    """Whether the command line only asks for help, which needs no settings and no logging."""
    rest: list[str] = ctx.meta.get("cyberins.rest", [])
    words = rest[: rest.index("--")] if "--" in rest else rest
    return "--help" in words or (ctx.meta.get("cyberins.help_alone", False) and not rest)
