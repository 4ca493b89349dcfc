"""Sending invoices: store the invoice and queue one send per recipient (``POST
/invoices``, ``POST /invoices/{id}/send``, ``POST /invoices/{id}/recipients``); the
``sender`` function (chalicelib/sending/sender.py) then mails each recipient their own
tracked message, each attempt claimed first, and records each outcome (``deliver``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib import ids, recording
from chalicelib.context import Context
from chalicelib.core.model import Account, Invoice, Recipient, iso
from chalicelib.core.status import Fact, refresh_statuses
from chalicelib.errors import Conflict, DomainError
from chalicelib.errors import ValidationFailed as Invalid
from chalicelib.sending import intake
from chalicelib.sending.queries import get_invoice
from chalicelib.sending.validation import MAX_RECIPIENTS, parse_new_recipients


@dataclass(frozen=True)
class SendResult:
    invoice: Invoice
    replayed: bool
    added: tuple[str, ...] = ()  # POST /invoices/{id}/recipients: the new recipients' ids


def send_invoice(
    ctx: Context, account: Account, body: Any, idempotency_key: str | None
) -> SendResult:
    """Store the invoice, then queue one send per recipient (all ``queued``)."""
    [taken] = intake.store_invoices(
        ctx, account, [intake.prepare_invoice(ctx, account, body, idempotency_key)]
    )
    if isinstance(taken, DomainError):
        raise taken
    if intake.queue_sends(ctx, [taken]):
        raise intake.not_queued(taken.invoice.id)
    return SendResult(taken.invoice, replayed=taken.replayed)


def retry_failed(ctx: Context, account: Account, invoice_id: str) -> SendResult:
    """Queue a send again to the recipients that never went out (failed, never
    attempted, or still queued), each as its next attempt."""
    invoice = get_invoice(ctx, account, invoice_id)
    targets = [r for r in invoice.recipients if r.sent_at is None]
    if not targets:
        return SendResult(invoice, replayed=False)
    now = iso(ctx.clock())
    facts = [
        Fact(f"queued-{r.id}-{r.send_attempts + 1}-{now}", "queued", now, r.id, "api")
        for r in targets
    ]
    recorded = recording.record(ctx, invoice.id, facts, preloaded=invoice)
    current = recorded.invoice if recorded else invoice
    wanted = {t.id for t in targets}
    intake.enqueue(ctx, current, [r for r in current.recipients if r.id in wanted])
    return SendResult(current, replayed=False)


def add_recipients(ctx: Context, account: Account, invoice_id: str, body: Any) -> SendResult:
    """Add recipients to an invoice and queue a send to each, each their own message,
    tokens and history (``POST /invoices/{id}/recipients``). One already on the
    invoice is a ``Conflict``; at most MAX_RECIPIENTS in all. The summary's conditional
    write adds them (of two concurrent adds of one address, one wins, the other is a
    conflict); a queue that refuses leaves them queued, for ``POST /send``."""
    new = parse_new_recipients(body)
    invoice = get_invoice(ctx, account, invoice_id)
    if invoice.payment_status == "void":
        raise Conflict("A void invoice is not sent again.", {"invoice_id": invoice.id})
    now = iso(ctx.clock())
    added = [
        Recipient(id=ids.new_recipient_id(), email=r.email, name=r.name, queued_at=now) for r in new
    ]

    def change(current: Invoice) -> bool:
        taken = [r.email for r in added if current.recipient_by_email(r.email) is not None]
        if taken:
            raise Conflict(
                "Already a recipient of this invoice.",
                {"invoice_id": current.id, "emails": taken},
            )
        if len(current.recipients) + len(added) > MAX_RECIPIENTS:
            raise Invalid(
                "Too many recipients.",
                [{"field": "recipients", "message": f"at most {MAX_RECIPIENTS} in all"}],
            )
        current.recipients.extend(Recipient(**r.to_dict()) for r in added)
        refresh_statuses(current)
        return True

    current, _ = recording.update_summary(ctx, invoice.id, invoice, change, now)
    ids_added = {r.id for r in added}
    intake.enqueue(ctx, current, [r for r in current.recipients if r.id in ids_added])
    return SendResult(current, replayed=False, added=tuple(r.id for r in added))
