"""The shell blocks of README.md and docs/*.md, and what each needs to run.

A block is a fenced ```sh (or ```bash) block. The line just before it says what it needs:

    (nothing)                   it runs as written, without any server, and exits 0
    <!-- needs: stack -->       it runs as written against a stack (Temporal, PostgreSQL, a worker)
    <!-- not run: <why> -->     it is only shown: it needs a running `make dev`, ids made by an
                                earlier step, files of the reader's own, or runs for minutes

Every `cyberins` command in every block, run or not, must name commands and options that exist.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = {"sh", "bash", "shell"}
MARKER = re.compile(r"^<!--\s*(needs: stack|not run:[^>]*?)\s*-->$")
FENCE = re.compile(r"^\s*```(\S*)\s*$")  # indented too: a block inside a list item
# Words that end a command inside a line of shell.
COMMAND_ENDS = {"|", "||", "&&", ";", ">", ">>", "2>", "&"}


@dataclass(frozen=True)
class ShellBlock:
    path: Path
    line: int  # of the opening fence, counted from 1
    needs: str  # "" (runs without servers), "stack" or "not run"
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def shell_blocks(path: Path) -> list[ShellBlock]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[ShellBlock] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith("```"):
            end += 1
        if opening.group(1) in SHELL_LANGUAGES:
            text = textwrap.dedent("\n".join(lines[index + 1 : end]) + "\n")
            blocks.append(ShellBlock(path, index + 1, _needs(lines, index), text))
        index = end + 1
    return blocks


def _needs(lines: list[str], fence: int) -> str:
    before = fence - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    marker = MARKER.match(lines[before].strip()) if before >= 0 else None
    if marker is None:
        return ""
    return "stack" if marker.group(1) == "needs: stack" else "not run"


def all_blocks() -> list[ShellBlock]:
    return [block for path in documents() for block in shell_blocks(path)]


def cyberins_commands(block: ShellBlock) -> list[list[str]]:
    """The words after each `cyberins` in the block, up to the end of its command."""
    logical = block.text.replace("\\\n", " ").splitlines()
    commands: list[list[str]] = []
    for line in logical:
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # an unbalanced quote: not a line of commands we run
            continue
        for start, word in enumerate(words):
            if re.fullmatch(r"(\$\()?(\S*/)?cyberins", word):
                commands.append(_until_end(words[start + 1 :]))
    return commands


def _until_end(words: list[str]) -> list[str]:
    taken: list[str] = []
    for word in words:
        if word in COMMAND_ENDS:
            break
        if word.endswith(")") and not word.startswith("("):
            taken.append(word[:-1])
            break
        taken.append(word)
    return taken
