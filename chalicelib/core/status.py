"""Status rules: how events change a recipient, and how an invoice's status derives
from its recipients. See docs/DESIGN.md, "Status rules".

Every status is computed from the *facts* recorded (first time delivered, first time
bounced, ...), never from the previous status, so the final state is the same whatever
order SES delivers events in, and a fact reported twice changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.core import beacon
from chalicelib.core.classification import BURST_WINDOW, PERSON_VERDICTS, FetchSignals, classify
from chalicelib.core.model import (
    FETCH_TYPES,
    PROBLEM_STATUSES,
    CountChange,
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
    "queued",
    "pending",
)
PROGRESS_PRECEDENCE: tuple[InvoiceStatus, ...] = (
    "viewed",
    "opened",
    "delivered",
    "sent",
    "queued",
    "pending",
)

# Re-judging after a late Delivery reads the recipient's fetches up to this long after
# it (the longest timing rule, SCANNER_NETWORK_WINDOW) and at most this many of them.
WINDOW_READ = 200


def recipient_status(recipient: Recipient) -> RecipientStatus:
    facts: dict[RecipientStatus, bool] = {
        "complained": recipient.complained_at is not None,
        "bounced": recipient.bounced_at is not None,
        "rejected": recipient.rejected_at is not None,
        "viewed": recipient.viewed_at is not None,
        "opened": recipient.first_opened_at is not None,
        "delivered": recipient.delivered_at is not None,
        "sent": recipient.sent_at is not None,
        # Queued again after a failure (POST /send) is queued; failed after its latest
        # queueing is failed: both are latest times, so the order of facts never decides.
        "failed": recipient.failed_at is not None
        and (recipient.queued_at is None or recipient.failed_at >= recipient.queued_at),
        "queued": recipient.queued_at is not None,
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


def refresh_statuses(invoice: Invoice) -> None:
    """Recompute every recipient's status and the invoice's from the facts they hold."""
    for recipient in invoice.recipients:
        recipient.status = recipient_status(recipient)
    invoice.status = invoice_status(invoice.recipients)


@dataclass(frozen=True)
class Fact:
    """Something that happened to one recipient of one invoice."""

    key: str
    type: EventType
    at: str
    recipient_id: str
    source: Any  # "api" | "ses" | "pixel"
    details: dict[str, Any] = field(default_factory=dict)

    def event(self) -> TimelineEvent:
        return TimelineEvent(
            self.key, self.at, self.type, self.recipient_id, self.source, dict(self.details)
        )


def _earlier(current: str | None, candidate: str) -> str:
    return candidate if current is None or candidate < current else current


def _later(current: str | None, candidate: str) -> str:
    return candidate if current is None or candidate > current else current


# What the summary keeps of a recipient: everything but the counters.
_COUNTERS = ("open_count", "machine_open_count", "click_count", "first_person_at", "last_opened_at")


def shown(recipient: Recipient) -> dict[str, Any]:
    """The part of a recipient the summary stores (and so the list and alerts see)."""
    return {k: v for k, v in recipient.to_dict().items() if k not in _COUNTERS}


def apply_to_summary(invoice: Invoice, fact: Fact | TimelineEvent) -> bool:
    """Apply ``fact`` to what the summary shows; True when that changed. Idempotent:
    times keep the earliest (or latest) report, so applying a fact twice, or facts in
    any order, gives the same summary — a retry after a crash can always re-apply."""
    recipient = invoice.recipient(fact.recipient_id or "")
    if recipient is None:
        return False
    reminded = _apply_reminder(invoice, fact) if fact.type == "reminder" else False
    before = shown(recipient)
    if fact.type in FETCH_TYPES:
        _apply_fetch(recipient, fact.type, fact.at, fact.details)
    else:
        _apply_to_recipient(recipient, fact)
    status = invoice.status
    refresh_statuses(invoice)
    return reminded or shown(recipient) != before or invoice.status != status


def _apply_reminder(invoice: Invoice, fact: Fact | TimelineEvent) -> bool:
    """Reminder n of the invoice: ``reminders_sent`` is the highest n recorded."""
    number = int(fact.details.get("n") or 0)
    before = (invoice.reminders_sent, invoice.last_reminder_at)
    invoice.reminders_sent = max(invoice.reminders_sent, number)
    invoice.last_reminder_at = _later(invoice.last_reminder_at, fact.at)
    return (invoice.reminders_sent, invoice.last_reminder_at) != before


def _apply_fetch(recipient: Recipient, kind: str, at: str, details: dict[str, Any]) -> None:
    """A fetch shows in the summary by its first time only (counts live apart)."""
    if not details.get("counted", True):
        return
    person = details.get("verdict") in PERSON_VERDICTS
    if kind == "open" and person:
        recipient.first_opened_at = _earlier(recipient.first_opened_at, at)
    elif kind == "open" and details.get("verdict") != "sender":
        recipient.first_machine_open_at = _earlier(recipient.first_machine_open_at, at)
    elif kind == "viewed" and person:
        recipient.viewed_at = _earlier(recipient.viewed_at, at)


# One case a fact type, each a line or two: one match reads better than nine functions.
def _apply_to_recipient(recipient: Recipient, fact: Fact | TimelineEvent) -> None:  # noqa: C901
    d = fact.details
    # Details come from the earliest report (the latest for failures); reports at the
    # same instant are ordered by their content, so arrival order never decides.
    match fact.type:
        case "sent" | "send":
            recipient.send_attempts = max(recipient.send_attempts, int(d.get("attempt") or 0))
            message_id = d.get("message_id")
            if message_id and (
                not recipient.message_id
                or recipient.sent_at is None
                or (fact.at, message_id) < (recipient.sent_at, recipient.message_id)
            ):
                recipient.message_id = message_id
            recipient.sent_at = _earlier(recipient.sent_at, fact.at)
            recipient.queued_at = None  # sent outranks it: the summary stays small
        case "queued":  # only while unsent (so the order of facts never matters)
            if recipient.sent_at is None:
                recipient.queued_at = _later(recipient.queued_at, fact.at)
        case "send_failed" | "rendering_failure":
            recipient.send_attempts = max(recipient.send_attempts, int(d.get("attempt") or 0))
            reason = str(d.get("reason") or d.get("error") or fact.type)
            if recipient.failed_at is None or (fact.at, reason) > (
                recipient.failed_at,
                recipient.failure_reason or "",
            ):
                recipient.failure_reason = reason
            recipient.failed_at = _later(recipient.failed_at, fact.at)
        case "delivery":
            recipient.delivered_at = _earlier(recipient.delivered_at, fact.at)
        case "bounce":
            bounce = {k: d.get(k) for k in ("type", "subtype", "diagnostic")}
            if _first(recipient.bounced_at, recipient.bounce, fact.at, bounce):
                recipient.bounce = bounce
            recipient.bounced_at = _earlier(recipient.bounced_at, fact.at)
        case "complaint":
            complaint = {"type": d.get("feedback_type")}
            if _first(recipient.complained_at, recipient.complaint, fact.at, complaint):
                recipient.complaint = complaint
            recipient.complained_at = _earlier(recipient.complained_at, fact.at)
        case "reject":
            rejection = d.get("reason")
            if _first(recipient.rejected_at, recipient.reject_reason, fact.at, rejection):
                recipient.reject_reason = rejection
            recipient.rejected_at = _earlier(recipient.rejected_at, fact.at)
        case "delivery_delay":
            recipient.delayed_at = _later(recipient.delayed_at, fact.at)
        case _:
            pass  # created, subscription, reminder: history only


def _first(current_at: str | None, current: Any, at: str, candidate: Any) -> bool:
    """Whether a report (``at``, ``candidate``) comes before the one kept."""
    if current_at is None:
        return True
    return (at, json.dumps(candidate, sort_keys=True, default=str)) < (
        current_at,
        json.dumps(current, sort_keys=True, default=str),
    )


# What a fetch fetched, for bursts: a click and the hosted page it leads to are one
# link; the page's "viewed" beacon confirms a display and is not a fetch at all (it is
# judged on its page load's signals: core/beacon.py).
_TARGET = {"open": "pixel", "click": "link", "view": "link"}


def judge(
    fetches: Iterable[TimelineEvent], recipient: Recipient, person_before: str | None
) -> list[TimelineEvent]:
    """Verdicts for one recipient's ``fetches`` (a window of its history, any order),
    as copies with ``verdict``, ``confidence`` and ``reasons`` set in their details.

    A verdict needs the recipient's send and delivery times, the other fetches within
    BURST_WINDOW (the caller reads at least that much around each fetch it judges) and
    whether a person fetched before: an earlier fetch of the window judged a person's,
    or ``person_before``, the first such time known from the recipient's counters."""
    ordered = sorted((e for e in fetches if e.type in FETCH_TYPES), key=lambda e: (e.at, e.key))
    sent = parse_iso(recipient.sent_at) if recipient.sent_at else None
    delivered = parse_iso(recipient.delivered_at) if recipient.delivered_at else None
    times = [parse_iso(e.at) for e in ordered]
    person_seen_at = parse_iso(person_before) if person_before else None
    # People's fetches so far (time, network), for a scanner replaying the latest one
    # before a fetch; the counters' first person time stands in (an upper bound on the
    # gap) until the window shows one.
    people: list[tuple[datetime, str | None]] = [(person_seen_at, None)] if person_seen_at else []
    judged = []
    for event, at in zip(ordered, times, strict=True):
        signals = beacon.signals_of(event)
        last_person = next((p for p in reversed(people) if p[0] < at), None)
        judgement = beacon.refusal(event) or classify(
            FetchSignals(
                kind="open"
                if event.type == "open"
                else "click"
                if event.type == "click"
                else "view",
                at=at,
                user_agent=signals.get("user_agent"),
                network=signals.get("ip"),
                method=signals.get("method"),
                sent_at=sent,
                delivered_at=delivered,
                burst=len(
                    {
                        _TARGET[other.type]
                        for other, t in zip(ordered, times, strict=True)
                        if other.type in _TARGET and abs(t - at) <= BURST_WINDOW
                    }
                ),
                repeat=person_seen_at is not None and person_seen_at < at,
                from_sender=bool(event.details.get("from_sender")),
                since_person=at - last_person[0] if last_person else None,
                person_network=last_person[1] if last_person else None,
            )
        )
        copy = TimelineEvent(**{**event.to_dict(), "details": dict(event.details)})
        copy.details["verdict"] = judgement.verdict
        copy.details["confidence"] = judgement.confidence
        copy.details["reasons"] = list(judgement.reasons)
        judged.append(copy)
        if judgement.is_person and (person_seen_at is None or at < person_seen_at):
            person_seen_at = at
        if judgement.is_person:
            people.append((at, signals.get("ip")))
    return judged


