"""The ports the use cases need from the outside world: Protocols only. Adapters
(chalicelib/adapters: DynamoDB, SES, HTTP) and the in-memory fakes of the tests
implement them; use cases only ever see these."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

from chalicelib.core.alerts import Alert
from chalicelib.core.model import (
    Account,
    Invoice,
    Lease,
    MessageRef,
    OutgoingEmail,
    Page,
    TimelineEvent,
)
from chalicelib.core.webhooks import AttemptResult, Delivery, Task, Webhook


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


class MetricsSink(Protocol):
    def count(self, name: str, value: int = 1, **dimensions: str) -> None: ...


class Mailer(Protocol):
    def send(self, email: OutgoingEmail) -> str:
        """Send one message; returns SES's message id or raises ``SendRejected``."""


# -- reports, reminders and alerts (issue "Reports, reminders, alerts and evidence") --


class AlertOutbox(Protocol):
    def record(self, alerts: list[Alert], recorded_at: datetime) -> None:
        """Keep alerts for the scheduled job to deliver (one write; never sends)."""


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
