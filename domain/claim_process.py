"""The claim's process (理赔流程) in one table: which update each phase accepts, and where it leads.

    gathering_loss ⇄ in_review → offered → paying → closed ⇄ (reopened) gathering_loss
    gathering_loss → rejected, when the claim opens on no cover; nothing leaves `rejected`.

The claim workflow's validators ask `refusal_for` before anything else, and its handlers ask again
when their turn under the claim's lock comes, since another message may have moved the claim on
meanwhile. The texts are the ones adjusters and the insured see in a refusal.

`leads_to` is where an accepted update leaves the claim when it succeeds. A failed update leaves the
phase as it was, with two exceptions the workflow documents where they happen: a determination the
policy may already hold sends a claim in review back to gathering, and a payment refused while
`paying` puts the offer back (`offered`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from domain.claim import ClaimPhase


class ClaimUpdate(StrEnum):
    """The claim workflow's updates, by the names its callers send."""

    SUBMIT_LOSS_ITEMS = "submit_loss_items"
    SET_CONDITIONS = "set_conditions"
    DETERMINE = "determine"
    APPROVE = "approve"
    DENY = "deny"
    ACCEPT_OFFER = "accept_offer"
    DISPUTE_OFFER = "dispute_offer"
    INTERIM_PAYMENT = "interim_payment"
    RECORD_SUBROGATION = "record_subrogation"
    CLOSE = "close"
    REOPEN = "reopen"


_GATHERING, _REVIEW, _OFFERED, _PAYING, _CLOSED, _REJECTED = (
    ClaimPhase.GATHERING_LOSS, ClaimPhase.IN_REVIEW, ClaimPhase.OFFERED, ClaimPhase.PAYING, ClaimPhase.CLOSED,
    ClaimPhase.REJECTED,
)
_U = ClaimUpdate


def _to(*phases: ClaimPhase) -> frozenset[ClaimPhase]:
    return frozenset(phases)


# For each phase, the updates it accepts and the phases each may leave the claim in. New facts
# (items, conditions) make a statement stale, so they send a claim in review back to gathering.
# A subrogation changes no phase; it is accepted wherever the claim may have paid or may still pay.
PROCESS: Mapping[ClaimPhase, Mapping[ClaimUpdate, frozenset[ClaimPhase]]] = {
    _GATHERING: {
        _U.SUBMIT_LOSS_ITEMS: _to(_GATHERING),
        _U.SET_CONDITIONS: _to(_GATHERING),
        _U.DETERMINE: _to(_REVIEW),
        _U.DENY: _to(_CLOSED),
        _U.CLOSE: _to(_CLOSED),
        _U.RECORD_SUBROGATION: _to(_GATHERING),
    },
    _REVIEW: {
        _U.SUBMIT_LOSS_ITEMS: _to(_GATHERING),
        _U.SET_CONDITIONS: _to(_GATHERING),
        _U.DETERMINE: _to(_REVIEW),
        _U.APPROVE: _to(_REVIEW, _OFFERED),  # offered once enough adjusters approved (authority limits)
        _U.INTERIM_PAYMENT: _to(_REVIEW),
        _U.DENY: _to(_CLOSED),
        _U.CLOSE: _to(_CLOSED),
        _U.RECORD_SUBROGATION: _to(_REVIEW),
    },
    _OFFERED: {
        _U.ACCEPT_OFFER: _to(_CLOSED),  # through `paying` while the money goes out
        _U.DISPUTE_OFFER: _to(_REVIEW),
        _U.DENY: _to(_CLOSED),
        _U.CLOSE: _to(_CLOSED),
        _U.RECORD_SUBROGATION: _to(_OFFERED),
    },
    _PAYING: {
        _U.RECORD_SUBROGATION: _to(_PAYING),
    },
    _CLOSED: {
        _U.REOPEN: _to(_GATHERING),  # within the reopening window: the loss is gathered and held afresh
        _U.RECORD_SUBROGATION: _to(_CLOSED),
    },
    _REJECTED: {},
}

# What a phase that does not accept an update says, `{phase}` being the claim's phase now.
REFUSALS: Mapping[ClaimUpdate, str] = {
    _U.SUBMIT_LOSS_ITEMS: "the claim is {phase}; loss items cannot be changed now",
    _U.SET_CONDITIONS: "the claim is {phase}; conditions cannot be changed now",
    _U.DETERMINE: "the claim is {phase}; a determination cannot be changed now",
    _U.APPROVE: "the claim is {phase}; only a determined claim in review can be approved",
    _U.DENY: "the claim is {phase}; it cannot be denied now",
    _U.ACCEPT_OFFER: "the claim is {phase}; there is no approved offer to accept",
    _U.DISPUTE_OFFER: "the claim is {phase}; there is no offer to dispute",
    _U.INTERIM_PAYMENT: "interim payments follow a determination, while the claim is in review",
    _U.RECORD_SUBROGATION: "a rejected claim paid nothing to recover",
    _U.CLOSE: "the claim is {phase}; it cannot be closed now",
    _U.REOPEN: "the claim is {phase}; only a closed claim can be reopened",
}


def accepted_in(phase: ClaimPhase) -> frozenset[ClaimUpdate]:
    return frozenset(PROCESS[phase])


def refusal_for(phase: ClaimPhase, update: ClaimUpdate) -> str | None:
    """None when `phase` accepts `update`; otherwise why not, in the words the caller sees."""
    if update in PROCESS[phase]:
        return None
    return REFUSALS[update].format(phase=phase.value)


def leads_to(phase: ClaimPhase, update: ClaimUpdate) -> frozenset[ClaimPhase]:
    """Where `update`, accepted in `phase`, may leave the claim when it succeeds; empty if refused."""
    return PROCESS[phase].get(update, frozenset())
