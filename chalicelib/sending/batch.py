"""``POST /invoices/batch``: up to ``MAX_BATCH`` invoices, each validated on its own,
so one bad invoice never sinks the others; the valid ones stored together and all
their sends queued at once (chalicelib/sending/intake.py: ten sends a SendMessageBatch,
whatever invoice they belong to). An item's ``idempotency_key`` field is its
``Idempotency-Key`` (or its ``external_id`` decides its id, as for one invoice); an
item whose sends the queue did not take is that item's 503 (stored: the retry of the
batch, or of that item, queues them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.context import Context
from chalicelib.core.model import Account
from chalicelib.errors import DomainError
from chalicelib.errors import ValidationFailed as Invalid
from chalicelib.sending import intake
from chalicelib.sending.service import SendResult

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
    prepared = [_prepare(ctx, account, item) for item in items]
    stored = iter(
        intake.store_invoices(ctx, account, [p for p in prepared if isinstance(p, intake.Prepared)])
    )
    answers = [next(stored) if isinstance(p, intake.Prepared) else p for p in prepared]
    # Every item's sends at once: 100 invoices to 2 recipients are 20 SendMessageBatch.
    refused = intake.queue_sends(ctx, [a for a in answers if isinstance(a, intake.Taken)])
    return [_outcome(a, refused) for a in answers]


def _prepare(ctx: Context, account: Account, item: Any) -> intake.Prepared | DomainError:
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
        return intake.prepare_invoice(ctx, account, fields, key)
    except DomainError as exc:
        return exc


def _outcome(done: object, refused: set[str]) -> ItemOutcome:
    if isinstance(done, DomainError):
        return ItemOutcome(error=done)
    assert isinstance(done, intake.Taken)
    if done.to_queue and done.invoice.id in refused:
        return ItemOutcome(error=intake.not_queued(done.invoice.id))
    return ItemOutcome(result=SendResult(done.invoice, replayed=done.replayed))
