"""Recording facts about an invoice: the one write loop every use case shares.

Read, change, write with an optimistic lock (the invoice item's version); re-read and
retry on a lost race, and park the facts beside the invoice under a burst. When a
recipient's status crosses to one the account is told about, the alert is kept for the
scheduled job (chalicelib/alerts/delivery.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from chalicelib.context import Context
from chalicelib.core.model import Invoice
from chalicelib.core.status import Fact, apply_fact, split_for_archive
from chalicelib.errors import ConcurrentUpdate, Unavailable
from chalicelib.observability import logger

# Optimistic-lock retries: concurrent opens of one invoice are rare but do happen
# (a scanner fetching every image at once); each retry waits a little, with jitter.
MAX_WRITE_ATTEMPTS = 12


PARK_AFTER_ATTEMPTS = 3


@dataclass(frozen=True)
class Updated:
    invoice: Invoice
    changed: bool  # False: nothing new (a duplicate), nothing written


def update(
    ctx: Context,
    invoice_id: str,
    change: Callable[[Invoice], bool],
    preloaded: Invoice | None = None,
    parkable: Sequence[Fact] = (),
) -> Updated | None:
    """Read, change, write with an optimistic lock; re-read and retry on a lost race.
    Returns the invoice as finally seen, or None when it does not exist.

    A burst of fetches of one invoice (a scanner, or hundreds of opens at once) makes
    writers lose race after race. After PARK_AFTER_ATTEMPTS lost races the ``parkable``
    facts are parked beside the invoice (one unconditional write that cannot lose) and
    the writer is done: every write folds the parked facts in and removes them, so the
    next writer to win carries everyone's facts, and nothing is lost meanwhile."""
    invoice = preloaded
    for attempt in range(MAX_WRITE_ATTEMPTS):
        if invoice is None:
            invoice = ctx.invoices.get(invoice_id)
            if invoice is None:
                return None
        seen = invoice
        folding = fold_parked(invoice)
        changed = change(invoice)
        if not changed and not folding:
            return Updated(invoice, changed=False)
        archive = split_for_archive(invoice)
        try:
            ctx.invoices.save(invoice, archive)
        except ConcurrentUpdate:
            invoice = None
            if parkable and attempt + 1 >= PARK_AFTER_ATTEMPTS:
                expires = ctx.expires_at(ctx.clock())
                for fact in parkable:
                    ctx.invoices.park(invoice_id, asdict(fact), expires)
                ctx.metrics.count("FactsParked", len(parkable))
                return Updated(seen, changed=True)
            time.sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 5)))  # noqa: S311
            continue
        return Updated(invoice, changed=changed)
    raise Unavailable(f"Too many concurrent updates to invoice {invoice_id}; retry.")


def fold_parked(invoice: Invoice) -> bool:
    """Apply the facts parked beside ``invoice``; True when there are any to remove."""
    for parked in invoice.parked:
        apply_fact(invoice, Fact(**parked))
    return bool(invoice.parked)


def update_watching(
    ctx: Context,
    invoice_id: str,
    change: Callable[[Invoice], bool],
    preloaded: Invoice | None = None,
    parkable: Sequence[Fact] = (),
) -> Updated | None:
    """``update``, then keep an alert for every recipient whose status crossed to
    opened (by a person), viewed, bounced or complained: one extra write, only when a
    status crosses (never for a repeated open), and never a reason to fail the caller.
    The scheduled job delivers them (chalicelib/alerts/delivery.py)."""
    before: dict[str, str] = {}

    def watched(invoice: Invoice) -> bool:
        before.clear()
        before.update({r.id: r.status for r in invoice.recipients})
        return change(invoice)

    updated = update(ctx, invoice_id, watched, preloaded, parkable)
    if updated is None or not updated.changed or ctx.alerts is None:
        return updated
    if all(before.get(r.id) == r.status for r in updated.invoice.recipients):
        return updated
    try:
        from chalicelib.core.alerts import crossings  # lazy: only when a status moved

        alerts = crossings(before, updated.invoice)
        if alerts:
            ctx.alerts.record(alerts, ctx.clock())
            ctx.metrics.count("AlertsRecorded", len(alerts))
    except Exception:
        logger.exception("alert not recorded", extra={"invoice_id": invoice_id})
        ctx.metrics.count("AlertsNotRecorded")
    return updated
