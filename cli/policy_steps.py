"""`cyberins policy assess|accept|findings`: the parties' steps from an application to a policy in cover.

Each acts for one party, with the document that party would send: the vendor's assessment (保前评估), the
insured's acceptance of the quote (承保), the vendor's monitoring findings (保中监测). A workflow moves on
by itself after each answer (the quote is issued, the policy bound a moment later), so `accept` and
`findings` wait for the phase they need, asking the `status` query, for at most `--wait` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.errors import fail

if TYPE_CHECKING:
    from temporalio.client import Client

    from contracts.policy import (
        AssessmentReceipt,
        AssessmentSubmission,
        MonitoringBatch,
        PolicyStatus,
        QuoteAcceptanceReceipt,
    )

DEFAULT_WAIT_SECONDS = 60
POLL_SECONDS = 0.5

PolicyArgument = Annotated[str, typer.Argument(help="The policy id printed by `policy apply`")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the answer as JSON")]
WaitOption = Annotated[
    float, typer.Option("--wait", min=0, help="Seconds to wait for the policy to reach the step")
]


def assess(
    policy_id: PolicyArgument,
    file: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, readable=True, help="The vendor's assessment as JSON ({\"report\": …})"
    )],
    as_json: JsonOption = False,
) -> None:
    """The vendor's pre-cover assessment (保前评估): prints the risk score and the underwriting decision."""
    from cli.files import read_document
    from cli.running import run_async
    from contracts.policy import AssessmentSubmission

    submission = read_document(file, AssessmentSubmission, what="assessment")
    receipt: AssessmentReceipt = run_async(_submit_assessment(policy_id, submission))
    if as_json:
        typer.echo(receipt.model_dump_json(indent=2))
        return
    typer.echo(f"Policy {policy_id}: assessment taken for term {receipt.term_number}.")
    typer.echo(f"  risk score  {receipt.risk_score}")
    typer.echo(f"  decision    {receipt.decision.value}")
    typer.echo(f"  next        {_after_assessment(policy_id, receipt.decision.value)}")


def _after_assessment(policy_id: str, decision: str) -> str:
    if decision == "accept":
        return f"a quote follows; the insured accepts it: cyberins policy accept {policy_id}"
    if decision == "refer":
        return f"an underwriter decides: cyberins policy approve {policy_id} --underwriter … --reason …"
    return "declined: no quote follows"


def accept(
    policy_id: PolicyArgument,
    quote_id: Annotated[
        str | None, typer.Option(help="Default: the quote issued, <policy id>-t<term>, e.g. pol-1a2b-t1")
    ] = None,
    wait: WaitOption = DEFAULT_WAIT_SECONDS,
    as_json: JsonOption = False,
) -> None:
    """The insured accepts the quote (承保): waits for it to be issued, then accepts; bound unless
    conditions remain."""
    from cli.running import run_async

    receipt: QuoteAcceptanceReceipt = run_async(_accept(policy_id, quote_id, wait))
    if as_json:
        typer.echo(receipt.model_dump_json(indent=2))
        return
    typer.echo(f"Policy {policy_id}: quote {receipt.quote_id} accepted.")
    if receipt.policy_number:
        typer.echo(f"  policy number  {receipt.policy_number} (bound, in force)")
    if receipt.outstanding_remediations:
        typer.echo(f"  conditions     {', '.join(receipt.outstanding_remediations)} (bound once verified)")
    typer.echo(f"  next           cyberins policy show {policy_id}")


async def _accept(policy_id: str, quote_id: str | None, wait: float) -> QuoteAcceptanceReceipt:
    from cli.connection import connect_or_fail
    from cli.updates import send_update
    from contracts.policy import QuoteAcceptance, QuoteAcceptanceReceipt, policy_workflow_id
    from settings import get_settings

    client = await connect_or_fail(get_settings())
    status = await _wait_for(client, policy_id, wait, _quoted_or_settled)
    if status.quote is None:
        fail(f"policy {policy_id} has no quote: {_why_no_quote(status, wait)}")
    acceptance = QuoteAcceptance(quote_id=quote_id or status.quote.quote_id)
    return await send_update(
        client, policy_workflow_id(policy_id), "accept_quote", acceptance, QuoteAcceptanceReceipt,
        what=f"policy {policy_id}",
    )


