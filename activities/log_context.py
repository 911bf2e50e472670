"""One logger shape for every activity: the business ids given, plus the activity's own."""

from __future__ import annotations

import structlog
from temporalio import activity


def activity_log(**ids: str) -> structlog.stdlib.BoundLogger:
    """Ids only (policy, incident, claim): never names, credit codes or other personal data."""
    log = structlog.get_logger().bind(**ids)
    if activity.in_activity():
        info = activity.info()
        log = log.bind(activity=info.activity_type, workflow_id=info.workflow_id, attempt=info.attempt)
    return log
