"""The ports the domain needs from the outside world. Adapters (DynamoDB, SES) and
in-memory fakes implement them; domain code only ever sees these Protocols."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.model import Invoice, TimelineEvent


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

    def get(self, invoice_id: str) -> Invoice | None: ...

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
