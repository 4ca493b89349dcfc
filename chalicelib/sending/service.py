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
from chalicelib.core.sends import SendOutcome
from chalicelib.core.status import Fact, refresh_statuses
from chalicelib.errors import Conflict, DomainError, SendRejected, SendThrottled, Unavailable
from chalicelib.errors import ValidationFailed as Invalid
from chalicelib.observability import logger
from chalicelib.sending import intake
from chalicelib.sending.outgoing import tracked_email
from chalicelib.sending.queries import get_invoice
from chalicelib.sending.validation import MAX_RECIPIENTS, parse_new_recipients


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
