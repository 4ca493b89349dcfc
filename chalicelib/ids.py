"""Identifiers and tracking tokens.

Ids are random (128 bits for invoices, 80 for recipients) and say nothing about the
invoice. A tracking token names one recipient of one invoice and is authenticated
with an HMAC, so the pixel can reject forged or tampered tokens without a database
read. It carries only the two random ids: no invoice number, email or amount.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

_INVOICE_ID_BYTES = 16
_RECIPIENT_ID_BYTES = 10
_MAC_BYTES = 16
_TOKEN_VERSION = b"\x01"


def b32(raw: bytes) -> str:
    """Lower-case base32 without padding: the alphabet of every Sobre id."""
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes:
    padded = text.upper() + "=" * (-len(text) % 8)
    return base64.b32decode(padded)


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
class TrackingTarget:
    invoice_id: str
    recipient_id: str


class TokenSigner:
    """Makes and checks tracking tokens (base64url, 58 characters)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the token secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def invoice_id_for(self, account_id: str, idempotency_key: str) -> str:
        """A deterministic invoice id for an Idempotency-Key, so that the conditional
        create of the invoice is itself the idempotency check (no extra item or write).
        Keyed, so ids cannot be predicted from a key."""
        message = f"idem\x00{account_id}\x00{idempotency_key}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return "inv_" + b32(digest[:_INVOICE_ID_BYTES])

    def token_for(self, invoice_id: str, recipient_id: str) -> str:
        payload = _TOKEN_VERSION + _unb32(invoice_id[4:]) + _unb32(recipient_id[4:])
        raw = payload + self._mac(payload)
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def verify(self, token: str) -> TrackingTarget | None:
        """The target of a genuine token, or None for anything forged or malformed."""
        expected_len = 1 + _INVOICE_ID_BYTES + _RECIPIENT_ID_BYTES + _MAC_BYTES
        if len(token) > 2 * expected_len:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != expected_len or raw[:1] != _TOKEN_VERSION:
            return None
        # One spelling per token: base64 decoding ignores the last character's spare
        # bits and accepts "+/" for "-_", so compare against the canonical encoding.
        if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != token:
            return None
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        invoice_raw = payload[1 : 1 + _INVOICE_ID_BYTES]
        recipient_raw = payload[1 + _INVOICE_ID_BYTES :]
        return TrackingTarget("inv_" + b32(invoice_raw), "rcp_" + b32(recipient_raw))
