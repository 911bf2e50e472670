"""Keys for the codec tests: fresh per run, never a real keyring."""

from __future__ import annotations

import base64
import secrets

from pydantic import SecretStr

from codec.keyring import Keyring
from settings import Settings


def new_key() -> bytes:
    return secrets.token_bytes(32)


def keyring(*key_ids: str, active: str | None = None) -> Keyring:
    ids = key_ids or ("k1",)
    return Keyring(active=active or ids[0], keys={key_id: new_key() for key_id in ids})


def inline(ring: Keyring) -> str:
    """CYBERINS_PAYLOAD_KEYS's inline form, the active key first."""
    ordered = [ring.active, *(key_id for key_id in ring.keys if key_id != ring.active)]
    return ",".join(f"{key_id}:{base64.b64encode(ring.keys[key_id]).decode()}" for key_id in ordered)


def encrypting_settings(ring: Keyring, **overrides) -> Settings:
    return Settings(payload_keys=SecretStr(inline(ring)), encrypt_payloads=True, **overrides)
