"""The task queues, by kind of work. Workflows run on the base queue (CYBERINS_TASK_QUEUE, where the
API and the CLI start them); their activities go to a queue of their kind beside it:

    <base>            workflow tasks, and local activities (they run where their workflow runs)
    <base>-database   short writes to PostgreSQL: as many slots as the pool can serve
    <base>-external   calls to outside parties (the insurer's payment service): rate-limited for all
                      workers together, so that no number of workers floods the bank
    <base>-delivery   webhooks and e-mails to the parties (workflows/delivery.py): many at once,
                      each bounded by its own timeout

A worker process polls all four unless CYBERINS_WORKER_QUEUES names fewer, so each kind can be
scaled, or kept from a host, on its own. An activity scheduled on the base queue by a workflow from
before the split is still served there. Which queue an activity goes to is decided here alone: the
workflows schedule by it and the worker registers by it.
"""

from __future__ import annotations

from enum import StrEnum


class WorkQueue(StrEnum):
    WORKFLOW = "workflow"
    DATABASE = "database"
    EXTERNAL = "external"
    DELIVERY = "delivery"

    def of(self, base: str) -> str:
        """This kind's queue beside `base`, the workflows' queue."""
        return base if self is WorkQueue.WORKFLOW else f"{base}-{self.value}"


# Activities that call outside parties; every other activity writes to PostgreSQL.
EXTERNAL_ACTIVITIES = frozenset({"pay"})
# Webhooks and e-mails to the parties: not held to the payment service's rate, and many at once.
DELIVERY_ACTIVITIES = frozenset({"attempt_webhook", "send_email"})


def queue_of(activity_name: str) -> WorkQueue:
    if activity_name in EXTERNAL_ACTIVITIES:
        return WorkQueue.EXTERNAL
    return WorkQueue.DELIVERY if activity_name in DELIVERY_ACTIVITIES else WorkQueue.DATABASE
