"""A party hears only of objects it may see: by webhook, by e-mail, and in what is stored for its feed."""

from __future__ import annotations

from sqlalchemy import select

from contracts.parties import Notification, Party
from devstack.webhook_receiver import WebhookReceiver
from mail.sink import stored_messages
from storage.models import PartyEventRow
from storage.unit_of_work import UnitOfWork
from tests.notifications.support import (
    delivering_worker,
    delivery_settings,
    emit,
    register_address,
    register_endpoint,
    until,
)

# Two policies with their own insured, insurer and vendor; one vendor is on both.
GRANTS = {
    "pol-a": {("insured", "org-a"), ("insurer", "ins-1"), ("vendor", "ven-a"), ("vendor", "ven-shared")},
    "pol-b": {("insured", "org-b"), ("insurer", "ins-2"), ("vendor", "ven-b"), ("vendor", "ven-shared")},
}
PARTIES = sorted({party for parties in GRANTS.values() for party in parties})



def notice(policy_id: str, kind: str, recipient: Party, **payload) -> Notification:
    return Notification(dedupe_key=f"{policy_id}:{kind}:1:{recipient.value}", policy_id=policy_id, recipient=recipient,
                        kind=kind, payload=payload)



async def test_each_party_receives_only_events_of_objects_it_is_granted(dev_client, session_factory, task_queue, sink):
    async with UnitOfWork(session_factory) as uow:
        for policy_id, parties in GRANTS.items():
            await uow.api.grant("policy", policy_id, parties)
            await uow.api.grant("incident", f"inc-{policy_id}", parties)
    receivers = {party: WebhookReceiver() for party in PARTIES}
    for party, receiver in receivers.items():
        await receiver.start()
        _, secret = await register_endpoint(session_factory, party, receiver.url, ["*"])
        receiver.secrets = [secret]
        await register_address(session_factory, party, f"{party[1]}@parties.test", ["*"])
    notices = [
        notice("pol-a", "policy_bound", Party.INSURED, term_number=1),
        notice("pol-a", "regulatory_report_overdue", Party.INSURER, incident_id="inc-pol-a"),
        notice("pol-b", "quote_issued", Party.INSURED, premium_fen=100),
        notice("pol-b", "active_compromise", Party.VENDOR, vendor_event_id="ev-1"),
    ]
    try:
        settings = delivery_settings(smtp_port=sink.port)
        async with delivering_worker(dev_client, session_factory, task_queue, settings) as notifier:
            started = await emit(session_factory, notifier, notices)
            await until(lambda: sum(len(r.applied) for r in receivers.values()) == len(started), what="all delivered")
            await until(lambda: len(stored_messages(sink.folder)) == len(started), what="all e-mailed")
    finally:
        for receiver in receivers.values():
            await receiver.stop()

    async with session_factory() as session:
        events = (await session.scalars(select(PartyEventRow))).all()
    owner = {e.event_id: (e.party_kind, e.party_id) for e in events}
    told = {(owner[e.event_id], e.event_type) for e in events}
    assert told == {
        (("insured", "org-a"), "policy.bound"),
        (("insurer", "ins-1"), "incident.report.overdue"),
        (("insured", "org-b"), "policy.quote.issued"),
        (("vendor", "ven-b"), "policy.compromise.detected"),
        (("vendor", "ven-shared"), "policy.compromise.detected"),
    }
    for party, receiver in receivers.items():
        assert receiver.rejected == 0
        assert all(owner[webhook_id] == party for webhook_id in receiver.applied), party
    for mail in stored_messages(sink.folder):
        [address] = mail.recipients
        assert address == f"{owner[mail.event_id][1]}@parties.test"
    # The payload carries only what the type lists: a premium to its insured, nothing else.
    quote = next(e for e in events if e.event_type == "policy.quote.issued")
    assert quote.payload == {"premium_fen": 100}
