"""SES events as SNS delivers them: every record applied to the recipient it names, a
payload that cannot be processed kept for an operator (``tools.admin unprocessed``)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import recording
from chalicelib.context import Context
from chalicelib.core.model import FETCH_TYPES, iso
from chalicelib.core.status import Fact
from chalicelib.observability import logger
from chalicelib.tracking.ses_events import (
    SesNotification,
    Unprocessable,
    parse_notification,
    sns_message_of,
)


def process_sns_event(ctx: Context, event: dict[str, Any]) -> dict[str, int]:
    """Handle every record of a Lambda SNS event. Unprocessable payloads are kept for
    an operator; transient failures raise so that Lambda retries."""
    outcome = {"processed": 0, "duplicate": 0, "ignored": 0, "unprocessable": 0}
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        _keep_unprocessable(ctx, "not an SNS event: no Records", json.dumps(event, default=str))
        outcome["unprocessable"] += 1
        return outcome
    for record in records:
        try:
            notification = parse_notification(sns_message_of(record))
        except Unprocessable as exc:
            _keep_unprocessable(ctx, str(exc), json.dumps(record, default=str))
            outcome["unprocessable"] += 1
            continue
        outcome[apply_notification(ctx, notification)] += 1
    return outcome


def replay_payload(ctx: Context, payload: str) -> str:
    """Process a kept payload again (an SNS record as JSON); returns the outcome."""
    try:
        notification = parse_notification(sns_message_of(json.loads(payload)))
    except (Unprocessable, ValueError) as exc:
        return f"unprocessable: {exc}"
    return apply_notification(ctx, notification)


def _keep_unprocessable(ctx: Context, reason: str, payload: str) -> None:
    item_id = ctx.unprocessed.keep(iso(ctx.clock()), reason, payload)
    ctx.metrics.count("SesEventsUnprocessable")
    logger.warning("unprocessable SNS record kept", extra={"reason": reason, "kept_as": item_id})


def apply_notification(ctx: Context, notification: SesNotification) -> str:
    """'processed', 'duplicate' or 'ignored' (not a message Sobre sent)."""
    invoice_id, recipient_id, account_id = (
        notification.invoice_id,
        notification.recipient_id,
        notification.account_id,
    )
    if invoice_id is None:
        ref = ctx.invoices.get_message_ref(notification.message_id)
        if ref is not None:
            invoice_id, recipient_id, account_id = ref.invoice_id, ref.recipient_id, ref.account_id
    log_keys = {
        "message_id": notification.message_id,
        "invoice_id": invoice_id,
        "event_type": notification.event_type,
    }
    if invoice_id is None:
        logger.info("SES event for a message Sobre did not send", extra=log_keys)
        ctx.metrics.count("SesEventsIgnored")
        return "ignored"

    before = ctx.invoices.get_summary(invoice_id)
    if before is None or (account_id is not None and before.account_id != account_id):
        logger.info("SES event for an unknown invoice", extra=log_keys)
        ctx.metrics.count("SesEventsIgnored")
        return "ignored"
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
