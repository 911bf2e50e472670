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
from activities.delivery import DeliveryActivities, mail_sender
from activities.failures import ActivityFailures
from activities.incident import IncidentActivities
from activities.ledger import LedgerActivities
from activities.log_context import ActingActivities
from activities.notifying import Notifier, resume_lost_deliveries
from activities.pilot import PilotActivities
from activities.policy import PolicyActivities
from activities.qualification import QualificationActivities
from activities.working_calendar import CalendarActivities
from contracts.delivery import DeliveryRules
from contracts.queues import WorkQueue, queue_of
from domain.notifications import retry_schedule
from logs import get_logger
from payments.gateway import PaymentGateway, payment_gateway_from_env
from settings import Settings
from workflows.claim import ClaimWorkflow
from workflows.delivery import EventDeliveryWorkflow
from workflows.incident import IncidentWorkflow
from workflows.pilot_deadline import PilotDeadlineWorkflow
from workflows.policy import PolicyWorkflow
from workflows.qualification import QualificationWorkflow

log = get_logger(__name__)

WORKFLOWS = [
    PolicyWorkflow, IncidentWorkflow, ClaimWorkflow, QualificationWorkflow, PilotDeadlineWorkflow, EventDeliveryWorkflow,
]


def delivery_activities(
    client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str, settings: Settings | None = None
) -> tuple[Notifier, DeliveryActivities]:
    """Who starts deliveries and who makes them, from the settings (webhook schedule, mail server)."""
    settings = settings or Settings()
    rules = DeliveryRules(
        schedule_seconds=retry_schedule(settings.webhook_retry_schedule),
        webhook_timeout_seconds=settings.webhook_timeout_seconds,
        disable_after=timedelta(hours=settings.webhook_disable_after_hours),
        fallback_after_seconds=settings.urgent_fallback_seconds,
        internal_addresses=settings.webhook_http_loopback,
    )
    notifier = Notifier(client, task_queue, tuple(settings.operator_addresses), rules=rules, eager=True)
    # No mail server named (an empty CYBERINS_SMTP_HOST): e-mails are recorded as not sent, not retried.
    send_mail = mail_sender(settings.smtp) if settings.smtp_host else None
    return notifier, DeliveryActivities(sessions, notifier, rules, send_mail=send_mail)


