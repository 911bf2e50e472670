"""An event as an e-mail: subject, both parts, both languages, headers; nothing beyond its payload."""

from __future__ import annotations

from datetime import datetime

import pytest

from mail.render import render_event
from tests.mail.conftest import SENDER, dispatch_event

VENDOR = "duty@vendor.example"


def parts(message) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return plain, html


def test_chinese_message_has_the_title_object_and_china_time():
    message = render_event(dispatch_event(), language="zh", to=VENDOR, sender=SENDER)

    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "[紧急] 应急响应派单，请立即确认（事故 INC-2026-0042）"
    plain, html = parts(message)
    for part in (plain, html):
        assert "应急响应派单，请立即确认" in part
        assert "incident.dispatch.requested" in part
        assert "INC-2026-0042" in part
        assert "2026-12-01 18:30:00" in part  # 10:30 UTC in Asia/Shanghai
        assert "Asia/Shanghai" in part
        assert "msg_2Ns8fVZ7cQ1" in part
        assert "GET /v1/events" in part


def test_english_message_has_the_title_and_utc_time():
    message = render_event(dispatch_event(), language="en", to=VENDOR, sender=SENDER)

    assert message["Subject"] == (
        "[URGENT] Emergency response dispatched to you: acknowledge now (incident INC-2026-0042)"
    )
    plain, html = parts(message)
    for part in (plain, html):
        assert "Emergency response dispatched to you: acknowledge now" in part
        assert "2026-12-01T10:30:00+00:00 (UTC)" in part
        assert "webhook-id" in part
        assert "msg_2Ns8fVZ7cQ1" in part


def test_chinese_is_the_default_language():
    message = render_event(dispatch_event(), to=VENDOR, sender=SENDER)

    assert message["Subject"].startswith("[紧急] 应急响应派单")


def test_a_routine_event_has_no_urgent_prefix_and_one_without_an_object_names_none():
    routine = dispatch_event(
        event_type="qualification.granted", subject="qualification", subject_id=None, urgent=False, payload={}
    )

    assert render_event(routine, language="zh", to=VENDOR, sender=SENDER)["Subject"] == "资质已认定"
    in_english = render_event(routine, language="en", to=VENDOR, sender=SENDER)
    assert in_english["Subject"] == "The qualification is granted"


def test_an_unknown_event_type_is_titled_by_its_dotted_name():
    unknown = dispatch_event(event_type="incident.something.new", urgent=False)

    message = render_event(unknown, language="en", to=VENDOR, sender=SENDER)

    assert message["Subject"] == "incident.something.new (incident INC-2026-0042)"


def test_the_fallback_line_appears_only_for_a_fallback():
    as_fallback = parts(
        render_event(dispatch_event(), language="en", to=VENDOR, sender=SENDER, fallback=True)
    )
    on_its_own = parts(render_event(dispatch_event(), language="en", to=VENDOR, sender=SENDER))

    for part in as_fallback:
        assert "webhook endpoint could not be reached in time" in part
    for part in on_its_own:
        assert "could not be reached" not in part
    zh_plain, _ = parts(
        render_event(dispatch_event(), language="zh", to=VENDOR, sender=SENDER, fallback=True)
    )
    assert "未能及时送达您的 Webhook 端点" in zh_plain


def test_only_the_payload_handed_in_appears():
    event = dispatch_event(payload={"incident_id": "INC-2026-0042"}, recipient_kind="vendor")

    plain, html = parts(render_event(event, language="en", to=VENDOR, sender=SENDER))

    payload_lines = [line.strip() for line in plain.splitlines() if line.startswith("  - ")]
    assert payload_lines == ["- incident_id: INC-2026-0042"]
    assert html.count("<li>") == 1
    assert "vendor" not in plain  # whom it is for is not a thing the message tells


def test_payload_values_are_escaped_in_html_and_plain_in_text():
    event = dispatch_event(payload={"incident_id": "<script>alert(1)</script>"})

    plain, html = parts(render_event(event, language="en", to=VENDOR, sender=SENDER))

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "incident_id: <script>alert(1)</script>" in plain


def test_headers_name_the_event_and_the_message_id_is_stable_per_recipient():
    first = render_event(dispatch_event(), language="zh", to=VENDOR, sender=SENDER)
    resent = render_event(dispatch_event(), language="en", to=VENDOR, sender=SENDER, fallback=True)
    to_another = render_event(dispatch_event(), language="zh", to="other@vendor.example", sender=SENDER)

    assert first["From"] == SENDER
    assert first["To"] == VENDOR
    assert first["Date"] is not None
    assert first["X-Cyberins-Event-Id"] == "msg_2Ns8fVZ7cQ1"
    assert first["X-Cyberins-Event-Type"] == "incident.dispatch.requested"
    assert first["Message-ID"] == resent["Message-ID"]
    assert first["Message-ID"].startswith("<msg_2Ns8fVZ7cQ1.")
    assert first["Message-ID"].endswith("@cyberins>")
    assert first["Message-ID"] != to_another["Message-ID"]


def test_a_time_without_a_zone_and_an_unknown_language_are_refused():
    with pytest.raises(ValueError, match="time zone"):
        dispatch_event(occurred_at=datetime(2026, 12, 1, 10, 30))
    with pytest.raises(ValueError, match="language"):
        render_event(dispatch_event(), language="fr", to=VENDOR, sender=SENDER)
