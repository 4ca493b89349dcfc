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
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.context import Context
from chalicelib.core.keys import ApiKey
from chalicelib.core.model import (
    Account,
    CountChange,
    EventPage,
    Invoice,
    ListedFigures,
    MessageRef,
    OutgoingEmail,
    Page,
    TimelineEvent,
    index_partition,
)
from chalicelib.core.sends import NotQueued, QueuedSend, SendClaim, SendOutcome
from chalicelib.core.status import Counts, Fact, KeptFact, Tally
from chalicelib.errors import (
    ConcurrentUpdate,
    InvalidCursor,
    SendRejected,
    SendThrottled,
    Unavailable,
)
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
    """The index partition an invoice's summary is in, as the DynamoDB adapter builds it."""
    return {
        "by_status": index_partition(
            invoice.account_id, invoice.status, invoice.shard, invoice.payment_status
        )
    }


def _sort_key(invoice: Invoice) -> str:
    return f"{invoice.updated_at}#{invoice.id}"  # the index's range key


def _list_projection(invoice: Invoice) -> Invoice:
    """An invoice as the index projects it: the slim fields, no recipients."""
    return Invoice(
        id=invoice.id,
        account_id=invoice.account_id,
        number=invoice.number,
        customer_name=invoice.customer_name,
        currency=invoice.currency,
        total=invoice.total,
        due_date=invoice.due_date,
        status=invoice.status,
        payment_status=invoice.payment_status,
        created_at=invoice.created_at,
        updated_at=invoice.updated_at,
        last_activity_at=invoice.updated_at,
        recipients=[],
        listed=ListedFigures(
            sent_at=invoice.sent_at,
            first_opened_at=invoice.first_opened_at,
            first_machine_open_at=invoice.first_machine_open_at,
            viewed_at=invoice.viewed_at,
            problem_count=invoice.problem_count,
            recipient_count=len(invoice.recipients),
        ),
    )


@dataclass
class _Counters:
    open_count: int = 0
    machine_open_count: int = 0
    click_count: int = 0
    last_opened_at: str | None = None
    first_person_at: str | None = None
    slots: dict[int, str] = field(default_factory=dict)


