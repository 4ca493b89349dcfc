"""Status rules: how events change a recipient, and how an invoice's status derives
from its recipients. See docs/DESIGN.md, "Status rules".

Every status is computed from the *facts* recorded (first time delivered, first time
bounced, ...), never from the previous status, so the final state is the same whatever
order SES delivers events in, and a fact reported twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from chalicelib.core.classification import BURST_WINDOW, PERSON_VERDICTS, FetchSignals, classify
from chalicelib.core.model import (
    FETCH_TYPES,
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
    "viewed",
    "opened",
    "delivered",
    "sent",
    "failed",
    "pending",
)
PROGRESS_PRECEDENCE: tuple[InvoiceStatus, ...] = (
    "viewed",
    "opened",
    "delivered",
    "sent",
    "pending",
)

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
        "viewed": recipient.viewed_at is not None,
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
    """Recompute everything that derives from the facts: verdicts, counts, statuses."""
    judge_fetches(invoice)
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
    if fact.type not in FETCH_TYPES:  # fetches are judged and counted in refresh()
        _apply_to_recipient(recipient, fact)
    refresh(invoice)
    return True


# What a fetch fetched, for bursts: a click and the hosted page it leads to are one
# link; the page's "viewed" beacon confirms a display and is not a fetch at all.
_TARGET = {"open": "pixel", "click": "link", "view": "link"}


def judge_fetches(invoice: Invoice) -> None:
    """Give every inline fetch its verdict and recount each recipient's opens.

    Verdicts and counts are recomputed from the whole inline timeline on every change,
    so a Delivery that arrives after the opens it explains still re-times them, and the
    result never depends on arrival order."""
    pairs = pair_opens(invoice.events)
    for recipient in invoice.recipients:
        fetches = sorted(
            (e for e in invoice.events if e.recipient_id == recipient.id and e.type in FETCH_TYPES),
            key=lambda e: (e.at, e.key),
        )
        sent = parse_iso(recipient.sent_at) if recipient.sent_at else None
        delivered = parse_iso(recipient.delivered_at) if recipient.delivered_at else None
        times = [parse_iso(e.at) for e in fetches]
        person_seen = False
        for index, event in enumerate(fetches):
            at = times[index]
            judgement = classify(
                FetchSignals(
                    kind="open"
                    if event.type == "open"
                    else "click"
                    if event.type == "click"
                    else "view",
                    at=at,
                    user_agent=event.details.get("user_agent"),
                    network=event.details.get("ip"),
                    method=event.details.get("method"),
                    sent_at=sent,
                    delivered_at=delivered,
                    burst=len(
                        {
                            _TARGET[other.type]
                            for other, t in zip(fetches, times, strict=True)
                            if other.type in _TARGET and abs(t - at) <= BURST_WINDOW
                        }
                    ),
                    repeat=person_seen,
                    from_sender=bool(event.details.get("from_sender")),
                )
            )
            event.details["verdict"] = judgement.verdict
            event.details["confidence"] = judgement.confidence
            event.details["reasons"] = list(judgement.reasons)
            person_seen = person_seen or judgement.is_person
        _recount(recipient, fetches, pairs)


@dataclass(frozen=True)
class Tally:
    """What a set of fetches adds up to for one recipient."""

    open_count: int = 0
    machine_open_count: int = 0
    click_count: int = 0
    first_opened_at: str | None = None
    last_opened_at: str | None = None
    first_machine_open_at: str | None = None
    viewed_at: str | None = None

    @staticmethod
    def of(fetches: Iterable[TimelineEvent], pairs: dict[str, str | None]) -> Tally:
        person_opens: list[str] = []
        machine_opens: list[str] = []
        person_clicks = 0
        views: list[str] = []
        for event in fetches:
            person = event.details.get("verdict") in PERSON_VERDICTS
            if event.type == "open" and pairs.get(event.key) is None:
                if person:
                    person_opens.append(event.at)
                elif event.details.get("verdict") != "sender":  # previews count nowhere
                    machine_opens.append(event.at)
            elif event.type == "click" and person:
                person_clicks += 1
            elif event.type == "viewed" and person:
                views.append(event.at)
        return Tally(
            open_count=len(person_opens),
            machine_open_count=len(machine_opens),
            click_count=person_clicks,
            first_opened_at=min(person_opens, default=None),
            last_opened_at=max(person_opens, default=None),
            first_machine_open_at=min(machine_opens, default=None),
            viewed_at=min(views, default=None),
        )

    def plus(self, other: Tally) -> Tally:
        def first(a: str | None, b: str | None) -> str | None:
            return min((t for t in (a, b) if t), default=None)

        def last(a: str | None, b: str | None) -> str | None:
            return max((t for t in (a, b) if t), default=None)

        return Tally(
            open_count=self.open_count + other.open_count,
            machine_open_count=self.machine_open_count + other.machine_open_count,
            click_count=self.click_count + other.click_count,
            first_opened_at=first(self.first_opened_at, other.first_opened_at),
            last_opened_at=last(self.last_opened_at, other.last_opened_at),
            first_machine_open_at=first(self.first_machine_open_at, other.first_machine_open_at),
            viewed_at=first(self.viewed_at, other.viewed_at),
        )


def _recount(
    recipient: Recipient, fetches: list[TimelineEvent], pairs: dict[str, str | None]
) -> None:
    """Counts and times from the inline fetches plus what was archived."""
    total = Tally(**recipient.archived).plus(Tally.of(fetches, pairs))
    recipient.open_count = total.open_count
    recipient.machine_open_count = total.machine_open_count
    recipient.click_count = total.click_count
    recipient.first_opened_at = total.first_opened_at
    recipient.last_opened_at = total.last_opened_at
    recipient.first_machine_open_at = total.first_machine_open_at
    recipient.viewed_at = total.viewed_at


# One case a fact type, each a line or two: one match reads better than nine functions.
def _apply_to_recipient(recipient: Recipient, fact: Fact) -> None:  # noqa: C901
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
    for recipient in invoice.recipients:
        mine = [e for e in moved if e.recipient_id == recipient.id and e.type in FETCH_TYPES]
        if mine:
            archived = Tally(**recipient.archived).plus(Tally.of(mine, pairs))
            recipient.archived = asdict(archived)
    invoice.events = kept
    invoice.archived_keys = (invoice.archived_keys + [e.key for e in moved])[-ARCHIVED_KEYS_LIMIT:]
    invoice.archive_pages += 1
    return moved
