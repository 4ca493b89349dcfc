"""The ``sender`` function: consumes the send queue (one message per recipient to mail,
or to remind: ``core.sends.QueuedSend``) and runs the claimed sends of each invoice's
messages as one delivery (``delivery.deliver``), so SQS delivering a message twice
never mails anyone twice. See docs/DESIGN.md, "The send queue".

Each sender paces itself to its share of SES's rate (``Pacer``); SES throttling anyway
is back-pressure: the message goes back to the queue with a delay and its recipient
stays ``queued``, until its ``send_receives``-th receive, when the recipient is failed
and the message is left to the queue's redrive policy (the dead-letter queue, alarmed).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from chalicelib.context import Context
from chalicelib.core.model import Invoice, Recipient, iso
from chalicelib.core.sends import QueuedSend
from chalicelib.core.stored import pdf_key
from chalicelib.observability import logger
from chalicelib.sending import delivery

# A throttled message comes back after this many seconds per receive so far (and up
# to as many again, at random, so the throttled ones do not all return at once).
THROTTLE_DELAY_SECONDS = 2
MAX_DELAY_SECONDS = 900

Verdict = Literal["done", "retry", "failed"]


@dataclass(frozen=True)
class Received:
    """One message as the SQS event source hands it over."""

    message_id: str
    body: str
    receipt_handle: str
    receive_count: int


class Pacer:
    """At most ``rate`` sends a second from this process (``rate`` <= 0: unpaced),
    whatever its threads: each send waits for its slot."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            self._sleep(slot - now)


_PACERS: dict[float, Pacer] = {}


def pacer(ctx: Context) -> Pacer:
    """This process's pacer: its share of the rate is rate / concurrent senders."""
    share = ctx.settings.ses_send_rate / max(1, ctx.settings.sender_concurrency)
    return _PACERS.setdefault(share, Pacer(share))


def run_batch(ctx: Context, messages: Iterable[Received]) -> list[str]:
    """Run every message of a batch; the ids of those that must come back (partial
    batch failure: the others are deleted from the queue). The messages of one invoice
    (queued together, they mostly arrive together) run as one delivery: one read of
    the invoice, one write of its summary, whatever its number of recipients."""
    groups: dict[str, list[tuple[Received, QueuedSend]]] = {}
    for message in messages:
        try:
            send = QueuedSend.from_json(message.body)
        except ValueError as exc:
            ctx.unprocessed.keep(iso(ctx.clock()), f"queued send: {exc}", message.body)
            continue
        groups.setdefault(send.invoice_id, []).append((message, send))
    again: list[str] = []
    for invoice_id, group in groups.items():
        try:
            verdicts = run_invoice(ctx, invoice_id, group)
        except Exception:  # storage, most likely: the messages come back as they are
            logger.exception("a queued send failed", extra={"invoice_id": invoice_id})
            verdicts = {message.message_id: "retry" for message, _ in group}
        for message, _ in group:
            verdict = verdicts.get(message.message_id, "done")
            if verdict == "done":
                continue
            again.append(message.message_id)
            if verdict == "retry":
                _delay(ctx, message)
    return again


