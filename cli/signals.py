"""`cyberins signals send`: a vendor's monitoring findings, from a JSON-lines file to the API in batches.

The file is read twice, streaming, so its size is bounded by the disk and not by memory: first to
check every line (and hash the file), then to send. Each batch's webhook-id is made of the file's
SHA-256, the batch size and the batch number, so sending the same file again (after a failure half
way, or by mistake) is answered from the API's stored answers and applied once. httpx and the
settings are imported when sending, so `--help` stays quick.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from api.schemas import MAX_BATCH_FINDINGS, PolicyFinding
from api.signatures import decode_secret
from cli.errors import EXIT_BAD_INPUT, describe_validation_error, fail
from cli.running import run_async

if TYPE_CHECKING:
    import httpx
    from rich.progress import Progress

app = typer.Typer(help="Send monitoring findings to the API as the monitoring vendor.", no_args_is_help=True)

FINDINGS_PATH = "/v1/findings"
DEFAULT_BATCH = 5_000
BAD_LINES_SHOWN = 20


@dataclass
class CheckedFile:
    """What the first pass learnt: the file's hash, how many findings, for which policies, what is wrong."""

    sha256: str = ""
    findings: int = 0
    policies: set[str] = field(default_factory=set)
    bad_lines: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class Sent:
    findings: int = 0
    batches: int = 0
    replayed_batches: int = 0
    signals: int = 0


def parse_line(raw: bytes) -> tuple[PolicyFinding | None, list[str]]:
    """One line as a finding, or what is wrong with it: field paths and messages, never the values."""
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        return None, ["not UTF-8 text"]
    except json.JSONDecodeError as error:
        return None, [f"not valid JSON ({error.msg} at column {error.colno})"]
    if not isinstance(data, dict):
        return None, ["not a JSON object"]
    try:
        return PolicyFinding.model_validate(data), []
    except ValidationError as error:
        return None, describe_validation_error(error, whole="finding")


def numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) for every line, blank ones included so that numbers match an editor's."""
    with path.open("rb") as stream:
        yield from enumerate(stream, start=1)


def _progress() -> Progress:
    """On stderr, so that stdout holds only the totals; off when stderr is not a terminal (a log, a pipe)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    )


def check_file(path: Path) -> CheckedFile:
    checked, digest = CheckedFile(), hashlib.sha256()
    with _progress() as progress:
        task = progress.add_task("checking lines", total=None)
        for number, raw in numbered_lines(path):
            digest.update(raw)
            progress.advance(task)
            if not raw.strip():
                continue
            finding, problems = parse_line(raw)
            if finding is None:
                checked.bad_lines += 1
                if checked.bad_lines <= BAD_LINES_SHOWN:
                    checked.problems += [f"line {number}: {problem}" for problem in problems]
                continue
            checked.findings += 1
            checked.policies.add(finding.policy_id)
    checked.sha256 = digest.hexdigest()
    return checked


def webhook_id(sha256: str, batch_size: int, number: int) -> str:
    """The same file in the same batches gives the same ids: the API applies each batch once."""
    return f"findings_{sha256[:40]}_{batch_size}_{number}"


def batches(path: Path, size: int) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(last line number, findings) per batch, as the API takes them."""
    batch: list[dict[str, Any]] = []
    number = 0
    for number, raw in numbered_lines(path):
        if not raw.strip():
            continue
        finding, _ = parse_line(raw)
        if finding is None:
            fail(f"{path} changed while it was being sent (line {number} is no longer valid); send it again")
        batch.append(finding.model_dump(mode="json"))
        if len(batch) == size:
            yield number, batch
            batch = []
    if batch:
        yield number, batch


