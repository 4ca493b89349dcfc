"""Identifiers, tracking tokens and the hosted page's beacon nonces.

Ids are random (128 bits for invoices, 80 for recipients) and say nothing about the
invoice. A tracking token names one recipient of one invoice for one *purpose* (the
pixel, or the view link) and is authenticated with an HMAC, so the public routes
reject forged or tampered tokens without a database read. It carries only a version,
the id of the key that signed it and the two random ids: no invoice number, email or
amount. See docs/DESIGN.md, "Tokens".

Keys rotate (docs/DEPLOY.md): a token names its key, every key of the keyring verifies,
the signing key signs. Idempotency ids come from a secret of their own that does not
rotate, so a retried request finds the invoice its first attempt created.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

_INVOICE_ID_BYTES = 16
_RECIPIENT_ID_BYTES = 10
_MAC_BYTES = 16
_TOKEN_VERSION = b"\x02"
_NONCE_VERSION = b"\x01"
_LEGACY_VERSION = b"\x01"  # tokens before keyrings (see TokenSigner._verify_legacy)
_LEGACY_BYTES = 1 + _INVOICE_ID_BYTES + _RECIPIENT_ID_BYTES + _MAC_BYTES
_TOKEN_BYTES = 2 + _INVOICE_ID_BYTES + _RECIPIENT_ID_BYTES + _MAC_BYTES  # 44: 59 characters
# What a key may be used for. The purpose is inside the MAC, never in the token: a
# pixel token is no view token (an image proxy that fetched the pixel cannot open the
# invoice), and neither is a beacon nonce.
Purpose = Literal["pixel", "view"]
_LABELS: dict[str, bytes] = {
    "pixel": b"sobre/token/pixel\x00",
    "view": b"sobre/token/view\x00",
    "nonce": b"sobre/page-nonce\x00",
}
# A page's beacon nonce is good this long after the page was served: a reader may
# leave the tab in the background for a while before it is displayed.
NONCE_LIFETIME = timedelta(minutes=30)
_CLOCK_SKEW = timedelta(minutes=1)  # between the container that served and the one judging
_NONCE_REF_MAX = 64  # the page load's reference (its request id), in the nonce


def b32(raw: bytes) -> str:
    """Lower-case base32 without padding: the alphabet of every Sobre id."""
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes:
    padded = text.upper() + "=" * (-len(text) % 8)
    return base64.b32decode(padded)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str, max_bytes: int) -> bytes | None:
    """The bytes of canonical unpadded base64url ``text``, else None. One spelling per
    value: decoding ignores the last character's spare bits and accepts "+/" for "-_",
    so the result is re-encoded and compared."""
    if len(text) > 2 * max_bytes:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        return None
    return raw if _b64(raw) == text else None


def new_invoice_id() -> str:
    return "inv_" + b32(secrets.token_bytes(_INVOICE_ID_BYTES))


def new_recipient_id() -> str:
    return "rcp_" + b32(secrets.token_bytes(_RECIPIENT_ID_BYTES))


def new_webhook_id() -> str:
    return "whk_" + b32(secrets.token_bytes(10))


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def new_api_key() -> str:
    return "sobre_" + secrets.token_urlsafe(24)  # 192 bits


def hash_api_key(key: str) -> str:
    # Keys are high-entropy random strings, so a fast hash cannot be brute-forced.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Keyring:
    """The token keys: every one verifies, ``signing`` signs; ``idempotency`` derives
    idempotency ids and never rotates with them."""

    keys: Mapping[int, bytes]
    signing: int
    idempotency: bytes

    def __post_init__(self) -> None:
        if self.signing not in self.keys:
            raise ValueError(f"the signing key {self.signing} is not in the keyring")
        for key_id, secret in self.keys.items():
            if not 1 <= key_id <= 255:
                raise ValueError(f"key ids are 1 to 255, not {key_id}")
            if len(secret) < 16:
                raise ValueError(f"the token secret (key {key_id}) must be at least 16 bytes")
        if len(self.idempotency) < 16:
            raise ValueError("the idempotency secret must be at least 16 bytes")

    @staticmethod
    def single(secret: bytes) -> Keyring:
        """One secret: key 1, which also derives idempotency ids (as before keyrings)."""
        return Keyring({1: secret}, 1, secret)

    @staticmethod
    def parse(text: str) -> Keyring:
        """A plain secret (key 1), or a keyring as JSON::

            {"keys": {"1": "…", "2": "…"}, "signing": 2, "idempotency": "…"}

        ``signing`` defaults to the newest (highest) key id; ``idempotency`` to key 1's
        secret, and must be given once key 1 is retired."""
        stripped = text.strip()
        if not stripped.startswith("{"):
            return Keyring.single(stripped.encode("utf-8"))
        try:
            document = json.loads(stripped)
            keys = {int(k): str(v).encode("utf-8") for k, v in dict(document["keys"]).items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError("the token keyring is not valid JSON of the documented shape") from exc
        if not keys:
            raise ValueError("the token keyring holds no key")
        idempotency = document.get("idempotency")
        if idempotency is None and 1 not in keys:
            raise ValueError("the keyring needs 'idempotency' once key 1 is retired")
        return Keyring(
            keys,
            int(document.get("signing") or max(keys)),
            str(idempotency).encode("utf-8") if idempotency is not None else keys[1],
        )


@dataclass(frozen=True)
class TrackingTarget:
    invoice_id: str
    recipient_id: str


@dataclass(frozen=True)
class PageLoad:
    """What a valid beacon nonce says: the page load it was issued for."""

    ref: str  # the page load's fact is "view-<ref>"
    at: datetime


@dataclass(frozen=True)
class NonceCheck:
    page: PageLoad | None
    problem: str | None  # "no-nonce", "nonce-forged", "nonce-expired"


KeySource = bytes | Keyring | Callable[[], Keyring]


class TokenSigner:
    """Makes and checks tracking tokens (base64url, 59 characters) and beacon nonces.

    ``keys`` is a secret, a keyring, or a callable answering the current keyring (the
    container's, refreshed every few minutes)."""

    def __init__(self, keys: KeySource) -> None:
        if isinstance(keys, bytes):
            ring = Keyring.single(keys)
            self._keys: Callable[[], Keyring] = lambda: ring
        elif isinstance(keys, Keyring):
            self._keys = lambda: keys
        else:
            self._keys = keys

    @staticmethod
    def _mac(secret: bytes, label: str, payload: bytes) -> bytes:
        digest = hmac.new(secret, _LABELS[label] + payload, hashlib.sha256).digest()
        return digest[:_MAC_BYTES]

    def invoice_id_for(self, account_id: str, idempotency_key: str) -> str:
        """A deterministic invoice id for an Idempotency-Key, so that the conditional
        create of the invoice is itself the idempotency check (no extra item or write).
        Keyed, so ids cannot be predicted from a key; by the idempotency secret, which
        does not rotate with the token keys, so a retry after a rotation finds the
        invoice its first attempt created."""
        message = f"idem\x00{account_id}\x00{idempotency_key}".encode()
        digest = hmac.new(self._keys().idempotency, message, hashlib.sha256).digest()
        return "inv_" + b32(digest[:_INVOICE_ID_BYTES])

    def invoice_id_for_external(self, account_id: str, external_id: str) -> str:
        """The invoice id of the account's own ``external_id``: the conditional create
        is the uniqueness check, and finding it by that id is one GetItem."""
        message = f"ext\x00{account_id}\x00{external_id}".encode()
        digest = hmac.new(self._keys().idempotency, message, hashlib.sha256).digest()
        return "inv_" + b32(digest[:_INVOICE_ID_BYTES])

    def token_for(self, invoice_id: str, recipient_id: str, purpose: Purpose) -> str:
        ring = self._keys()
        header = _TOKEN_VERSION + bytes([ring.signing])
        payload = header + _unb32(invoice_id[4:]) + _unb32(recipient_id[4:])
        return _b64(payload + self._mac(ring.keys[ring.signing], purpose, payload))

    def verify(self, token: str, purpose: Purpose) -> TrackingTarget | None:
        """The target of a genuine token for ``purpose``, or None for anything forged,
        malformed, signed by a key no longer in the keyring, or made for another use."""
        raw = _unb64(token, _TOKEN_BYTES)
        if raw is not None and len(raw) == _LEGACY_BYTES and raw[:1] == _LEGACY_VERSION:
            return self._verify_legacy(raw)
        if raw is None or len(raw) != _TOKEN_BYTES or raw[:1] != _TOKEN_VERSION:
            return None
        secret = self._keys().keys.get(raw[1])
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if secret is None or not hmac.compare_digest(mac, self._mac(secret, purpose, payload)):
            return None
        invoice_raw = payload[2 : 2 + _INVOICE_ID_BYTES]
        recipient_raw = payload[2 + _INVOICE_ID_BYTES :]
        return TrackingTarget("inv_" + b32(invoice_raw), "rcp_" + b32(recipient_raw))

    def _verify_legacy(self, raw: bytes) -> TrackingTarget | None:
        """A version-1 token (one per recipient for the pixel and the link, no key id,
        no purpose) from mail sent before keyrings: valid while key 1, the secret that
        signed it, is in the keyring, so upgrading breaks no mail; retiring key 1 ends
        them (docs/DEPLOY.md)."""
        secret = self._keys().keys.get(1)
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        expected = hmac.new(secret or b"", payload, hashlib.sha256).digest()[:_MAC_BYTES]
        if secret is None or not hmac.compare_digest(mac, expected):
            return None
        invoice_raw = payload[1 : 1 + _INVOICE_ID_BYTES]
        return TrackingTarget(
            "inv_" + b32(invoice_raw), "rcp_" + b32(payload[1 + _INVOICE_ID_BYTES :])
        )

    # -- the hosted page's beacon nonce ----------------------------------------------

    @staticmethod
    def _bound(target: TrackingTarget, payload: bytes) -> bytes:
        # The nonce is bound to the recipient of the view token it was issued under.
        return payload + _unb32(target.invoice_id[4:]) + _unb32(target.recipient_id[4:])

    def page_nonce(self, target: TrackingTarget, ref: str, at: datetime) -> str:
        """A nonce for one page load (fact ``view-<ref>`` at ``at``): version, key id,
        the load's time in milliseconds and its reference, and a MAC over them and the
        target."""
        encoded = ref.encode("ascii")
        if not encoded or len(encoded) > _NONCE_REF_MAX:
            raise ValueError("a page load reference is 1 to 64 ASCII characters")
        ring = self._keys()
        millis = int(at.timestamp() * 1000)
        payload = _NONCE_VERSION + bytes([ring.signing]) + millis.to_bytes(6, "big") + encoded
        mac = self._mac(ring.keys[ring.signing], "nonce", self._bound(target, payload))
        return _b64(payload + mac)

    def check_page_nonce(self, nonce: object, target: TrackingTarget, now: datetime) -> NonceCheck:
        """The page load a beacon's nonce was issued for, if genuine, for this target
        and at most NONCE_LIFETIME old; else the problem."""
        if nonce is None or nonce == "":
            return NonceCheck(None, "no-nonce")
        raw = _unb64(nonce, 8 + _NONCE_REF_MAX + _MAC_BYTES) if isinstance(nonce, str) else None
        if raw is None or len(raw) < 9 + _MAC_BYTES or raw[:1] != _NONCE_VERSION:
            return NonceCheck(None, "nonce-forged")
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        secret = self._keys().keys.get(payload[1])
        expected = self._mac(secret, "nonce", self._bound(target, payload)) if secret else b""
        if not hmac.compare_digest(mac, expected):
            return NonceCheck(None, "nonce-forged")
        at = datetime.fromtimestamp(int.from_bytes(payload[2:8], "big") / 1000, UTC)
        if not -_CLOCK_SKEW <= now - at <= NONCE_LIFETIME:
            return NonceCheck(None, "nonce-expired")
        return NonceCheck(PageLoad(payload[8:].decode("ascii"), at), None)
