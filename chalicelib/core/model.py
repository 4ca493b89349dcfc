"""Sobre's domain data: the invoice as its readers see it (the summary with its
recipients' state and counts; its history is kept apart, one item per fact), the
account, and the values the ports exchange (an email to send, a message reference, a
page of a list). Plain data; no I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

# The clock and the time format, where they always were for the model's users.
from chalicelib.core.times import iso as iso
from chalicelib.core.times import parse_iso as parse_iso
from chalicelib.core.times import utc_now as utc_now

RecipientStatus = Literal[
    "pending",
    "queued",  # waiting in the send queue for the sender function
    "failed",
    "sent",
    "delivered",
    "opened",
    "viewed",
    "rejected",
    "bounced",
    "complained",
]
InvoiceStatus = RecipientStatus
STATUSES: tuple[str, ...] = get_args(RecipientStatus)
PROBLEM_STATUSES = frozenset({"failed", "rejected", "bounced", "complained"})
# The index partitions invoices by status group, not by status: "list all" merges five
# partitions (not ten), and queued -> sent, the most common move, keeps its entry.
STATUS_GROUPS: dict[str, str] = {
    "pending": "sending",
    "queued": "sending",
    "sent": "sending",
    "delivered": "delivered",
    "opened": "opened",
    "viewed": "viewed",
    "failed": "problem",
    "rejected": "problem",
    "bounced": "problem",
    "complained": "problem",
}
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(STATUS_GROUPS.values()))
# Payment, a dimension beside the delivery status. A paid or void invoice leaves its
# status group for the account's "closed" partitions (still sharded): unpaid lists and
# reminders never read it, and "list all" merges six partitions per shard.
PaymentStatus = Literal["unpaid", "paid", "void"]
PAYMENT_STATUSES: tuple[str, ...] = get_args(PaymentStatus)
CLOSED_GROUP = "closed"


def index_partition(account_id: str, status: str, shard: int, payment: str = "unpaid") -> str:
    """The index partition of an account's invoices in ``status`` (and ``payment``)."""
    group = STATUS_GROUPS[status] if payment == "unpaid" else CLOSED_GROUP
    return f"{account_id}#{group}#{shard}"


def partitions_of(
    account_id: str, shards: int, status: str | None = None, payment: str | None = None
) -> list[str]:
    """Every index partition holding the account's invoices in ``status``'s group (all
    groups when None) and in ``payment`` (any when None: the closed partitions too)."""
    groups: tuple[str, ...] = GROUPS if status is None else (STATUS_GROUPS[status],)
    if payment in ("paid", "void"):
        groups = (CLOSED_GROUP,)
    elif payment is None:
        groups = (*groups, CLOSED_GROUP)
    return [f"{account_id}#{group}#{shard}" for group in groups for shard in range(max(1, shards))]


EventType = Literal[
    "created",
    "queued",  # a send of the recipient was queued for the sender function
    "sent",
    "send_failed",
    "send",
    "delivery",
    "open",
    "click",
    "bounce",
    "complaint",
    "reject",
    "delivery_delay",
    "rendering_failure",
    "subscription",
    "view",  # the hosted invoice page was fetched
    "viewed",  # the hosted invoice page confirmed it was displayed
    "reminder",  # a reminder email went to the recipient (chalicelib/reports.py)
    "paid",  # the account marked the invoice paid (no recipient)
    "voided",  # the account voided the invoice (no recipient)
]
# Fetches of something only the recipient's copy links to; each gets a verdict.
FETCH_TYPES: frozenset[str] = frozenset({"open", "click", "view", "viewed"})
# Languages Sobre writes in (emails, pages, reports); render/translations.py has a
# string table for each.
LANGUAGES: frozenset[str] = frozenset({"en", "es"})
# SES message tags Sobre sets on every message it sends and reads back from SES events.
TAG_ACCOUNT = "sobre-account"
TAG_INVOICE = "sobre-invoice"
TAG_RECIPIENT = "sobre-recipient"
TAG_KIND = "sobre-kind"  # digest, alert: the account's own reports


