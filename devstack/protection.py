"""Payload encryption in the dev stack: a keyring and an operator token kept in the state folder.

Both are made on the first `cyberins dev` (mode 0600) and kept, like the histories they protect:
deleting the keyring makes every encrypted payload in `.state/temporal.db` unreadable.
CYBERINS_PAYLOAD_KEYS and CYBERINS_CODEC_TOKEN, when set, are used instead. The token is for the
Temporal CLI and other programs; the dev stack's own UI decodes without it (api/codec_server.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from codec import keyring as keyrings
from codec.aes import AesGcmPayloadCodec
from codec.wiring import CODEC_TOKEN_FILE, KEYRING_FILE, payload_codec
from settings import Settings


@dataclass(frozen=True)
class DataProtection:
    codec: AesGcmPayloadCodec
    token: str
    keyring_file: Path | None  # None: the keys came from CYBERINS_PAYLOAD_KEYS
    token_file: Path | None  # None: the token came from CYBERINS_CODEC_TOKEN
    endpoint: str

    def describe_keys(self) -> str:
        mode = (
            "encrypted" if self.codec.encrypts else "written in plaintext (CYBERINS_ENCRYPT_PAYLOADS=false)"
        )
        source = str(self.keyring_file) if self.keyring_file else "CYBERINS_PAYLOAD_KEYS"
        return f"{mode}, AES-256-GCM, active key {self.codec.keyring.active}; keyring {source}"


def prepare(settings: Settings, state_dir: Path) -> tuple[Settings, DataProtection]:
    """The settings the stack's own clients use (keys named explicitly) and what the panel shows.
    Raises codec.keyring.KeyringError when the keys or token cannot be used."""
    keyring_file = None
    if settings.payload_keys is None:
        keyring_file = state_dir / KEYRING_FILE
        keyrings.ensure_file(keyring_file)
        settings = settings.model_copy(update={"payload_keys": SecretStr(str(keyring_file))})
    token_file = None
    if settings.codec_token is not None and settings.codec_token.get_secret_value().strip():
        token = settings.codec_token.get_secret_value().strip()
    else:
        token_file = state_dir / CODEC_TOKEN_FILE
        token = keyrings.ensure_token(token_file)
    codec = payload_codec(settings)
    assert codec is not None  # keys are named explicitly above
    return settings, DataProtection(codec, token, keyring_file, token_file, settings.codec_endpoint)