def verdict_changed(old: TimelineEvent, new: TimelineEvent) -> bool:
    keys = ("verdict", "confidence", "reasons")
    return any(old.details.get(k) != new.details.get(k) for k in keys)


@dataclass(frozen=True)
class Counts:
    """What one fetch adds to its recipient's counters."""

    open_count: int = 0
    machine_open_count: int = 0
    click_count: int = 0

    @staticmethod
    def of(event: TimelineEvent) -> Counts:
        if event.type not in ("open", "click") or not event.details.get("counted", True):
            return Counts()
        verdict = event.details.get("verdict")
        person = verdict in PERSON_VERDICTS
        if event.type == "click":
            return Counts(click_count=int(person))
        if person:
            return Counts(open_count=1)
        return Counts(machine_open_count=int(verdict != "sender"))  # previews count nowhere

    def minus(self, other: Counts) -> Counts:
        return Counts(
            self.open_count - other.open_count,
            self.machine_open_count - other.machine_open_count,
            self.click_count - other.click_count,
        )

    def stored(self) -> str:
        return f"{self.open_count},{self.machine_open_count},{self.click_count}"

    @staticmethod
    def parse(text: str) -> Counts:
        opens, machine, clicks = (int(part) for part in text.split(","))
        return Counts(opens, machine, clicks)


