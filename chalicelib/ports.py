"""The ports the use cases need from the outside world: Protocols only. Adapters
(chalicelib/adapters: DynamoDB, SES, HTTP) and the in-memory fakes of the tests
implement them; use cases only ever see these."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # annotations only: importing ports costs no domain module
    from collections.abc import Iterator, Sequence
    from datetime import datetime

    from chalicelib.core.alerts import Alert
    from chalicelib.core.keys import ApiKey
    from chalicelib.core.model import (
        Account,
        CountChange,
        EventPage,
        Invoice,
        Lease,
        MessageRef,
        OutgoingEmail,
        Page,
        TimelineEvent,
    )
    from chalicelib.core.sends import QueuedSend, SendClaim, SendOutcome
    from chalicelib.core.status import KeptFact, Tally
    from chalicelib.core.webhooks import AttemptResult, Delivery, Task, Webhook


class InvoiceStore(Protocol):
    """An invoice is a small summary (its fields and its recipients' state), its content
    (lines, message), one small counters item per recipient, and one item per fact."""

    def connect(self) -> None:
        """Build the client (imports, configuration; no request), so that the public
        routes' storage deadline times storage, not a cold container's imports."""

    def create(self, invoice: Invoice) -> bool:
        """Store a new invoice; False when one with its id already exists."""

    def create_many(self, invoices: Sequence[Invoice]) -> list[bool]:
        """``create`` for each of a batch, at once; in order, False for each whose id
        already existed."""

    def get(self, invoice_id: str) -> Invoice | None:
        """The whole invoice (summary, content, counters), never its history."""

    def get_summary(self, invoice_id: str, recipient_id: str | None = None) -> Invoice | None:
        """The summary, with ``recipient_id``'s counters when given (strongly consistent:
        the write paths decide from it)."""

    def save_summary(self, invoice: Invoice) -> None:
        """Write the summary unless written since it was read (``ConcurrentUpdate``)."""

    def add_fact(self, invoice_id: str, event: TimelineEvent, expires_at: int) -> bool:
        """Keep one fact (with ``Counts.of`` it, what it adds to the counters); False
        when a fact with its key and time is already kept."""

    def kept_fact(self, invoice_id: str, event: TimelineEvent) -> KeptFact | None:
        """The fact kept with ``event``'s key and time (consistent), if any."""

    def facts_between(
        self, invoice_id: str, start: str, end: str, limit: int
    ) -> list[TimelineEvent]:
        """Facts with ``start <= at <= end``, oldest first, at most ``limit`` (consistent)."""

    def facts_page(
        self,
        invoice_id: str,
        limit: int,
        cursor: str | None,
        newest_first: bool = True,
        start: str = "",
        end: str = "\uffff",
    ) -> EventPage:
        """A page of the invoice's facts with ``start <= at < end``; raises
        ``InvalidCursor`` for a cursor it did not give."""

    def fact_cursor(self, invoice_id: str, event: TimelineEvent) -> str:
        """The ``facts_page`` cursor that goes on after ``event`` (either order)."""

    def set_verdict(self, invoice_id: str, event: TimelineEvent) -> bool:
        """Store a re-judged fact's verdict if its revision is still the one before
        ``event.revision``; False when another re-judge got there first."""

    def count(self, invoice_id: str, change: CountChange, expires_at: int) -> bool:
        """Apply ``change`` to the recipient's counters; False when its ``op`` already was."""

    def replace_counters(
        self, invoice_id: str, recipient_id: str, tally: Tally, expires_at: int
    ) -> None:
        """Set the recipient's counters to ``tally`` (a recount from its facts)."""

    def move_last_open(self, invoice_id: str, recipient_id: str, old: str, new: str | None) -> bool:
        """Set ``last_opened_at`` to ``new`` if it still is ``old``."""

    def list_page(
        self,
        partitions: list[str],
        limit: int,
        cursor: dict[str, Any] | None,
        status: str | None = None,
        payment: str | None = None,
    ) -> Page:
        """Index entries of ``partitions`` (in ``status``; ``paid`` or ``void`` when
        ``payment`` says so), most recently changed first."""

    def find_by_number(
        self, account_id: str, shards: int, number: str, prefix: bool, limit: int
    ) -> list[Invoice]:
        """The account's invoices numbered ``number`` (case-insensitive), or starting
        with it when ``prefix``, in number order (summaries, no counters)."""

    def claim_send(
        self,
        invoice_id: str,
        recipient_id: str,
        attempt: int,
        at: str,
        expires_at: int,
        reminder: bool = False,
    ) -> SendClaim:
        """Claim attempt ``attempt`` (with ``reminder``, reminder number ``attempt``) of
        mailing ``recipient_id``, before SendEmail: a conditional put, so of every
        caller exactly one wins (``won``) and may mail; the others get the claim as kept
        (consistent read), with its outcome once settled."""

    def settle_send(
        self,
        invoice_id: str,
        recipient_id: str,
        attempt: int,
        outcome: SendOutcome,
        reminder: bool = False,
        unsettled_only: bool = False,
    ) -> bool:
        """Keep what came of a claimed attempt, as soon as it is known. With
        ``unsettled_only`` (an operator's release), only if it has no outcome yet;
        False when it had one."""

    def release_send(
        self, invoice_id: str, recipient_id: str, attempt: int, reminder: bool = False
    ) -> None:
        """Give back an unsettled claim of a send (or of reminder ``attempt``) that SES
        refused for its rate (the message did not go out): the next ``claim_send`` of
        that attempt wins again."""

    def put_message_refs(self, refs: list[MessageRef], expires_at: int) -> None: ...

    def get_message_ref(self, message_id: str) -> MessageRef | None: ...


