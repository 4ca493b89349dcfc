"""``POST /invoices/batch``: up to ``MAX_BATCH`` invoices, each validated, stored and
queued on its own (``service.send_invoice``), so one bad invoice never sinks the
others. An item's ``idempotency_key`` field is its ``Idempotency-Key`` (or its
``external_id`` decides its id, as for one invoice)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.context import Context
from chalicelib.core.model import Account
from chalicelib.errors import DomainError
from chalicelib.errors import ValidationFailed as Invalid
from chalicelib.sending.service import SendResult, send_invoice

MAX_BATCH = 100


@dataclass(frozen=True)
class ItemOutcome:
    """One item's answer: its send result, or the error a single POST would give."""

    result: SendResult | None = None
    error: DomainError | None = None


def send_batch(ctx: Context, account: Account, body: Any) -> list[ItemOutcome]:
    if not isinstance(body, dict) or not isinstance(body.get("invoices"), list):
        raise Invalid(
            "Bad batch.", [{"field": "invoices", "message": "must be a list of invoices"}]
        )
    items: list[Any] = body["invoices"]
    if not 1 <= len(items) <= MAX_BATCH:
        raise Invalid(
            "Bad batch.", [{"field": "invoices", "message": f"1 to {MAX_BATCH} invoices"}]
        )
    extra = sorted(set(body) - {"invoices"})
    if extra:
        raise Invalid("Bad batch.", [{"field": k, "message": "unknown field"} for k in extra])
    return [_one(ctx, account, item) for item in items]


def _one(ctx: Context, account: Account, item: Any) -> ItemOutcome:
    try:
        if not isinstance(item, dict):
            raise Invalid("Bad invoice.", [{"field": "invoice", "message": "must be an object"}])
        fields = dict(item)
        key = fields.pop("idempotency_key", None)
        if key is not None and not isinstance(key, str):
            raise Invalid(
                "Bad idempotency_key.",
                [{"field": "idempotency_key", "message": "must be a string"}],
            )
        return ItemOutcome(result=send_invoice(ctx, account, fields, key))
    except DomainError as exc:
        return ItemOutcome(error=exc)
