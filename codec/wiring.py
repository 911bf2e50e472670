"""Which data converter a client gets: the pydantic converter, with the AES codec when keys are known.

Keys come from CYBERINS_PAYLOAD_KEYS. Without it, a command that talks to the dev stack of its state
folder uses that stack's keyring (`cyberins dev` writes it there and records the address its Temporal
server listens on), so `cyberins policy show` beside `make dev` needs no setting. A client of any
other server (the tests' own servers, production without keys) stays plain.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from codec import keyring as keyrings
from codec.aes import AesGcmPayloadCodec
from codec.converter import boundary_data_converter

if TYPE_CHECKING:
    from settings import Settings

KEYRING_FILE = "payload-keys.json"
CODEC_TOKEN_FILE = "codec-token"
TEMPORAL_ADDRESS_FILE = "temporal.address"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


class PayloadKeysMissing(ValueError):
    pass


def _same_local_address(left: str, right: str) -> bool:
    left_host, _, left_port = left.rpartition(":")
    right_host, _, right_port = right.rpartition(":")
    same_host = left_host == right_host or (left_host in _LOOPBACK and right_host in _LOOPBACK)
    return same_host and left_port == right_port


def dev_stack_serves(state_dir: Path, target_host: str) -> bool:
    """True when `target_host` is the Temporal server that the dev stack of `state_dir` runs."""
    try:
        recorded = (state_dir / TEMPORAL_ADDRESS_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return bool(recorded) and _same_local_address(recorded, target_host)


def configured_keyring(settings: Settings, target_host: str | None = None) -> keyrings.Keyring | None:
    """CYBERINS_PAYLOAD_KEYS, else the dev stack's keyring when `target_host` is that stack's server."""
    if settings.payload_keys is not None:
        return keyrings.load(settings.payload_keys.get_secret_value(), settings.payload_key_id)
    dev_keyring = settings.state_dir / KEYRING_FILE
    if (
        target_host is not None
        and dev_stack_serves(settings.state_dir, target_host)
        and dev_keyring.is_file()
    ):
        return keyrings.read_file(dev_keyring).with_active(settings.payload_key_id)
    return None


def payload_codec(settings: Settings, target_host: str | None = None) -> AesGcmPayloadCodec | None:
    """None when no keys are known and encryption is not demanded (CYBERINS_ENCRYPT_PAYLOADS unset)."""
    keyring = configured_keyring(settings, target_host)
    if keyring is None:
        if settings.encrypt_payloads:
            raise PayloadKeysMissing(
                "CYBERINS_ENCRYPT_PAYLOADS is on but no payload keys are configured: "
                "set CYBERINS_PAYLOAD_KEYS"
            )
        return None
    encrypt = True if settings.encrypt_payloads is None else settings.encrypt_payloads
    return AesGcmPayloadCodec(keyring, encrypt=encrypt)


def protected_data_converter(codec: AesGcmPayloadCodec | None) -> DataConverter:
    """Pydantic payloads through the codec; failure messages and stack traces moved into an encoded
    payload too, since an error can quote the value that caused it."""
    if codec is None:
        return boundary_data_converter
    if not codec.encrypts:
        return dataclasses.replace(boundary_data_converter, payload_codec=codec)
    return dataclasses.replace(
        boundary_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter_for(settings: Settings, target_host: str) -> DataConverter:
    return protected_data_converter(payload_codec(settings, target_host))
