"""In-memory implementations of the ports in ``chalicelib.ports`` (plus a metrics sink
and a settable clock), for unit tests and benchmarks.

They follow the DynamoDB adapters' contracts (``chalicelib.adapters.dynamo``) where the domain
can observe them: conditional create, optimistic locking on save with a version that
starts at 1, copies in and out (no shared mutable state with the caller), list pages
sorted by last activity (newest first) over the same partition keys as the indexes.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.context import Context
from chalicelib.core.model import (
    Account,
    Invoice,
    MessageRef,
    OutgoingEmail,
    Page,
    Recipient,
    TimelineEvent,
)
from chalicelib.core.status import Fact
from chalicelib.errors import ConcurrentUpdate, SendRejected
from chalicelib.ids import TokenSigner, TrackingTarget
from chalicelib.settings import EVENTS_TOPIC_NAME, Settings
from chalicelib.tracking.facts import FetchRequest, fetch_fact

DEFAULT_NOW = datetime(2026, 1, 5, 9, 30, 0, tzinfo=UTC)
DEFAULT_SECRET = b"sobre-unit-test-secret-0123456789"
BASE_URL = "https://sobre.test"


class FakeClock:
    """A clock the test moves by hand. Call it to read the time."""

    def __init__(self, now: datetime = DEFAULT_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        self.now += timedelta(seconds=seconds, **delta)
        return self.now


def partition_keys(invoice: Invoice) -> dict[str, str]:
    """The index partitions an invoice is in, as ``dynamo._to_item`` builds them."""
    return {
        "by_status": f"{invoice.account_id}#{invoice.status}#{invoice.shard}",
        "by_account": f"{invoice.account_id}#{invoice.shard}",
    }


def _sort_key(invoice: Invoice) -> str:
    return f"{invoice.last_activity_at}#{invoice.id}"  # the indexes' range key


def _list_projection(invoice: Invoice) -> Invoice:
    """An invoice as the list indexes project it: no timeline, no long fields."""
    return Invoice(
        id=invoice.id,
        account_id=invoice.account_id,
        number=invoice.number,
        customer_name=invoice.customer_name,
        currency=invoice.currency,
        total=invoice.total,
        due_date=invoice.due_date,
        status=invoice.status,
        created_at=invoice.created_at,
        last_activity_at=invoice.last_activity_at,
        recipients=[Recipient.from_dict(r.to_dict()) for r in invoice.recipients],
    )


class FakeInvoiceStore:
    """``InvoiceStore`` in memory, with DynamoDB's optimistic-lock behaviour."""

    def __init__(self) -> None:
        self.invoices: dict[str, Invoice] = {}
        self.archive_pages: dict[str, dict[int, list[TimelineEvent]]] = {}
        self.pdfs: dict[str, bytes] = {}
        self.refs: dict[str, tuple[MessageRef, int]] = {}
        self.parked: dict[str, dict[str, dict[str, Any]]] = {}
        self.saves = 0
        self.conflicts = 0

    def create(self, invoice: Invoice, pdf: bytes | None) -> bool:
        if invoice.id in self.invoices:
            return False
        if pdf is not None:
            self.pdfs[invoice.id] = pdf
        stored = copy.deepcopy(invoice)
        stored.version = 1
        self.invoices[invoice.id] = stored
        invoice.version = 1
        return True

    def get(self, invoice_id: str) -> Invoice | None:
        stored = self.invoices.get(invoice_id)
        if stored is None:
            return None
        invoice = copy.deepcopy(stored)
        invoice.parked = copy.deepcopy(list(self.parked.get(invoice_id, {}).values()))
        return invoice

    def park(self, invoice_id: str, fact: dict[str, Any], expires_at: int) -> None:
        self.parked.setdefault(invoice_id, {})[fact["key"]] = copy.deepcopy(fact)

    def get_with_archive(self, invoice_id: str) -> tuple[Invoice, list[TimelineEvent]] | None:
        invoice = self.get(invoice_id)
        if invoice is None:
            return None
        pages = self.archive_pages.get(invoice_id, {})
        archived = [copy.deepcopy(e) for page in sorted(pages) for e in pages[page]]
        return invoice, archived

    def save(self, invoice: Invoice, archive: list[TimelineEvent]) -> None:
        if archive:
            # Written first, keyed by the version being replaced, never overwritten:
            # as in DynamoDB, the second writer racing from one version conflicts here.
            pages = self.archive_pages.setdefault(invoice.id, {})
            if (invoice.version or 0) in pages:
                self.conflicts += 1
                raise ConcurrentUpdate(invoice.id)
            pages[invoice.version or 0] = copy.deepcopy(archive)
        stored = self.invoices.get(invoice.id)
        stored_version = stored.version if stored is not None else None
        if stored_version != invoice.version:
            self.conflicts += 1
            raise ConcurrentUpdate(invoice.id)
        new_version = (invoice.version or 0) + 1
        kept = copy.deepcopy(invoice)
        kept.version = new_version
        kept.parked = []
        self.invoices[invoice.id] = kept
        invoice.version = new_version
        for fact in invoice.parked:  # folded into this write, as in DynamoDB
            self.parked.get(invoice.id, {}).pop(fact["key"], None)
        invoice.parked = []
        self.saves += 1

    def list_page(
        self, partitions: list[str], index: str, limit: int, cursor: dict[str, Any] | None
    ) -> Page:
        if index not in ("by_status", "by_account"):
            raise ValueError(f"no index {index!r}")
        # The cursor maps each unfinished partition to how many of its items were taken.
        starts: dict[str, Any] = cursor if cursor is not None else dict.fromkeys(partitions)
        per_partition: dict[str, list[Invoice]] = {}
        for partition in starts:
            mine = [i for i in self.invoices.values() if partition_keys(i)[index] == partition]
            mine.sort(key=_sort_key, reverse=True)
            per_partition[partition] = mine
        candidates: list[tuple[str, Invoice]] = []
        for partition, start in starts.items():
            offset = start if isinstance(start, int) and start >= 0 else 0
            candidates.extend((partition, i) for i in per_partition[partition][offset:])
        candidates.sort(key=lambda pair: _sort_key(pair[1]), reverse=True)
        taken = candidates[:limit]
        next_cursor: dict[str, Any] = {}
        for partition, start in starts.items():
            offset = start if isinstance(start, int) and start >= 0 else 0
            consumed = offset + sum(1 for p, _ in taken if p == partition)
            if consumed < len(per_partition[partition]):
                next_cursor[partition] = consumed
        return Page([_list_projection(i) for _, i in taken], next_cursor or None)

    def get_pdf(self, invoice: Invoice) -> bytes | None:
        return self.pdfs.get(invoice.id)

    def put_message_refs(self, refs: list[MessageRef], expires_at: int) -> None:
        for ref in refs:
            self.refs[ref.message_id] = (ref, expires_at)

    def get_message_ref(self, message_id: str) -> MessageRef | None:
        found = self.refs.get(message_id)
        return found[0] if found is not None else None


