"""send_mail's failures: a 5xx reply is permanent; a closed port, a timeout and a 4xx reply are not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from devstack.ports import free_port
from mail.render import render_event
from mail.smtp import MailNotSent, send_mail
from tests.mail.conftest import SENDER, dispatch_event, smtp_to


class RefuseEveryRecipient:
    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # aiosmtpd's name
        return self.reply


@pytest.fixture
def refusing_server() -> Iterator[callable]:
    started: list[Controller] = []

    def start(reply: str) -> int:
        controller = Controller(
            RefuseEveryRecipient(reply), hostname="127.0.0.1", port=free_port(), server_hostname="refusing"
        )
        controller.start()
        started.append(controller)
        return controller.port

    yield start
    for controller in started:
        controller.stop()


def a_message():
    return render_event(dispatch_event(), language="en", to="nobody@vendor.example", sender=SENDER)


async def test_a_550_refusal_is_permanent(refusing_server):
    port = refusing_server("550 5.1.1 no such mailbox")

    with pytest.raises(MailNotSent) as refused:
        await send_mail(smtp_to(port), a_message())

    assert refused.value.permanent is True
    assert refused.value.code == 550
    assert "nobody@vendor.example" in str(refused.value)


async def test_a_451_refusal_is_worth_another_try(refusing_server):
    port = refusing_server("451 4.3.2 try again later")

    with pytest.raises(MailNotSent) as refused:
        await send_mail(smtp_to(port), a_message())

    assert refused.value.permanent is False
    assert refused.value.code == 451


async def test_a_closed_port_is_worth_another_try():
    with pytest.raises(MailNotSent) as not_sent:
        await send_mail(smtp_to(free_port()), a_message())

    assert not_sent.value.permanent is False
    assert "Connect" in str(not_sent.value)


async def test_a_server_that_never_answers_times_out_and_is_worth_another_try():
    async def say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    silent = await asyncio.start_server(say_nothing, "127.0.0.1", free_port())
    port = silent.sockets[0].getsockname()[1]
    try:
        with pytest.raises(MailNotSent) as not_sent:
            await send_mail(smtp_to(port, timeout_seconds=0.3), a_message())
    finally:
        silent.close()
        await silent.wait_closed()

    assert not_sent.value.permanent is False
    assert "Timeout" in str(not_sent.value)


async def test_the_password_appears_neither_in_the_error_nor_in_the_settings_repr():
    settings = smtp_to(free_port(), username="cyberins", password="s3cret-pw")

    with pytest.raises(MailNotSent) as not_sent:
        await send_mail(settings, a_message())

    assert "s3cret-pw" not in str(not_sent.value)
    assert not_sent.value.__cause__ is None
    assert "s3cret-pw" not in repr(settings)
