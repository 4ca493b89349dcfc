"""Status rules: how events change a recipient, and how an invoice's status derives
from its recipients. See docs/DESIGN.md, "Status rules".

Every status is computed from the *facts* recorded (first time delivered, first time
bounced, ...), never from the previous status, so the final state is the same whatever
order SES delivers events in, and a fact reported twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from chalicelib.model import (
    PROBLEM_STATUSES,
    EventType,
    Invoice,
    InvoiceStatus,
    Recipient,
    RecipientStatus,
    TimelineEvent,
    parse_iso,
)

# Highest first. Problems outrank progress for a recipient: a bounce after a
# delivery is the news the sender needs, and its delivery time is kept.
RECIPIENT_PRECEDENCE: tuple[RecipientStatus, ...] = (
    "complained",
    "bounced",
    "rejected",
    "opened",
    "delivered",
    "sent",
    "failed",
    "pending",
)
PROGRESS_PRECEDENCE: tuple[InvoiceStatus, ...] = ("opened", "delivered", "sent", "pending")

# An open reported by both our pixel and an SES Open event (when the configuration
# set also has SES open tracking on) is one open: same recipient, same user agent,
# within this window.
OPEN_MERGE_WINDOW = timedelta(seconds=60)

# The invoice item keeps this many events inline; older ones move to archive pages.
INLINE_EVENT_LIMIT = 200
ARCHIVED_KEYS_LIMIT = 2000


def recipient_status(recipient: Recipient) -> RecipientStatus:
    facts: dict[RecipientStatus, bool] = {
        "complained": recipient.complained_at is not None,
        "bounced": recipient.bounced_at is not None,
        "rejected": recipient.rejected_at is not None,
        "opened": recipient.first_opened_at is not None,
        "delivered": recipient.delivered_at is not None,
        "sent": recipient.sent_at is not None,
        "failed": recipient.failed_at is not None,
        "pending": True,
    }
    return next(status for status in RECIPIENT_PRECEDENCE if facts[status])


def invoice_status(recipients: list[Recipient]) -> InvoiceStatus:
    """The furthest any recipient got; a problem only when every recipient has one."""
    statuses = {r.status for r in recipients}
    for status in PROGRESS_PRECEDENCE:
        if status in statuses:
            return status
    return next(s for s in RECIPIENT_PRECEDENCE if s in statuses and s in PROBLEM_STATUSES)


def refresh(invoice: Invoice) -> None:
    for recipient in invoice.recipients:
        recipient.status = recipient_status(recipient)
    invoice.status = invoice_status(invoice.recipients)
    times = [e.at for e in invoice.events] + [invoice.created_at, invoice.last_activity_at]
    invoice.last_activity_at = max(t for t in times if t)


@dataclass(frozen=True)
class Fact:
    """Something that happened to one recipient of one invoice."""

    key: str
    type: EventType
    at: str
    recipient_id: str
    source: Any  # "api" | "ses" | "pixel"
    details: dict[str, Any] = field(default_factory=dict)


def _earlier(current: str | None, candidate: str) -> str:
    return candidate if current is None or candidate < current else current


def _later(current: str | None, candidate: str) -> str:
    return candidate if current is None or candidate > current else current


def has_seen(invoice: Invoice, key: str) -> bool:
    return key in invoice.archived_keys or any(e.key == key for e in invoice.events)


def apply_fact(invoice: Invoice, fact: Fact) -> bool:
    """Record ``fact`` on ``invoice``. Returns False when it was already recorded."""
    recipient = invoice.recipient(fact.recipient_id)
    if recipient is None or has_seen(invoice, fact.key):
        return False
    invoice.events.append(
        TimelineEvent(
            fact.key, fact.at, fact.type, fact.recipient_id, fact.source, dict(fact.details)
        )
    )
    if fact.type == "open":
        # Times are the earliest and latest report of any open; the count is recomputed
        # from the whole set, so neither depends on the order reports arrive in.
        recipient.first_opened_at = _earlier(recipient.first_opened_at, fact.at)
        recipient.last_opened_at = _later(recipient.last_opened_at, fact.at)
        recipient.open_count = recipient.archived_open_count + sum(
            1 for e in counted_opens(invoice.events) if e.recipient_id == recipient.id
        )
    else:
        _apply_to_recipient(recipient, fact)
    refresh(invoice)
    return True


def _apply_to_recipient(recipient: Recipient, fact: Fact) -> None:
    d = fact.details
    match fact.type:
        case "sent" | "send":
            recipient.sent_at = _earlier(recipient.sent_at, fact.at)
            if d.get("message_id") and not recipient.message_id:
                recipient.message_id = d["message_id"]
        case "send_failed" | "rendering_failure":
            if recipient.failed_at is None or fact.at >= recipient.failed_at:
                recipient.failure_reason = str(d.get("reason") or d.get("error") or fact.type)
            recipient.failed_at = _later(recipient.failed_at, fact.at)
        case "delivery":
            recipient.delivered_at = _earlier(recipient.delivered_at, fact.at)
        case "bounce":
            if recipient.bounced_at is None or fact.at < recipient.bounced_at:
                recipient.bounce = {k: d.get(k) for k in ("type", "subtype", "diagnostic")}
            recipient.bounced_at = _earlier(recipient.bounced_at, fact.at)
        case "complaint":
            if recipient.complained_at is None or fact.at < recipient.complained_at:
                recipient.complaint = {"type": d.get("feedback_type")}
            recipient.complained_at = _earlier(recipient.complained_at, fact.at)
        case "reject":
            if recipient.rejected_at is None or fact.at < recipient.rejected_at:
                recipient.reject_reason = d.get("reason")
            recipient.rejected_at = _earlier(recipient.rejected_at, fact.at)
        case "delivery_delay":
            recipient.delayed_at = _later(recipient.delayed_at, fact.at)
        case "click":
            recipient.click_count += 1
        case _:
            pass  # created, subscription: timeline only


def pair_opens(events: Iterable[TimelineEvent]) -> dict[str, str | None]:
    """For every open, the key of the pixel open it duplicates, or None when it counts.

    Every pixel open counts. An SES Open event duplicates a pixel open of the same
    recipient with the same user agent within OPEN_MERGE_WINDOW (when the
    configuration set also has SES open tracking on, one display loads both images).
    Pairs are matched over the whole set in time order, each SES open taking the
    earliest free pixel open it matches, so the result depends on the set of opens and
    never on the order their reports arrived in."""
    opens = sorted((e for e in events if e.type == "open"), key=lambda e: (e.at, e.key))
    pixels = [e for e in opens if e.source == "pixel"]
    pairs: dict[str, str | None] = {p.key: None for p in pixels}
    taken: set[str] = set()
    for report in (e for e in opens if e.source != "pixel"):
        if "counted_in" in report.details:  # paired with a pixel open since archived
            pairs[report.key] = str(report.details["counted_in"])
            continue
        at = parse_iso(report.at)
        pair = next(
            (
                p
                for p in pixels
                if p.key not in taken
                and p.recipient_id == report.recipient_id
                and p.details.get("user_agent") == report.details.get("user_agent")
                and abs(parse_iso(p.at) - at) <= OPEN_MERGE_WINDOW
            ),
            None,
        )
        pairs[report.key] = pair.key if pair else None
        if pair:
            taken.add(pair.key)
    return pairs


def counted_opens(events: Iterable[TimelineEvent]) -> list[TimelineEvent]:
    """The opens that count, in time order (see ``pair_opens``)."""
    events = list(events)
    pairs = pair_opens(events)
    return sorted(
        (e for e in events if e.type == "open" and pairs[e.key] is None),
        key=lambda e: (e.at, e.key),
    )


def split_for_archive(invoice: Invoice) -> list[TimelineEvent]:
    """When the inline timeline is full, remove and return its oldest half so the
    repository can write it to an archive page. Their keys stay for deduplication."""
    if len(invoice.events) <= INLINE_EVENT_LIMIT:
        return []
    ordered = sorted(invoice.events, key=lambda e: (e.at, e.key))
    moved, kept = ordered[: INLINE_EVENT_LIMIT // 2], ordered[INLINE_EVENT_LIMIT // 2 :]
    pairs = pair_opens(invoice.events)
    moved_keys = {e.key for e in moved}
    for event in kept:
        # An SES open paired with a pixel open that moves keeps its pair by name.
        pixel_key = pairs.get(event.key)
        if pixel_key in moved_keys:
            event.details["counted_in"] = pixel_key
    for event in moved:
        recipient = invoice.recipient(event.recipient_id) if event.recipient_id else None
        if recipient is not None and event.type == "open" and pairs[event.key] is None:
            recipient.archived_open_count += 1
    invoice.events = kept
    invoice.archived_keys = (invoice.archived_keys + [e.key for e in moved])[-ARCHIVED_KEYS_LIMIT:]
    invoice.archive_pages += 1
    return moved