class FakeAccountStore:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.keys: dict[str, str] = {}
        self.revoked: set[str] = set()

    def get_account(self, account_id: str) -> Account | None:
        account = self.accounts.get(account_id)
        return copy.deepcopy(account) if account is not None else None

    def put_account(self, account: Account) -> None:
        self.accounts[account.id] = copy.deepcopy(account)

    def account_id_for_key(self, key_hash: str) -> str | None:
        return None if key_hash in self.revoked else self.keys.get(key_hash)

    def put_key(self, key_hash: str, account_id: str, created_at: str) -> None:
        if key_hash in self.keys:
            raise ValueError("this key hash is already stored")  # a conditional put
        self.keys[key_hash] = account_id

    def revoke(self, key_hash: str) -> None:
        self.revoked.add(key_hash)


class FakeUnprocessedStore:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, str]] = {}
        self._ids = itertools.count(1)

    def keep(self, received_at: str, reason: str, payload: str) -> str:
        item_id = f"{received_at[:10]}/{received_at}#{next(self._ids):012x}"
        self.items[item_id] = {
            "id": item_id,
            "received_at": received_at,
            "reason": reason[:1000],
            "payload": payload[:350_000],
        }
        return item_id

    def list_unprocessed(self, limit: int) -> list[dict[str, Any]]:
        newest_first = sorted(self.items.values(), key=lambda i: i["id"], reverse=True)
        return [
            {"id": i["id"], "reason": i["reason"], "payload": i["payload"]}
            for i in newest_first[:limit]
        ]

    def delete_unprocessed(self, item_id: str) -> None:
        self.items.pop(item_id, None)