class PdfStore(Protocol):
    """The invoices' PDFs (S3): private, encrypted, expiring with the invoice."""

    def put(self, key: str, pdf: bytes, filename: str) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def url(self, key: str, seconds: int) -> str:
        """A short-lived link that downloads it (as ``filename``)."""


class AccountStore(Protocol):
    def get_account(self, account_id: str) -> Account | None: ...

    def put_account(self, account: Account) -> None: ...

    # API keys: looked up by the secret's hash; listed, revoked and touched by id.
    def key_for_hash(self, key_hash: str) -> ApiKey | None:
        """The key whose secret hashes to ``key_hash``, revoked ones included."""

    def put_key(self, key_hash: str, key: ApiKey) -> None:
        """Store a new key (its lookup item and its entry under the account)."""

    def list_keys(self, account_id: str) -> list[ApiKey]:
        """The account's keys, oldest first (one Query of its partition)."""

    def revoke_key(self, account_id: str, key_id: str, at: str) -> ApiKey | None:
        """Revoke the account's key ``key_id`` (None when it has none by that id)."""

    def touch_key(self, key: ApiKey, now: str, stale_before: str) -> None:
        """Set ``last_used_at`` to ``now`` unless it is already ``stale_before`` or later."""


class AuthFailures(Protocol):
    """Failed authentications per client network and minute, across containers."""

    def add_failure(self, network: str, window: str, expires_at: int) -> int:
        """Count one more failure of ``network`` in ``window``; the count so far."""


class UnprocessedStore(Protocol):
    def keep(self, received_at: str, reason: str, payload: str) -> str:
        """Keep a payload that could not be processed; returns its id."""

    def list_unprocessed(self, limit: int) -> list[dict[str, Any]]: ...

    def delete_unprocessed(self, item_id: str) -> None: ...


class FetchQueue(Protocol):
    """Where the public routes keep a fetch whose write missed its deadline (a durable
    queue; the ``fetch_fallback`` function applies it)."""

    def connect(self) -> None:
        """Build the client (imports, configuration; no request) while a write is late,
        so that a fetch deferred at its deadline waits on the queue, not on the build."""

    def defer(self, body: str) -> None: ...


class SendQueue(Protocol):
    """The send queue (SQS): one message per recipient to mail, for the ``sender``
    function (chalicelib/sending/sender.py)."""

    def enqueue(self, sends: Sequence[QueuedSend]) -> None:
        """Queue every one of ``sends``, or raise ``core.sends.NotQueued`` naming those
        not taken (the others were queued; of a call that failed some may have been:
        the sender tolerates a message twice)."""

    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Make a received message visible again only after ``seconds``."""


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

    # Invoices by the time their summary last changed (the by_status index).
    def changed_page(
        self, account: Account, since: str | None, limit: int, cursor: dict[str, Any] | None
    ) -> Page:
        """Invoices (index projection) whose summary changed at or after ``since``
        (every invoice when None), most recently changed first."""

    def in_status(
        self, account: Account, status: str, after: str | None, before: str | None, limit: int
    ) -> Iterator[Invoice]:
        """Invoices (index projection) in ``status``, changed in [after, before]."""

    # Markers: at-most-once work (a digest a day, a reminder, an alert email).
    def claim(self, key: str, at: str, expires_at: int, stale_before: str | None = None) -> bool:
        """Conditional put of marker ``key``; False when it exists and did not fail
        (nor, with ``stale_before``, is a claim older than that, never settled)."""

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
