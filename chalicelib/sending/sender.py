"""The ``sender`` function: consumes the send queue (one message per recipient to mail,
``core.sends.QueuedSend``) and runs the claimed send of each (``service.deliver``), so
SQS delivering a message twice never mails anyone twice. See docs/DESIGN.md, "The send
queue".

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
from chalicelib.core.model import Invoice, iso
from chalicelib.core.sends import QueuedSend
from chalicelib.core.stored import pdf_key
from chalicelib.observability import logger
from chalicelib.sending import service

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
    batch failure: the others are deleted from the queue)."""
    again: list[str] = []
    for message in messages:
        try:
            verdict = run_one(ctx, message)
        except Exception:  # storage, most likely: the message comes back as it is
            logger.exception("a queued send failed", extra={"message_id": message.message_id})
            verdict = "retry"
        if verdict == "done":
            continue
        again.append(message.message_id)
        if verdict == "retry":
            _delay(ctx, message)
    return again


def run_one(ctx: Context, message: Received) -> Verdict:
    """Mail the message's recipient unless that attempt is already settled: "done"
    (sent, refused, settled before, or nothing to do), "retry" (throttled), "failed"
    (throttled on the last receive: the recipient is failed, the message goes on to
    the dead-letter queue)."""
    try:
        send = QueuedSend.from_json(message.body)
    except ValueError as exc:
        ctx.unprocessed.keep(iso(ctx.clock()), f"queued send: {exc}", message.body)
        return "done"
    invoice = ctx.invoices.get(send.invoice_id)
    recipient = invoice.recipient(send.recipient_id) if invoice else None
    if invoice is None or recipient is None:
        return "done"  # deleted (retention) or never stored
    if recipient.sent_at is not None or recipient.send_attempts >= send.attempt:
        return "done"  # a copy of a message already run, or an attempt already settled
    account = ctx.accounts.get_account(invoice.account_id)
    if account is None:
        return "done"
    pdf = ctx.pdfs.get(pdf_key(invoice)) if invoice.has_pdf else None
    final = message.receive_count >= ctx.settings.send_receives
    # The first sends are part of the creation: the list keeps the invoice where its
    # creation put it (its index entry is updated in place, not moved: 1 WRU, not 2).
    first = send.attempt == 1 and recipient.queued_at == invoice.created_at
    pacer(ctx).wait()
    try:
        result = service.deliver(
            ctx,
            account,
            invoice,
            pdf,
            changed_at=invoice.created_at if first else None,
            only={recipient.id},
            final=final,
        )
    except service.Throttled:
        return "retry"
    except service.SesOutage:
        # The claim stays unsettled: nothing mails this attempt again (an operator
        # settles it: tools.admin sends), so the message has nothing left to do.
        return "done"
    if final and _throttled_to_failure(result.invoice, send):
        return "failed"
    return "done"


def _throttled_to_failure(invoice: Invoice, send: QueuedSend) -> bool:
    """Whether the last receive's throttle failed the recipient (its message then
    goes on to the dead-letter queue, where an operator sees it), in the summary the
    delivery just wrote."""
    recipient = invoice.recipient(send.recipient_id)
    return bool(
        recipient
        and recipient.status == "failed"
        and (recipient.failure_reason or "").startswith("SES kept throttling")
    )


def _delay(ctx: Context, message: Received) -> None:
    seconds = THROTTLE_DELAY_SECONDS * message.receive_count
    seconds = min(MAX_DELAY_SECONDS, seconds + random.randint(0, seconds))  # noqa: S311
    try:
        ctx.sends.delay(message.receipt_handle, seconds)
    except Exception:  # it comes back after the queue's visibility timeout instead
        logger.exception("could not delay a throttled send")
