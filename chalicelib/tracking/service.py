"""Tracking: the pixel's opens, the hosted invoice's fetches and displays, and
re-judging every stored fetch (``make reclassify``). Every fetch is recorded with its
verdict when the invoice's tracking is on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from chalicelib import recording
from chalicelib.context import Context
from chalicelib.core.model import (
    FETCH_TYPES,
    Account,
    Invoice,
    Recipient,
    TimelineEvent,
    iso,
)
from chalicelib.core.status import Tally, refresh_statuses
from chalicelib.core.stored import pdf_key
from chalicelib.tracking.facts import FetchRequest, beacon_fact, fetch_fact, page_ref
from chalicelib.tracking.pixel import strip_token

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
    recorded = recording.record_fetch(ctx, target.invoice_id, fact)
    if recorded is None or not recorded.changed:
        return False
    ctx.metrics.count("OpensRecorded")
    return True


@dataclass(frozen=True)
class HostedInvoice:
    invoice: Invoice
    recipient: Recipient
    account: Account
    beacon_nonce: str | None = None  # this page load's, when tracking is on


def view_invoice(ctx: Context, raw_token: str, request: FetchRequest) -> HostedInvoice | None:
    """The invoice behind a "View invoice" link, recording the fetch (with its verdict)
    when tracking is on, and the nonce its beacon must bring back. None for a forged
    token (checked before any storage is touched) or an invoice that no longer exists."""
    target = ctx.signer.verify(raw_token, "view")
    invoice = ctx.invoices.get(target.invoice_id) if target else None
    recipient = invoice.recipient(target.recipient_id) if invoice and target else None
    account = ctx.accounts.get_account(invoice.account_id) if invoice else None
    if target is None or invoice is None or recipient is None or account is None:
        return None
    if not invoice.tracking:
        return HostedInvoice(invoice, recipient, account)
    now, ref = ctx.clock(), page_ref(request)
    load = fetch_fact("view", target, now, replace(request, request_id=ref))
    recording.record_fetch(ctx, invoice.id, load)
    return HostedInvoice(invoice, recipient, account, ctx.signer.page_nonce(target, ref, now))


def confirm_view(ctx: Context, raw_token: str, nonce: object, request: FetchRequest) -> bool:
    """The hosted page says it was displayed: keep the beacon, judged with the page
    load its ``nonce`` names (a person's verdict makes the recipient ``viewed``). A
    beacon without its page load (no, forged or expired nonce) or with a nonce used
    before is kept as a machine's. True when it was kept with its page load."""
    target = ctx.signer.verify(raw_token, "view")
    if target is None:
        return False
    check = ctx.signer.check_page_nonce(nonce, target, ctx.clock())
    page, problem, ref = None, check.problem, None
    if check.page is not None:
        ref = check.page.ref
        at = iso(check.page.at)
        kept = {
            e.key: e
            for e in ctx.invoices.facts_between(target.invoice_id, at, at, PAGE_READ)
            if e.recipient_id == target.recipient_id
        }
        page = kept.get(f"view-{ref}")
        if f"viewed-{ref}" in kept:
            page, problem = None, "nonce-reused"
        elif page is None:
            problem = "no-page-load"
    fact = beacon_fact(target, ctx.clock(), request, page, ref, problem)
    if problem:
        ctx.metrics.count("BeaconRefused", reason=problem)
    recorded = recording.record_fetch(ctx, target.invoice_id, fact)
    return bool(page is not None and recorded and recorded.changed)


def hosted_pdf_url(ctx: Context, raw_token: str) -> str | None:
    """A short-lived link to the PDF behind a "View invoice" token (the bytes never
    pass through the function)."""
    target = ctx.signer.verify(raw_token, "view")
    invoice = ctx.invoices.get_summary(target.invoice_id) if target else None
    if invoice is None or not invoice.has_pdf:
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
                e for e in history if e.recipient_id == recipient.id and e.type in FETCH_TYPES
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
    tally = Tally()
    for event in _all_facts(ctx, invoice_id):
        if event.recipient_id == recipient_id and event.type in FETCH_TYPES:
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
        refresh_statuses(current)
        return before != (target.first_opened_at, target.first_machine_open_at, target.viewed_at)

    recording.update_summary(ctx, invoice_id, summary, firsts)
