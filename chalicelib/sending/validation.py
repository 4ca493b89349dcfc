"""Validation of a new invoice request. Pure: turns a JSON body into a ``NewInvoice``
or raises ``ValidationFailed`` naming every bad field at once."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from chalicelib.core.addresses import display_name_problem, normalize_email
from chalicelib.core.model import LANGUAGES, Line
from chalicelib.core.stored import MAX_CONTENT_BYTES, stored_bytes
from chalicelib.errors import ValidationFailed

MAX_RECIPIENTS = 50
MAX_LINES = 200
MAX_METADATA = 20
MAX_PDF_BYTES = 7 * 1024 * 1024
_DECIMAL = re.compile(r"[0-9]{1,15}(\.[0-9]{1,4})?")  # used with fullmatch
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LOCALE = re.compile(r"^([a-z]{2})(?:[-_]([A-Z]{2}))?$")
_KNOWN_FIELDS = frozenset(
    {
        "number",
        "customer",
        "recipients",
        "currency",
        "total",
        "due_date",
        "issue_date",
        "lines",
        "subject",
        "message",
        "reply_to",
        "pdf_base64",
        "metadata",
        "locale",
        "tracking",
        "external_id",
    }
)


@dataclass(frozen=True)
class NewRecipient:
    email: str
    name: str | None


@dataclass(frozen=True)
class NewInvoice:
    number: str
    customer_name: str
    recipients: tuple[NewRecipient, ...]
    currency: str
    total: str
    due_date: str
    issue_date: str | None
    lines: tuple[Line, ...]
    subject: str | None
    message: str | None
    reply_to: str | None
    pdf: bytes | None
    metadata: dict[str, str]
    locale: str | None
    tracking: bool | None
    body_hash: str
    external_id: str | None = None  # the account's own id for it, unique per account


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append({"field": field, "message": message})


def body_hash(body: Any) -> str:
    """128 bits of SHA-256 over the canonical body: enough to tell two bodies apart,
    and 32 bytes fewer in every summary (two recipients stay within one write unit)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    from babel.numbers import list_currencies  # lazy: Babel's data is large

    return frozenset(list_currencies())


