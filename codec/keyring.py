"""AES-256 payload keys: one active key encrypts, every key in the ring decrypts.

Rotation: add a new key, make it active, keep the old ones as long as any history (or retention
period) may still hold payloads encrypted with them. A key removed from the ring makes those
payloads unreadable, on purpose: decoding fails closed.

Two ways to give the keys (CYBERINS_PAYLOAD_KEYS):
- a path to a JSON file `{"active": "k2", "keys": {"k1": "<base64>", "k2": "<base64>"}}`;
- inline, `k2:<base64>,k1:<base64>`: the first listed is active.
CYBERINS_PAYLOAD_KEY_ID chooses another active key in either case.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from logs import get_logger

log = get_logger(__name__)

KEY_BYTES = 32  # AES-256
KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class KeyringError(ValueError):
    """The keys cannot be used; the message names the problem, never a key."""


@dataclass(frozen=True)
class Keyring:
    active: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyringError("the keyring holds no keys")
        for key_id, key in self.keys.items():
            if not KEY_ID.match(key_id):
                raise KeyringError(f"key id {key_id!r} is not 1 to 64 letters, digits, '.', '_' or '-'")
            if len(key) != KEY_BYTES:
                raise KeyringError(f"key {key_id} has {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        if self.active not in self.keys:
            raise KeyringError(
                f"the active key {self.active!r} is not in the keyring ({', '.join(self.keys)})"
            )

    def with_active(self, key_id: str | None) -> Keyring:
        return self if key_id is None or key_id == self.active else Keyring(active=key_id, keys=self.keys)

    @classmethod
    def generate(cls) -> Keyring:
        key_id = f"k{time.strftime('%Y%m%d')}-{secrets.token_hex(3)}"
        return cls(active=key_id, keys={key_id: secrets.token_bytes(KEY_BYTES)})

    def to_json(self) -> str:
        encoded = {key_id: base64.b64encode(key).decode() for key_id, key in self.keys.items()}
        return json.dumps({"active": self.active, "keys": encoded}, indent=2) + "\n"


def _key(key_id: str, text: object, where: str) -> bytes:
    if not isinstance(text, str):
        raise KeyringError(f"key {key_id} in {where} is not a base64 string")
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"key {key_id} in {where} is not valid base64") from None


def parse_inline(text: str) -> Keyring:
    """`kid:base64key,kid2:base64key`, the first one active."""
    keys: dict[str, bytes] = {}
    for entry in (part.strip() for part in text.split(",")):
        key_id, separator, encoded = entry.partition(":")
        if not separator or not key_id.strip():
            raise KeyringError(
                "CYBERINS_PAYLOAD_KEYS is neither an existing keyring file nor a list of key-id:base64-key"
            )
        key_id = key_id.strip()
        if key_id in keys:
            raise KeyringError(f"key id {key_id} is listed twice")
        keys[key_id] = _key(key_id, encoded, "CYBERINS_PAYLOAD_KEYS")
    return Keyring(active=next(iter(keys)), keys=keys)


def read_file(path: Path) -> Keyring:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise KeyringError(f"cannot read the keyring {path}: {error.strerror}") from None
    except ValueError:
        raise KeyringError(f"the keyring {path} is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), dict):
        raise KeyringError(
            f'the keyring {path} must be {{"active": "<key id>", "keys": {{"<key id>": "<base64>"}}}}'
        )
    keys = {
        str(key_id): _key(str(key_id), encoded, str(path)) for key_id, encoded in document["keys"].items()
    }
    active = document.get("active")
    if not isinstance(active, str):
        raise KeyringError(f'the keyring {path} names no "active" key')
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("payload_keyring_readable_by_others", path=str(path))
    return Keyring(active=active, keys=keys)


def load(spec: str, active: str | None = None) -> Keyring:
    """CYBERINS_PAYLOAD_KEYS (a file or inline keys) with CYBERINS_PAYLOAD_KEY_ID applied."""
    spec = spec.strip()
    path = Path(spec).expanduser()
    keyring = read_file(path) if ":" not in spec or path.is_file() else parse_inline(spec)
    return keyring.with_active(active)


def _write_private(path: Path, text: str) -> bool:
    """Create `path` readable by its owner only; False when it exists already (another run won)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    return True


def ensure_file(path: Path) -> Keyring:
    """The dev stack's keyring: generated on first use (mode 0600), then read as it is."""
    if _write_private(path, Keyring.generate().to_json()):
        log.info("payload_keyring_created", path=str(path))
    return read_file(path)


def ensure_token(path: Path) -> str:
    """The dev stack's codec server token: generated on first use (mode 0600)."""
    _write_private(path, secrets.token_urlsafe(32) + "\n")
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise KeyringError(f"{path} is empty; delete it and a new token is made")
    return token
