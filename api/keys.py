"""API keys for the three parties: shown once at issue, stored only as a hash, compared in constant time.

A token reads `cyk_<key id>_<secret>`. The key id finds the stored row without scanning; the secret is
32 random bytes, so a plain SHA-256 of it is safe to store (no password-style stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "cyk_"
_TOKEN = re.compile(r"^cyk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")


class KeyFormatError(ValueError):
    pass


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    token: str  # give to the party once; never stored
    secret_hash: str  # store this


def issue_key() -> IssuedKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return IssuedKey(key_id=key_id, token=f"{PREFIX}{key_id}_{secret}", secret_hash=hash_secret(secret))


def parse_token(token: str) -> tuple[str, str]:
    """(key id, secret) of a well-formed token; KeyFormatError says only that the format is wrong."""
    match = _TOKEN.match(token.strip())
    if match is None:
        raise KeyFormatError("an API key looks like cyk_<12 characters>_<43 characters>")
    return match.group(1), match.group(2)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
