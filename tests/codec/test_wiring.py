"""Which data converter a client gets from the settings: no servers."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from temporalio.converter import DefaultFailureConverter, DefaultFailureConverterWithEncodedAttributes

from codec.converter import boundary_data_converter
from codec.keyring import ensure_file
from codec.wiring import PayloadKeysMissing, configured_keyring, data_converter_for
from settings import Settings
from tests.codec.keys import encrypting_settings, keyring

DEV = "127.0.0.1:27999"


def test_keys_give_the_pydantic_converter_with_the_codec_and_encoded_failures(tmp_path) -> None:
    converter = data_converter_for(
        encrypting_settings(keyring("k1"), state_dir=tmp_path), "prod.example:7233"
    )
    assert converter.payload_converter_class is boundary_data_converter.payload_converter_class
    assert converter.payload_codec is not None and converter.payload_codec.encrypts
    # message and stack trace moved into an encrypted payload
    assert isinstance(converter.failure_converter, DefaultFailureConverterWithEncodedAttributes)


def test_no_keys_leave_the_converter_unchanged(tmp_path) -> None:
    assert (
        data_converter_for(Settings(state_dir=tmp_path, encrypt_payloads=None, payload_keys=None), DEV)
        is boundary_data_converter
    )


def test_encryption_demanded_without_keys_refuses_to_connect(tmp_path) -> None:
    with pytest.raises(PayloadKeysMissing, match="CYBERINS_PAYLOAD_KEYS"):
        data_converter_for(Settings(state_dir=tmp_path, encrypt_payloads=True, payload_keys=None), DEV)


def test_encryption_off_with_keys_decrypts_only(tmp_path) -> None:
    settings = encrypting_settings(keyring("k1"), state_dir=tmp_path).model_copy(
        update={"encrypt_payloads": False}
    )
    converter = data_converter_for(settings, DEV)
    assert converter.payload_codec is not None and not converter.payload_codec.encrypts
    assert type(converter.failure_converter) is DefaultFailureConverter


def test_the_dev_stack_keyring_is_used_only_for_the_dev_stack_server(tmp_path) -> None:
    ring = ensure_file(tmp_path / "payload-keys.json")
    settings = Settings(state_dir=tmp_path, encrypt_payloads=None, payload_keys=None, payload_key_id=None)
    assert configured_keyring(settings, DEV) is None  # no stack runs from this folder
    (tmp_path / "temporal.address").write_text(DEV + "\n")
    assert configured_keyring(settings, DEV) == ring
    assert configured_keyring(settings, "localhost:27999") == ring
    assert configured_keyring(settings, "127.0.0.1:27998") is None  # a test's own server stays plain
    assert configured_keyring(settings, "temporal.example:27999") is None


def test_explicit_keys_win_over_the_dev_stack_keyring(tmp_path) -> None:
    ensure_file(tmp_path / "payload-keys.json")
    (tmp_path / "temporal.address").write_text(DEV)
    mine = keyring("mine")
    assert configured_keyring(encrypting_settings(mine, state_dir=tmp_path), DEV) == mine


def test_keys_are_secret_in_the_settings_repr(tmp_path) -> None:
    settings = encrypting_settings(keyring("k1"), state_dir=tmp_path, codec_token=SecretStr("operator-token"))
    assert "k1:" not in repr(settings) and "operator-token" not in repr(settings)