def run_invoice(
    ctx: Context, invoice_id: str, group: list[tuple[Received, QueuedSend]]
) -> dict[str, Verdict]:
    """Mail the recipients of one invoice's messages whose attempt is not settled yet,
    its sends first, then its reminders; a verdict per message id: "done" (sent,
    refused, settled before, or nothing to do), "retry" (throttled, or not tried: it
    comes back), "failed" (throttled on its last receive: the recipient is failed, the
    message goes on to the dead-letter queue)."""
    invoice = ctx.invoices.get(invoice_id)
    account = ctx.accounts.get_account(invoice.account_id) if invoice else None
    if invoice is None or account is None:
        return {}  # deleted (retention) or never stored: nothing to do
    verdicts: dict[str, Verdict] = {}
    pdf: bytes | None = None
    stopped = False
    for reminder, messages in _by_kind(group).items():
        runs, waiting = _to_run(invoice, messages, reminder)
        verdicts.update(waiting)
        if stopped:  # SES stopped an earlier delivery of this batch: all of it waits
            verdicts.update({m.message_id: "retry" for m in runs.values()})
            continue
        if not runs:
            continue
        if pdf is None and invoice.has_pdf:
            pdf = ctx.pdfs.get(pdf_key(invoice))
        final = {r for r, m in runs.items() if m.receive_count >= ctx.settings.send_receives}
        done = delivery.deliver(
            ctx,
            account,
            invoice,
            pdf,
            only=set(runs),
            final=final,
            changed_at=invoice.created_at if _all_first(invoice, messages, reminder) else None,
            pace=pacer(ctx).wait,
            reminder=reminder,
        )
        invoice, stopped = done.invoice, bool(done.untried)
        for recipient_id, message in runs.items():
            if recipient_id in done.untried:
                verdicts[message.message_id] = "retry"
            elif recipient_id in done.gave_up:
                verdicts[message.message_id] = "failed"
    return verdicts


Kind = delivery.Reminder | None  # a message's: a send, or which reminder


def _by_kind(
    group: list[tuple[Received, QueuedSend]],
) -> dict[Kind, list[tuple[Received, QueuedSend]]]:
    """The messages by what they mail: the sends first, then each reminder."""
    kinds: dict[Kind, list[tuple[Received, QueuedSend]]] = {None: []}
    for message, send in group:
        kind = None if send.reminder is None else delivery.Reminder(send.attempt, send.reminder)
        kinds.setdefault(kind, []).append((message, send))
    return kinds


def _to_run(
    invoice: Invoice, group: list[tuple[Received, QueuedSend]], reminder: Kind
) -> tuple[dict[str, Received], dict[str, Verdict]]:
    """The message to run for each recipient (by id) still due, and the verdicts of the
    messages that wait for another of this batch to settle first."""
    runs: dict[str, tuple[Received, QueuedSend]] = {}
    verdicts: dict[str, Verdict] = {}
    for message, send in group:
        recipient = invoice.recipient(send.recipient_id)
        if recipient is None or (reminder is None and _settled(recipient, send)):
            continue
        if send.recipient_id in runs:
            # Another message for the same recipient in this batch: a copy (the claim
            # would refuse it anyway) or a later attempt, run once this one settled.
            if runs[send.recipient_id][1].attempt != send.attempt:
                verdicts[message.message_id] = "retry"
            continue
        runs[send.recipient_id] = (message, send)
    return {r: m for r, (m, _) in runs.items()}, verdicts


def _settled(recipient: Recipient, send: QueuedSend) -> bool:
    """Sent already, or this attempt settled (a copy of a message already run)."""
    return recipient.sent_at is not None or recipient.send_attempts >= send.attempt


def _all_first(
    invoice: Invoice, runs: Iterable[tuple[Received, QueuedSend]], reminder: Kind
) -> bool:
    """Whether every send is part of the invoice's creation: then the list keeps the
    invoice where its creation put it (its index entry is updated in place, not moved:
    1 WRU, not 2)."""
    if reminder is not None:
        return False
    for _, send in runs:
        recipient = invoice.recipient(send.recipient_id)
        if send.attempt != 1 or recipient is None or recipient.queued_at != invoice.created_at:
            return False
    return True


def _delay(ctx: Context, message: Received) -> None:
    seconds = THROTTLE_DELAY_SECONDS * message.receive_count
    seconds = min(MAX_DELAY_SECONDS, seconds + random.randint(0, seconds))  # noqa: S311
    try:
        ctx.sends.delay(message.receipt_handle, seconds)
    except Exception:  # it comes back after the queue's visibility timeout instead
        logger.exception("could not delay a throttled send")
