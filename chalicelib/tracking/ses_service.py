"""SES events as SNS delivers them: every record applied to the recipient it names, a
payload that cannot be processed kept for an operator (``tools.admin unprocessed``).

A record ends one of four ways: processed, duplicate, ignored (not Sobre's, or not the
tenant it claims), or kept as unprocessable. Only a transient storage failure raises
(so that Lambda retries the invocation); anything else that goes wrong with one record
— a payload that does not fit the schema, a time outside the invoice's window, an
error while applying it — keeps that record, replayable, and goes on with the next."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from chalicelib import recording
from chalicelib.context import Context
from chalicelib.core.model import FETCH_TYPES, Invoice, iso, parse_iso
from chalicelib.core.privacy import scrub_ips
from chalicelib.core.status import Fact
from chalicelib.errors import Unavailable
from chalicelib.observability import logger
from chalicelib.tracking.ses_events import (
    SesNotification,
    Unprocessable,
    parse_notification,
    sns_message_of,
)
from chalicelib.tracking.ses_transient import is_transient

# An event's time must fall in [the invoice's creation - EARLIEST, now + LATEST]: no
# SES event about a message precedes its send (every send of an invoice follows its
# creation; an hour allows for clocks), and none reports what has not happened yet
# (15 minutes of skew). Outside, the event is kept as unprocessable, not clamped: a
# clamped time would be one SES never reported, moving a delivery or re-judging opens
# on a made-up moment, and a time that far off means the payload is corrupt or forged.
# Kept, it can be read and replayed (a replay checks against the clock of its day).
EARLIEST = timedelta(hours=1)
LATEST = timedelta(minutes=15)


def process_sns_event(ctx: Context, event: Any) -> dict[str, int]:
    """Handle every record of a Lambda SNS event. Unprocessable payloads are kept for
    an operator; transient failures raise so that Lambda retries."""
    outcome = {"processed": 0, "duplicate": 0, "ignored": 0, "unprocessable": 0}
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        _keep_unprocessable(ctx, "not an SNS event: no Records", event)
        outcome["unprocessable"] += 1
        return outcome
    for record in records:
        try:
            result = apply_notification(ctx, parse_notification(sns_message_of(record)))
        except Unprocessable as exc:
            _keep_unprocessable(ctx, str(exc), record)
            result = "unprocessable"
        except Exception as exc:
            if is_transient(exc):
                # The retried invocation (and, after the last attempt, the DLQ) carries
                # only this message: no payload, no address.
                raise Unavailable(f"transient storage failure ({type(exc).__name__})") from None
            logger.warning("SES event failed to apply", extra={"error": type(exc).__name__})
            _keep_unprocessable(ctx, f"could not be applied: {type(exc).__name__}: {exc}", record)
            result = "unprocessable"
        outcome[result] += 1
    return outcome


def replay_payload(ctx: Context, payload: str) -> str:
    """Process a kept payload again (an SNS record as JSON); returns the outcome."""
    try:
        return apply_notification(ctx, parse_notification(sns_message_of(json.loads(payload))))
    except (Unprocessable, ValueError, RecursionError) as exc:
        return f"unprocessable: {scrub_ips(str(exc)[:1000])}"
    except Exception as exc:
        if is_transient(exc):
            raise
        return f"unprocessable: could not be applied: {type(exc).__name__}"


def _dumped(payload: Any) -> str:
    try:
        # Unescaped: a 256 KB message of non-ASCII text stays about 256 KB when kept.
        return json.dumps(payload, default=str, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        return repr(payload)[:350_000]


def _keep_unprocessable(ctx: Context, reason: str, payload: Any) -> None:
    # Nothing is kept with a whole address: every IP-shaped literal in the payload and
    # the reason is cut to its network first (the store is read by operators).
    reason = scrub_ips(reason[:1000])
    try:
        item_id = ctx.unprocessed.keep(iso(ctx.clock()), reason, scrub_ips(_dumped(payload)))
    except Exception as exc:
        # Raised, the error goes to the retry and the DLQ: its class only, never its
        # message (which may quote what was being written).
        kind = "transient storage failure" if is_transient(exc) else "failure"
        raise Unavailable(
            f"unprocessable SNS record not kept: {kind} ({type(exc).__name__})"
        ) from None
    ctx.metrics.count("SesEventsUnprocessable")
    logger.warning("unprocessable SNS record kept", extra={"reason": reason, "kept_as": item_id})


def _bound(ctx: Context, notification: SesNotification) -> tuple[str, str | None, str] | None:
    """(invoice, recipient, account) the notification is about, bound to its tenant:
    its account tag names the invoice's account (checked by the caller), or — with no
    account tag — its message id resolves (``MSG#``) to that invoice and recipient.
    None: not Sobre's, or not the tenant it claims."""
    invoice_id, recipient_id = notification.invoice_id, notification.recipient_id
    if invoice_id is not None and notification.account_id is not None:
        return invoice_id, recipient_id, notification.account_id
    ref = ctx.invoices.get_message_ref(notification.message_id)
    if ref is None:
        return None
    if invoice_id is not None and ref.invoice_id != invoice_id:
        return None
    if recipient_id is not None and ref.recipient_id != recipient_id:
        return None
    return ref.invoice_id, ref.recipient_id, ref.account_id


def _check_times(ctx: Context, invoice: Invoice, notification: SesNotification) -> None:
    start = parse_iso(invoice.created_at) - EARLIEST
    end = ctx.clock() + LATEST
    times = [e.at for e in notification.events] + [notification.mail_at or iso(end)]
    for at in times:
        if not start <= parse_iso(at) <= end:
            raise Unprocessable(
                f"{notification.event_type} event time {at} is outside the invoice's "
                f"window [{iso(start)}, {iso(end)}]"
            )


def apply_notification(ctx: Context, notification: SesNotification) -> str:
    """'processed', 'duplicate' or 'ignored' (not a message Sobre sent, or not the
    tenant it claims); raises ``Unprocessable`` for an event outside its time window."""
    bound = _bound(ctx, notification)
    log_keys = {
        "message_id": notification.message_id,
        "invoice_id": bound[0] if bound else notification.invoice_id,
        "event_type": notification.event_type,
    }
    if bound is None:
        logger.info("SES event for a message Sobre did not send", extra=log_keys)
        ctx.metrics.count("SesEventsIgnored")
        return "ignored"
    invoice_id, recipient_id, account_id = bound
    before = ctx.invoices.get_summary(invoice_id)
    if before is None or before.account_id != account_id:
        logger.info("SES event for an unknown invoice", extra=log_keys)
        ctx.metrics.count("SesEventsIgnored")
        return "ignored"
    _check_times(ctx, before, notification)
    facts = []
    for event in notification.events:
        recipient = before.recipient_by_email(event.email) or (
            before.recipient(recipient_id) if recipient_id else None
        )
        if recipient is not None:
            facts.append(Fact(event.key, event.type, event.at, recipient.id, "ses", event.details))
    fetches = [f for f in facts if f.type in FETCH_TYPES]
    others = [f for f in facts if f.type not in FETCH_TYPES]
    changed = False
    if others:
        recorded = recording.record(ctx, invoice_id, others, preloaded=before)
        changed = bool(recorded and recorded.changed)
    for fact in fetches:  # SES Open and Click: judged and counted like Sobre's own
        recorded_fetch = recording.record_fetch(ctx, invoice_id, fact)
        changed = changed or bool(recorded_fetch and recorded_fetch.changed)
    if not changed:
        logger.info("duplicate SES event", extra=log_keys)
        return "duplicate"
    ctx.metrics.count("SesEventsProcessed", eventType=notification.event_type)
    logger.info("SES event processed", extra=log_keys)
    return "processed"
