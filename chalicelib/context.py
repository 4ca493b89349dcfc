"""What a use case runs over: the ports it needs, the settings and a clock. The
container (chalicelib/container.py) builds the production ones; tests and benchmarks
build them over in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.core.times import parse_iso

if TYPE_CHECKING:  # the ports and the model are types here: a forged pixel builds no model
    from chalicelib import ids
    from chalicelib.core.model import Account, Invoice
    from chalicelib.core.sends import QueuedSend
    from chalicelib.ports import (
        AccountStore,
        AlertOutbox,
        FetchQueue,
        InvoiceStore,
        Mailer,
        MetricsSink,
        PdfStore,
        ReportStore,
        SendQueue,
        UnprocessedStore,
        WebhookPoster,
    )
    from chalicelib.settings import Settings

MARKER_TTL = timedelta(days=40)


class NoSendQueue:
    """The send queue of a context that has none (benchmarks that only read): queueing
    a send raises."""

    def enqueue(self, sends: Sequence[QueuedSend]) -> None:
        raise RuntimeError("no send queue configured (SOBRE_SEND_QUEUE_URL)")

    def delay(self, receipt_handle: str, seconds: int) -> None:
        raise RuntimeError("no send queue configured (SOBRE_SEND_QUEUE_URL)")


@dataclass
class Context:
    settings: Settings
    invoices: InvoiceStore
    accounts: AccountStore
    unprocessed: UnprocessedStore
    mailer: Mailer
    pdfs: PdfStore
    signer: ids.TokenSigner
    metrics: MetricsSink
    clock: Callable[[], datetime]
    # Reports, reminders and alerts: where status crossings are kept for the scheduled
    # job (None: not recorded, as in benchmarks). See recording.update_watching.
    alerts: AlertOutbox | None = None
    # Fetches whose write missed the public routes' deadline (None: no fallback, the
    # write's error is raised, as in benchmarks). See chalicelib/tracking/deadline.py.
    deferred: FetchQueue | None = None
    # Where POST /invoices queues its sends for the ``sender`` function.
    sends: SendQueue = field(default_factory=NoSendQueue)

    def expires_at(self, from_time: datetime, days: int | None = None) -> int:
        """The TTL (epoch seconds) of data kept from ``from_time``: ``days`` (an
        account's own retention), else the stage's."""
        return int((from_time + timedelta(days=days or self.settings.retention_days)).timestamp())

    def invoice_expiry(self, invoice: Invoice, account: Account | None = None) -> int:
        """Every item of an invoice expires with it: retention counted from its
        creation (its first send follows it at once), so no activity ever moves it. The
        days are the account's current ones when ``account`` is given (a retention
        shortened since the invoice was sent applies on the next write), else those
        copied into the invoice when it was created."""
        days = invoice.retention_days if account is None else account.retention_days
        return self.expires_at(parse_iso(invoice.created_at), days)


@dataclass
class Jobs:
    """The scheduled jobs and the report and webhook routes: the core ``Context`` (its
    clock is the scheduled event's time, so a job is reproducible), a ``ReportStore``
    and a ``WebhookPoster``."""

    ctx: Context
    store: ReportStore
    poster: WebhookPoster
    budget_seconds: float = 40.0  # a run stops taking tasks after this (Lambda timeout 60 s)
    max_tasks: int = 500

    @property
    def now(self) -> datetime:
        return self.ctx.clock()

    def expires(self, ttl: timedelta = MARKER_TTL) -> int:
        return int((self.now + ttl).timestamp())
