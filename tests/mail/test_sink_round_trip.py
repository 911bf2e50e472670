"""A rendered message sent with send_mail to a real MailSink, and read back from its folder."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

from devstack.ports import free_port
from mail.render import render_event
from mail.sink import MailSink, stored_messages
from mail.smtp import send_mail
from tests.mail.conftest import SENDER, dispatch_event, smtp_to

VENDOR = "duty@vendor.example"


async def send_event(port: int, event_id: str, to: str = VENDOR, **message_headers: str) -> None:
    message = render_event(dispatch_event(event_id=event_id), language="zh", to=to, sender=SENDER)
    for name, value in message_headers.items():
        message[name] = value
    await send_mail(smtp_to(port), message)


async def test_a_sent_message_is_stored_with_its_subject_event_and_envelope(
    sink: MailSink, mail_folder: Path
):
    await send_event(sink.port, "msg_round_trip", Bcc="audit@insurer.example")

    [stored] = stored_messages(mail_folder)
    assert stored.number == 1
    assert stored.subject == "[紧急] 应急响应派单，请立即确认（事故 INC-2026-0042）"  # decoded from RFC 2047
    assert stored.event_id == "msg_round_trip"
    assert stored.event_type == "incident.dispatch.requested"
    assert stored.sender == "notifications@cyberins.local"
    assert set(stored.recipients) == {VENDOR, "audit@insurer.example"}
    copy = message_from_bytes(stored.path.read_bytes(), policy=default_policy)
    assert copy["Bcc"] is None  # the Bcc recipient is known from the envelope only
    assert "应急响应派单" in copy.get_body(preferencelist=("plain",)).get_content()
    assert list(mail_folder.glob(".incoming-*")) == []


async def test_messages_are_numbered_by_arrival_and_the_count_goes_on_after_a_restart(mail_folder: Path):
    with MailSink(mail_folder, port=free_port()) as first:
        await send_event(first.port, "msg_first")
        await send_event(first.port, "msg_second", to="claims@insured.example")
    with MailSink(mail_folder, port=free_port()) as restarted:
        await send_event(restarted.port, "msg_third")

    stored = stored_messages(mail_folder)
    assert [mail.number for mail in stored] == [1, 2, 3]
    assert [mail.event_id for mail in stored] == ["msg_first", "msg_second", "msg_third"]
    assert stored[1].recipients == ("claims@insured.example",)
    names = [mail.path.name for mail in stored]
    assert names == sorted(names)
    assert names[2].startswith("000003-") and names[2].endswith("Z.eml")
    assert stored[0].received_at <= stored[1].received_at <= stored[2].received_at


def test_a_missing_folder_holds_no_messages(tmp_path: Path):
    assert stored_messages(tmp_path / "never-created") == []
