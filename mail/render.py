"""An event as a short e-mail: plain text and HTML from the templates beside this module, in Chinese or
English.

The message holds the event's title, type, object, time, the payload handed in and the event id, and
nothing else: the caller has already cut the payload down to what this recipient may see.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from domain.notifications import BY_NAME

LANGUAGES = ("zh", "en")
CHINA_TIME = ZoneInfo("Asia/Shanghai")

_URGENT_PREFIX = {"zh": "[紧急] ", "en": "[URGENT] "}

# What an event is about, as the recipient reads it; an unknown subject is shown as it is.
_SUBJECT_LABELS = {
    "zh": {
        "policy": "保单",
        "incident": "事故",
        "claim": "理赔",
        "qualification": "资质",
        "pilot_deadline": "试点报送期限",
        "endpoint": "Webhook 端点",
        "delivery": "通知投递",
    },
    "en": {
        "policy": "policy",
        "incident": "incident",
        "claim": "claim",
        "qualification": "qualification",
        "pilot_deadline": "pilot deadline",
        "endpoint": "webhook endpoint",
        "delivery": "delivery",
    },
}

_templates = Environment(
    loader=PackageLoader("mail", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,  # a misspelt variable fails the render instead of leaving a gap
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class MailEvent:
    """One event as one recipient is told of it."""

    event_id: str  # e.g. "msg_...": also the webhook-id, and listed by GET /v1/events
    event_type: str  # dotted name, e.g. "incident.dispatch.requested"
    # what it is about: policy, incident, claim, qualification, pilot_deadline, endpoint, delivery
    subject: str
    subject_id: str | None
    occurred_at: datetime
    urgent: bool
    payload: dict[str, object]  # already filtered to what the recipient may see
    recipient_kind: str  # insured, vendor, insurer, platform, operator

    def __post_init__(self) -> None:
        # A naive time would be shown in whatever zone the sending host runs in.
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must carry its time zone")


def render_event(
    event: MailEvent, *, language: str = "zh", to: str, sender: str, fallback: bool = False
) -> EmailMessage:
    """The e-mail telling `to` of `event`: multipart/alternative, plain text first.

    `fallback` says the message stands in for a webhook that could not be reached in time. The
    Message-ID depends only on the event and the recipient, so a resend can be recognised as one.
    """
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    title = _title(event.event_type, language)
    context = {
        "title": title,
        "urgent": event.urgent,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "subject_label": _SUBJECT_LABELS[language].get(event.subject, event.subject),
        "subject_id": event.subject_id,
        "occurred": _shown_time(event.occurred_at, language),
        "payload": [(key, _shown_value(value)) for key, value in event.payload.items()],
        "fallback": fallback,
    }
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = _subject_line(event, title, language)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id(event.event_id, to)
    message["X-Cyberins-Event-Id"] = event.event_id
    message["X-Cyberins-Event-Type"] = event.event_type
    # Tells mail servers and clients not to answer it (RFC 3834): nobody reads replies to it.
    message["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps every line 7-bit, so no relay on the way needs 8BITMIME.
    plain = _templates.get_template(f"event.{language}.txt").render(context)
    html = _templates.get_template(f"event.{language}.html").render(context)
    message.set_content(plain, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message


def message_id(event_id: str, to: str) -> str:
    """Stable per event and recipient; the address is hashed so the id does not disclose it."""
    digest = hashlib.sha256(to.strip().lower().encode()).hexdigest()[:12]
    return f"<{event_id}.{digest}@cyberins>"


def _title(event_type: str, language: str) -> str:
    known = BY_NAME.get(event_type)
    if known is None:
        return event_type
    return known.title_zh if language == "zh" else known.title_en


def _subject_line(event: MailEvent, title: str, language: str) -> str:
    line = (_URGENT_PREFIX[language] if event.urgent else "") + title
    if event.subject_id:
        label = _SUBJECT_LABELS[language].get(event.subject, event.subject)
        line += f"（{label} {event.subject_id}）" if language == "zh" else f" ({label} {event.subject_id})"
    return line


def _shown_time(moment: datetime, language: str) -> str:
    if language == "zh":
        return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S") + "（北京时间，Asia/Shanghai）"
    return moment.astimezone(UTC).isoformat(timespec="seconds") + " (UTC)"


def _shown_value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)
