"""The ports the domain needs from the outside world. Adapters (DynamoDB, SES) and
in-memory fakes implement them; domain code only ever sees these Protocols."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.model import Invoice, TimelineEvent

if TYPE_CHECKING:
    from chalicelib.alerts import Alert, AttemptResult, Delivery, Task, Webhook


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
    # Days tracking data is kept after an invoice's last activity; None: the default.
    retention_days: int | None = None
    created_at: str = ""
    # Reports, reminders and alerts (chalicelib/reports.py, chalicelib/alerts.py).
    digest_when_quiet: bool = False  # send the daily digest even when nothing happened
    unopened_after_days: int = 3  # the digest lists invoices delivered, unopened this long
    reminders: bool = False  # remind recipients who have not opened (opt-in)
    reminder_after_days: int = 3  # ... this many days after delivery or the last reminder
    reminder_max: int = 2  # ... at most this many times
    alert_emails: bool = True  # email report_address on each opened/viewed/bounced/complained


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
class OutgoingEmail:
    from_address: str
    to_address: str
    raw_mime: bytes
    tags: dict[str, str]


class InvalidCursor(ValueError):
    """A list cursor that this store did not produce for this query."""


class SendRejected(Exception):
    """SES refused this message for good (or kept throttling after every retry)."""


class InvoiceStore(Protocol):
    def create(self, invoice: Invoice, pdf: bytes | None) -> bool:
        """Store a new invoice; False when one with its id already exists."""

    def get(self, invoice_id: str) -> Invoice | None:
        """The invoice, with ``parked`` holding any facts parked beside it."""

    def park(self, invoice_id: str, fact: dict[str, Any], expires_at: int) -> None:
        """Keep a fact beside the invoice when its write keeps losing races; the next
        ``save`` of the invoice removes the parked facts it carries."""

    def get_with_archive(self, invoice_id: str) -> tuple[Invoice, list[TimelineEvent]] | None:
        """The invoice and its archived timeline pages, in one request."""

    def save(self, invoice: Invoice, archive: list[TimelineEvent]) -> None:
        """Write ``invoice`` if nobody else did since it was read (raises
        ``ConcurrentUpdate`` otherwise); ``archive``, if any, goes to a new page first."""

    def list_page(
        self, partitions: list[str], index: str, limit: int, cursor: dict[str, Any] | None
    ) -> Page: ...

    def get_pdf(self, invoice: Invoice) -> bytes | None: ...

    def put_message_refs(self, refs: list[MessageRef], expires_at: int) -> None: ...

    def get_message_ref(self, message_id: str) -> MessageRef | None: ...


class AccountStore(Protocol):
    def get_account(self, account_id: str) -> Account | None: ...

    def put_account(self, account: Account) -> None: ...

    def account_id_for_key(self, key_hash: str) -> str | None: ...

    def put_key(self, key_hash: str, account_id: str, created_at: str) -> None: ...


class UnprocessedStore(Protocol):
    def keep(self, received_at: str, reason: str, payload: str) -> str:
        """Keep a payload that could not be processed; returns its id."""

    def list_unprocessed(self, limit: int) -> list[dict[str, Any]]: ...

    def delete_unprocessed(self, item_id: str) -> None: ...


class Mailer(Protocol):
    def send(self, email: OutgoingEmail) -> str:
        """Send one message; returns SES's message id or raises ``SendRejected``."""


# -- reports, reminders and alerts (issue "Reports, reminders, alerts and evidence") --


class AlertOutbox(Protocol):
    def record(self, alerts: list[Alert], recorded_at: datetime) -> None:
        """Keep alerts for the scheduled job to deliver (one write; never sends)."""


@dataclass(frozen=True)
class Lease:
    """The scheduled job's exclusive hold on the task queue, and where it stopped."""

    position: str | None
    version: int | None
    until: str


class ReportStore(AlertOutbox, Protocol):
    """What the scheduled jobs and the report routes need beyond ``InvoiceStore``."""

    # Accounts, for the scheduler (a directory item per account: no Scan).
    def account_ids(self) -> Iterator[str]: ...

    def list_account(self, account_id: str) -> None: ...

    # Invoices by activity time and by status (the by_account and by_status indexes).
    def activity_page(
        self, account: Account, since: str, limit: int, cursor: dict[str, Any] | None
    ) -> Page:
        """Invoices (index projection) whose last activity is at or after ``since``."""

    def in_status(
        self, account: Account, status: str, after: str | None, before: str | None, limit: int
    ) -> Iterator[Invoice]:
        """Invoices (index projection) in ``status`` with last activity in [after, before]."""

    # Markers: at-most-once work (a digest a day, a reminder, an alert email).
    def claim(self, key: str, at: str, expires_at: int) -> bool:
        """Conditional put of marker ``key``; False when it exists (and did not fail)."""

    def settle(self, key: str, state: str, at: str, expires_at: int, detail: str = "") -> None: ...

    # The queue of due tasks, in hourly buckets, read behind a lease.
    def schedule(self, tasks: list[Task]) -> None: ...

    def lease(self, now: datetime, seconds: int) -> Lease | None: ...

    def due(self, after: str, until: str) -> Iterator[Task]: ...

    def release(self, lease: Lease, position: str | None) -> None: ...

    # Webhooks and their deliveries.
    def put_webhook(self, webhook: Webhook) -> None:
        """Write ``webhook`` unless changed since read (``ConcurrentUpdate``)."""

    def get_webhook(self, account_id: str, webhook_id: str) -> Webhook | None: ...

    def list_webhooks(self, account_id: str) -> list[Webhook]: ...

    def add_delivery(self, delivery: Delivery) -> bool:
        """Store a new delivery; False when this event already has one for the webhook."""

    def get_delivery(self, webhook_id: str, key: str) -> Delivery | None: ...

    def save_delivery(self, delivery: Delivery) -> None:
        """Write ``delivery`` unless changed since read (``ConcurrentUpdate``)."""

    def deliveries(
        self, webhook_id: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Delivery], dict[str, Any] | None]:
        """Newest first."""


class WebhookPoster(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        """POST once; never raises for the receiver's failures (they are the result)."""
