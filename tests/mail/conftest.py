"""A mail sink per test, on a free port (never the dev stack's 8325), storing into the test's folder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devstack.ports import free_port
from mail.render import MailEvent
from mail.sink import MailSink
from mail.smtp import SmtpSettings

SENDER = "cyberins <notifications@cyberins.local>"


@pytest.fixture
def mail_folder(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def sink(mail_folder: Path) -> Iterator[MailSink]:
    with MailSink(mail_folder, port=free_port()) as running:
        yield running


def smtp_to(port: int, **overrides: object) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender=SENDER, **overrides)  # type: ignore[arg-type]


def dispatch_event(**overrides: object) -> MailEvent:
    """An urgent panel dispatch, as a vendor is told of it."""
    fields: dict[str, object] = {
        "event_id": "msg_2Ns8fVZ7cQ1",
        "event_type": "incident.dispatch.requested",
        "subject": "incident",
        "subject_id": "INC-2026-0042",
        "occurred_at": datetime(2026, 12, 1, 10, 30, tzinfo=UTC),
        "urgent": True,
        "payload": {"incident_id": "INC-2026-0042"},
        "recipient_kind": "vendor",
    }
    fields.update(overrides)
    return MailEvent(**fields)  # type: ignore[arg-type]
