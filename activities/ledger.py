"""A claim's door to its policy's limits: updates on the policy workflow, which owns them."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from contracts.claim_activities import LedgerPosition, ReserveLimits, SettleReservation
from contracts.policy import policy_workflow_id
from domain.loss_statement import LossStatement


def _this_call() -> str:
    """The same for every retry of one activity, new for each one the workflow schedules: a
    determination refused by the ledger and asked again is a new update, not the old answer, and a
    claim that settles the same amount twice (an interim payment, then a close and a reopen) is
    settled twice."""
    if not activity.in_activity():
        return "direct"
    info = activity.info()
    return f"{info.workflow_run_id}:{info.activity_id}"


class LedgerActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn
    async def reserve_limits(self, request: ReserveLimits) -> LossStatement:
        """Determine the loss against what the policy period has left, and hold it for the claim."""
        return await self._update(
            request.policy_id, "reserve_claim", request, LossStatement,
            update_id=f"{request.claim_id}:reserve:{request.determination}:{_this_call()}",
        )

    @activity.defn
    async def settle_reservation(self, request: SettleReservation) -> LedgerPosition:
        return await self._update(
            request.policy_id, "settle_claim", request, LedgerPosition,
            update_id=f"{request.claim_id}:settle:{_this_call()}",
        )

    async def _update(self, policy_id: str, name: str, request, result_type, *, update_id: str):
        # The update id makes a retried activity the same update within the policy workflow's run.
        handle = self._client.get_workflow_handle(policy_workflow_id(policy_id))
        try:
            return await handle.execute_update(name, request, id=update_id, result_type=result_type)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            message = getattr(cause, "message", None) or str(cause)
            kind = getattr(cause, "type", None) or "ledger_refused"
            raise ApplicationError(f"policy {policy_id} refused: {message}", type=kind, non_retryable=True) from None