def _text(
    errors: _Errors, body: dict[str, Any], field: str, *, max_len: int, required: bool
) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            errors.add(field, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        errors.add(field, "must be a non-empty string")
        return None
    if len(value) > max_len:
        errors.add(field, f"must be at most {max_len} characters")
        return None
    return value.strip()


def _decimal(errors: _Errors, field: str, value: Any, *, required: bool = True) -> str | None:
    if value is None:
        if required:
            errors.add(field, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.add(field, 'must be a decimal string such as "120.50"')
        return None
    text = str(value).strip()
    if text.startswith("-"):
        errors.add(field, "must not be negative")
        return None
    if not _DECIMAL.fullmatch(text):
        errors.add(field, 'must be a decimal string such as "120.50" (up to 4 decimals)')
        return None
    try:
        Decimal(text)
    except InvalidOperation:
        errors.add(field, "is not a decimal number")
        return None
    return text


def _date(errors: _Errors, field: str, value: Any, *, required: bool) -> str | None:
    if value is None:
        if required:
            errors.add(field, "is required")
        return None
    try:
        # fromisoformat also takes "20260105" and week dates; only YYYY-MM-DD is accepted.
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value).isoformat()
    except ValueError:
        errors.add(field, "must be an ISO date (YYYY-MM-DD)")
        return None


def _email(errors: _Errors, field: str, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.add(field, "must be an email address")
        return None
    try:
        return normalize_email(value.strip())
    except ValueError as exc:
        errors.add(field, f"is not a valid email address: {exc}")
        return None


def _recipients(errors: _Errors, value: Any) -> tuple[NewRecipient, ...]:
    if value is None:
        errors.add("recipients", "is required")
        return ()
    if not isinstance(value, list) or not value:
        errors.add("recipients", "must be a non-empty list of {email, name?}")
        return ()
    if len(value) > MAX_RECIPIENTS:
        errors.add("recipients", f"must have at most {MAX_RECIPIENTS} recipients")
        return ()
    found: list[NewRecipient] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        field = f"recipients[{index}]"
        if not isinstance(item, dict):
            errors.add(field, "must be an object {email, name?}")
            continue
        for unknown in sorted(set(item) - {"email", "name"}):
            errors.add(f"{field}.{unknown}", "is not a known field")
        email = _email(errors, f"{field}.email", item.get("email"))
        name = _display_name(errors, f"{field}.name", item.get("name"))
        if email is None:
            continue
        if email.lower() in seen:
            errors.add(f"{field}.email", "duplicates an earlier recipient")
            continue
        seen.add(email.lower())
        found.append(NewRecipient(email=email, name=name))
    return tuple(found)


def _display_name(errors: _Errors, field: str, value: Any) -> str | None:
    """The name shown in the recipient's ``To``: refused when it could add a header or
    read as another address (core/addresses.py)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 200:
        errors.add(field, "must be a string of at most 200 characters")
        return None
    problem = display_name_problem(value)
    if problem is not None:
        errors.add(field, problem)
        return None
    return value.strip() or None


def _lines(errors: _Errors, value: Any) -> tuple[Line, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_LINES:
        errors.add("lines", f"must be a list of at most {MAX_LINES} lines")
        return ()
    lines: list[Line] = []
    for index, item in enumerate(value):
        field = f"lines[{index}]"
        if not isinstance(item, dict):
            errors.add(field, "must be an object {description, quantity, unit_price}")
            continue
        description = _text(errors, item, "description", max_len=500, required=True)
        if description is None:
            errors.items[-1]["field"] = f"{field}.description"
        quantity = _decimal(errors, f"{field}.quantity", item.get("quantity"))
        unit_price = _decimal(errors, f"{field}.unit_price", item.get("unit_price"))
        if description and quantity and unit_price:
            lines.append(Line(description, quantity, unit_price))
    return tuple(lines)


def _metadata(errors: _Errors, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add("metadata", "must be an object of string pairs")
        return {}
    if len(value) > MAX_METADATA:
        errors.add("metadata", f"must have at most {MAX_METADATA} pairs")
        return {}
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > 40 or len(item) > 500:
            errors.add(f"metadata.{key}", "keys up to 40 and values up to 500 characters")
            continue
        result[key] = item
    return result


def _pdf(errors: _Errors, value: Any) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add("pdf_base64", "must be a base64 string")
        return None
    if len(value) > (MAX_PDF_BYTES * 4) // 3 + 8:
        errors.add("pdf_base64", "must be at most 7 MB once decoded")
        return None
    try:
        pdf = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        errors.add("pdf_base64", "is not valid base64")
        return None
    if len(pdf) > MAX_PDF_BYTES:
        errors.add("pdf_base64", "must be at most 7 MB once decoded")
        return None
    if not pdf.startswith(b"%PDF-"):
        errors.add("pdf_base64", "is not a PDF (it must start with %PDF-)")
        return None
    return pdf


def _locale(errors: _Errors, value: Any) -> str | None:
    if value is None:
        return None
    match = _LOCALE.match(value) if isinstance(value, str) else None
    if match is None or match.group(1) not in LANGUAGES:
        errors.add("locale", f"must be one of {sorted(LANGUAGES)}, e.g. 'es' or 'es-MX'")
        return None
    return str(value).replace("_", "-")


def _check_stored_size(
    errors: _Errors, lines: Any, subject: str | None, message: str | None, metadata: Any
) -> None:
    """Measured as it will be stored (UTF-8, no escapes), so nothing can come near
    DynamoDB's 400 KB item limit: refused now, never a write that fails later."""
    content = {
        "subject": subject,
        "message": message,
        "metadata": metadata,
        "lines": [asdict(line) for line in lines],
    }
    size = stored_bytes(content)
    if size > MAX_CONTENT_BYTES:
        errors.add(
            "lines",
            f"the invoice's lines, subject, message and metadata take {size} bytes stored; "
            f"the limit is {MAX_CONTENT_BYTES}",
        )


def parse_new_recipients(body: Any) -> tuple[NewRecipient, ...]:
    """Validate a ``POST /invoices/{id}/recipients`` body: ``{"recipients": [...]}``."""
    if not isinstance(body, dict):
        raise ValidationFailed(
            "The body must be a JSON object.", [{"field": "", "message": "not an object"}]
        )
    errors = _Errors()
    for unknown in sorted(set(body) - {"recipients"}):
        errors.add(unknown, "is not a known field")
    recipients = _recipients(errors, body.get("recipients"))
    if errors.items:
        raise ValidationFailed("The recipients are not valid.", errors.items)
    return recipients


def parse_new_invoice(body: Any) -> NewInvoice:
    """Validate a ``POST /invoices`` body. Raises ``ValidationFailed`` with every error."""
    if not isinstance(body, dict):
        raise ValidationFailed(
            "The body must be a JSON object.", [{"field": "", "message": "not an object"}]
        )
    errors = _Errors()
    for unknown in sorted(set(body) - _KNOWN_FIELDS):
        errors.add(unknown, "is not a known field")
    number = _text(errors, body, "number", max_len=64, required=True)
    customer = body.get("customer")
    customer_name = None
    if not isinstance(customer, dict):
        errors.add("customer.name", "is required")
    else:
        customer_name = _text(errors, customer, "name", max_len=200, required=True)
        if customer_name is None:
            errors.items[-1]["field"] = "customer.name"
    recipients = _recipients(errors, body.get("recipients"))
    currency = body.get("currency")
    if not isinstance(currency, str) or currency not in _currencies():
        errors.add("currency", "must be an ISO 4217 code in capitals, such as EUR or USD")
        currency = None
    total = _decimal(errors, "total", body.get("total"))
    due_date = _date(errors, "due_date", body.get("due_date"), required=True)
    issue_date = _date(errors, "issue_date", body.get("issue_date"), required=False)
    lines = _lines(errors, body.get("lines"))
    subject = _text(errors, body, "subject", max_len=200, required=False)
    message = _text(errors, body, "message", max_len=5000, required=False)
    reply_to = (
        _email(errors, "reply_to", body["reply_to"]) if body.get("reply_to") is not None else None
    )
    metadata = _metadata(errors, body.get("metadata"))
    pdf = _pdf(errors, body.get("pdf_base64"))
    locale = _locale(errors, body.get("locale"))
    external_id = _text(errors, body, "external_id", max_len=255, required=False)
    tracking = body.get("tracking")
    if tracking is not None and not isinstance(tracking, bool):
        errors.add("tracking", "must be true or false")
    if not errors.items:
        _check_stored_size(errors, lines, subject, message, metadata)
    if errors.items:
        raise ValidationFailed("The invoice is not valid.", errors.items)
    assert number and customer_name and currency and total and due_date  # noqa: PT018
    return NewInvoice(
        number=number,
        customer_name=customer_name,
        recipients=recipients,
        currency=currency,
        total=total,
        due_date=due_date,
        issue_date=issue_date,
        lines=lines,
        subject=subject,
        message=message,
        reply_to=reply_to,
        pdf=pdf,
        metadata=metadata,
        locale=locale,
        tracking=tracking,
        body_hash=body_hash(body),
        external_id=external_id,
    )