@dataclass(frozen=True)
class KeptFact:
    """A fact as kept, and what it added to the counters when it was first kept: its
    verdict may have been re-judged since, and each re-judge counted only the
    difference, so a retry of its first count must add these, not its verdict now."""

    event: TimelineEvent
    counted: Counts


def count_change(op: str, event: TimelineEvent, counts: Counts) -> CountChange:
    person = event.details.get("verdict") in PERSON_VERDICTS
    counted = event.details.get("counted", True)
    return CountChange(
        recipient_id=event.recipient_id or "",
        op=op,
        open_count=counts.open_count,
        machine_open_count=counts.machine_open_count,
        click_count=counts.click_count,
        last_opened_at=event.at if person and counted and event.type == "open" else None,
        first_person_at=event.at if person else None,
    )


@dataclass
class Tally:
    """A recipient's counters and first/last times recomputed from all its fetches
    (``make reclassify``, and after a re-judge took away a first or last open)."""

    open_count: int = 0
    machine_open_count: int = 0
    click_count: int = 0
    first_person_at: str | None = None
    first_opened_at: str | None = None
    last_opened_at: str | None = None
    first_machine_open_at: str | None = None
    viewed_at: str | None = None

    def add(self, event: TimelineEvent) -> None:
        counts = Counts.of(event)
        self.open_count += counts.open_count
        self.machine_open_count += counts.machine_open_count
        self.click_count += counts.click_count
        probe = Recipient(id="", email="")
        _apply_fetch(probe, event.type, event.at, event.details)
        self.first_opened_at = _min(self.first_opened_at, probe.first_opened_at)
        self.last_opened_at = _max(self.last_opened_at, probe.first_opened_at)
        self.first_machine_open_at = _min(self.first_machine_open_at, probe.first_machine_open_at)
        self.viewed_at = _min(self.viewed_at, probe.viewed_at)
        if event.details.get("verdict") in PERSON_VERDICTS:
            self.first_person_at = _min(self.first_person_at, event.at)


def _min(a: str | None, b: str | None) -> str | None:
    return min((t for t in (a, b) if t), default=None)


def _max(a: str | None, b: str | None) -> str | None:
    return max((t for t in (a, b) if t), default=None)
