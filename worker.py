"""The one place that wires workflows to activities and their dependencies."""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import signal
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.claim import ClaimActivities
from activities.incident import IncidentActivities
from activities.ledger import LedgerActivities
from activities.pilot import PilotActivities
from activities.policy import PolicyActivities
from activities.qualification import QualificationActivities
from activities.working_calendar import CalendarActivities
from payments.gateway import PaymentGateway, payment_gateway_from_env
from settings import Settings
from workflows.claim import ClaimWorkflow
from workflows.incident import IncidentWorkflow
from workflows.pilot_deadline import PilotDeadlineWorkflow
from workflows.policy import PolicyWorkflow
from workflows.qualification import QualificationWorkflow

WORKFLOWS = [PolicyWorkflow, IncidentWorkflow, ClaimWorkflow, QualificationWorkflow, PilotDeadlineWorkflow]


def activities_for(
    client: Client, sessions: async_sessionmaker[AsyncSession], payments: PaymentGateway | None = None
) -> list:
    policy, incident, claim, ledger, qualification = (
        PolicyActivities(sessions),
        IncidentActivities(sessions),
        ClaimActivities(sessions, payments),
        LedgerActivities(client),
        QualificationActivities(sessions),
    )
    pilot = PilotActivities(sessions)
    return [
        incident.load_incident_cover,
        incident.record_incident,
        incident.record_incident_event,
        incident.register_evidence,
        incident.record_custody,
        incident.record_forensics,
        claim.load_claim_basis,
        claim.record_claim,
        claim.record_claim_phase,
        claim.record_loss_items,
        claim.record_loss_statement,
        claim.pay,
        claim.record_subrogation,
        ledger.reserve_limits,
        ledger.settle_reservation,
        policy.record_application,
        policy.enqueue_notification,
        policy.record_assessment,
        policy.record_underwriting,
        policy.record_quote,
        policy.record_quote_status,
        policy.bind_policy,
        policy.record_findings,
        policy.record_finding_batches,
        policy.resolve_finding,
        policy.verify_fix,
        policy.sweep_remediation,
        policy.record_endorsement,
        policy.record_cancellation,
        policy.record_policy_phase,
        qualification.record_qualification,
        qualification.record_qualification_event,
        CalendarActivities().working_deadline,
        qualification.issue_intent_form,
        qualification.check_policy_proofs,
        qualification.record_certificate,
        qualification.recheck_policy,
        qualification.notify_qualification,
        pilot.record_pilot_deadline,
        pilot.notify_pilot,
    ]


# Workflows kept in memory unless the caller says otherwise: the setting's default, one figure.
CACHED_WORKFLOWS: int = Settings.model_fields["worker_cached_workflows"].default

# On shutdown, in-flight database activities get this long to finish before they are cancelled.
GRACEFUL_SHUTDOWN = timedelta(seconds=10)


def build_worker(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    task_queue: str,
    payments: PaymentGateway | None = None,
    *,
    cached_workflows: int = CACHED_WORKFLOWS,
) -> Worker:
    """Without a payment gateway, the payouts table is the payment."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activities_for(client, sessions, payments),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        max_cached_workflows=cached_workflows,
    )


async def run_worker(
    client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str, shutdown: asyncio.Event,
    *, cached_workflows: int = CACHED_WORKFLOWS, polling: asyncio.Event | None = None,
) -> None:
    """Poll `task_queue` until `shutdown` is set, then finish in-flight tasks and stop. `polling` is
    set while the worker polls (its readiness).

    Payouts go to the payment service at CYBERINS_PAYMENT_URL when it is set.
    """
    await asyncio.to_thread(compile_workflow_sources)
    payments = payment_gateway_from_env()
    polling = polling or asyncio.Event()
    try:
        async with build_worker(client, sessions, task_queue, payments, cached_workflows=cached_workflows):
            polling.set()
            await shutdown.wait()
            polling.clear()
    finally:
        if payments is not None:
            await payments.aclose()


def compile_workflow_sources() -> None:
    """Write the bytecode of the workflow code if it is missing or stale.

    The sandbox executes each workflow's module afresh for every workflow it loads. Without a .pyc
    (PYTHONDONTWRITEBYTECODE, or sources newer than their cache) that means compiling the source
    each time: an eighth of the worker's time when 1,000 incidents arrived at once. Python still
    reads bytecode when told not to write it, so writing it once here is enough. A read-only tree
    keeps working, only slower.
    """
    root = Path(__file__).resolve().parent
    for package in ("workflows", "activities", "domain"):
        compileall.compile_dir(root / package, quiet=2, workers=1)


async def _serve() -> None:
    from logs import configure_logging
    from observability.health import HealthServer, database_check, temporal_check
    from observability.metrics import temporal_runtime
    from settings import connect_temporal, get_settings
    from storage.db import create_session_factory

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set; `cyberins dev` runs a worker on the embedded database")
    engine, sessions = create_session_factory(settings.database_url)
    runtime = None
    if settings.worker_metrics_port:
        runtime = temporal_runtime(settings.worker_host, settings.worker_metrics_port)
    client = await connect_temporal(settings, runtime=runtime)
    shutdown, polling = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shutdown.set)
    checks = {
        "worker": _polling_check(polling),
        "database": database_check(sessions),
        "temporal": temporal_check(client),
    }
    health = (
        HealthServer(settings.worker_host, settings.worker_health_port, checks)
        if settings.worker_health_port else contextlib.nullcontext()
    )
    try:
        async with health:
            await run_worker(
                client, sessions, settings.task_queue, shutdown,
                cached_workflows=settings.worker_cached_workflows, polling=polling,
            )
    finally:
        await engine.dispose()


def _polling_check(polling: asyncio.Event):
    async def check() -> str | None:
        return None if polling.is_set() else "not polling: starting or shutting down"
    return check


def main() -> None:
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
