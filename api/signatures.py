"""Standard Webhooks signatures on vendor pushes (webhook-id, webhook-timestamp, webhook-signature).

The signed content is `{id}.{timestamp}.{body}`, HMAC-SHA256 under a `whsec_` base64 secret, sent as
space-separated `v1,<base64>` entries. Several secrets may be active at once so that a vendor rotates
its secret without downtime. Pure standard library: the web layer only passes headers and bytes in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60
MAX_ID_LENGTH = 256
MAX_SIGNATURES = 8


class SignatureError(ValueError):
    """The push is not accepted; `code` is stable for clients, the message says what is wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def decode_secret(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is `whsec_` followed by base64") from None
    if len(key) < 16:
        raise ValueError("a webhook secret must hold at least 16 bytes")
    return key


def sign(secret: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(headers: Mapping[str, str], body: bytes, secrets: Sequence[bytes], *, now: int) -> str:
    """The webhook id of a genuine, fresh push; SignatureError otherwise. `headers` keys are lower case."""
    webhook_id = _header(headers, "webhook-id")
    if len(webhook_id) > MAX_ID_LENGTH or not webhook_id.isprintable():
        raise SignatureError("malformed_webhook_id", f"webhook-id must be printable and at most {MAX_ID_LENGTH} characters")
    raw_timestamp = _header(headers, "webhook-timestamp")
    if not (raw_timestamp.isascii() and raw_timestamp.isdigit()) or len(raw_timestamp) > 12:
        raise SignatureError("malformed_timestamp", "webhook-timestamp must be whole seconds since 1970")
    timestamp = int(raw_timestamp)
    if timestamp < now - TOLERANCE_SECONDS:
        raise SignatureError("timestamp_too_old", f"webhook-timestamp is more than {TOLERANCE_SECONDS} s old")
    if timestamp > now + TOLERANCE_SECONDS:
        raise SignatureError("timestamp_in_future", f"webhook-timestamp is more than {TOLERANCE_SECONDS} s ahead")
    offered = _signatures(_header(headers, "webhook-signature"))
    matched = False
    # Every candidate is compared, in constant time, so timing says nothing about which part matched.
    for secret in secrets:
        expected = sign(secret, webhook_id, timestamp, body).removeprefix("v1,").encode()
        for candidate in offered:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("bad_signature", "webhook-signature does not match the body under any active secret")
    return webhook_id


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None or not value.strip():
        raise SignatureError("missing_header", f"the {name} header is required")
    return value.strip()


def _signatures(header: str) -> list[bytes]:
    entries = header.split()
    if len(entries) > MAX_SIGNATURES:
        raise SignatureError("malformed_signature", f"at most {MAX_SIGNATURES} signatures are accepted")
    offered = []
    for entry in entries:
        version, _, value = entry.partition(",")
        if version != "v1":
            continue  # other schemes (e.g. v1a) may stand beside ours; they are not ours to check
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError("malformed_signature", "a v1 signature must be base64") from None
        offered.append(value.encode())
    if not offered:
        raise SignatureError("malformed_signature", "webhook-signature holds no v1 signature")
    return offered