def _quoted_or_settled(status: PolicyStatus) -> bool:
    """A quote to accept, or a phase in which none is coming without someone else acting."""
    return status.quote is not None or status.phase.is_terminal or status.phase.value == "referred"


def _why_no_quote(status: PolicyStatus, wait: float) -> str:
    phase = status.phase.value
    if phase == "referred":
        return (f"it is referred to an underwriter (risk score {status.risk_score}); a quote follows once "
                f"`cyberins policy approve {status.policy_id}` accepts it")
    if status.phase.is_terminal:
        return f"it is {phase}" + (f" ({status.closing_reason})" if status.closing_reason else "")
    if phase == "awaiting_assessment" and status.decision is None:
        return (f"none within {wait:g} s, still awaiting its assessment: "
                f"cyberins policy assess {status.policy_id} ASSESSMENT.json")
    return f"none within {wait:g} s (phase {phase}); is `make dev` or `cyberins worker` running?"


def findings(
    policy_id: PolicyArgument,
    file: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, readable=True,
        help="The vendor's monitoring batch as JSON ({\"vendor_id\": …, \"findings\": […]})",
    )],
    wait: WaitOption = DEFAULT_WAIT_SECONDS,
) -> None:
    """The monitoring vendor's findings during cover (保中监测): waits for cover, then sends them."""
    from cli.files import read_document
    from cli.running import run_async
    from contracts.policy import MonitoringBatch

    batch = read_document(file, MonitoringBatch, what="monitoring batch")
    status: PolicyStatus = run_async(_report_findings(policy_id, batch, wait))
    typer.echo(f"Policy {policy_id}: {len(batch.findings)} finding(s) from {batch.vendor_id} sent.")
    for finding in batch.findings:
        typer.echo(f"  {finding.severity.value:<8}  {finding.vendor_event_id}  {finding.asset}")
    typer.echo(f"  term     {status.term_number} (policy {status.policy_number})")
    typer.echo(f"  next     each gets a remediation deadline by severity: cyberins policy show {policy_id}")


async def _report_findings(policy_id: str, batch: MonitoringBatch, wait: float) -> PolicyStatus:
    from temporalio.service import RPCError, RPCStatusCode

    from cli.connection import connect_or_fail
    from contracts.policy import policy_workflow_id
    from settings import get_settings

    client = await connect_or_fail(get_settings())
    status = await _wait_for(client, policy_id, wait, lambda s: s.phase.is_covered or s.phase.is_terminal)
    if not status.phase.is_covered:
        waited = "" if status.phase.is_terminal else f" after waiting {wait:g} s"
        fail(f"policy {policy_id} is not in cover: it is {status.phase.value}{waited}; findings are taken "
             "only while it is in force, and would be dropped")
    # The workflow drops, and only counts, findings from any other vendor: say so before sending.
    if batch.vendor_id != status.vendor_id:
        fail(f"policy {policy_id} is monitored by {status.vendor_id}, not {batch.vendor_id}; "
             "its findings would be dropped")
    workflow_id = policy_workflow_id(policy_id)
    try:
        await client.get_workflow_handle(workflow_id).signal("report_findings", batch)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            fail(f"policy {policy_id} has finished and takes no more findings")
        fail(f"sending the findings failed: {error.message}")
    return status


async def query_policy(client: Client, policy_id: str) -> PolicyStatus:
    from cli.files import query_status
    from contracts.policy import PolicyStatus, policy_workflow_id

    return await query_status(client, policy_workflow_id(policy_id), PolicyStatus, what=f"policy {policy_id}")


async def _wait_for(
    client: Client, policy_id: str, seconds: float, reached: Callable[[PolicyStatus], bool]
) -> PolicyStatus:
    """The policy's status once `reached` holds, or the last one seen after `seconds`."""
    import asyncio

    deadline = time.monotonic() + seconds
    while True:
        status = await query_policy(client, policy_id)
        if reached(status) or time.monotonic() >= deadline:
            return status
        await asyncio.sleep(POLL_SECONDS)


async def _submit_assessment(policy_id: str, submission: AssessmentSubmission) -> AssessmentReceipt:
    from cli.connection import connect_or_fail
    from cli.updates import send_update
    from contracts.policy import AssessmentReceipt, policy_workflow_id
    from settings import get_settings

    client = await connect_or_fail(get_settings())
    return await send_update(
        client, policy_workflow_id(policy_id), "submit_assessment", submission, AssessmentReceipt,
        what=f"policy {policy_id}",
    )
