"""A local SMTP server that delivers nowhere: every message it accepts becomes an .eml file in a folder,
for `cyberins dev` and the tests, and `cyberins mail` to read them.

Files are named `000001-20261201T103000.123456Z.eml`: the arrival number first, so names sort by
arrival, and the number carries on from the files already there after a restart. The stored copy
starts with two added headers, Return-Path (the envelope sender) and X-Envelope-To (the envelope
recipients), since Bcc recipients appear nowhere else.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from logs import get_logger

log = get_logger(__name__)

_NAME = re.compile(r"^(?P<number>\d{6,})-(?P<received>\d{8}T\d{6}\.\d{6}Z)\.eml$")
_STAMP = "%Y%m%dT%H%M%S.%fZ"


@dataclass(frozen=True)
class StoredMail:
    number: int
    path: Path
    received_at: datetime
    sender: str  # the envelope sender (MAIL FROM)
    recipients: tuple[str, ...]  # the envelope recipients (RCPT TO)
    subject: str  # decoded from RFC 2047
    event_id: str | None
    event_type: str | None


def stored_messages(folder: Path) -> list[StoredMail]:
    """The messages in `folder`, in the order they arrived; none when the folder does not exist."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        named = _NAME.match(path.name)
        if named is None:
            continue
        with path.open("rb") as file:
            headers = BytesHeaderParser(policy=default_policy).parse(file)
        received = datetime.strptime(named["received"], _STAMP).replace(tzinfo=UTC)
        found.append(
            StoredMail(
                number=int(named["number"]),
                path=path,
                received_at=received,
                sender=str(headers.get("Return-Path", "")).strip("<>"),
                recipients=_addresses(str(headers.get("X-Envelope-To", ""))),
                subject=str(headers.get("Subject", "")),
                event_id=_optional(headers.get("X-Cyberins-Event-Id")),
                event_type=_optional(headers.get("X-Cyberins-Event-Type")),
            )
        )
    return sorted(found, key=lambda mail: mail.number)


def _addresses(listed: str) -> tuple[str, ...]:
    return tuple(address.strip() for address in listed.split(",") if address.strip())


def _optional(header: object) -> str | None:
    return str(header) if header is not None else None


def _last_number(folder: Path) -> int:
    numbers = (int(named["number"]) for path in folder.iterdir() if (named := _NAME.match(path.name)))
    return max(numbers, default=0)


class _StoreEachMessage:
    """The aiosmtpd handler: runs on the controller's one event loop thread, so one message at a time
    reaches the counter."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.last_number = _last_number(folder)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's name
        recipients = ", ".join(envelope.rcpt_tos)
        added = f"Return-Path: <{envelope.mail_from or ''}>\r\nX-Envelope-To: {recipients}\r\n"
        content = envelope.original_content or envelope.content
        try:
            path = self._store(added.encode("utf-8") + content)
        except OSError as error:
            log.warning("mail_sink_could_not_store", folder=str(self.folder), error=str(error))
            return "451 4.3.0 could not store the message, try again later"
        log.info("mail_sink_stored", file=path.name, recipients=len(envelope.rcpt_tos))
        return "250 2.0.0 stored"

    def _store(self, data: bytes) -> Path:
        number = self.last_number + 1
        received = datetime.now(UTC).strftime(_STAMP)
        path = self.folder / f"{number:06d}-{received}.eml"
        # Written beside its final name and renamed: a reader never sees half a message.
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".incoming-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.last_number = number
        return path


class MailSink:
    """An SMTP server on host:port in a thread of its own, storing into `folder`."""

    def __init__(self, folder: Path, *, host: str = "127.0.0.1", port: int) -> None:
        self.folder = folder
        self.host = host
        self.port = port
        self._controller: Any = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> None:
        """Listening once this returns; raises OSError when the port is taken."""
        from aiosmtpd.controller import Controller  # only the sink's users pay for aiosmtpd

        if self._controller is not None:
            raise RuntimeError(f"the mail sink on {self.url} already runs")
        self.folder.mkdir(parents=True, exist_ok=True)
        controller = Controller(
            _StoreEachMessage(self.folder),
            hostname=self.host,
            port=self.port,
            # A fixed name: otherwise aiosmtpd asks the resolver for this host's FQDN, which can stall.
            server_hostname="cyberins-mail-sink",
        )
        try:
            controller.start()
        except BaseException:
            controller.stop(no_assert=True)
            if not controller.loop.is_closed():
                controller.loop.close()
            raise
        self._controller = controller
        log.info("mail_sink_started", url=self.url, folder=str(self.folder))

    def stop(self) -> None:
        """Stops listening; a sink that is not running is left as it is."""
        if self._controller is None:
            return
        controller, self._controller = self._controller, None
        controller.stop()
        log.info("mail_sink_stopped", url=self.url)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
