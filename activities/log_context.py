"""Who an activity is, for its logs and for the audit trail.

`activity_log` gives one logger shape for every activity: the business ids given, plus the
activity's own. `ActingActivities`, registered on every worker (worker.py), makes each activity the
actor of the writes it makes (storage/audit.py): the workflow run, the activity and its attempt, and
the party whose request it carries out when its input names one in `on_behalf_of`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from storage.audit import Actor, acting_as


def activity_log(**ids: str) -> structlog.stdlib.BoundLogger:
    """Ids only (policy, incident, claim): never names, credit codes or other personal data."""
    log = structlog.get_logger().bind(**ids)
    if activity.in_activity():
        info = activity.info()
        log = log.bind(activity=info.activity_type, workflow_id=info.workflow_id, attempt=info.attempt)
    return log


def activity_actor(args: Sequence[Any]) -> Actor:
    """The running activity as an actor. An input may carry `on_behalf_of` with `party_kind`,
    `party_id` and `key_id`: the party whose request the workflow acts on, named beside it."""
    info = activity.info()
    requester = next((found for arg in args if (found := getattr(arg, "on_behalf_of", None)) is not None), None)
    party = None
    if requester is not None:
        kind = requester.party_kind
        party = Actor.of_party(str(getattr(kind, "value", kind)), requester.party_id, getattr(requester, "key_id", None))
    return Actor.of_activity(
        workflow_type=info.workflow_type,
        workflow_id=info.workflow_id,
        run_id=info.workflow_run_id,
        activity=info.activity_type,
        attempt=info.attempt,
        on_behalf_of=party,
    )


class ActingActivities(Interceptor):
    """Registered on every worker (worker.py): an activity's writes name it on the audit trail."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActingInbound(next)


class _ActingInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        with acting_as(activity_actor(input.args)):
            return await super().execute_activity(input)