def _refusal(response: httpx.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        return f"{response.status_code}: {response.text[:300]}"
    if not isinstance(problem, dict):
        return f"{response.status_code}: {str(problem)[:300]}"
    code, detail = problem.get("code", ""), problem.get("detail", problem.get("title", ""))
    return f"{response.status_code} {code}: {detail}".replace(" :", ":")


async def send_file(
    path: Path, checked: CheckedFile, *, api_url: str, api_key: str, webhook_secret: str, batch_size: int
) -> Sent:
    import httpx

    from api.client import ApiClient

    sent = Sent()
    first_line = 1
    async with ApiClient(api_url, api_key, webhook_secret=webhook_secret) as client:
        with _progress() as progress:
            task = progress.add_task("sending findings", total=checked.findings)
            for number, (last_line, batch) in enumerate(batches(path, batch_size), start=1):
                try:
                    response = await client.post_raw(
                        FINDINGS_PATH, {"findings": batch}, key=webhook_id(checked.sha256, batch_size, number)
                    )
                except httpx.HTTPError as error:
                    problem = f"{type(error).__name__}: {error}"
                    fail(f"cannot reach the API at {api_url} ({problem}); {_resume(sent)}")
                if not response.is_success:
                    fail(
                        f"the API refused batch {number} (lines {first_line} to {last_line}): "
                        f"{_refusal(response)}; {_resume(sent)}"
                    )
                answer = response.json()
                sent.findings += len(batch)
                sent.batches += 1
                sent.signals += int(answer.get("signals", 0))
                sent.replayed_batches += int(response.headers.get("Idempotent-Replayed") == "true")
                first_line = last_line + 1
                progress.advance(task, len(batch))
    return sent


def _resume(sent: Sent) -> str:
    if not sent.batches:
        return "nothing was sent"
    return (
        f"the {sent.batches} batches ({sent.findings} findings) before it were accepted; "
        "sending the file again is safe"
    )


SEND_HELP = (
    "Send a file of monitoring findings to POST /v1/findings in batches, signed as the vendor.\n\n"
    "The whole file is checked first, streaming: if any line is not a valid finding, each bad line is named "
    "with its number and fields (never its values) and nothing is sent (exit 2). Then it is sent batch by "
    "batch. Each batch's webhook-id comes from the file's SHA-256, the batch size and the batch number, so "
    "sending the same file again applies nothing twice (and each vendor event id counts once per policy). "
    "On an error answer the API's problem is printed and the command exits 1."
)


@app.command("send", help=SEND_HELP)
def send(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True,
            help="JSON lines: one finding per line, policy_id plus vendor_event_id, kind, severity, asset, "
            "title, observed_at and optionally active_compromise",
        ),
    ],
    batch_size: Annotated[
        int, typer.Option(min=1, max=MAX_BATCH_FINDINGS, help="Findings per request to the API")
    ] = DEFAULT_BATCH,
    api_url: Annotated[
        str | None, typer.Option(help="The API's base URL (default: CYBERINS_API_URL, else the local API)")
    ] = None,
    # Better from the environment: a command line is visible to the machine's other users.
    api_key: Annotated[
        str | None, typer.Option(envvar="CYBERINS_API_KEY", show_envvar=True, help="The vendor's API key")
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option(envvar="CYBERINS_WEBHOOK_SECRET", show_envvar=True, help="The vendor's webhook secret"),
    ] = None,
    check_only: Annotated[bool, typer.Option("--check-only", help="Check the file and send nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the totals as JSON")] = False,
) -> None:
    if not check_only:
        if not api_key:
            fail("the vendor's API key is needed: --api-key or CYBERINS_API_KEY", EXIT_BAD_INPUT)
        if not webhook_secret:
            needed = "the vendor's webhook secret is needed: --webhook-secret or CYBERINS_WEBHOOK_SECRET"
            fail(needed, EXIT_BAD_INPUT)
        try:
            decode_secret(webhook_secret)
        except ValueError as error:
            fail(f"--webhook-secret: {error}", EXIT_BAD_INPUT)
    checked = check_file(file)
    if checked.bad_lines:
        more = checked.bad_lines - BAD_LINES_SHOWN
        fail(
            f"{file} has {checked.bad_lines} invalid line(s); nothing was sent:\n  "
            + "\n  ".join(checked.problems)
            + (f"\n  and {more} more invalid line(s)" if more > 0 else ""),
            EXIT_BAD_INPUT,
        )
    if checked.findings == 0:
        fail(f"{file} holds no findings", EXIT_BAD_INPUT)
    if check_only:
        _report(checked, None, as_json)
        return
    from settings import get_settings

    url = (api_url or get_settings().api_base_url).rstrip("/")
    sent = run_async(
        send_file(
            file, checked, api_url=url, api_key=api_key, webhook_secret=webhook_secret, batch_size=batch_size
        )
    )
    _report(checked, sent, as_json)


def _report(checked: CheckedFile, sent: Sent | None, as_json: bool) -> None:
    policies = len(checked.policies)
    totals: dict[str, Any] = {"findings": checked.findings, "policies": policies, "sha256": checked.sha256}
    if sent is not None:
        totals.update(findings=sent.findings, batches=sent.batches, replayed_batches=sent.replayed_batches,
                      signals=sent.signals)
    if as_json:
        typer.echo(json.dumps(totals, indent=2))
    elif sent is None:
        typer.echo(f"{checked.findings} findings for {policies} policies are valid; nothing was sent.")
    else:
        typer.echo(f"Sent {sent.findings} findings in {sent.batches} batches for {policies} policies.")
        if sent.replayed_batches:
            typer.echo(f"  {sent.replayed_batches} batches had been sent before and were applied once.")