def activities_for(
    client: Client, sessions: async_sessionmaker[AsyncSession], payments: PaymentGateway | None = None,
    *, task_queue: str = "", settings: Settings | None = None,
) -> list:
    notifier, delivery = delivery_activities(client, sessions, task_queue, settings)
    policy, incident, claim, ledger, qualification = (
        PolicyActivities(sessions, notifier),
        IncidentActivities(sessions, notifier),
        ClaimActivities(sessions, payments),
        LedgerActivities(client),
        QualificationActivities(sessions, notifier),
    )
    pilot = PilotActivities(sessions, notifier)
    return [
        delivery.plan_delivery,
        delivery.attempt_webhook,
        delivery.send_email,
        delivery.give_up_delivery,
        delivery.skip_fallbacks,
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


# Database activities a worker runs at once, and the connections its pool keeps (as many again may
# open under load): local activities and the database queue share them.
DATABASE_SLOTS = 20
WORKER_POOL = 10
# How often a worker looks for deliveries whose start was lost.
RESUME_EVERY = timedelta(minutes=1)
# Webhooks and e-mails in flight at once per worker: each waits on a receiver, not on this machine.
DELIVERY_SLOTS = 100
# Payouts sent a second to the payment service, by all workers together (Temporal enforces it).
EXTERNAL_PER_SECOND = 20.0


class WorkerGroup:
    """The Temporal workers of one process, one per task queue it serves, entered and left together."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers

    @property
    def task_queues(self) -> list[str]:
        return [worker.task_queue for worker in self.workers]

    async def __aenter__(self) -> WorkerGroup:
        entered: list[Worker] = []
        try:
            for worker in self.workers:
                await worker.__aenter__()
                entered.append(worker)
        except BaseException:
            await asyncio.gather(*(worker.__aexit__(None, None, None) for worker in entered))
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Together, so that each kind gets the whole graceful shutdown rather than a third of it.
        await asyncio.gather(*(worker.__aexit__(*exc_info) for worker in self.workers))


def build_worker(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    task_queue: str,
    payments: PaymentGateway | None = None,
    *,
    cached_workflows: int = CACHED_WORKFLOWS,
    queues: frozenset[WorkQueue] = frozenset(WorkQueue),
    activities: list | None = None,
    external_per_second: float = EXTERNAL_PER_SECOND,
) -> WorkerGroup:
    """Workers for `task_queue` (the workflows) and the activity queues beside it (contracts/queues.py),
    those of `queues` only. Without a payment gateway, the payouts table is the payment.

    The workflow worker registers every activity too: local activities run where their workflow
    runs, and an activity scheduled on the base queue before the split is still served there.
    Every worker classifies its activities' failures (activities/failures.py): bad data is not retried;
    and names each activity as the actor of its writes on the audit trail (activities/log_context.py).
    """
    activities = activities if activities is not None else activities_for(client, sessions, payments, task_queue=task_queue)
    external = [a for a in activities if queue_of(a.__name__) is WorkQueue.EXTERNAL]
    delivery = [a for a in activities if queue_of(a.__name__) is WorkQueue.DELIVERY]
    database = [a for a in activities if queue_of(a.__name__) is WorkQueue.DATABASE]
    interceptors = [ActivityFailures(), ActingActivities()]
    workers = []
    if WorkQueue.WORKFLOW in queues:
        workers.append(Worker(
            client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN, max_cached_workflows=cached_workflows,
            interceptors=interceptors,
        ))
    if WorkQueue.DATABASE in queues:
        workers.append(Worker(
            client, task_queue=WorkQueue.DATABASE.of(task_queue), activities=database,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN, max_concurrent_activities=DATABASE_SLOTS,
            interceptors=interceptors,
        ))
    if WorkQueue.EXTERNAL in queues:
        workers.append(Worker(
            client, task_queue=WorkQueue.EXTERNAL.of(task_queue), activities=external,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN, max_task_queue_activities_per_second=external_per_second,
            interceptors=interceptors,
        ))
    if WorkQueue.DELIVERY in queues:
        workers.append(Worker(
            client, task_queue=WorkQueue.DELIVERY.of(task_queue), activities=delivery,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN, max_concurrent_activities=DELIVERY_SLOTS,
            interceptors=interceptors,
        ))
    if not workers:
        raise ValueError("a worker must serve at least one of the queues: workflow, database, external, delivery")
    return WorkerGroup(workers)


async def run_worker(
    client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str, shutdown: asyncio.Event,
    *, cached_workflows: int = CACHED_WORKFLOWS, polling: asyncio.Event | None = None,
    queues: frozenset[WorkQueue] = frozenset(WorkQueue), external_per_second: float = EXTERNAL_PER_SECOND,
    settings: Settings | None = None,
) -> None:
    """Poll `task_queue` until `shutdown` is set, then finish in-flight tasks and stop. `polling` is
    set while the worker polls (its readiness).

    Payouts go to the payment service at CYBERINS_PAYMENT_URL when it is set.
    """
    await asyncio.to_thread(compile_workflow_sources)
    payments = payment_gateway_from_env()
    polling = polling or asyncio.Event()
    try:
        activities = activities_for(client, sessions, payments, task_queue=task_queue, settings=settings)
        async with build_worker(client, sessions, task_queue, payments, cached_workflows=cached_workflows,
                                queues=queues, external_per_second=external_per_second, activities=activities):
            polling.set()
            resumer = asyncio.create_task(_resume_deliveries(client, sessions, task_queue, shutdown))
            await shutdown.wait()
            polling.clear()
            resumer.cancel()
    finally:
        if payments is not None:
            await payments.aclose()


async def _resume_deliveries(client: Client, sessions, task_queue: str, shutdown: asyncio.Event) -> None:
    """Every minute, start any delivery whose start was lost; a failing sweep is logged and tried again."""
    notifier = Notifier(client, task_queue)
    while not shutdown.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shutdown.wait(), timeout=RESUME_EVERY.total_seconds())
        if shutdown.is_set():
            return
        try:
            resumed = await resume_lost_deliveries(sessions, notifier, older_than=RESUME_EVERY * 2)
        except Exception as error:  # noqa: BLE001 (the database or Temporal away: the next sweep tries again)
            log.warning("could not resume deliveries", error=type(error).__name__)
            continue
        if resumed:
            log.info("deliveries resumed", events=resumed)


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
    from settings import get_settings
    from storage.db import create_session_factory
    from temporal_connection import connect_temporal

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set; `cyberins dev` runs a worker on the embedded database")
    engine, sessions = create_session_factory(settings.database_url, pool_size=WORKER_POOL)
    runtime = None
    if settings.worker_metrics_port:
        runtime = temporal_runtime(settings.worker_host, settings.worker_metrics_port)
    client = await connect_temporal(settings, runtime=runtime, component="worker")
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
                queues=settings.worker_queue_kinds,
                external_per_second=settings.external_per_second, settings=settings,
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