class FakeInvoiceStore:
    """``InvoiceStore`` in memory, with the DynamoDB adapter's contracts: conditional
    create and fact puts, optimistic locking of the summary (version from 1), counters
    changed by ADD with a slot per change, copies in and out."""

    SLOTS = 16
    connected = 0  # how many times connect() was called

    def connect(self) -> None:
        self.connected += 1

    def __init__(self) -> None:
        self.invoices: dict[str, Invoice] = {}  # summaries and content, no counters
        self.facts: dict[str, dict[str, TimelineEvent]] = {}  # invoice -> sort key -> fact
        self.first_counts: dict[tuple[str, str], Counts] = {}  # what each fact first added
        self.counters: dict[tuple[str, str], _Counters] = {}
        self.refs: dict[str, tuple[MessageRef, int]] = {}
        # (invoice, recipient, attempt) -> (claimed at, outcome): the send claims.
        # (invoice, recipient, attempt or "R<n>" for reminder n) -> (claimed at, outcome)
        self.claims: dict[tuple[str, str, int | str], tuple[str, SendOutcome | None]] = {}
        self.released: set[tuple[str, str, int | str]] = set()  # given back (throttled)
        self.saves = 0
        self.conflicts = 0
        self.fact_puts = 0
        # Set to make the next n counter updates fail (a crash between two writes).
        self.fail_counts = 0

    def create(self, invoice: Invoice) -> bool:
        if invoice.id in self.invoices:
            return False
        stored = copy.deepcopy(invoice)
        stored.version = 1
        self.invoices[invoice.id] = stored
        invoice.version = 1
        return True

    def create_many(self, invoices: Sequence[Invoice]) -> list[bool]:
        return [self.create(invoice) for invoice in invoices]

    def _with_counters(self, invoice: Invoice, recipient_ids: list[str]) -> Invoice:
        for recipient in invoice.recipients:
            if recipient.id not in recipient_ids:
                continue
            found = self.counters.get((invoice.id, recipient.id))
            if found is None:
                continue
            recipient.open_count = found.open_count
            recipient.machine_open_count = found.machine_open_count
            recipient.click_count = found.click_count
            recipient.last_opened_at = found.last_opened_at
            recipient.first_person_at = found.first_person_at
            if found.last_opened_at and found.last_opened_at > invoice.last_activity_at:
                invoice.last_activity_at = found.last_opened_at
        return invoice

    def get(self, invoice_id: str) -> Invoice | None:
        stored = self.invoices.get(invoice_id)
        if stored is None:
            return None
        invoice = copy.deepcopy(stored)
        invoice.last_activity_at = invoice.updated_at
        return self._with_counters(invoice, [r.id for r in invoice.recipients])

    def get_summary(self, invoice_id: str, recipient_id: str | None = None) -> Invoice | None:
        stored = self.invoices.get(invoice_id)
        if stored is None:
            return None
        invoice = copy.deepcopy(stored)
        invoice.last_activity_at = invoice.updated_at
        for recipient in invoice.recipients:  # the summary holds no counters
            for name in ("open_count", "machine_open_count", "click_count"):
                setattr(recipient, name, 0)
            recipient.last_opened_at = recipient.first_person_at = None
        return self._with_counters(invoice, [recipient_id] if recipient_id else [])

    def save_summary(self, invoice: Invoice) -> None:
        stored = self.invoices.get(invoice.id)
        if stored is None or stored.version != invoice.version:
            self.conflicts += 1
            raise ConcurrentUpdate(invoice.id)
        kept = copy.deepcopy(invoice)
        kept.version = (invoice.version or 0) + 1
        kept.lines, kept.subject, kept.message = stored.lines, stored.subject, stored.message
        kept.metadata = stored.metadata
        self.invoices[invoice.id] = kept
        invoice.version = kept.version
        self.saves += 1

    def add_fact(self, invoice_id: str, event: TimelineEvent, expires_at: int) -> bool:
        facts = self.facts.setdefault(invoice_id, {})
        sk = f"{event.at}#{event.key}"
        if sk in facts:
            return False
        facts[sk] = copy.deepcopy(event)
        self.first_counts[(invoice_id, sk)] = Counts.of(event)
        self.fact_puts += 1
        return True

    def kept_fact(self, invoice_id: str, event: TimelineEvent) -> KeptFact | None:
        sk = f"{event.at}#{event.key}"
        kept = self.facts.get(invoice_id, {}).get(sk)
        if kept is None:
            return None
        return KeptFact(copy.deepcopy(kept), self.first_counts[(invoice_id, sk)])

    def history(self, invoice_id: str) -> list[TimelineEvent]:
        """Every fact of the invoice, oldest first (for tests)."""
        facts = self.facts.get(invoice_id, {})
        return [copy.deepcopy(facts[sk]) for sk in sorted(facts)]

    def facts_between(
        self, invoice_id: str, start: str, end: str, limit: int
    ) -> list[TimelineEvent]:
        facts = self.facts.get(invoice_id, {})
        keys = [sk for sk in sorted(facts) if start <= sk <= f"{end}#\uffff"]
        return [copy.deepcopy(facts[sk]) for sk in keys[:limit]]

    def facts_page(
        self,
        invoice_id: str,
        limit: int,
        cursor: str | None,
        newest_first: bool = True,
        start: str = "",
        end: str = "\uffff",
    ) -> EventPage:
        facts = self.facts.get(invoice_id, {})
        keys = sorted((sk for sk in facts if start <= sk <= end), reverse=newest_first)
        if cursor is not None:
            if not cursor.startswith("f:"):
                raise InvalidCursor("events")
            after = cursor[2:]
            keys = [sk for sk in keys if (sk < after if newest_first else sk > after)]
        page = keys[:limit]
        more = len(keys) > limit
        return EventPage(
            [copy.deepcopy(facts[sk]) for sk in page], f"f:{page[-1]}" if more else None
        )

    def fact_cursor(self, invoice_id: str, event: TimelineEvent) -> str:
        return f"f:{event.at}#{event.key}"

    def set_verdict(self, invoice_id: str, event: TimelineEvent) -> bool:
        facts = self.facts.get(invoice_id, {})
        sk = f"{event.at}#{event.key}"
        stored = facts.get(sk)
        if stored is None or stored.revision != event.revision - 1:
            return False
        facts[sk] = copy.deepcopy(event)
        return True

    def count(self, invoice_id: str, change: CountChange, expires_at: int) -> bool:
        if self.fail_counts:
            self.fail_counts -= 1
            raise Unavailable("the counters update failed (a test's crash)")
        found = self.counters.setdefault((invoice_id, change.recipient_id), _Counters())
        slot = zlib.crc32(change.op.encode()) % self.SLOTS
        if found.slots.get(slot) == change.op:
            return False
        found.slots[slot] = change.op
        found.open_count += change.open_count
        found.machine_open_count += change.machine_open_count
        found.click_count += change.click_count
        if change.last_opened_at and (
            found.last_opened_at is None or change.last_opened_at > found.last_opened_at
        ):
            found.last_opened_at = change.last_opened_at
        if change.first_person_at and (
            found.first_person_at is None or change.first_person_at < found.first_person_at
        ):
            found.first_person_at = change.first_person_at
        return True

    def move_last_open(self, invoice_id: str, recipient_id: str, old: str, new: str | None) -> bool:
        found = self.counters.get((invoice_id, recipient_id))
        if found is None or found.last_opened_at != old:
            return False
        found.last_opened_at = new
        return True

    def replace_counters(
        self, invoice_id: str, recipient_id: str, tally: Tally, expires_at: int
    ) -> None:
        self.counters[(invoice_id, recipient_id)] = _Counters(
            tally.open_count,
            tally.machine_open_count,
            tally.click_count,
            tally.last_opened_at,
            tally.first_person_at,
        )

    def list_page(
        self,
        partitions: list[str],
        limit: int,
        cursor: dict[str, Any] | None,
        status: str | None = None,
        payment: str | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> Page:
        # The cursor maps each unfinished partition to how many of its items were taken.
        starts: dict[str, Any] = cursor if cursor is not None else dict.fromkeys(partitions)
        per_partition: dict[str, list[Invoice]] = {}
        for partition in starts:
            mine = [
                i
                for i in self.invoices.values()
                if partition_keys(i)["by_status"] == partition
                and (status is None or i.status == status)
                and (payment not in ("paid", "void") or i.payment_status == payment)
                and (after is None or _sort_key(i) >= after)
                and (before is None or _sort_key(i) <= before + "~")
            ]
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

    def find_by_number(
        self, account_id: str, shards: int, number: str, prefix: bool, limit: int
    ) -> list[Invoice]:
        wanted = number.casefold()
        found = sorted(
            (
                i
                for i in self.invoices.values()
                if i.account_id == account_id
                and (
                    i.number.casefold().startswith(wanted)
                    if prefix
                    else i.number.casefold() == wanted
                )
            ),
            key=lambda i: (i.number.casefold(), i.id),
        )
        return [self.get_summary(i.id) for i in found[:limit]]  # type: ignore[misc]

    def claim_send(
        self,
        invoice_id: str,
        recipient_id: str,
        attempt: int,
        at: str,
        expires_at: int,
        reminder: bool = False,
    ) -> SendClaim:
        key = (invoice_id, recipient_id, f"R{attempt}" if reminder else attempt)
        if key not in self.claims or key in self.released:
            self.claims[key] = (at, None)
            self.released.discard(key)
            return SendClaim(recipient_id, attempt, at, won=True, reminder=reminder)
        claimed_at, outcome = self.claims[key]
        return SendClaim(
            recipient_id, attempt, claimed_at, won=False, outcome=outcome, reminder=reminder
        )

    def settle_send(
        self,
        invoice_id: str,
        recipient_id: str,
        attempt: int,
        outcome: SendOutcome,
        reminder: bool = False,
        unsettled_only: bool = False,
    ) -> bool:
        key = (invoice_id, recipient_id, f"R{attempt}" if reminder else attempt)
        if unsettled_only and (key not in self.claims or self.claims[key][1] is not None):
            return False
        self.claims[key] = (self.claims.get(key, (outcome.at, None))[0], outcome)
        return True

    def release_send(
        self, invoice_id: str, recipient_id: str, attempt: int, reminder: bool = False
    ) -> None:
        key = (invoice_id, recipient_id, f"R{attempt}" if reminder else attempt)
        if key in self.claims and self.claims[key][1] is None:
            self.released.add(key)

    def unsettled_sends(self) -> Iterator[tuple[str, SendClaim]]:
        for key, (at, outcome) in list(self.claims.items()):
            invoice_id, recipient_id, attempt = key
            if outcome is None and key not in self.released:
                reminder = isinstance(attempt, str)
                number = int(str(attempt).removeprefix("R"))
                yield invoice_id, SendClaim(recipient_id, number, at, False, reminder=reminder)

    def put_message_refs(self, refs: list[MessageRef], expires_at: int) -> None:
        for ref in refs:
            self.refs[ref.message_id] = (ref, expires_at)

    def get_message_ref(self, message_id: str) -> MessageRef | None:
        found = self.refs.get(message_id)
        return found[0] if found is not None else None


class FakePdfStore:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    def put(self, key: str, pdf: bytes, filename: str) -> None:
        self.objects[key] = (pdf, filename)

    def get(self, key: str) -> bytes | None:
        found = self.objects.get(key)
        return found[0] if found else None

    def url(self, key: str, seconds: int) -> str:
        return f"https://pdfs.test/{key}?expires={seconds}"


class FakeAccountStore:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.keys: dict[str, ApiKey] = {}  # by the secret's hash
        self.touches: list[tuple[str, str]] = []  # (key id, now) of every write

    def get_account(self, account_id: str) -> Account | None:
        account = self.accounts.get(account_id)
        return copy.deepcopy(account) if account is not None else None

    def put_account(self, account: Account) -> None:
        self.accounts[account.id] = copy.deepcopy(account)

    def key_for_hash(self, key_hash: str) -> ApiKey | None:
        key = self.keys.get(key_hash)
        return copy.deepcopy(key) if key is not None else None

    def put_key(self, key_hash: str, key: ApiKey) -> None:
        if key_hash in self.keys:
            raise ValueError("this key hash is already stored")  # a conditional put
        self.keys[key_hash] = copy.deepcopy(key)

    def list_keys(self, account_id: str) -> list[ApiKey]:
        found = [k for k in self.keys.values() if k.account_id == account_id]
        return [copy.deepcopy(k) for k in sorted(found, key=lambda k: k.id)]

    def revoke_key(self, account_id: str, key_id: str, at: str) -> ApiKey | None:
        for key in self.keys.values():
            if key.account_id == account_id and key.id == key_id:
                key.revoked_at = key.revoked_at or at
                return copy.deepcopy(key)
        return None

    def touch_key(self, key: ApiKey, now: str, stale_before: str) -> None:
        for stored in self.keys.values():
            if stored.id == key.id and (stored.last_used_at or "") < stale_before:
                stored.last_used_at = now
                self.touches.append((key.id, now))

    def revoke(self, key_hash: str) -> None:
        self.keys[key_hash].revoked_at = "2026-01-01T00:00:00.000Z"


class FakeAuthFailures:
    """``ports.AuthFailures`` in memory: counts per (network, window)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def add_failure(self, network: str, window: str, expires_at: int) -> int:
        self.counts[(network, window)] += 1
        return self.counts[(network, window)]


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
        self.throttle_next = 0  # the next n sends are refused for SES's rate
        self.throttled = 0

    def refuse(
        self, address: str, reason: str = "MessageRejected: Email address is not verified."
    ) -> None:
        self.refusals[address.lower()] = reason

    def accept(self, address: str) -> None:
        self.refusals.pop(address.lower(), None)

    def send(self, email: OutgoingEmail) -> str:
        if self.before_send is not None:
            self.before_send(email)
        if self.throttle_next > 0:
            self.throttle_next -= 1
            self.throttled += 1
            raise SendThrottled("TooManyRequestsException: Maximum sending rate exceeded.")
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
        "pdf_bucket": "sobre-pdfs-test",
        "max_body_bytes": 10_000_000,
        "send_attempts": 4,
        "api_key_cache_seconds": 5,
        "stage": "test",
        "ses_send_rate": 0.0,  # unpaced: the fakes answer at once
    }
    values.update(overrides)
    return Settings(**values)


def make_context(
    *,
    invoices: FakeInvoiceStore | None = None,
    accounts: FakeAccountStore | None = None,
    unprocessed: FakeUnprocessedStore | None = None,
    mailer: FakeMailer | None = None,
    pdfs: FakePdfStore | None = None,
    metrics: FakeMetrics | None = None,
    clock: FakeClock | None = None,
    settings: Settings | None = None,
    secret: bytes = DEFAULT_SECRET,
    sends: FakeSendQueue | None = None,
) -> Context:
    """A ``Context`` over in-memory fakes; pass a fake to keep a handle on it. Its send
    queue delivers each message as it is queued (``FakeSendQueue``), unless given one."""
    queue = sends if sends is not None else FakeSendQueue(auto=True)
    ctx = Context(
        settings=settings or make_settings(),
        invoices=invoices if invoices is not None else FakeInvoiceStore(),
        accounts=accounts if accounts is not None else FakeAccountStore(),
        unprocessed=unprocessed if unprocessed is not None else FakeUnprocessedStore(),
        mailer=mailer if mailer is not None else FakeMailer(),
        pdfs=pdfs if pdfs is not None else FakePdfStore(),
        signer=TokenSigner(secret),
        metrics=metrics if metrics is not None else FakeMetrics(),
        clock=clock if clock is not None else FakeClock(),
        sends=queue,
    )
    queue.ctx = ctx
    return ctx


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
    pdfs: FakePdfStore
    sends: FakeSendQueue = field(default_factory=lambda: FakeSendQueue())


def make_world(*, auto_send: bool = True, **settings_overrides: Any) -> World:
    invoices, accounts = FakeInvoiceStore(), FakeAccountStore()
    unprocessed, mailer = FakeUnprocessedStore(), FakeMailer()
    metrics, clock, pdfs = FakeMetrics(), FakeClock(), FakePdfStore()
    ctx = make_context(
        invoices=invoices,
        accounts=accounts,
        unprocessed=unprocessed,
        mailer=mailer,
        pdfs=pdfs,
        metrics=metrics,
        clock=clock,
        settings=make_settings(**settings_overrides),
        sends=FakeSendQueue(auto=auto_send),
    )
    assert isinstance(ctx.sends, FakeSendQueue)
    return World(ctx, invoices, accounts, unprocessed, mailer, metrics, clock, pdfs, ctx.sends)


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


@dataclass
class FakeFetchQueue:
    """A ``FetchQueue`` that keeps the bodies it was given."""

    bodies: list[str] = field(default_factory=list)
    refuse: bool = False  # the queue is down too
    connected: int = 0  # how many times a late write had the client built

    def connect(self) -> None:
        self.connected += 1

    def defer(self, body: str) -> None:
        if self.refuse:
            raise ConnectionError("the queue is down too")
        self.bodies.append(body)


@dataclass
class Queued:
    """A message of the fake send queue: its body, receives so far, hidden until."""

    message_id: str
    body: str
    receives: int = 0
    hidden: float = 0.0  # seconds of delay left (``drain`` ignores hidden ones)


@dataclass
class FakeSendQueue:
    """A ``SendQueue`` in memory. ``auto``: each message is run by the sender as soon
    as it is queued (a sender with no backlog), and again at once while it asks to come
    back, up to its receives; otherwise messages wait for ``drain``, which runs them as
    the SQS event source would (receive counts, partial batch failures, delays)."""

    auto: bool = False
    refuse: bool = False  # the queue is down
    take: int | None = None  # takes this many more sends, then is down
    ctx: Context | None = None
    messages: list[Queued] = field(default_factory=list)
    dead: list[Queued] = field(default_factory=list)  # the dead-letter queue
    queued: list[QueuedSend] = field(default_factory=list)  # everything ever queued
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def enqueue(self, sends: Sequence[QueuedSend]) -> None:
        if self.refuse:
            raise NotQueued(sends, "the send queue is down")
        refused: list[QueuedSend] = []
        if self.take is not None:
            sends, refused = list(sends[: self.take]), list(sends[self.take :])
            self.take -= len(sends)
        self._queue(sends)
        if refused:
            raise NotQueued(refused, "the send queue went down")

    def _queue(self, sends: Sequence[QueuedSend]) -> None:
        self.queued.extend(sends)
        new = [Queued(f"m{next(self._ids)}", s.to_json()) for s in sends]
        self.messages.extend(new)
        if self.auto:
            while self._run([m for m in new if m in self.messages]):
                pass

    def delay(self, receipt_handle: str, seconds: int) -> None:
        for message in self.messages:
            if message.message_id == receipt_handle:
                message.hidden = float(seconds)

    def drain(self, ignore_delays: bool = True) -> int:
        """Run every visible message (delayed ones too when ``ignore_delays``) until the
        queue is empty or only delayed ones are left; the batches run."""
        batches = 0
        while True:
            visible = [m for m in self.messages if ignore_delays or m.hidden <= 0]
            if not visible:
                return batches
            for start in range(0, len(visible), 10):
                self._run(visible[start : start + 10])
                batches += 1

    def _run(self, batch: list[Queued]) -> bool:
        """One batch through the sender; whether any message is left to run."""
        from chalicelib.sending.sender import Received, run_batch

        assert self.ctx is not None, "make_context binds the queue to its context"
        if not batch:
            return False
        for message in batch:
            message.receives += 1
            message.hidden = 0.0
        again = set(
            run_batch(
                self.ctx,
                [Received(m.message_id, m.body, m.message_id, m.receives) for m in batch],
            )
        )
        receives = self.ctx.settings.send_receives
        for message in batch:
            if message.message_id not in again:
                self.messages.remove(message)
            elif message.receives >= receives:  # the redrive policy
                self.messages.remove(message)
                self.dead.append(message)
        return any(m.message_id in again for m in batch if m in self.messages)
