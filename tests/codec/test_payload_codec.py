"""The AES-GCM payload codec and its keyring: no servers."""

from __future__ import annotations

import json
import stat

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from codec import keyring as keyrings
from codec.aes import (
    ENCODING,
    KEY_ID_METADATA,
    AesGcmPayloadCodec,
    PayloadDecryptionError,
    UnknownPayloadKey,
)
from codec.keyring import Keyring, KeyringError
from tests.builders import application
from tests.codec.keys import inline, keyring

SECRET = "MARKER-ACCOUNT-6222020200112233"


def plain(text: str = SECRET) -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([{"account": text}])[0]


async def test_a_payload_round_trips_and_its_ciphertext_hides_the_value() -> None:
    codec = AesGcmPayloadCodec(keyring("k1"))
    original = pydantic_data_converter.payload_converter.to_payloads([application()])[0]
    [encrypted] = await codec.encode([original])
    assert encrypted.metadata["encoding"] == ENCODING
    assert encrypted.metadata[KEY_ID_METADATA] == b"k1"
    assert set(encrypted.metadata) == {"encoding", KEY_ID_METADATA}  # the type names stay inside
    assert b"Test Manufacturing Co" not in encrypted.SerializeToString()
    assert await codec.decode([encrypted]) == [original]


async def test_each_encryption_uses_a_fresh_nonce() -> None:
    codec = AesGcmPayloadCodec(keyring("k1"))
    first, second = await codec.encode([plain(), plain()])
    assert first.data[:12] != second.data[:12] and first.data != second.data


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag"])
async def test_an_altered_payload_fails_instead_of_decoding(where: str) -> None:
    codec = AesGcmPayloadCodec(keyring("k1"))
    [encrypted] = await codec.encode([plain()])
    data = bytearray(encrypted.data)
    data[{"nonce": 0, "ciphertext": 20, "tag": -1}[where]] ^= 0x01
    encrypted.data = bytes(data)
    with pytest.raises(PayloadDecryptionError, match="fails authentication"):
        await codec.decode([encrypted])


async def test_a_truncated_payload_fails() -> None:
    codec = AesGcmPayloadCodec(keyring("k1"))
    [encrypted] = await codec.encode([plain()])
    encrypted.data = encrypted.data[:20]
    with pytest.raises(PayloadDecryptionError, match="too short"):
        await codec.decode([encrypted])


async def test_an_unknown_key_id_fails_closed() -> None:
    [encrypted] = await AesGcmPayloadCodec(keyring("old")).encode([plain()])
    other = AesGcmPayloadCodec(keyring("new"))
    with pytest.raises(UnknownPayloadKey, match="'old'"):
        await other.decode([encrypted])
    del encrypted.metadata[KEY_ID_METADATA]
    with pytest.raises(UnknownPayloadKey):
        await other.decode([encrypted])


async def test_the_same_key_id_with_another_key_fails() -> None:
    [encrypted] = await AesGcmPayloadCodec(keyring("k1")).encode([plain()])
    with pytest.raises(PayloadDecryptionError):
        await AesGcmPayloadCodec(keyring("k1")).decode([encrypted])


async def test_rotation_keeps_old_payloads_readable_and_encrypts_new_ones_with_the_new_key() -> None:
    ring = keyring("k1", "k2", active="k1")
    [before] = await AesGcmPayloadCodec(ring).encode([plain("before rotation")])
    rotated = AesGcmPayloadCodec(ring.with_active("k2"))
    [after] = await rotated.encode([plain("after rotation")])
    assert before.metadata[KEY_ID_METADATA] == b"k1" and after.metadata[KEY_ID_METADATA] == b"k2"
    assert await rotated.decode([before, after]) == [plain("before rotation"), plain("after rotation")]
    retired = AesGcmPayloadCodec(Keyring(active="k2", keys={"k2": ring.keys["k2"]}))
    with pytest.raises(UnknownPayloadKey):
        await retired.decode([before])


async def test_plaintext_payloads_pass_through_decoding_and_encrypted_ones_are_not_wrapped_twice() -> None:
    codec = AesGcmPayloadCodec(keyring("k1"))
    old = plain("recorded before encryption")
    assert await codec.decode([old]) == [old]
    [encrypted] = await codec.encode([old])
    assert await codec.encode([encrypted]) == [encrypted]


async def test_with_encryption_off_new_payloads_stay_plain_and_old_ones_still_decrypt() -> None:
    ring = keyring("k1")
    [encrypted] = await AesGcmPayloadCodec(ring).encode([plain()])
    decrypt_only = AesGcmPayloadCodec(ring, encrypt=False)
    assert await decrypt_only.encode([plain()]) == [plain()]
    assert await decrypt_only.decode([encrypted]) == [plain()]


def test_inline_keys_parse_with_the_first_active_and_a_chosen_one() -> None:
    ring = keyring("k2", "k1")
    assert keyrings.load(inline(ring)) == ring
    assert keyrings.load(inline(ring), "k1").active == "k1"
    with pytest.raises(KeyringError, match="'k9' is not in the keyring"):
        keyrings.load(inline(ring), "k9")


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("k1:not base64!", "not valid base64"),
        ("k1:" + "QUFB", "has 3 bytes"),
        ("k 1:" + "A" * 44, "is not 1 to 64"),
        (":" + "A" * 44, "neither an existing keyring file"),
        ("/no/such/keyring.json", "cannot read the keyring"),
    ],
)
def test_unusable_keys_are_refused_with_a_reason_and_without_the_key(spec: str, problem: str) -> None:
    with pytest.raises(KeyringError, match=problem) as refused:
        keyrings.load(spec)
    assert "QUFB" not in str(refused.value)


def test_a_keyring_file_is_made_once_private_and_read_back(tmp_path) -> None:
    path = tmp_path / "state" / "payload-keys.json"
    made = keyrings.ensure_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keyrings.ensure_file(path) == made  # not replaced: the histories need the same keys
    assert keyrings.load(str(path)) == made
    document = json.loads(path.read_text())
    assert document["active"] == made.active and len(document["keys"]) == 1
    assert repr(made) == f"Keyring(active={made.active!r})"  # the keys never reach a log line


def test_a_malformed_keyring_file_is_named(tmp_path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"active": "k1", "keys": []}')
    with pytest.raises(KeyringError, match=str(path)):
        keyrings.load(str(path))
    path.write_text("not json")
    with pytest.raises(KeyringError, match="not JSON"):
        keyrings.load(str(path))


def test_the_codec_token_is_made_once_and_private(tmp_path) -> None:
    path = tmp_path / "codec-token"
    token = keyrings.ensure_token(path)
    assert len(token) >= 40 and keyrings.ensure_token(path) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
