"""The PayloadCodec that keeps personal and financial data out of Temporal: AES-256-GCM per payload.

An encrypted payload carries `encoding: binary/encrypted` and the id of its key in the metadata; its
data is a random 12-byte nonce followed by the ciphertext (with GCM's tag) of the whole original
payload, metadata included, so even the payload's type names stay inside.

Decoding fails closed: a payload naming a key we do not hold, or whose tag does not verify, raises
instead of being handed on. Payloads that are not encrypted pass through, so histories recorded
before encryption was turned on still replay and read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from codec.keyring import Keyring

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12


class PayloadDecryptionError(ValueError):
    """An encrypted payload that cannot be decrypted here: refused, never passed on."""

    code = "undecryptable_payload"


class UnknownPayloadKey(PayloadDecryptionError):
    code = "unknown_payload_key"


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCODING


class AesGcmPayloadCodec(PayloadCodec):
    """Encrypts with the keyring's active key; decrypts with whichever key a payload names.

    With `encrypt=False` (CYBERINS_ENCRYPT_PAYLOADS=false) new payloads are written in plaintext
    while those already encrypted still decrypt.
    """

    def __init__(self, keyring: Keyring, *, encrypt: bool = True) -> None:
        self.keyring = keyring
        self.encrypts = encrypt
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        # Already encrypted (a payload handed on as it came): a second layer would survive one decode.
        if not self.encrypts or is_encrypted(payload):
            return payload
        key_id = self.keyring.active
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), None)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if not is_encrypted(payload):
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode("utf-8", errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            known = ", ".join(self._ciphers)
            raise UnknownPayloadKey(
                f"payload encrypted with key {key_id!r}, which is not in the keyring ({known})"
            )
        if len(payload.data) < NONCE_BYTES + 16:
            raise PayloadDecryptionError(f"payload under key {key_id} is too short to be AES-GCM output")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            return Payload.FromString(cipher.decrypt(nonce, sealed, None))
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload under key {key_id} fails authentication (altered or wrong key)"
            ) from None
        except DecodeError:
            raise PayloadDecryptionError(
                f"payload under key {key_id} decrypts to something that is not a payload"
            ) from None
