"""How an invoice's content is stored, measured before it is: JSON with non-ASCII kept
as UTF-8 (``json.dumps``' default escapes each such character to 6 bytes, which made a
Spanish or Japanese invoice three to six times its size), and the limit validation
enforces so that no item comes near DynamoDB's 400 KB. Pure."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.core.model import Invoice

# The content item (lines, subject, message, metadata) may take this much; the rest of
# DynamoDB's 400 KB item limit is margin for attribute names and keys.
MAX_CONTENT_BYTES = 300_000


def stored_json(value: Any) -> str:
    """The JSON Sobre stores: compact, UTF-8 (no \\u escapes)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def stored_bytes(value: Any) -> int:
    return len(stored_json(value).encode("utf-8"))


def pdf_key(invoice: Invoice) -> str:
    """Where an invoice's PDF is kept: the invoice id (128 random bits, or an HMAC) and
    the request's body hash, so a conflicting retry of an Idempotency-Key can never
    replace the attachment of the invoice it conflicts with."""
    return f"pdf/{invoice.id}/{invoice.body_hash[:32]}.pdf"