@dataclass
class TimelineEvent:
    key: str  # deduplication key: the same fact reported twice has the same key
    at: str
    type: EventType
    recipient_id: str | None
    source: Literal["api", "ses", "pixel"]
    details: dict[str, Any] = field(default_factory=dict)
    # How many times its verdict was re-judged: each change is a conditional write on
    # the revision it read, so two re-judges of one fetch never both count.
    revision: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> TimelineEvent:
        return TimelineEvent(**data)


@dataclass
class Recipient:
    id: str
    email: str
    name: str | None = None
    status: RecipientStatus = "pending"
    message_id: str | None = None
    send_attempts: int = 0
    queued_at: str | None = None  # the latest time a send of it was queued
    sent_at: str | None = None
    delivered_at: str | None = None
    first_opened_at: str | None = None
    last_opened_at: str | None = None
    first_machine_open_at: str | None = None
    viewed_at: str | None = None
    # Counters, kept in the recipient's own small item and changed with ADD (never in
    # the summary, so a repeat open does not rewrite it). Opens by a person (verdict
    # human or proxy); machine opens are counted apart.
    open_count: int = 0
    machine_open_count: int = 0
    click_count: int = 0  # clicks by a person
    first_person_at: str | None = None  # the first fetch of any kind judged a person's
    bounced_at: str | None = None
    bounce: dict[str, Any] | None = None
    complained_at: str | None = None
    complaint: dict[str, Any] | None = None
    rejected_at: str | None = None
    reject_reason: str | None = None
    failed_at: str | None = None
    failure_reason: str | None = None
    delayed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Recipient:
        return Recipient(**data)


@dataclass(frozen=True)
class Line:
    description: str
    quantity: str
    unit_price: str


@dataclass(frozen=True)
class ListedFigures:
    """The figures a list entry carries in place of its recipients (the index projects
    the summary's slim fields only)."""

    sent_at: str | None = None
    first_opened_at: str | None = None
    first_machine_open_at: str | None = None
    viewed_at: str | None = None
    problem_count: int = 0
    recipient_count: int = 0


@dataclass
class Invoice:
    id: str
    account_id: str
    number: str
    customer_name: str
    currency: str
    total: str
    due_date: str
    created_at: str
    recipients: list[Recipient]
    issue_date: str | None = None
    lines: list[Line] = field(default_factory=list)
    subject: str | None = None
    message: str | None = None
    reply_to: str | None = None
    locale: str = "en"
    metadata: dict[str, str] = field(default_factory=dict)
    body_hash: str = ""
    idempotency_key: str | None = None
    shard: int = 0
    tracking: bool = True
    retention_days: int | None = None  # the account's, when it set one
    has_pdf: bool = False
    status: InvoiceStatus = "pending"
    # When something the summary shows last changed (a status, a recipient's first
    # send, delivery, open, view or problem): the list's order. Repeat opens leave it.
    updated_at: str = ""
    # The latest of ``updated_at`` and the recipients' last opens (read, never stored).
    last_activity_at: str = ""
    # Reminders sent for this invoice (each also a `reminder` fact per recipient).
    reminders_sent: int = 0
    last_reminder_at: str | None = None
    # The account's own id for it (unique per account) and its payment (core/payments.py).
    external_id: str | None = None
    payment_status: PaymentStatus = "unpaid"
    payment: dict[str, str] | None = None  # paid_at, amount, reference / voided_at, reason
    version: int | None = None  # the summary's optimistic lock
    listed: ListedFigures | None = None  # set on list entries, which have no recipients

    def recipient(self, recipient_id: str) -> Recipient | None:
        return next((r for r in self.recipients if r.id == recipient_id), None)

    def recipient_by_email(self, email: str) -> Recipient | None:
        wanted = email.strip().lower()
        return next((r for r in self.recipients if r.email.lower() == wanted), None)

    # Invoice-level figures derive from the recipients; they are never stored apart.
    @property
    def sent_at(self) -> str | None:
        if self.listed is not None:
            return self.listed.sent_at
        return _earliest(r.sent_at for r in self.recipients)

    @property
    def delivered_at(self) -> str | None:
        return _earliest(r.delivered_at for r in self.recipients)

    @property
    def first_opened_at(self) -> str | None:
        if self.listed is not None:
            return self.listed.first_opened_at
        return _earliest(r.first_opened_at for r in self.recipients)

    @property
    def last_opened_at(self) -> str | None:
        times = [r.last_opened_at for r in self.recipients if r.last_opened_at]
        return max(times) if times else None

    @property
    def recipient_count(self) -> int:
        return self.listed.recipient_count if self.listed is not None else len(self.recipients)

    @property
    def open_count(self) -> int:
        return sum(r.open_count for r in self.recipients)

    @property
    def machine_open_count(self) -> int:
        return sum(r.machine_open_count for r in self.recipients)

    @property
    def viewed_at(self) -> str | None:
        if self.listed is not None:
            return self.listed.viewed_at
        return _earliest(r.viewed_at for r in self.recipients)

    @property
    def first_machine_open_at(self) -> str | None:
        if self.listed is not None:
            return self.listed.first_machine_open_at
        return _earliest(r.first_machine_open_at for r in self.recipients)

    @property
    def problem_count(self) -> int:
        if self.listed is not None:
            return self.listed.problem_count
        return sum(1 for r in self.recipients if r.status in PROBLEM_STATUSES)


