"""Ids, tracking tokens and API keys (chalicelib/ids.py). Pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import ids
from chalicelib.ids import TokenSigner, TrackingTarget

pytestmark = pytest.mark.disable_socket

SECRET = b"unit-test-token-secret-32-bytes!"
# The base64url alphabet, in order.
URLSAFE = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
TOKEN_LENGTH = 58
INVOICE_ID = re.compile(r"^inv_[a-z2-7]{26}$")
RECIPIENT_ID = re.compile(r"^rcp_[a-z2-7]{16}$")


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(SECRET)


def _b32_ids() -> st.SearchStrategy[tuple[str, str]]:
    def to_ids(raw: tuple[bytes, bytes]) -> tuple[str, str]:
        return (
            "inv_" + base64.b32encode(raw[0]).decode().rstrip("=").lower(),
            "rcp_" + base64.b32encode(raw[1]).decode().rstrip("=").lower(),
        )

    return st.tuples(st.binary(min_size=16, max_size=16), st.binary(min_size=10, max_size=10)).map(
        to_ids
    )


# -- ids ------------------------------------------------------------------------------


def test_new_ids_have_their_documented_shape_and_are_unique() -> None:
    invoices = {ids.new_invoice_id() for _ in range(500)}
    recipients = {ids.new_recipient_id() for _ in range(500)}
    assert len(invoices) == 500
    assert len(recipients) == 500
    assert all(INVOICE_ID.match(i) for i in invoices)
    assert all(RECIPIENT_ID.match(r) for r in recipients)


def test_idempotency_ids_are_deterministic_per_account_and_key() -> None:
    first = TokenSigner(SECRET).invoice_id_for("acme", "order-42")
    assert first == TokenSigner(SECRET).invoice_id_for("acme", "order-42")
    assert INVOICE_ID.match(first)
    assert first != TokenSigner(SECRET).invoice_id_for("globex", "order-42")
    assert first != TokenSigner(SECRET).invoice_id_for("acme", "order-43")
    assert first != TokenSigner(SECRET[::-1]).invoice_id_for("acme", "order-42")


def test_idempotency_ids_do_not_collide_on_separator_shifts() -> None:
    # "ab" + "c" must not equal "a" + "bc".
    assert TokenSigner(SECRET).invoice_id_for("ab", "c") != TokenSigner(SECRET).invoice_id_for(
        "a", "bc"
    )


def test_idempotency_ids_are_valid_token_targets(signer: TokenSigner) -> None:
    invoice_id = TokenSigner(SECRET).invoice_id_for("acme", "order-42")
    recipient_id = ids.new_recipient_id()
    assert signer.verify(signer.token_for(invoice_id, recipient_id)) == TrackingTarget(
        invoice_id, recipient_id
    )


# -- tokens ---------------------------------------------------------------------------


def test_secret_must_be_at_least_16_bytes() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        TokenSigner(b"x" * 15)
    TokenSigner(b"x" * 16)


@settings(max_examples=200)
@given(pair=_b32_ids())
def test_token_round_trips(pair: tuple[str, str]) -> None:
    signer = TokenSigner(SECRET)
    invoice_id, recipient_id = pair
    token = signer.token_for(invoice_id, recipient_id)
    assert len(token) == TOKEN_LENGTH
    assert set(token) <= set(URLSAFE)
    assert signer.verify(token) == TrackingTarget(invoice_id, recipient_id)


def test_token_of_random_ids_round_trips(signer: TokenSigner) -> None:
    for _ in range(50):
        invoice_id, recipient_id = ids.new_invoice_id(), ids.new_recipient_id()
        token = signer.token_for(invoice_id, recipient_id)
        assert signer.verify(token) == TrackingTarget(invoice_id, recipient_id)


def test_tokens_differ_per_recipient_and_per_invoice(signer: TokenSigner) -> None:
    invoice_id = ids.new_invoice_id()
    a, b = ids.new_recipient_id(), ids.new_recipient_id()
    tokens = {
        signer.token_for(invoice_id, a),
        signer.token_for(invoice_id, b),
        signer.token_for(ids.new_invoice_id(), a),
    }
    assert len(tokens) == 3


def test_token_is_the_same_every_time(signer: TokenSigner) -> None:
    invoice_id, recipient_id = ids.new_invoice_id(), ids.new_recipient_id()
    assert signer.token_for(invoice_id, recipient_id) == signer.token_for(invoice_id, recipient_id)


def test_tampering_any_character_but_the_last_is_refused(signer: TokenSigner) -> None:
    token = signer.token_for(ids.new_invoice_id(), ids.new_recipient_id())
    for position in range(len(token) - 1):
        for replacement in URLSAFE:
            if replacement == token[position]:
                continue
            tampered = token[:position] + replacement + token[position + 1 :]
            assert signer.verify(tampered) is None, (position, replacement)


def test_tampering_the_last_character_changes_its_meaningful_bits_refused(
    signer: TokenSigner,
) -> None:
    token = signer.token_for(ids.new_invoice_id(), ids.new_recipient_id())
    # 43 bytes in 58 characters: the last character carries 2 bits plus 4 padding bits.
    high_bits = URLSAFE.index(token[-1]) >> 4
    for replacement in URLSAFE:
        if URLSAFE.index(replacement) >> 4 != high_bits:
            assert signer.verify(token[:-1] + replacement) is None, replacement


def test_tampering_the_last_character_at_all_is_refused(signer: TokenSigner) -> None:
    token = signer.token_for("inv_" + "a" * 26, "rcp_" + "b" * 16)
    accepted = [c for c in URLSAFE if c != token[-1] and signer.verify(token[:-1] + c) is not None]
    assert accepted == []


def _token_with_dash_or_underscore(signer: TokenSigner) -> str:
    for letter in "abcdefghijklmnopqrstuvwxyz234567":
        token = signer.token_for("inv_" + letter * 26, "rcp_" + "c" * 16)
        if "-" in token or "_" in token:
            return token
    raise AssertionError("no token with '-' or '_' among the candidates")


def test_standard_base64_spelling_of_a_token_is_refused(signer: TokenSigner) -> None:
    token = _token_with_dash_or_underscore(signer)
    respelled = token.replace("-", "+").replace("_", "/")
    assert respelled != token
    assert signer.verify(respelled) is None


def test_wrong_secret_is_refused(signer: TokenSigner) -> None:
    token = signer.token_for(ids.new_invoice_id(), ids.new_recipient_id())
    assert TokenSigner(b"another-secret-of-32-bytes-long!").verify(token) is None


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "=",
        "a",
        "not a token",
        "!" * TOKEN_LENGTH,
        "A" * TOKEN_LENGTH,
        "A" * 200,
        "A" * 100_000,
        "%00" * 20,
        "🙂" * TOKEN_LENGTH,
        "../../etc/passwd",
    ],
    ids=lambda g: f"{g[:12]!r}x{len(g)}",
)
def test_garbage_is_refused(signer: TokenSigner, garbage: str) -> None:
    assert signer.verify(garbage) is None


def test_truncated_extended_and_wrong_version_tokens_are_refused(signer: TokenSigner) -> None:
    token = signer.token_for(ids.new_invoice_id(), ids.new_recipient_id())
    assert signer.verify(token[:-1]) is None
    assert signer.verify(token[:-4]) is None
    assert signer.verify(token + "AAAA") is None
    raw = bytearray(base64.urlsafe_b64decode(token + "=="))
    raw[0] = 2  # an unknown token version, even with a valid MAC for it
    payload = bytes(raw[:-16])
    mac = hmac.new(SECRET, payload, hashlib.sha256).digest()[:16]
    forged = base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")
    assert signer.verify(forged) is None


@settings(max_examples=300)
@given(text=st.text(max_size=120))
def test_arbitrary_text_never_raises(text: str) -> None:
    assert TokenSigner(SECRET).verify(text) is None


def _unb32(text: str) -> bytes:
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


def test_token_carries_only_the_two_ids(signer: TokenSigner) -> None:
    invoice_id, recipient_id = ids.new_invoice_id(), ids.new_recipient_id()
    token = signer.token_for(invoice_id, recipient_id)
    assert len(token) == TOKEN_LENGTH  # fixed: nothing variable-length (number, email) inside
    raw = base64.urlsafe_b64decode(token + "==")
    # Every byte is accounted for: version, the two random ids, the MAC.
    assert len(raw) == 1 + 16 + 10 + 16
    assert raw[:1] == b"\x01"
    assert raw[1:17] == _unb32(invoice_id[4:])
    assert raw[17:27] == _unb32(recipient_id[4:])
    assert raw[27:] == hmac.new(SECRET, raw[:27], hashlib.sha256).digest()[:16]
    # So it decodes to no text: neither id in clear, and (every byte being accounted
    # for above) no address. A random id byte may well be 0x40 ("@"): checking for that
    # byte failed about one run in ten and proved nothing the accounting does not.
    assert invoice_id.encode() not in raw
    assert recipient_id.encode() not in raw


# -- API keys -------------------------------------------------------------------------


def test_api_keys_carry_at_least_128_random_bits() -> None:
    keys = [ids.new_api_key() for _ in range(200)]
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert key.startswith("sobre_")
        body = key.removeprefix("sobre_")
        assert set(body) <= set(URLSAFE)
        assert len(body) * 6 >= 128
        assert len(body) == 32  # token_urlsafe(24): 192 bits


def test_api_key_hash_is_stable_and_hex_sha256() -> None:
    key = "sobre_" + "x" * 32
    assert ids.hash_api_key(key) == ids.hash_api_key(key)
    assert re.fullmatch(r"[0-9a-f]{64}", ids.hash_api_key(key))
    assert ids.hash_api_key(key) != ids.hash_api_key(key + "y")
    # A known vector, so the stored hashes stay valid across releases.
    assert ids.hash_api_key("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
