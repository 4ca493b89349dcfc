"""Tracking: the pixel's opens, the hosted invoice's fetches and displays, and
re-judging every stored fetch (``make reclassify``). Every fetch is recorded with its
verdict when the invoice's tracking is on."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from chalicelib.context import Context
from chalicelib.core.stored import pdf_key
from chalicelib.core.times import iso
from chalicelib.errors import Unavailable
from chalicelib.lazy import lazy_module
from chalicelib.tracking.facts import (
    DeferredFetch,
    FetchRequest,
    beacon_fact,
    fetch_fact,
    page_ref,
)
from chalicelib.tracking.pixel import strip_token

if TYPE_CHECKING:
    from chalicelib import recording
    from chalicelib.core import model, status
    from chalicelib.core.model import Account, Invoice, Recipient, TimelineEvent
    from chalicelib.core.status import Fact
    from chalicelib.tracking import deadline
    from chalicelib.tracking.deadline import Attempt
else:  # the model, storage, the status rules and the classifier load once a token
    # verifies: a forged one costs none of them
    model = lazy_module("chalicelib.core.model")
    recording = lazy_module("chalicelib.recording")
    status = lazy_module("chalicelib.core.status")
    deadline = lazy_module("chalicelib.tracking.deadline")

# A presigned PDF link is good for this long: enough to start the download, too short
# to be worth forwarding.
PDF_LINK_SECONDS = 60
# ``make reclassify`` reads an invoice's facts this many at a time.
RECLASSIFY_PAGE = 500
# A beacon reads the facts kept at its page load's millisecond (the load, and the
# beacon if its nonce was used before): a few, unless a flood lands on that instant.
PAGE_READ = 25


def record_pixel_open(
    ctx: Context,
    raw_token: str,
    user_agent: str | None,
    source_ip: str | None,
    method: str,
    request_id: str | None,
) -> bool:
    """Record one open for the token's recipient. False for a forged or unknown token."""
    target = ctx.signer.verify(strip_token(raw_token), "pixel")
    if target is None:
        ctx.metrics.count("PixelTokenRejected")
        return False
    fact = fetch_fact(
        "open", target, ctx.clock(), FetchRequest(user_agent, source_ip, method, request_id)
    )
    recorded = _record_in_time(ctx, target.invoice_id, fact)
    if recorded is None or not recorded.changed:
        return False
    ctx.metrics.count("OpensRecorded")
    return True


class StorageLate(Unavailable):
    """Storage did not answer a public page within its deadline."""


class FetchLost(Exception):
    """Neither storage nor the fallback queue took the fetch: its fact is the message,
    so the log keeps it for an operator (who can send it to the queue as it is)."""


def _record_in_time(
    ctx: Context, invoice_id: str, fact: Fact, seconds: float | None = None
) -> recording.Recorded | None:
    """``record_fetch`` within the public routes' deadline; a write that misses it (or
    fails) is queued for the ``fetch_fallback`` function instead. None when queued."""
    if ctx.deferred is None:
        return recording.record_fetch(ctx, invoice_id, fact)
    budget = ctx.settings.fetch_deadline_seconds if seconds is None else seconds
    # A cold container imports pynamodb and botocore and builds the client here, before
    # the clock starts: the deadline is for storage (a cold import on a 512 MB Lambda
    # alone can pass it, and every first pixel of a container would go to the queue).
    ctx.invoices.connect()

    def write(attempt: Attempt) -> recording.Recorded | None:
        return recording.record_fetch(ctx, invoice_id, fact, attempt.step)

    outcome = deadline.run_within(budget, write, when_late=ctx.deferred.connect)
    if not outcome.missed:
        return outcome.value
    _defer(ctx, DeferredFetch(invoice_id, fact, recount=outcome.may_have_counted))
    return None


def _defer(ctx: Context, deferred: DeferredFetch) -> None:
    """Queue a fetch for ``fetch_fallback``; ``FetchLost`` when the queue refuses it."""
    if ctx.deferred is None:
        return
    body = deferred.to_json()
    try:
        ctx.deferred.defer(body)
    except Exception as exc:
        ctx.metrics.count("FetchesLost")
        raise FetchLost(body) from exc
    ctx.metrics.count("FetchesDeferred")


