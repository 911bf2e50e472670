"""The event catalogue: every kind a workflow emits has a documented type; payloads are filtered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.notifications import (
    BY_NAME,
    EVENT_TYPES,
    Subject,
    event_id_for,
    retry_schedule,
    subject_of,
    subscribed,
    unknown_type_names,
    visible_payload,
)
from domain.policy import PolicyPhase

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
LITERAL_KINDS = re.compile(r'(?:notify|_notify|_notify_vendor|Notice)\(\s*"([a-z_]+)"')
STORED_KINDS = ("remediation_reminder", "remediation_overdue")  # written by the remediation sweep activity


def kinds_in_workflows() -> set[str]:
    found = set()
    for source in WORKFLOWS.glob("*.py"):
        found.update(LITERAL_KINDS.findall(source.read_text()))
    return found


def test_every_kind_a_workflow_writes_has_an_event_type():
    kinds = kinds_in_workflows()
    assert len(kinds) > 25  # the scan finds the workflows' notifications, not nothing
    # Built at run time: the policy's closing phases, the qualification's contact windows.
    kinds |= {PolicyPhase.DECLINED.value, PolicyPhase.QUOTE_EXPIRED.value, PolicyPhase.EXPIRED.value,
              PolicyPhase.CANCELLED.value, *STORED_KINDS}
    kinds |= {f"{who}_contact_{step}" for who in ("platform", "insurer") for step in ("reminder", "overdue")}
    assert sorted(kinds - EVENT_TYPES.keys()) == []


def test_type_names_are_unique_dotted_and_lower_case():
    names = [t.name for t in EVENT_TYPES.values()]
    assert len(names) == len(set(names)) == len(BY_NAME)
    assert all(re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", name) for name in names)


def test_clocks_make_an_event_urgent():
    urgent = {name for name, t in BY_NAME.items() if t.urgent}
    assert {"incident.dispatch.requested", "incident.report.overdue", "qualification.intent_form.issued"} <= urgent
    assert "policy.bound" not in urgent


def test_a_payload_keeps_only_its_types_fields():
    dispatch = EVENT_TYPES["emergency_dispatch"]
    assert visible_payload(dispatch, {"incident_id": "inc-1", "organisation": "某医院", "contact": "138…"}) == {
        "incident_id": "inc-1"
    }


def test_the_subject_is_the_narrowest_id_carried():
    assert subject_of({"claim_id": "clm-1", "incident_id": "inc-1"}, "pol-1") == (Subject.CLAIM, "clm-1")
    assert subject_of({"incident_id": "inc-1"}, "pol-1") == (Subject.INCIDENT, "inc-1")
    assert subject_of({}, "pol-1") == (Subject.POLICY, "pol-1")


def test_an_event_id_is_the_same_for_the_same_decision_and_party_only():
    one = event_id_for("pol-1:policy_bound:1:insured", "insured", "org-1")
    assert one == event_id_for("pol-1:policy_bound:1:insured", "insured", "org-1")
    assert one != event_id_for("pol-1:policy_bound:1:insured", "insured", "org-2")
    assert re.fullmatch(r"msg_[a-z2-7]{32}", one)


def test_subscriptions_and_unknown_names():
    assert subscribed(["*"], "policy.bound") and subscribed(["policy.bound"], "policy.bound")
    assert not subscribed(["incident.dispatch.requested"], "policy.bound")
    assert unknown_type_names(["policy.bound", "policy.nonsense", "*"]) == ["policy.nonsense"]


def test_the_retry_schedule_reads_like_svix():
    assert retry_schedule("0s,5s,5m,30m,2h,5h,10h,10h") == [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    assert retry_schedule("1d") == [86400]
    for bad in ("", "5", "5x", "-5s", "5s,,5s"):
        with pytest.raises(ValueError):
            retry_schedule(bad)
