"""`cyberins mail` over the folder a real sink filled: the list, the --to filter, one message shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from mail.render import render_event
from mail.sink import MailSink
from mail.smtp import send_mail
from tests.mail.conftest import SENDER, dispatch_event, smtp_to

WIDE = {"COLUMNS": "240"}  # so Rich does not wrap the subjects across lines


async def fill(sink: MailSink) -> None:
    dispatch = render_event(
        dispatch_event(event_id="msg_dispatch"), language="en", to="duty@vendor.example", sender=SENDER
    )
    granted = render_event(
        dispatch_event(
            event_id="msg_granted", event_type="qualification.granted", subject="qualification",
            subject_id=None, urgent=False, payload={},
        ),
        language="en", to="platform@cyberins.example", sender=SENDER,
    )
    await send_mail(smtp_to(sink.port), dispatch)
    await send_mail(smtp_to(sink.port), granted)


@pytest.fixture(autouse=True)
def _logging_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command would point the process's logging at the runner's stream, closed once it returns,
    and the sinks of later tests log into it."""
    monkeypatch.setattr("cli.main.configure_logging", lambda *args, **kwargs: None)


def invoke(*args: str):
    return CliRunner().invoke(app, ["mail", *args], env=WIDE)


async def test_mail_alone_lists_the_stored_messages_newest_last(sink: MailSink, mail_folder: Path):
    await fill(sink)

    result = invoke("--folder", str(mail_folder))

    assert result.exit_code == 0, result.output
    dispatch_at = result.output.index("[URGENT] Emergency response dispatched to you")
    granted_at = result.output.index("The qualification is granted")
    assert dispatch_at < granted_at
    assert "incident.dispatch.requested" in result.output
    assert "qualification.granted" in result.output
    assert "duty@vendor.example" in result.output


async def test_to_and_limit_narrow_the_list(sink: MailSink, mail_folder: Path):
    await fill(sink)

    to_vendor = invoke("list", "--folder", str(mail_folder), "--to", "duty@vendor.example")
    newest = invoke("--folder", str(mail_folder), "--limit", "1")

    assert "incident.dispatch.requested" in to_vendor.output
    assert "qualification.granted" not in to_vendor.output
    assert "qualification.granted" in newest.output
    assert "incident.dispatch.requested" not in newest.output
    assert "1 older not shown" in newest.output


async def test_show_prints_the_headers_and_the_plain_text(sink: MailSink, mail_folder: Path):
    await fill(sink)

    result = invoke("show", "1", "--folder", str(mail_folder))

    assert result.exit_code == 0, result.output
    assert "X-Cyberins-Event-Id: msg_dispatch" in result.output
    assert "X-Envelope-To: duty@vendor.example" in result.output
    assert "Event type: incident.dispatch.requested" in result.output  # from the plain-text part
    assert "<html" not in result.output


def test_an_empty_or_missing_folder_is_said_plainly(tmp_path: Path):
    missing = invoke("--folder", str(tmp_path / "mail"))
    (tmp_path / "empty").mkdir()
    empty = invoke("--folder", str(tmp_path / "empty"))
    unknown = invoke("show", "7", "--folder", str(tmp_path / "empty"))

    assert missing.exit_code == 0 and "does not exist" in missing.output
    assert empty.exit_code == 0 and "No mail in" in empty.output
    assert unknown.exit_code == 1 and "no message number 7" in unknown.output
