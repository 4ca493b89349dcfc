"""Sending invoices: store the invoice and queue one send per recipient (``POST
/invoices``, ``POST /invoices/{id}/send``, ``POST /invoices/{id}/recipients``); the
``sender`` function (chalicelib/sending/sender.py) then mails each recipient their own
tracked message, each attempt claimed first, and records each outcome (``deliver``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib import ids, recording
from chalicelib.context import Context
from chalicelib.core.model import Account, Invoice, MessageRef, Recipient, iso
from chalicelib.core.sends import QueuedSend, SendOutcome
from chalicelib.core.status import Fact, refresh_statuses
from chalicelib.core.stored import pdf_key
from chalicelib.errors import Conflict, SendRejected, SendThrottled, Unavailable
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
    # flight elsewhere, or interrupted): not mailed by this delivery.
    unsettled: frozenset[str] = frozenset()
    added: tuple[str, ...] = ()  # POST /invoices/{id}/recipients: the new recipients' ids


def send_invoice(
    ctx: Context, account: Account, body: Any, idempotency_key: str | None
) -> SendResult:
    """Store the invoice, then queue one send per recipient (all ``queued``)."""
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
        # A replay queues again what is still queued: the first request may have stored
        # the invoice and failed to queue (the sender takes a send twice harmlessly).
        _enqueue(ctx, existing, [r for r in existing.recipients if r.status == "queued"])
        return SendResult(existing, replayed=True)
    # Its creation is no fact of its own: the summary's created_at is it (core/history.py).
    ctx.metrics.count("InvoicesCreated")
    _enqueue(ctx, invoice, invoice.recipients)
    return SendResult(invoice, replayed=False)


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
    _enqueue(ctx, current, [r for r in current.recipients if r.id in {t.id for t in targets}])
    return SendResult(current, replayed=False)


def _enqueue(ctx: Context, invoice: Invoice, recipients: list[Recipient]) -> None:
    """One message a recipient on the send queue, for its next attempt; ``Unavailable``
    when the queue refuses (the invoice is stored: a retry of the request queues them)."""
    if not recipients:
        return
    sends = [QueuedSend(invoice.id, r.id, r.send_attempts + 1) for r in recipients]
    try:
        ctx.sends.enqueue(sends)
    except Exception as exc:
        logger.exception("the send queue refused", extra={"invoice_id": invoice.id})
        raise Unavailable(
            "The invoice is stored but its sends could not be queued; retry shortly.",
            {"invoice_id": invoice.id},
        ) from exc
    ctx.metrics.count("SendsQueued", len(sends))


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
    _enqueue(ctx, current, [r for r in current.recipients if r.id in ids_added])
    return SendResult(current, replayed=False, added=tuple(r.id for r in added))


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


class SesOutage(Unavailable):
    """SES failed in a way that does not say whether the message went out: the attempt's
    claim stays unsettled (an operator settles it: chalicelib/sending/claims.py)."""


class Throttled(Unavailable):
    """SES refused for its sending rate; nothing went out and the claim was given back."""


def deliver(
    ctx: Context,
    account: Account,
    invoice: Invoice,
    pdf: bytes | None,
    changed_at: str | None = None,
    only: set[str] | None = None,
    final: bool = True,
) -> SendResult:
    """Send to every recipient not yet sent (of ``only``), each attempt claimed first
    (no retry mails anyone twice), and record each outcome. A refusal, or a message
    that cannot be composed, is that recipient's failure and never stops the others.
    SES failing transiently stops the loop: ``SesOutage``; SES throttling too:
    ``Throttled``, unless ``final`` (the last try), when the recipient fails."""
    facts: list[Fact] = []
    refs: list[MessageRef] = []
    unsettled: set[str] = set()
    stopped: Unavailable | None = None
    for recipient in invoice.recipients:
        if recipient.sent_at is not None or (only is not None and recipient.id not in only):
            continue
        attempt = recipient.send_attempts + 1
        try:
            outcome = _send_once(ctx, account, invoice, recipient, attempt, pdf, final)
        except _Outage as exc:
            unsettled.add(recipient.id)
            stopped = SesOutage("Amazon SES is unavailable; retry shortly.")
            stopped.__cause__ = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
            break
        except _Throttle as exc:
            stopped = Throttled(f"Amazon SES is throttling: {exc}")
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
    if stopped is not None:
        raise stopped
    return SendResult(
        recorded.invoice if recorded else invoice, replayed=False, unsettled=frozenset(unsettled)
    )


class _Outage(Exception):
    """SES failed in a way that does not say whether the message went out."""


class _Throttle(Exception):
    """SES refused for its rate: not sent, the claim given back."""


def _send_once(
    ctx: Context,
    account: Account,
    invoice: Invoice,
    recipient: Recipient,
    attempt: int,
    pdf: bytes | None,
    final: bool = True,
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
    except SendThrottled as exc:
        ctx.metrics.count("SendsThrottled")
        if not final:  # SES said no: nothing went out, so the attempt is free again
            ctx.invoices.release_send(invoice.id, recipient.id, attempt)
            raise _Throttle(str(exc)) from exc
        logger.warning("SES kept throttling", extra={"invoice_id": invoice.id})
        outcome = SendOutcome(iso(ctx.clock()), reason=f"SES kept throttling: {exc}"[:300])
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
