"""Handing a message to an SMTP server, and saying whether a failure is worth another try.

A 5xx reply is the server's final word (no such mailbox, relaying denied, bad credentials): sending
the same message again gets the same answer, so it is `permanent`. A refused or lost connection, a
timeout or a 4xx reply (greylisting, a full queue) may pass, so it is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal

import aiosmtplib


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # kept out of logs and tracebacks
    timeout_seconds: float = 30.0


class MailNotSent(Exception):
    """The server did not take the message. `permanent`: retrying the same message cannot help."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


async def send_mail(settings: SmtpSettings, message: EmailMessage) -> None:
    """Deliver `message` to its To/Cc/Bcc recipients through the server in `settings`.

    Raises MailNotSent for any failure to hand it over, including some recipients refused while
    others took it: a retry then may repeat it to those, which its stable Message-ID lets them drop.
    """
    where = f"{settings.host}:{settings.port}"
    try:
        refused, _ = await aiosmtplib.send(
            message,
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            use_tls=settings.security == "tls",
            # False, not None: with None aiosmtplib upgrades whenever offered, and "none" means plain.
            start_tls=settings.security == "starttls",
            timeout=settings.timeout_seconds,
        )
    # `from None` throughout: the library's exceptions carry the server's words, which are repeated
    # (scrubbed) in ours, and nothing of the login should travel further in a cause chain.
    except aiosmtplib.SMTPRecipientsRefused as error:
        codes = {recipient.recipient: recipient.code for recipient in error.recipients}
        raise _refused(where, codes, settings) from None
    except aiosmtplib.SMTPResponseException as error:
        raise MailNotSent(
            f"{where} answered {error.code} {_scrubbed(error.message, settings)}",
            permanent=_is_permanent(error.code),
            code=error.code,
        ) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        raise MailNotSent(
            f"could not hand the message to {where}: "
            f"{type(error).__name__}: {_scrubbed(str(error), settings)}",
            permanent=False,
        ) from None
    if refused:
        raise _refused(where, {address: code for address, (code, _) in refused.items()}, settings)


def _refused(where: str, codes: dict[str, int], settings: SmtpSettings) -> MailNotSent:
    # Permanent only when every refusal is: one 4xx among them is worth the retry.
    permanent = all(_is_permanent(code) for code in codes.values())
    listed = ", ".join(f"{_scrubbed(address, settings)} ({code})" for address, code in codes.items())
    return MailNotSent(
        f"{where} refused the recipients {listed}",
        permanent=permanent,
        code=max(codes.values(), default=None),
    )


def _is_permanent(code: int) -> bool:
    return 500 <= code < 600


def _scrubbed(text: str, settings: SmtpSettings) -> str:
    """A server may echo what it was sent; the password never reaches an exception message."""
    if settings.password:
        text = text.replace(settings.password, "***")
    return text