def apply_deferred(ctx: Context, bodies: Iterable[str]) -> int:
    """The ``fetch_fallback`` function: apply each queued fetch with the same idempotent
    write (a fact already kept is not kept again; a count already made is not made
    again, and one that may have been is recounted from the facts). A body this code
    did not write is kept with the unprocessable SES events, for an operator; a storage
    error is raised, so the queue delivers the batch again (and, after its attempts,
    keeps it in its dead-letter queue)."""
    applied = 0
    for body in bodies:
        try:
            deferred = DeferredFetch.from_json(body)
        except ValueError as exc:
            ctx.unprocessed.keep(iso(ctx.clock()), f"deferred fetch: {exc}", body)
            continue
        recording.record_fetch(ctx, deferred.invoice_id, deferred.fact)
        if deferred.recount:
            recount(ctx, deferred.invoice_id, deferred.fact.recipient_id)
        applied += 1
    ctx.metrics.count("DeferredFetchesApplied", applied)
    return applied


@dataclass(frozen=True)
class HostedInvoice:
    invoice: Invoice
    recipient: Recipient
    account: Account
    beacon_nonce: str | None = None  # this page load's, when tracking is on


def view_invoice(ctx: Context, raw_token: str, request: FetchRequest) -> HostedInvoice | None:
    """The invoice behind a "View invoice" link, recording the fetch (with its verdict)
    when tracking is on, and the nonce its beacon must bring back. None for a forged
    token (checked before any storage is touched) or an invoice that no longer exists;
    ``StorageLate`` when storage does not answer within the deadline (the page load is
    queued then, like the pixel's fetches)."""
    target = ctx.signer.verify(raw_token, "view")
    if target is None:
        return None
    now, ref = ctx.clock(), page_ref(request)
    load = fetch_fact("view", target, now, replace(request, request_id=ref))
    started = time.monotonic()
    hosted = _within_deadline(ctx, lambda: _hosted(ctx, target.invoice_id, target.recipient_id))
    if hosted is _MISSED:
        try:
            _defer(ctx, DeferredFetch(target.invoice_id, load))
        except FetchLost as lost:  # the page still answers its 503; the route logs this
            raise StorageLate("The invoice cannot be shown right now.") from lost
        raise StorageLate("The invoice cannot be shown right now; try again in a minute.")
    if not isinstance(hosted, HostedInvoice):
        return None
    if not hosted.invoice.tracking:
        return hosted
    left = ctx.settings.fetch_deadline_seconds - (time.monotonic() - started)
    _record_in_time(ctx, target.invoice_id, load, max(left, 0.05))
    return replace(hosted, beacon_nonce=ctx.signer.page_nonce(target, ref, now))


def _hosted(ctx: Context, invoice_id: str, recipient_id: str) -> HostedInvoice | None:
    invoice = ctx.invoices.get(invoice_id)
    recipient = invoice.recipient(recipient_id) if invoice else None
    account = ctx.accounts.get_account(invoice.account_id) if invoice else None
    if invoice is None or recipient is None or account is None:
        return None
    return HostedInvoice(invoice, recipient, account)


_MISSED = object()


def _within_deadline(ctx: Context, read: Callable[[], object]) -> object:
    """``read()``, or ``_MISSED`` when it did not answer within the deadline (or failed)."""
    if ctx.deferred is None:
        return read()
    outcome = deadline.run_within(ctx.settings.fetch_deadline_seconds, lambda _attempt: read())
    return _MISSED if outcome.missed else outcome.value


