"""Paying and voiding an invoice: a dimension beside its delivery status. Pure.

``payment_status`` is ``unpaid`` until the account says otherwise: ``paid`` (when, how
much, its reference) or ``void`` (why). Both are final and idempotent: the same call
again changes nothing; voiding a paid invoice or paying a void one is a ``Conflict``, and
so is paying it again with other details. A paid or void invoice is never reminded and
leaves its status group in the index (``core.model.index_partition``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.core.model import Invoice, iso, parse_iso
from chalicelib.errors import Conflict, ValidationFailed

_DECIMAL = re.compile(r"[0-9]{1,15}(\.[0-9]{1,4})?")
MAX_REFERENCE = 200
MAX_REASON = 500
# A payment may be dated a little ahead (clocks differ), never further.
FUTURE_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class PaymentRequest:
    """``POST /invoices/{id}/paid``: what was given (None: the default)."""

    paid_at: str | None = None
    amount: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class VoidRequest:
    """``POST /invoices/{id}/void``."""

    reason: str | None = None


def _fields(body: Any, known: frozenset[str]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ValidationFailed(
            "The body must be a JSON object.", [{"field": "", "message": "not an object"}]
        )
    errors = [{"field": k, "message": "is not a known field"} for k in sorted(set(body) - known)]
    return body, errors


def _text(body: dict[str, Any], name: str, limit: int, errors: list[dict[str, str]]) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        errors.append({"field": name, "message": f"must be a string of 1 to {limit} characters"})
        return None
    return value.strip()


def parse_payment(body: Any, now: datetime) -> PaymentRequest:
    body, errors = _fields(body, frozenset({"paid_at", "amount", "reference"}))
    paid_at = None
    if body.get("paid_at") is not None:
        try:
            moment = parse_iso(str(body["paid_at"])) if isinstance(body["paid_at"], str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            errors.append({"field": "paid_at", "message": "must be an ISO 8601 time"})
        elif moment > now + FUTURE_SLACK:
            errors.append({"field": "paid_at", "message": "must not be in the future"})
        else:
            paid_at = iso(moment)
    amount = body.get("amount")
    if amount is not None and not (isinstance(amount, str) and _DECIMAL.fullmatch(amount)):
        errors.append({"field": "amount", "message": "must be a decimal string like 1210.00"})
        amount = None
    reference = _text(body, "reference", MAX_REFERENCE, errors)
    if errors:
        raise ValidationFailed("The payment is not valid.", errors)
    return PaymentRequest(paid_at, amount, reference)


def parse_void(body: Any) -> VoidRequest:
    body, errors = _fields(body, frozenset({"reason"}))
    reason = _text(body, "reason", MAX_REASON, errors)
    if errors:
        raise ValidationFailed("The void is not valid.", errors)
    return VoidRequest(reason)


def _same_amount(a: str, b: str) -> bool:
    return Decimal(a) == Decimal(b)


def mark_paid(invoice: Invoice, request: PaymentRequest, now: datetime) -> bool:
    """Make ``invoice`` paid; False when it already was, with these details."""
    if invoice.payment_status == "void":
        raise Conflict("A void invoice cannot be paid.", {"invoice_id": invoice.id})
    if invoice.payment_status == "paid":
        kept = invoice.payment or {}
        differs = [
            name
            for name, given in (
                ("paid_at", request.paid_at),
                ("amount", request.amount),
                ("reference", request.reference),
            )
            if given is not None
            and not (
                _same_amount(given, kept.get(name) or "0")
                if name == "amount"
                else given == kept.get(name)
            )
        ]
        if differs:
            raise Conflict(
                "This invoice is already paid with other details.",
                {"invoice_id": invoice.id, "fields": differs, "payment": kept},
            )
        return False
    payment = {
        "paid_at": request.paid_at or iso(now),
        "amount": request.amount or invoice.total,
        "recorded_at": iso(now),
    }
    if request.reference:
        payment["reference"] = request.reference
    invoice.payment_status, invoice.payment = "paid", payment
    return True


def mark_void(invoice: Invoice, request: VoidRequest, now: datetime) -> bool:
    """Make ``invoice`` void; False when it already was."""
    if invoice.payment_status == "paid":
        raise Conflict("A paid invoice cannot be voided.", {"invoice_id": invoice.id})
    if invoice.payment_status == "void":
        return False
    payment = {"voided_at": iso(now), "recorded_at": iso(now)}
    if request.reason:
        payment["reason"] = request.reason
    invoice.payment_status, invoice.payment = "void", payment
    return True


def payment_view(invoice: Invoice) -> dict[str, Any] | None:
    """The payment as the API shows it (None while unpaid)."""
    if invoice.payment is None:
        return None
    return {k: v for k, v in invoice.payment.items() if k != "recorded_at"}
