"""Query-string paging shared by every list route: an opaque cursor (base64url JSON of
the store's own position) and a bounded limit. Pure.

``read_limit`` and ``read_cursor`` add what is wrong to the caller's list of field
errors, so that a route reports every bad parameter at once."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from chalicelib.errors import ValidationFailed

Errors = list[dict[str, str]]


def read_limit(text: str | None, default: int, top: int, errors: Errors) -> int:
    """A page size from 1 to ``top`` (``default`` when absent)."""
    if text is None:
        return default
    if text.isascii() and text.isdigit() and 1 <= int(text) <= top:
        return int(text)
    errors.append({"field": "limit", "message": f"must be an integer from 1 to {top}"})
    return default


def read_cursor(text: str | None, errors: Errors) -> dict[str, Any] | None:
    """The position a cursor names (None when absent); anything we did not give is an
    error."""
    if not text:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error):
        value = None
    if not isinstance(value, dict):
        errors.append({"field": "cursor", "message": "is not a cursor this API returned"})
        return None
    return value


def encode_cursor(value: dict[str, Any] | None) -> str | None:
    if not value:
        return None
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def foreign_cursor() -> ValidationFailed:
    """A well-formed cursor of another query (another status, account or webhook)."""
    return ValidationFailed(
        "Bad query.", [{"field": "cursor", "message": "belongs to another query"}]
    )
