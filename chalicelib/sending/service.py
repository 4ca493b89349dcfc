"""Sending invoices: store the invoice, then mail each recipient their own tracked
message and record each outcome (``POST /invoices``, ``POST /invoices/{id}/send``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chalicelib import ids, recording
from chalicelib.context import Context
from chalicelib.core.model import Account, Invoice, MessageRef, Recipient, TimelineEvent, iso
from chalicelib.core.sends import SendOutcome
from chalicelib.core.status import Fact, refresh_statuses
from chalicelib.core.stored import pdf_key
from chalicelib.errors import Conflict, SendRejected, Unavailable
from chalicelib.errors import ValidationFailed as Invalid
from chalicelib.observability import logger
from chalicelib.render.mime import pdf_filename
from chalicelib.sending.outgoing import tracked_email
from chalicelib.sending.queries import get_invoice
from chalicelib.sending.validation import (
    MAX_RECIPIENTS,
    NewInvoice,
    parse_new_invoice,
    parse_new_recipients,
)


@dataclass(frozen=True)
class SendResult:
    invoice: Invoice
    replayed: bool
    # Recipients whose current attempt is claimed but whose outcome is not known (in
    # flight elsewhere, or interrupted): not mailed by this request.
    unsettled: frozenset[str] = frozenset()
    added: tuple[str, ...] = ()  # POST /invoices/{id}/recipients: the new recipients' ids


def send_invoice(
    ctx: Context, account: Account, body: Any, idempotency_key: str | None
) -> SendResult:
    """Store the invoice, then send one message per recipient."""
    new = parse_new_invoice(body)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise Invalid(
            "Bad Idempotency-Key.",
            [{"field": "Idempotency-Key", "message": "must be 1 to 255 characters"}],
        )
    # The account's own external_id decides the id (unique per account: the
    # conditional create is the check, a lookup is one GetItem), else the key's.
    if new.external_id is not None:
        invoice_id = ctx.signer.invoice_id_for_external(account.id, new.external_id)
    elif idempotency_key:
        invoice_id = ctx.signer.invoice_id_for(account.id, idempotency_key)
    else:
        invoice_id = ids.new_invoice_id()
    invoice = _new_invoice(ctx, account, new, invoice_id, idempotency_key)
    if new.pdf is not None:
        # The PDF first, so an invoice that exists always has its attachment.
        ctx.pdfs.put(pdf_key(invoice), new.pdf, pdf_filename(invoice))
    if not ctx.invoices.create(invoice):
        existing = ctx.invoices.get(invoice_id)
        if existing is None or existing.account_id != account.id:
            raise Unavailable("The idempotent request could not be resolved; retry.")
        if existing.body_hash != new.body_hash:
            if new.external_id is not None:
                raise Conflict(
                    "This external_id was already used with a different body.",
                    {"external_id": new.external_id, "invoice_id": invoice_id},
                )
            raise Conflict(
                "This Idempotency-Key was already used with a different body.",
                {"idempotency_key": idempotency_key, "invoice_id": invoice_id},
            )
        return SendResult(existing, replayed=True)
    created = TimelineEvent(f"created-{invoice.id}", invoice.created_at, "created", None, "api")
    ctx.invoices.add_fact(invoice.id, created, ctx.invoice_expiry(invoice))
    ctx.metrics.count("InvoicesCreated")
    # The first sends are part of the creation: the list keeps the invoice where its
    # creation put it (its index entry is updated in place, not moved: 1 WRU, not 2).
    return _deliver(ctx, account, invoice, new.pdf, changed_at=invoice.created_at)


def retry_failed(ctx: Context, account: Account, invoice_id: str) -> SendResult:
    """Send again to the recipients that never went out (failed, or never attempted)."""
    invoice = get_invoice(ctx, account, invoice_id)
    pdf = ctx.pdfs.get(pdf_key(invoice)) if invoice.has_pdf else None
    return _deliver(ctx, account, invoice, pdf)


def add_recipients(ctx: Context, account: Account, invoice_id: str, body: Any) -> SendResult:
    """Add recipients to an invoice and send it to them now, each their own message,
    tokens and history (``POST /invoices/{id}/recipients``). One already on the
    invoice is a ``Conflict``; at most MAX_RECIPIENTS in all. The summary's conditional
    write adds them (of two concurrent adds of one address, one wins, the other is a
    conflict); a crash before they are mailed leaves them pending, for ``POST /send``."""
    new = parse_new_recipients(body)
    invoice = get_invoice(ctx, account, invoice_id)
    if invoice.payment_status == "void":
        raise Conflict("A void invoice is not sent again.", {"invoice_id": invoice.id})
    added = [Recipient(id=ids.new_recipient_id(), email=r.email, name=r.name) for r in new]

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

    recording.update_summary(ctx, invoice.id, invoice, change, iso(ctx.clock()))
    current = get_invoice(ctx, account, invoice_id)
    pdf = ctx.pdfs.get(pdf_key(current)) if current.has_pdf else None
    result = _deliver(ctx, account, current, pdf, only={r.id for r in added})
    return replace(result, added=tuple(r.id for r in added))


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
            Recipient(id=ids.new_recipient_id(), email=r.email, name=r.name) for r in new.recipients
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


def _deliver(
    ctx: Context,
    account: Account,
    invoice: Invoice,
    pdf: bytes | None,
    changed_at: str | None = None,
    only: set[str] | None = None,
) -> SendResult:
    """Send to every recipient not yet sent, each attempt claimed first (no retry mails
    anyone twice), and record each outcome. A refusal, or a message that cannot be
    composed, is that recipient's failure and never stops the others. SES failing
    transiently stops the loop (the rest are mailed by a retry) and answers 503."""
    facts: list[Fact] = []
    refs: list[MessageRef] = []
    unsettled: set[str] = set()
    outage: Exception | None = None
    for recipient in invoice.recipients:
        if recipient.sent_at is not None or (only is not None and recipient.id not in only):
            continue
        attempt = recipient.send_attempts + 1
        try:
            outcome = _send_once(ctx, account, invoice, recipient, attempt, pdf)
        except _Outage as exc:
            unsettled.add(recipient.id)
            outage = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
            break
        if outcome is None:
            unsettled.add(recipient.id)
            continue
        facts.append(outcome_fact(recipient.id, attempt, outcome))
        if outcome.message_id is not None:
            refs.append(MessageRef(outcome.message_id, account.id, invoice.id, recipient.id))
    if refs:
        # Classic SES notifications carry no tags: they are matched by message id.
        ctx.invoices.put_message_refs(refs, ctx.expires_at(ctx.clock()))
    recorded = (
        recording.record(ctx, invoice.id, facts, preloaded=invoice, changed_at=changed_at)
        if facts
        else None
    )
    if outage is not None:
        raise Unavailable("Amazon SES is unavailable; retry shortly.") from outage
    return SendResult(
        recorded.invoice if recorded else invoice, replayed=False, unsettled=frozenset(unsettled)
    )


class _Outage(Exception):
    """SES failed in a way that does not say whether the message went out."""


def _send_once(
    ctx: Context,
    account: Account,
    invoice: Invoice,
    recipient: Recipient,
    attempt: int,
    pdf: bytes | None,
) -> SendOutcome | None:
    """Attempt ``attempt`` of mailing ``recipient``: at most once, whoever asks. None
    when its outcome is not known: another request holds the claim (in flight), or one
    stopped after claiming and before settling it (a crash, an SES timeout) — then the
    recipient is never mailed again for this attempt. If SES did take that message, its
    Send event (tagged with the recipient) makes them ``sent``; see docs/DESIGN.md."""
    try:
        email = tracked_email(ctx, account, invoice, recipient, pdf)
    except Exception as exc:  # whatever the message holds, one recipient's failure
        logger.exception("could not compose a message", extra={"invoice_id": invoice.id})
        reason = f"the message could not be composed: {exc}"[:300]  # kept in the summary
        return SendOutcome(iso(ctx.clock()), reason=reason)
    claim = ctx.invoices.claim_send(
        invoice.id, recipient.id, attempt, iso(ctx.clock()), ctx.invoice_expiry(invoice)
    )
    if not claim.won:
        if claim.outcome is None:
            logger.warning(
                "send attempt already claimed, outcome unknown: not mailed again",
                extra={"invoice_id": invoice.id, "recipient_id": recipient.id},
            )
            ctx.metrics.count("SendsUnsettled")
        return claim.outcome  # a settled one completes the attempt that was interrupted
    try:
        message_id = ctx.mailer.send(email)
    except SendRejected as exc:
        logger.warning(
            "SES refused a recipient", extra={"invoice_id": invoice.id, "reason": str(exc)}
        )
        outcome = SendOutcome(iso(ctx.clock()), reason=str(exc))
    except Exception as exc:
        # A timeout may come after SES took the message: the claim stays unsettled.
        logger.exception("SES failed", extra={"invoice_id": invoice.id})
        raise _Outage(str(exc)) from exc
    else:
        ctx.metrics.count("InvoicesSent")
        logger.info("sent", extra={"invoice_id": invoice.id, "message_id": message_id})
        outcome = SendOutcome(iso(ctx.clock()), message_id=message_id)
    ctx.invoices.settle_send(invoice.id, recipient.id, attempt, outcome)
    return outcome


def outcome_fact(recipient_id: str, attempt: int, outcome: SendOutcome) -> Fact:
    """The fact of an outcome; its key and time come from the outcome, so a retry that
    completes an interrupted attempt records the very same fact."""
    if outcome.message_id is not None:
        return Fact(
            f"api-sent-{recipient_id}",
            "sent",
            outcome.at,
            recipient_id,
            "api",
            {"message_id": outcome.message_id, "attempt": attempt},
        )
    return Fact(
        f"api-failed-{recipient_id}-{attempt}",
        "send_failed",
        outcome.at,
        recipient_id,
        "api",
        {"reason": outcome.reason or "not sent", "attempt": attempt},
    )