class FakeMailer:
    """Records what it sends. ``refuse`` makes it raise ``SendRejected`` for an address;
    ``before_send`` (if set) runs first, so a test can inspect the world at send time."""

    def __init__(self, before_send: Callable[[OutgoingEmail], None] | None = None) -> None:
        self.sent: list[tuple[str, OutgoingEmail]] = []
        self.refused: list[OutgoingEmail] = []
        self.refusals: dict[str, str] = {}
        self.before_send = before_send
        self._ids = itertools.count(1)

    def refuse(
        self, address: str, reason: str = "MessageRejected: Email address is not verified."
    ) -> None:
        self.refusals[address.lower()] = reason

    def accept(self, address: str) -> None:
        self.refusals.pop(address.lower(), None)

    def send(self, email: OutgoingEmail) -> str:
        if self.before_send is not None:
            self.before_send(email)
        reason = self.refusals.get(email.to_address.lower())
        if reason is not None:
            self.refused.append(email)
            raise SendRejected(reason)
        message_id = f"0100{next(self._ids):012x}-{uuid.uuid4()}-000000"
        self.sent.append((message_id, email))
        return message_id

    def sent_to(self, address: str) -> list[tuple[str, OutgoingEmail]]:
        return [(m, e) for m, e in self.sent if e.to_address.lower() == address.lower()]


@dataclass
class FakeMetrics:
    """A ``MetricsSink`` that counts."""

    counts: Counter[str] = field(default_factory=Counter)
    calls: list[tuple[str, int, dict[str, str]]] = field(default_factory=list)

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        self.counts[name] += value
        self.calls.append((name, value, dict(dimensions)))


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "table_name": "sobre-test",
        "base_url": BASE_URL,
        "configuration_set": "sobre-test",
        "events_topic_name": EVENTS_TOPIC_NAME,
        "token_secret": DEFAULT_SECRET.decode(),
        "token_secret_parameter": None,
        "aws_region": "us-east-1",
        "default_locale": "en",
        "retention_days": 180,
        "max_body_bytes": 10_000_000,
        "send_attempts": 4,
        "api_key_cache_seconds": 60,
        "stage": "test",
    }
    values.update(overrides)
    return Settings(**values)


def make_context(
    *,
    invoices: FakeInvoiceStore | None = None,
    accounts: FakeAccountStore | None = None,
    unprocessed: FakeUnprocessedStore | None = None,
    mailer: FakeMailer | None = None,
    metrics: FakeMetrics | None = None,
    clock: FakeClock | None = None,
    settings: Settings | None = None,
    secret: bytes = DEFAULT_SECRET,
) -> Context:
    """A ``Context`` over in-memory fakes; pass a fake to keep a handle on it."""
    return Context(
        settings=settings or make_settings(),
        invoices=invoices if invoices is not None else FakeInvoiceStore(),
        accounts=accounts if accounts is not None else FakeAccountStore(),
        unprocessed=unprocessed if unprocessed is not None else FakeUnprocessedStore(),
        mailer=mailer if mailer is not None else FakeMailer(),
        signer=TokenSigner(secret),
        metrics=metrics if metrics is not None else FakeMetrics(),
        clock=clock if clock is not None else FakeClock(),
    )


@dataclass
class World:
    """A context and typed handles on the fakes behind it."""

    ctx: Context
    invoices: FakeInvoiceStore
    accounts: FakeAccountStore
    unprocessed: FakeUnprocessedStore
    mailer: FakeMailer
    metrics: FakeMetrics
    clock: FakeClock


def make_world(**settings_overrides: Any) -> World:
    invoices, accounts = FakeInvoiceStore(), FakeAccountStore()
    unprocessed, mailer = FakeUnprocessedStore(), FakeMailer()
    metrics, clock = FakeMetrics(), FakeClock()
    ctx = make_context(
        invoices=invoices,
        accounts=accounts,
        unprocessed=unprocessed,
        mailer=mailer,
        metrics=metrics,
        clock=clock,
        settings=make_settings(**settings_overrides),
    )
    return World(ctx, invoices, accounts, unprocessed, mailer, metrics, clock)


def pixel_open(
    target: TrackingTarget,
    at: datetime,
    user_agent: str | None,
    source_ip: str | None,
    method: str,
    request_id: str | None,
) -> Fact:
    """The fact one pixel fetch records (``tracking.facts.fetch_fact`` for an open)."""
    return fetch_fact("open", target, at, FetchRequest(user_agent, source_ip, method, request_id))
