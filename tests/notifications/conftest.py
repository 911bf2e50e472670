"""A mail sink per test, on a free port in the test's folder: the SMTP server the deliveries use."""

from __future__ import annotations

import pytest

from devstack.ports import free_port
from mail.sink import MailSink


@pytest.fixture
def sink(tmp_path):
    with MailSink(tmp_path / "mail", port=free_port()) as running:
        yield running
