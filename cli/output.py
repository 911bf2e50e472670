"""Where the CLI's tables go: a terminal at its width, a pipe or a file in full.

Rich cuts to 80 columns when stdout is not a terminal, so `cyberins policy list | grep` would lose the
ends of ids. Off a terminal (and with `--wide` on one) tables get all the width they need; a COLUMNS
set in the environment is still obeyed off a terminal, since someone asked for it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

# Wide enough for any row we print; Rich lays a table out at its natural width below this.
UNLIMITED = 10_000

WideOption = Annotated[bool, typer.Option("--wide", help="Tables at full width, not cut to the terminal's")]


def table_console(*, wide: bool = False, stderr: bool = False) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr)
    if wide or not (console.is_terminal or "COLUMNS" in os.environ):
        console.width = UNLIMITED
    return console
