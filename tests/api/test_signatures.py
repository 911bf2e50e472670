"""Standard Webhooks verification of vendor pushes: genuine, fresh, once-signed bodies only."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.signatures import SignatureError, decode_secret, sign, verify

# The specification's published test vector: other libraries verify what we verify.
VECTOR_SECRET = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
VECTOR_ID, VECTOR_TIME, VECTOR_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
NOW = 1_790_000_000


def headers(secret: bytes = VECTOR_SECRET, *, webhook_id="wh-1", timestamp=NOW, body=b"{}", signature=None):
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature or sign(secret, webhook_id, timestamp, body),
    }


def test_the_published_test_vector_signs_and_verifies():
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIME, VECTOR_BODY) == VECTOR_SIGNATURE
    pushed = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIME), "webhook-signature": VECTOR_SIGNATURE}
    assert verify(pushed, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_TIME) == VECTOR_ID


def test_a_changed_body_or_another_secret_fails():
    pushed = headers(body=b'{"amount": 1}')
    with pytest.raises(SignatureError) as changed:
        verify(pushed, b'{"amount": 2}', [VECTOR_SECRET], now=NOW)
    assert changed.value.code == "bad_signature"
    with pytest.raises(SignatureError):
        verify(pushed, b'{"amount": 1}', [os.urandom(32)], now=NOW)


def test_rotation_accepts_the_old_and_the_new_secret_while_both_are_active():
    old, new = os.urandom(32), os.urandom(32)
    assert verify(headers(old), b"{}", [new, old], now=NOW) == "wh-1"
    assert verify(headers(new), b"{}", [new, old], now=NOW) == "wh-1"
    # Several signatures in one header (a sender mid-rotation): any valid one will do.
    both = f"{sign(os.urandom(32), 'wh-1', NOW, b'{}')} {sign(new, 'wh-1', NOW, b'{}')}"
    assert verify(headers(signature=both), b"{}", [new], now=NOW) == "wh-1"


@pytest.mark.parametrize(("skew", "code"), [(-301, "timestamp_too_old"), (301, "timestamp_in_future")])
def test_timestamps_past_five_minutes_either_way_fail(skew, code):
    with pytest.raises(SignatureError) as err:
        verify(headers(timestamp=NOW + skew), b"{}", [VECTOR_SECRET], now=NOW)
    assert err.value.code == code


@pytest.mark.parametrize("skew", [-300, 300])
def test_exactly_five_minutes_is_still_accepted(skew):
    assert verify(headers(timestamp=NOW + skew), b"{}", [VECTOR_SECRET], now=NOW) == "wh-1"


@pytest.mark.parametrize(
    ("broken", "code"),
    [
        ({"webhook-id": ""}, "missing_header"),
        ({"webhook-timestamp": "yesterday"}, "malformed_timestamp"),
        ({"webhook-timestamp": "-5"}, "malformed_timestamp"),
        ({"webhook-timestamp": "\u00b2"}, "malformed_timestamp"),  # a Unicode digit is not a number of seconds
        ({"webhook-timestamp": "9" * 40}, "malformed_timestamp"),
        ({"webhook-signature": "v1,***"}, "malformed_signature"),
        ({"webhook-signature": "v2,abc="}, "malformed_signature"),
        ({"webhook-signature": " ".join(["v1,AAAA"] * 9)}, "malformed_signature"),
        ({"webhook-id": "x" * 300}, "malformed_webhook_id"),
        ({"webhook-id": "line\nbreak"}, "malformed_webhook_id"),
    ],
)
def test_malformed_headers_say_what_is_wrong(broken, code):
    pushed = {**headers(), **broken}
    with pytest.raises(SignatureError) as err:
        verify(pushed, b"{}", [VECTOR_SECRET], now=NOW)
    assert err.value.code == code and str(err.value)


def test_a_missing_header_is_named():
    pushed = headers()
    del pushed["webhook-signature"]
    with pytest.raises(SignatureError, match="webhook-signature header is required"):
        verify(pushed, b"{}", [VECTOR_SECRET], now=NOW)


def test_secrets_must_be_base64_and_long_enough():
    with pytest.raises(ValueError, match="base64"):
        decode_secret("whsec_not base64!")
    with pytest.raises(ValueError, match="16 bytes"):
        decode_secret("whsec_AAAA")


header_text = st.text(max_size=300)


@settings(max_examples=2_000, deadline=None)
@given(webhook_id=header_text, timestamp=header_text, signature=header_text, body=st.binary(max_size=200))
def test_any_malformed_input_is_refused_with_a_signature_error_never_a_crash(webhook_id, timestamp, signature, body):
    pushed = {"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    with pytest.raises(SignatureError):
        verify(pushed, body, [VECTOR_SECRET], now=NOW)
