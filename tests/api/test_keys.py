"""API keys: shown once, stored as a hash, checked in constant time."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.keys import KeyFormatError, issue_key, parse_token, secret_matches


def test_an_issued_key_verifies_and_only_its_hash_is_kept():
    issued = issue_key()
    key_id, secret = parse_token(issued.token)
    assert key_id == issued.key_id
    assert secret not in issued.secret_hash and len(issued.secret_hash) == 64
    assert secret_matches(secret, issued.secret_hash)


def test_another_keys_secret_does_not_match():
    first, second = issue_key(), issue_key()
    assert first.key_id != second.key_id
    assert not secret_matches(parse_token(second.token)[1], first.secret_hash)


@pytest.mark.parametrize("token", ["", "cyk_", "Bearer x", "cyk_short_secret", issue_key().token + "x"])
def test_a_malformed_token_is_refused(token):
    with pytest.raises(KeyFormatError):
        parse_token(token)


@given(st.text(max_size=120))
def test_no_string_crashes_the_parser(token):
    try:
        parse_token(token)
    except KeyFormatError:
        pass
