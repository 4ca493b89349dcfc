"""Ids, tracking tokens and API keys (chalicelib/ids.py). Pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import ids
from chalicelib.ids import Keyring, NonceCheck, PageLoad, TokenSigner, TrackingTarget

pytestmark = pytest.mark.disable_socket

SECRET = b"unit-test-token-secret-32-bytes!"
# The base64url alphabet, in order.
URLSAFE = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
TOKEN_LENGTH = 59
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
    assert signer.verify(
        signer.token_for(invoice_id, recipient_id, "pixel"), "pixel"
    ) == TrackingTarget(invoice_id, recipient_id)


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
    token = signer.token_for(invoice_id, recipient_id, "pixel")
    assert len(token) == TOKEN_LENGTH
    assert set(token) <= set(URLSAFE)
    assert signer.verify(token, "pixel") == TrackingTarget(invoice_id, recipient_id)


def test_token_of_random_ids_round_trips(signer: TokenSigner) -> None:
    for _ in range(50):
        invoice_id, recipient_id = ids.new_invoice_id(), ids.new_recipient_id()
        token = signer.token_for(invoice_id, recipient_id, "pixel")
        assert signer.verify(token, "pixel") == TrackingTarget(invoice_id, recipient_id)


def test_tokens_differ_per_recipient_and_per_invoice(signer: TokenSigner) -> None:
    invoice_id = ids.new_invoice_id()
    a, b = ids.new_recipient_id(), ids.new_recipient_id()
    tokens = {
        signer.token_for(invoice_id, a, "pixel"),
        signer.token_for(invoice_id, b, "pixel"),
        signer.token_for(ids.new_invoice_id(), a, "pixel"),
    }
    assert len(tokens) == 3


def test_token_is_the_same_every_time(signer: TokenSigner) -> None:
    invoice_id, recipient_id = ids.new_invoice_id(), ids.new_recipient_id()
    assert signer.token_for(invoice_id, recipient_id, "pixel") == signer.token_for(
        invoice_id, recipient_id, "pixel"
    )


def test_tampering_any_character_but_the_last_is_refused(signer: TokenSigner) -> None:
    token = signer.token_for(ids.new_invoice_id(), ids.new_recipient_id(), "pixel")
    for position in range(len(token) - 1):
        for replacement in URLSAFE:
            if replacement == token[position]:
                continue
            tampered = token[:position] + replacement + token[position + 1 :]
            assert signer.verify(tampered, "pixel") is None, (position, replacement)


def test_tampering_the_last_character_changes_its_meaningful_bits_refused(
    signer: TokenSigner,
) -> None:
    token = signer.token_for(ids.new_invoice_id(), ids.new_recipient_id(), "pixel")
    # 44 bytes in 59 characters: the last character carries 4 bits plus 2 padding bits.
    high_bits = URLSAFE.index(token[-1]) >> 2
    for replacement in URLSAFE:
        if URLSAFE.index(replacement) >> 2 != high_bits:
            assert signer.verify(token[:-1] + replacement, "pixel") is None, replacement


def test_tampering_the_last_character_at_all_is_refused(signer: TokenSigner) -> None:
    token = signer.token_for("inv_" + "a" * 26, "rcp_" + "b" * 16, "pixel")
    accepted = [
        c for c in URLSAFE if c != token[-1] and signer.verify(token[:-1] + c, "pixel") is not None
    ]
    assert accepted == []


def _token_with_dash_or_underscore(signer: TokenSigner) -> str:
    for letter in "abcdefghijklmnopqrstuvwxyz234567":
        token = signer.token_for("inv_" + letter * 26, "rcp_" + "c" * 16, "pixel")
        if "-" in token or "_" in token:
            return token
    raise AssertionError("no token with '-' or '_' among the candidates")


def test_standard_base64_spelling_of_a_token_is_refused(signer: TokenSigner) -> None:
    token = _token_with_dash_or_underscore(signer)
    respelled = token.replace("-", "+").replace("_", "/")
    assert respelled != token
    assert signer.verify(respelled, "pixel") is None


def test_wrong_secret_is_refused(signer: TokenSigner) -> None:
    token = signer.token_for(ids.new_invoice_id(), ids.new_recipient_id(), "pixel")
    assert TokenSigner(b"another-secret-of-32-bytes-long!").verify(token, "pixel") is None


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
    assert signer.verify(garbage, "pixel") is None


def test_truncated_extended_and_wrong_version_tokens_are_refused(signer: TokenSigner) -> None:
    token = signer.token_for(ids.new_invoice_id(), ids.new_recipient_id(), "pixel")
    assert signer.verify(token[:-1], "pixel") is None
    assert signer.verify(token[:-4], "pixel") is None
    assert signer.verify(token + "AAAA", "pixel") is None
    raw = bytearray(base64.urlsafe_b64decode(token + "="))
    raw[0] = 3  # an unknown token version, even with a valid MAC for it
    payload = bytes(raw[:-16])
    forged = base64.urlsafe_b64encode(payload + _mac("pixel", payload)).decode().rstrip("=")
    assert signer.verify(forged, "pixel") is None


@settings(max_examples=300)
@given(text=st.text(max_size=120))
def test_arbitrary_text_never_raises(text: str) -> None:
    assert TokenSigner(SECRET).verify(text, "pixel") is None


def _unb32(text: str) -> bytes:
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


def _mac(purpose: str, payload: bytes, secret: bytes = SECRET) -> bytes:
    label = f"sobre/token/{purpose}\x00".encode()
    return hmac.new(secret, label + payload, hashlib.sha256).digest()[:16]


def test_token_carries_only_the_two_ids(signer: TokenSigner) -> None:
    invoice_id, recipient_id = ids.new_invoice_id(), ids.new_recipient_id()
    token = signer.token_for(invoice_id, recipient_id, "pixel")
    assert len(token) == TOKEN_LENGTH  # fixed: nothing variable-length (number, email) inside
    raw = base64.urlsafe_b64decode(token + "=")
    # Every byte is accounted for: version, key id, the two random ids, the MAC (whose
    # input also holds the purpose, which the token does not).
    assert len(raw) == 1 + 1 + 16 + 10 + 16
    assert raw[:2] == b"\x02\x01"
    assert raw[2:18] == _unb32(invoice_id[4:])
    assert raw[18:28] == _unb32(recipient_id[4:])
    assert raw[28:] == _mac("pixel", raw[:28])
    # So it decodes to no text: neither id in clear, and (every byte being accounted
    # for above) no address. A random id byte may well be 0x40 ("@"): checking for that
    # byte failed about one run in ten and proved nothing the accounting does not.
    assert invoice_id.encode() not in raw
    assert recipient_id.encode() not in raw


# -- purposes, key rotation, beacon nonces ---------------------------------------------

KEY_1, KEY_2 = b"first-key-of-the-keyring-32-byte", b"second-key-of-the-keyring-32-byt"
IDEM = b"idempotency-secret-that-stays-put"


def test_a_pixel_token_is_no_view_token_and_back(signer: TokenSigner) -> None:
    invoice_id, recipient_id = ids.new_invoice_id(), ids.new_recipient_id()
    pixel = signer.token_for(invoice_id, recipient_id, "pixel")
    view = signer.token_for(invoice_id, recipient_id, "view")
    assert pixel != view
    target = TrackingTarget(invoice_id, recipient_id)
    assert (signer.verify(pixel, "pixel"), signer.verify(view, "view")) == (target, target)
    assert (signer.verify(pixel, "view"), signer.verify(view, "pixel")) == (None, None)


def test_rotation_keeps_every_mailed_token_valid() -> None:
    invoice_id, recipient_id = ids.new_invoice_id(), ids.new_recipient_id()
    target = TrackingTarget(invoice_id, recipient_id)
    before = TokenSigner(Keyring({1: KEY_1}, 1, KEY_1))
    # Step 1: key 2 verifies everywhere; key 1 still signs.
    both_old = TokenSigner(Keyring({1: KEY_1, 2: KEY_2}, 1, KEY_1))
    # Step 2: key 2 signs.
    both_new = TokenSigner(Keyring({1: KEY_1, 2: KEY_2}, 2, KEY_1))
    mailed = before.token_for(invoice_id, recipient_id, "view")
    assert both_old.token_for(invoice_id, recipient_id, "view") == mailed
    fresh = both_new.token_for(invoice_id, recipient_id, "view")
    assert base64.urlsafe_b64decode(fresh + "=")[1] == 2  # the key id
    for signer in (both_old, both_new):  # a container still on step 1 accepts step 2's
        assert signer.verify(mailed, "view") == target
        assert signer.verify(fresh, "view") == target
    # Step 3, months later: key 1 retired; what it signed no longer opens anything.
    after = TokenSigner(Keyring({2: KEY_2}, 2, KEY_1))
    assert (after.verify(fresh, "view"), after.verify(mailed, "view")) == (target, None)
    # A token naming a key not in the keyring, with a MAC by a key that is: refused.
    raw = bytearray(base64.urlsafe_b64decode(fresh + "="))
    raw[1] = 7
    payload = bytes(raw[:-16])
    relabelled = base64.urlsafe_b64encode(payload + _mac("view", payload, KEY_2)).decode()
    assert both_new.verify(relabelled.rstrip("="), "view") is None


def test_tokens_mailed_before_keyrings_verify_while_key_1_is_kept() -> None:
    """Version 1: no key id, no purpose, one token for the pixel and the link."""
    invoice_id, recipient_id = ids.new_invoice_id(), ids.new_recipient_id()
    payload = b"\x01" + _unb32(invoice_id[4:]) + _unb32(recipient_id[4:])
    mac = hmac.new(KEY_1, payload, hashlib.sha256).digest()[:16]
    old = base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")
    assert len(old) == 58
    target = TrackingTarget(invoice_id, recipient_id)
    kept = TokenSigner(Keyring({1: KEY_1, 2: KEY_2}, 2, KEY_1))
    assert (kept.verify(old, "pixel"), kept.verify(old, "view")) == (target, target)
    assert TokenSigner(Keyring({2: KEY_2}, 2, KEY_1)).verify(old, "view") is None
    assert TokenSigner(KEY_2).verify(old, "pixel") is None
    assert kept.verify(old[:-2] + ("AA" if old[-2:] != "AA" else "BA"), "pixel") is None


def test_idempotency_ids_do_not_change_when_the_token_keys_rotate() -> None:
    plain = TokenSigner(KEY_1).invoice_id_for("acme", "order-42")
    rings = [
        Keyring({1: KEY_1}, 1, KEY_1),
        Keyring({1: KEY_1, 2: KEY_2}, 2, KEY_1),
        Keyring({2: KEY_2}, 2, KEY_1),
    ]
    assert {TokenSigner(r).invoice_id_for("acme", "order-42") for r in rings} == {plain}


def test_keyrings_parse_from_a_plain_secret_or_json() -> None:
    assert Keyring.parse(" " + KEY_1.decode() + "\n") == Keyring({1: KEY_1}, 1, KEY_1)
    ring = Keyring.parse(json.dumps({"keys": {"1": KEY_1.decode(), "2": KEY_2.decode()}}))
    assert ring == Keyring({1: KEY_1, 2: KEY_2}, 2, KEY_1)  # the newest signs by default
    staged = {"keys": {"1": KEY_1.decode(), "2": KEY_2.decode()}, "signing": 1}
    assert Keyring.parse(json.dumps(staged)).signing == 1
    retired = {"keys": {"2": KEY_2.decode()}, "idempotency": IDEM.decode()}
    assert Keyring.parse(json.dumps(retired)) == Keyring({2: KEY_2}, 2, IDEM)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"keys": {"2": "second-key-of-the-keyring-32-byt"}}', "idempotency"),
        ('{"keys": {}}', "no key"),
        ('{"keys": {"1": "short"}}', "16 bytes"),
        ('{"keys": {"1": "first-key-of-the-keyring-32-byte"}, "signing": 3}', "signing key 3"),
        ('{"keys": {"1": "first-key-of-the-keyring-32-byte", "300": "x" }}', "1 to 255"),
        ('{"keys": [1, 2]}', "documented shape"),
        ("{not json", "documented shape"),
    ],
)
def test_a_bad_keyring_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Keyring.parse(text)


def test_the_signer_reads_its_keys_from_a_source_each_time() -> None:
    current = [Keyring({1: KEY_1}, 1, KEY_1)]
    signer = TokenSigner(lambda: current[0])
    invoice_id, recipient_id = ids.new_invoice_id(), ids.new_recipient_id()
    old = signer.token_for(invoice_id, recipient_id, "pixel")
    current[0] = Keyring({1: KEY_1, 2: KEY_2}, 2, KEY_1)
    new = signer.token_for(invoice_id, recipient_id, "pixel")
    assert old != new
    assert signer.verify(old, "pixel") == signer.verify(new, "pixel") is not None


NOW = datetime(2026, 12, 2, 12, 0, 0, 123000, tzinfo=UTC)


def test_a_page_nonce_names_its_page_load_for_its_recipient_only(signer: TokenSigner) -> None:
    target = TrackingTarget(ids.new_invoice_id(), ids.new_recipient_id())
    nonce = signer.page_nonce(target, "req-1", NOW)
    assert set(nonce) <= set(URLSAFE)
    assert signer.check_page_nonce(nonce, target, NOW + timedelta(minutes=29)) == NonceCheck(
        PageLoad("req-1", NOW), None
    )
    other = TrackingTarget(target.invoice_id, ids.new_recipient_id())
    assert signer.check_page_nonce(nonce, other, NOW).problem == "nonce-forged"
    assert TokenSigner(KEY_2).check_page_nonce(nonce, target, NOW).problem == "nonce-forged"
    late = signer.check_page_nonce(nonce, target, NOW + ids.NONCE_LIFETIME + timedelta(seconds=1))
    assert late.problem == "nonce-expired"
    assert signer.check_page_nonce(nonce, target, NOW - timedelta(minutes=2)).problem == (
        "nonce-expired"  # from the future: a clock skew beyond a minute is no display
    )
    # Not a token either: a nonce never opens a page or counts as an open.
    assert signer.verify(nonce, "view") is None


@pytest.mark.parametrize("nonce", [None, "", 42, ["x"], "x", "A" * 500, "🙂"])
def test_missing_and_garbage_nonces_are_refused(signer: TokenSigner, nonce: object) -> None:
    target = TrackingTarget(ids.new_invoice_id(), ids.new_recipient_id())
    check = signer.check_page_nonce(nonce, target, NOW)
    assert check.page is None
    assert check.problem == ("no-nonce" if nonce in (None, "") else "nonce-forged")


def test_tampering_a_nonce_anywhere_is_refused(signer: TokenSigner) -> None:
    target = TrackingTarget(ids.new_invoice_id(), ids.new_recipient_id())
    nonce = signer.page_nonce(target, "req-1", NOW)
    for position in range(len(nonce) - 1):
        replacement = "A" if nonce[position] != "A" else "B"
        tampered = nonce[:position] + replacement + nonce[position + 1 :]
        assert signer.check_page_nonce(tampered, target, NOW).page is None, position


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
