"""Tracking: the pixel's opens, the hosted invoice's fetches and displays, and
re-judging every stored fetch (``make reclassify``). Every fetch is recorded with its
verdict when the invoice's tracking is on."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib import recording
from chalicelib.context import Context
from chalicelib.core.model import Account, Invoice, Recipient
from chalicelib.core.status import apply_fact, refresh
from chalicelib.tracking.facts import FetchRequest, fetch_fact
from chalicelib.tracking.pixel import strip_token


def record_pixel_open(
    ctx: Context,
    raw_token: str,
    user_agent: str | None,
    source_ip: str | None,
    method: str,
    request_id: str | None,
) -> bool:
    """Record one open for the token's recipient. False for a forged or unknown token."""
    target = ctx.signer.verify(strip_token(raw_token))
    if target is None:
        ctx.metrics.count("PixelTokenRejected")
        return False
    fact = fetch_fact(
        "open", target, ctx.clock(), FetchRequest(user_agent, source_ip, method, request_id)
    )
    updated = recording.update_watching(
        ctx,
        target.invoice_id,
        lambda invoice: invoice.tracking and apply_fact(invoice, fact),
        parkable=[fact],
    )
    if updated is None or not updated.changed:
        return False
    ctx.metrics.count("OpensRecorded")
    return True


@dataclass(frozen=True)
class HostedInvoice:
    invoice: Invoice
    recipient: Recipient
    account: Account


def view_invoice(ctx: Context, raw_token: str, request: FetchRequest) -> HostedInvoice | None:
    """The invoice behind a "View invoice" link, recording the fetch (with its verdict)
    when tracking is on. None for a forged token or an invoice that no longer exists."""
    target = ctx.signer.verify(raw_token)
    invoice = ctx.invoices.get(target.invoice_id) if target else None
    recipient = invoice.recipient(target.recipient_id) if invoice and target else None
    account = ctx.accounts.get_account(invoice.account_id) if invoice else None
    if target is None or invoice is None or recipient is None or account is None:
        return None
    if invoice.tracking:
        fact = fetch_fact("view", target, ctx.clock(), request)
        updated = recording.update(
            ctx, invoice.id, lambda current: apply_fact(current, fact), invoice, [fact]
        )
        invoice = updated.invoice if updated else invoice
    return HostedInvoice(invoice, recipient, account)


def confirm_view(ctx: Context, raw_token: str, request: FetchRequest) -> bool:
    """The hosted page says it was displayed: record ``viewed`` (a person's verdict
    makes the recipient ``viewed``). False when nothing was recorded."""
    target = ctx.signer.verify(raw_token)
    if target is None:
        return False
    fact = fetch_fact("viewed", target, ctx.clock(), request)
    updated = recording.update_watching(
        ctx,
        target.invoice_id,
        lambda invoice: invoice.tracking and apply_fact(invoice, fact),
        parkable=[fact],
    )
    return bool(updated and updated.changed)


def hosted_pdf(ctx: Context, raw_token: str) -> tuple[Invoice, bytes] | None:
    target = ctx.signer.verify(raw_token)
    invoice = ctx.invoices.get(target.invoice_id) if target else None
    if invoice is None or not invoice.has_pdf:
        return None
    pdf = ctx.invoices.get_pdf(invoice)
    return (invoice, pdf) if pdf is not None else None


def reclassify(ctx: Context, invoice_ids: Iterable[str]) -> dict[str, int]:
    """Recompute every stored verdict (and so every count and status) with the current
    rules. Events already moved to archive pages keep the verdicts they had."""
    outcome = {"invoices": 0, "changed": 0}

    def change(invoice: Invoice) -> bool:
        before = json.dumps([e.to_dict() for e in invoice.events], sort_keys=True)
        statuses = [r.status for r in invoice.recipients]
        refresh(invoice)
        after = json.dumps([e.to_dict() for e in invoice.events], sort_keys=True)
        return before != after or statuses != [r.status for r in invoice.recipients]

    for invoice_id in invoice_ids:
        outcome["invoices"] += 1
        updated = recording.update(ctx, invoice_id, change)
        if updated is not None and updated.changed:
            outcome["changed"] += 1
    return outcome