def confirm_view(ctx: Context, raw_token: str, nonce: object, request: FetchRequest) -> bool:
    """The hosted page says it was displayed: keep the beacon, judged with the page
    load its ``nonce`` names (a person's verdict makes the recipient ``viewed``). A
    beacon without its page load (no, forged or expired nonce) or with a nonce used
    before is kept as a machine's. True when it was kept with its page load. With
    storage late, the beacon is dropped (``BeaconLate``): its page load, queued or
    kept, still says the page was fetched."""
    target = ctx.signer.verify(raw_token, "view")
    if target is None:
        return False
    check = ctx.signer.check_page_nonce(nonce, target, ctx.clock())
    page, problem, ref = None, check.problem, None
    if check.page is not None:
        ref = check.page.ref
        at = iso(check.page.at)
        found = _within_deadline(
            ctx,
            lambda: list(ctx.invoices.facts_between(target.invoice_id, at, at, PAGE_READ)),
        )
        if found is _MISSED or not isinstance(found, list):
            ctx.metrics.count("BeaconLate")
            return False
        kept = {e.key: e for e in found if e.recipient_id == target.recipient_id}
        page = kept.get(f"view-{ref}")
        if f"viewed-{ref}" in kept:
            page, problem = None, "nonce-reused"
        elif page is None:
            problem = "no-page-load"
    fact = beacon_fact(target, ctx.clock(), request, page, ref, problem)
    if problem:
        ctx.metrics.count("BeaconRefused", reason=problem)
    recorded = _record_in_time(ctx, target.invoice_id, fact)
    return bool(page is not None and recorded and recorded.changed)


def hosted_pdf_url(ctx: Context, raw_token: str) -> str | None:
    """A short-lived link to the PDF behind a "View invoice" token (the bytes never
    pass through the function)."""
    target = ctx.signer.verify(raw_token, "view")
    if target is None:
        return None
    invoice = _within_deadline(ctx, lambda: ctx.invoices.get_summary(target.invoice_id))
    if invoice is _MISSED:
        raise StorageLate("The invoice cannot be downloaded right now; try again in a minute.")
    if not isinstance(invoice, model.Invoice) or not invoice.has_pdf:
        return None
    return ctx.pdfs.url(pdf_key(invoice), PDF_LINK_SECONDS)


def reclassify(ctx: Context, invoice_ids: Iterable[str]) -> dict[str, int]:
    """Re-judge every stored fetch with the current rules, then recount each recipient
    from its facts (counts, first and last times): the exact, costly path, for an
    operator after the rules change."""
    outcome = {"invoices": 0, "changed": 0}
    for invoice_id in invoice_ids:
        invoice = ctx.invoices.get(invoice_id)
        if invoice is None:
            continue
        outcome["invoices"] += 1
        changed = 0
        history = _all_facts(ctx, invoice_id)
        for recipient in invoice.recipients:
            fetches = [
                e for e in history if e.recipient_id == recipient.id and e.type in model.FETCH_TYPES
            ]
            if fetches:
                changed += recording.rejudge(ctx, invoice, recipient, fetches)
            recount(ctx, invoice_id, recipient.id)
        outcome["changed"] += int(changed > 0)
    return outcome


def _all_facts(ctx: Context, invoice_id: str) -> list[TimelineEvent]:
    facts: list[TimelineEvent] = []
    cursor = None
    while True:
        page = ctx.invoices.facts_page(invoice_id, RECLASSIFY_PAGE, cursor, newest_first=False)
        facts.extend(page.events)
        if page.cursor is None:
            return facts
        cursor = page.cursor


def recount(ctx: Context, invoice_id: str, recipient_id: str) -> None:
    """Set the recipient's counters and first times from all its facts."""
    tally = status.Tally()
    for event in _all_facts(ctx, invoice_id):
        if event.recipient_id == recipient_id and event.type in model.FETCH_TYPES:
            tally.add(event)
    summary = ctx.invoices.get_summary(invoice_id)
    if summary is None:
        return
    ctx.invoices.replace_counters(invoice_id, recipient_id, tally, ctx.invoice_expiry(summary))

    def firsts(current: Invoice) -> bool:
        target = current.recipient(recipient_id)
        if target is None:
            return False
        before = (target.first_opened_at, target.first_machine_open_at, target.viewed_at)
        target.first_opened_at = tally.first_opened_at
        target.first_machine_open_at = tally.first_machine_open_at
        target.viewed_at = tally.viewed_at
        status.refresh_statuses(current)
        return before != (target.first_opened_at, target.first_machine_open_at, target.viewed_at)

    recording.update_summary(ctx, invoice_id, summary, firsts)
