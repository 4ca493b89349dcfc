"""Taking invoices in (``POST /invoices``, ``POST /invoices/batch``): each one validated
and given its id (``prepare_invoice``), stored — its PDF first, then the invoice; a batch's
invoices together (``store_invoices``) — and one send per recipient put on the send queue, a
batch's all at once, ten to a SendMessageBatch (``queue_sends``). An invoice whose sends the
queue did not take is stored all the same with its recipients ``queued``: the retry of
the same request (its ``Idempotency-Key`` or ``external_id``) queues them again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib import ids
from chalicelib.context import Context
from chalicelib.core.model import Account, Invoice, Recipient, iso
from chalicelib.core.sends import NotQueued, QueuedSend
from chalicelib.core.status import refresh_statuses
from chalicelib.core.stored import pdf_key
from chalicelib.errors import Conflict, DomainError, Unavailable
from chalicelib.errors import ValidationFailed as Invalid
from chalicelib.observability import logger
from chalicelib.render.mime import pdf_filename
from chalicelib.sending.validation import NewInvoice, parse_new_invoice


@dataclass(frozen=True)
class Prepared:
    """A valid new invoice, with its id, as it will be created."""

    new: NewInvoice
    invoice: Invoice


@dataclass(frozen=True)
class Taken:
    """An invoice stored (or found stored: a replay) and the sends it needs queued."""

    invoice: Invoice
    replayed: bool
    to_queue: tuple[QueuedSend, ...]


def prepare_invoice(
    ctx: Context, account: Account, body: Any, idempotency_key: str | None
) -> Prepared:
    """Validate (``ValidationFailed``) and choose the id: the account's own
    ``external_id`` decides it (unique per account: the conditional create is the
    check), else the ``Idempotency-Key``'s, else a random one."""
    new = parse_new_invoice(body)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise Invalid(
            "Bad Idempotency-Key.",
            [{"field": "Idempotency-Key", "message": "must be 1 to 255 characters"}],
        )
    if new.external_id is not None:
        invoice_id = ctx.signer.invoice_id_for_external(account.id, new.external_id)
    elif idempotency_key:
        invoice_id = ctx.signer.invoice_id_for(account.id, idempotency_key)
    else:
        invoice_id = ids.new_invoice_id()
    return Prepared(new, _new_invoice(ctx, account, new, invoice_id, idempotency_key))


def store_invoices(
    ctx: Context, account: Account, prepared: Sequence[Prepared]
) -> list[Taken | DomainError]:
    """Store each invoice (the PDFs first, so an invoice that exists always has its
    attachment), in order: what was taken, or the error of one whose id was taken
    before with another body (``Conflict``)."""
    for item in prepared:
        if item.new.pdf is not None:
            ctx.pdfs.put(pdf_key(item.invoice), item.new.pdf, pdf_filename(item.invoice))
    created = ctx.invoices.create_many([item.invoice for item in prepared])
    taken: list[Taken | DomainError] = []
    for item, new in zip(prepared, created, strict=True):
        invoice = item.invoice
        if new:
            # Its creation is no fact of its own: the summary's created_at is it
            # (core/history.py), one item a POST less.
            taken.append(Taken(invoice, False, sends_to(invoice, invoice.recipients)))
            continue
        try:
            taken.append(_replay(ctx, account, item))
        except DomainError as exc:
            taken.append(exc)
    fresh = sum(1 for new in created if new)
    if fresh:
        ctx.metrics.count("InvoicesCreated", fresh)
    return taken


def _replay(ctx: Context, account: Account, item: Prepared) -> Taken:
    existing = ctx.invoices.get(item.invoice.id)
    if existing is None or existing.account_id != account.id:
        raise Unavailable("The idempotent request could not be resolved; retry.")
    if existing.body_hash != item.new.body_hash:
        if item.new.external_id is not None:
            raise Conflict(
                "This external_id was already used with a different body.",
                {"external_id": item.new.external_id, "invoice_id": existing.id},
            )
        raise Conflict(
            "This Idempotency-Key was already used with a different body.",
            {"idempotency_key": item.invoice.idempotency_key, "invoice_id": existing.id},
        )
    # A replay queues again what is still queued: the first request may have stored the
    # invoice and failed to queue (the sender takes a send twice harmlessly).
    queued = [r for r in existing.recipients if r.status == "queued"]
    return Taken(existing, True, sends_to(existing, queued))


def sends_to(invoice: Invoice, recipients: Sequence[Recipient]) -> tuple[QueuedSend, ...]:
    """One send a recipient, of its next attempt."""
    return tuple(QueuedSend(invoice.id, r.id, r.send_attempts + 1) for r in recipients)


def queue_sends(ctx: Context, taken: Sequence[Taken]) -> set[str]:
    """Queue every send of ``taken`` at once; the ids of the invoices with a send the
    queue did not take (their recipients stay ``queued``: a retry queues them)."""
    sends = [send for item in taken for send in item.to_queue]
    if not sends:
        return set()
    refused: list[QueuedSend] = []
    try:
        ctx.sends.enqueue(sends)
    except Exception as exc:  # the queue's own client failing: none was queued
        refused = exc.refused if isinstance(exc, NotQueued) else sends
        extra = {"not_queued": len(refused), "invoice_id": refused[0].invoice_id}
        logger.exception("the send queue refused sends", extra=extra)
    ctx.metrics.count("SendsQueued", len(sends) - len(refused))
    return {send.invoice_id for send in refused}


def not_queued(invoice_id: str) -> Unavailable:
    return Unavailable(
        "The invoice is stored but its sends could not be queued; retry shortly.",
        {"invoice_id": invoice_id},
    )


def enqueue(ctx: Context, invoice: Invoice, recipients: Sequence[Recipient]) -> None:
    """Queue the next attempt of each of ``recipients``; ``Unavailable`` when the queue
    did not take them all (the invoice is stored: a retry of the request queues them)."""
    if queue_sends(ctx, [Taken(invoice, False, sends_to(invoice, recipients))]):
        raise not_queued(invoice.id)


def _new_invoice(
    ctx: Context, account: Account, new: NewInvoice, invoice_id: str, idem: str | None
) -> Invoice:
    now = iso(ctx.clock())
    invoice = Invoice(
        id=invoice_id,
        account_id=account.id,
        number=new.number,
        customer_name=new.customer_name,
        currency=new.currency,
        total=new.total,
        due_date=new.due_date,
        issue_date=new.issue_date,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
        recipients=[
            Recipient(id=ids.new_recipient_id(), email=r.email, name=r.name, queued_at=now)
            for r in new.recipients
        ],
        lines=list(new.lines),
        subject=new.subject,
        message=new.message,
        reply_to=new.reply_to,
        locale=new.locale or account.locale or ctx.settings.default_locale,
        metadata=new.metadata,
        body_hash=new.body_hash,
        idempotency_key=idem,
        external_id=new.external_id,
        shard=int.from_bytes(invoice_id.encode()[-2:], "big") % max(1, account.index_shards),
        tracking=account.tracking if new.tracking is None else new.tracking,
        retention_days=account.retention_days,
        has_pdf=new.pdf is not None,
    )
    refresh_statuses(invoice)
    return invoice
