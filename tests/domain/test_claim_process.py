"""The claim's process table: every phase against every update, the refusals' words, and the shape of
the process (every open claim can close; nothing leaves `rejected`)."""

from __future__ import annotations

import itertools

import pytest

from domain.claim import ClaimPhase
from domain.claim_process import PROCESS, REFUSALS, ClaimUpdate, accepted_in, leads_to, refusal_for

G, R, O, P, C, X = (ClaimPhase.GATHERING_LOSS, ClaimPhase.IN_REVIEW, ClaimPhase.OFFERED, ClaimPhase.PAYING,
                    ClaimPhase.CLOSED, ClaimPhase.REJECTED)
U = ClaimUpdate

# Written out by hand, not derived from the table: (phase, update) -> where it leads when it succeeds.
EXPECTED = {
    (G, U.SUBMIT_LOSS_ITEMS): {G}, (R, U.SUBMIT_LOSS_ITEMS): {G},
    (G, U.SET_CONDITIONS): {G}, (R, U.SET_CONDITIONS): {G},
    (G, U.DETERMINE): {R}, (R, U.DETERMINE): {R},
    (R, U.APPROVE): {R, O},
    (R, U.INTERIM_PAYMENT): {R},
    (O, U.ACCEPT_OFFER): {C},
    (O, U.DISPUTE_OFFER): {R},
    (G, U.DENY): {C}, (R, U.DENY): {C}, (O, U.DENY): {C},
    (G, U.CLOSE): {C}, (R, U.CLOSE): {C}, (O, U.CLOSE): {C},
    (C, U.REOPEN): {G},
    **{(phase, U.RECORD_SUBROGATION): {phase} for phase in (G, R, O, P, C)},
}

# The words callers see today; tests elsewhere (and the CLI's users) match on them.
REFUSED_IN_CLOSED = {
    U.SUBMIT_LOSS_ITEMS: "the claim is closed; loss items cannot be changed now",
    U.SET_CONDITIONS: "the claim is closed; conditions cannot be changed now",
    U.DETERMINE: "the claim is closed; a determination cannot be changed now",
    U.APPROVE: "the claim is closed; only a determined claim in review can be approved",
    U.DENY: "the claim is closed; it cannot be denied now",
    U.ACCEPT_OFFER: "the claim is closed; there is no approved offer to accept",
    U.DISPUTE_OFFER: "the claim is closed; there is no offer to dispute",
    U.INTERIM_PAYMENT: "interim payments follow a determination, while the claim is in review",
    U.CLOSE: "the claim is closed; it cannot be closed now",
}


@pytest.mark.parametrize(("phase", "update"), list(itertools.product(ClaimPhase, ClaimUpdate)),
                         ids=lambda v: v.value)
def test_each_phase_accepts_exactly_the_updates_of_the_process(phase: ClaimPhase, update: ClaimUpdate):
    expected = EXPECTED.get((phase, update))
    refusal = refusal_for(phase, update)
    if expected is None:
        assert refusal == REFUSALS[update].format(phase=phase.value)
        assert leads_to(phase, update) == frozenset()
        assert update not in accepted_in(phase)
    else:
        assert refusal is None
        assert leads_to(phase, update) == expected
        assert update in accepted_in(phase)


@pytest.mark.parametrize("update", list(REFUSED_IN_CLOSED), ids=lambda u: u.value)
def test_refusals_keep_the_words_callers_know(update: ClaimUpdate):
    assert refusal_for(C, update) == REFUSED_IN_CLOSED[update]


def test_refusals_name_the_phase_the_claim_is_in():
    assert refusal_for(O, U.APPROVE) == "the claim is offered; only a determined claim in review can be approved"
    assert refusal_for(G, U.REOPEN) == "the claim is gathering_loss; only a closed claim can be reopened"
    assert refusal_for(P, U.CLOSE) == "the claim is paying; it cannot be closed now"
    assert refusal_for(X, U.RECORD_SUBROGATION) == "a rejected claim paid nothing to recover"


def test_a_rejected_claim_accepts_nothing_and_every_phase_has_a_row():
    assert set(PROCESS) == set(ClaimPhase)
    assert accepted_in(X) == frozenset()
    assert set(REFUSALS) == set(ClaimUpdate)


def test_nothing_leads_to_rejected_and_paying_is_only_passed_through():
    """Rejection happens as the claim opens, not through an update; `paying` lasts while the insured's
    acceptance pays, and the update ends closed (or, refused by the payment service, offered again)."""
    reached = {phase for outcomes in PROCESS.values() for leads in outcomes.values() for phase in leads}
    assert X not in reached
    assert accepted_in(P) == {U.RECORD_SUBROGATION}
    assert leads_to(P, U.RECORD_SUBROGATION) == {P}


def test_every_open_claim_can_still_be_closed_and_a_closed_one_reopened():
    def reachable(start: ClaimPhase) -> set[ClaimPhase]:
        seen, frontier = {start}, [start]
        while frontier:
            for leads in PROCESS[frontier.pop()].values():
                for phase in leads - seen:
                    seen.add(phase)
                    frontier.append(phase)
        return seen

    for phase in (G, R, O):
        assert C in reachable(phase), phase
    assert reachable(C) >= {G, R, O, C}
    assert reachable(X) == {X}


def test_a_subrogation_never_moves_the_claim():
    for phase in ClaimPhase:
        assert leads_to(phase, U.RECORD_SUBROGATION) in (frozenset(), frozenset({phase}))