def _earliest(times: Any) -> str | None:
    present = [t for t in times if t]
    return min(present) if present else None


@dataclass
class Account:
    id: str
    name: str
    from_address: str
    reply_to: str | None = None
    report_address: str | None = None
    time_zone: str = "UTC"
    locale: str = "en"
    tracking: bool = True
    # Status-index shards for this account's invoices (see DESIGN.md); only ever raised.
    index_shards: int = 1
    # Days an invoice's data is kept after its creation; None: the stage's default.
    retention_days: int | None = None
    created_at: str = ""
    # Reports, reminders and alerts (chalicelib/reports, chalicelib/alerts).
    digest_when_quiet: bool = False  # send the daily digest even when nothing happened
    unopened_after_days: int = 3  # the digest lists invoices delivered, unopened this long
    reminders: bool = False  # remind recipients who have not opened (opt-in)
    reminder_after_days: int = 3  # ... this many days after delivery or the last reminder
    reminder_max: int = 2  # ... at most this many times
    alert_emails: bool = True  # email report_address on each opened/viewed/bounced/complained

    @property
    def zone(self) -> str:
        """The time zone its reports use: ``time_zone``, or UTC when unknown here."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return "UTC"
        return self.time_zone


@dataclass(frozen=True)
class MessageRef:
    message_id: str
    account_id: str
    invoice_id: str
    recipient_id: str


@dataclass(frozen=True)
class Page:
    items: list[Invoice]
    cursor: dict[str, Any] | None


@dataclass(frozen=True)
class EventPage:
    """A page of an invoice's facts, in the order asked for, and where the next starts."""

    events: list[TimelineEvent]
    cursor: str | None


@dataclass(frozen=True)
class CountChange:
    """What one fetch (or a re-judged one) changes in its recipient's counters: ADDs,
    and times that only ever move one way (conditional SETs)."""

    recipient_id: str
    op: str  # the fact key (or re-judge) this change belongs to: makes a retry a no-op
    open_count: int = 0
    machine_open_count: int = 0
    click_count: int = 0
    last_opened_at: str | None = None  # set when later than the stored one
    first_person_at: str | None = None  # set when earlier than the stored one

    @property
    def empty(self) -> bool:
        return not (
            self.open_count
            or self.machine_open_count
            or self.click_count
            or self.last_opened_at
            or self.first_person_at
        )


@dataclass(frozen=True)
class OutgoingEmail:
    from_address: str
    to_address: str
    raw_mime: bytes
    tags: dict[str, str]


@dataclass(frozen=True)
class Lease:
    """The scheduled job's exclusive hold on the task queue, and where it stopped."""

    position: str | None
    version: int | None
    until: str
