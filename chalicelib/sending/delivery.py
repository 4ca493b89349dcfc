"""Mailing an invoice's queued sends and reminders (the ``sender`` function runs them:
chalicelib/sending/sender.py): each recipient's attempt claimed before SendEmail, so no
retry, replay or second consumer ever mails anyone twice; each outcome recorded, all of
one delivery in one write. See docs/DESIGN.md, "Sending once" and "The send queue"."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from chalicelib import recording
from chalicelib.context import Context
from chalicelib.core.model import Account, Invoice, MessageRef, Recipient, iso
from chalicelib.core.sends import SendOutcome
from chalicelib.core.status import Fact
from chalicelib.errors import SendRejected, SendThrottled
from chalicelib.observability import logger
from chalicelib.sending.outgoing import tracked_email
from chalicelib.sending.reminders import remindable, reminder_subject

# How the reason of a recipient failed because SES throttled its last try begins.
KEPT_THROTTLING = "SES kept throttling"


@dataclass(frozen=True)
class Reminder:
    """Reminder ``number`` of an invoice, sent for ``trigger`` ("scheduled", "manual")."""

    number: int
    trigger: str


@dataclass(frozen=True)
class Delivery:
    """What one delivery did: the invoice as it recorded it; the recipients (of those
    asked) it never tried because SES stopped it — throttling stops it before the
    throttled recipient (nothing went out: they come back later), an outage after the
    recipient whose claim it leaves unsettled (an operator settles that one:
    chalicelib/sending/claims.py); and those it gave up on, throttled on their last
    try (failed: their messages go on to the dead-letter queue)."""

    invoice: Invoice
    untried: frozenset[str] = frozenset()
    gave_up: frozenset[str] = frozenset()


def deliver(
    ctx: Context,
    account: Account,
    invoice: Invoice,
    pdf: bytes | None,
    only: Collection[str],
    final: Collection[str] = (),
    changed_at: str | None = None,
    pace: Callable[[], None] = lambda: None,
    reminder: Reminder | None = None,
) -> Delivery:
    """Mail the recipients of ``only`` still due — not yet sent, or, for a ``reminder``,
    still to remind (``remindable``) — each attempt claimed first and each send paced
    (``pace`` waits for its slot), then record every outcome in one write. A refusal,
    or a message that cannot be composed, is that recipient's failure and never stops
    the others; SES throttling or failing transiently stops the rest, except that a
    recipient of ``final`` (its last try) throttled is failed."""
    due, message = _due(account, invoice, reminder)
    facts: list[Fact] = []
    refs: list[MessageRef] = []
    untried: set[str] = set()
    gave_up: set[str] = set()
    stopped = False
    for recipient in invoice.recipients:
        if recipient.id not in only or recipient.id not in due:
            continue
        if stopped:
            untried.add(recipient.id)
            continue
        attempt = reminder.number if reminder else recipient.send_attempts + 1
        pace()
        try:
            outcome = _send_once(
                ctx, account, message, recipient, attempt, pdf, recipient.id in final, reminder
            )
        except _Throttle:
            stopped = True
            untried.add(recipient.id)
            continue
        except _Outage:
            stopped = True
            continue
        except _GaveUp as given_up:
            outcome = given_up.outcome
            gave_up.add(recipient.id)
        if outcome is None:
            continue
        facts.append(outcome_fact(recipient.id, attempt, outcome, reminder))
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
    current = recorded.invoice if recorded else invoice
    return Delivery(current, frozenset(untried), frozenset(gave_up))


def _due(account: Account, invoice: Invoice, reminder: Reminder | None) -> tuple[set[str], Invoice]:
    """The recipients still due, and the invoice their message is made of: for a
    reminder, the invoice email again with "Reminder: " before its subject (the same
    tracking, so its opens count for the same recipient)."""
    if reminder is None:
        return {r.id for r in invoice.recipients if r.sent_at is None}, invoice
    subject = reminder_subject(invoice, account.name)
    return {r.id for r in remindable(invoice)}, replace(invoice, subject=subject)


class _Outage(Exception):
    """SES failed in a way that does not say whether the message went out."""


class _Throttle(Exception):
    """SES refused for its rate: not sent, the claim given back."""


class _GaveUp(Exception):
    """SES throttled the last try: the attempt is settled as failed with ``outcome``."""

    def __init__(self, outcome: SendOutcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def _send_once(
    ctx: Context,
    account: Account,
    invoice: Invoice,
    recipient: Recipient,
    attempt: int,
    pdf: bytes | None,
    final: bool,
    reminder: Reminder | None,
) -> SendOutcome | None:
    """Attempt ``attempt`` (or reminder ``attempt``) of mailing ``recipient``: at most
    once, whoever asks. None when its outcome is not known: another consumer holds the
    claim (in flight), or one stopped after claiming and before settling it (a crash,
    an SES timeout) — then the recipient is never mailed again for this attempt. If SES
    did take that message, its Send event (tagged with the recipient) makes them
    ``sent``; see docs/DESIGN.md."""
    try:
        email = tracked_email(ctx, account, invoice, recipient, pdf)
    except Exception as exc:  # whatever the message holds, one recipient's failure
        logger.exception("could not compose a message", extra={"invoice_id": invoice.id})
        reason = f"the message could not be composed: {exc}"[:300]  # kept in the summary
        return SendOutcome(iso(ctx.clock()), reason=reason)
    is_reminder = reminder is not None
    claim = ctx.invoices.claim_send(
        invoice.id,
        recipient.id,
        attempt,
        iso(ctx.clock()),
        ctx.invoice_expiry(invoice),
        is_reminder,
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
            ctx.invoices.release_send(invoice.id, recipient.id, attempt, is_reminder)
            raise _Throttle(str(exc)) from exc
        logger.warning(KEPT_THROTTLING, extra={"invoice_id": invoice.id})
        outcome = SendOutcome(iso(ctx.clock()), reason=f"{KEPT_THROTTLING}: {exc}"[:300])
        ctx.invoices.settle_send(invoice.id, recipient.id, attempt, outcome, is_reminder)
        raise _GaveUp(outcome) from exc
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
        ctx.metrics.count("RemindersSent" if is_reminder else "InvoicesSent")
        logger.info("sent", extra={"invoice_id": invoice.id, "message_id": message_id})
        outcome = SendOutcome(iso(ctx.clock()), message_id=message_id)
    ctx.invoices.settle_send(invoice.id, recipient.id, attempt, outcome, is_reminder)
    return outcome


def outcome_fact(
    recipient_id: str, attempt: int, outcome: SendOutcome, reminder: Reminder | None = None
) -> Fact:
    """The fact of an outcome; its key and time come from the outcome, so a retry that
    completes an interrupted attempt records the very same fact."""
    if reminder is not None:
        return reminder_fact(recipient_id, attempt, outcome, reminder.trigger)
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


def reminder_fact(recipient_id: str, number: int, outcome: SendOutcome, trigger: str) -> Fact:
    """Reminder ``number``'s fact: its message id, or why it did not go out. The
    summary's ``reminders_sent`` becomes the highest number recorded."""
    details: dict[str, object] = {"n": number, "trigger": trigger}
    if outcome.message_id is not None:
        details["message_id"] = outcome.message_id
    else:
        details["error"] = outcome.reason or "not sent"
    return Fact(
        f"reminder-{recipient_id}-{number}", "reminder", outcome.at, recipient_id, "api", details
    )
