"""Paying and voiding an invoice (``POST /invoices/{id}/paid``, ``POST
/invoices/{id}/void``): the rule is core/payments.py; here the summary's conditional
write (which moves its index entry to the closed partitions), the fact for its history
and the alert (webhooks ``invoice.paid``, ``invoice.voided``).

Idempotent: the same call again changes nothing and answers the same state. A retry
after a crash between the summary and the fact finds the invoice already paid and puts
the fact (same key, same time: ``recorded_at``) and the alert (same id) again, which
completes the first attempt without doing anything twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib import recording
from chalicelib.context import Context
from chalicelib.core.alerts import payment_alert
from chalicelib.core.model import Account, EventType, Invoice, TimelineEvent, iso
from chalicelib.core.payments import mark_paid, mark_void, parse_payment, parse_void
from chalicelib.errors import NotFound
from chalicelib.observability import logger


def pay(ctx: Context, account: Account, invoice_id: str, body: Any) -> Invoice:
    now = ctx.clock()
    request = parse_payment(body, now)
    return _settle(ctx, account, invoice_id, now, lambda inv: mark_paid(inv, request, now))


def void(ctx: Context, account: Account, invoice_id: str, body: Any) -> Invoice:
    now = ctx.clock()
    request = parse_void(body)
    return _settle(ctx, account, invoice_id, now, lambda inv: mark_void(inv, request, now))


def _settle(
    ctx: Context,
    account: Account,
    invoice_id: str,
    now: datetime,
    change: Callable[[Invoice], bool],
) -> Invoice:
    invoice = ctx.invoices.get_summary(invoice_id) if invoice_id.startswith("inv_") else None
    if invoice is None or invoice.account_id != account.id:
        raise NotFound(f"No invoice {invoice_id}.")
    updated, _ = recording.update_summary(ctx, invoice_id, invoice, change, iso(now))
    _record(ctx, updated)
    # The detail's view: counters and content as a GET would show them.
    return ctx.invoices.get(invoice_id) or updated


def _record(ctx: Context, invoice: Invoice) -> None:
    """The fact of the payment (or void) and its alert; both keyed by what was stored,
    so doing this again keeps nothing twice."""
    alert = payment_alert(invoice)
    if alert is None or invoice.payment is None:
        return
    kind: EventType = "paid" if invoice.payment_status == "paid" else "voided"
    details = {k: v for k, v in invoice.payment.items() if k != "recorded_at"}
    fact = TimelineEvent(f"{kind}-{invoice.id}", alert.at, kind, None, "api", details)
    if ctx.invoices.kept_fact(invoice.id, fact) is not None:
        return  # recorded before: this is a repeat
    # The alert before the fact: a crash between them records the alert again on the
    # retry (same id, delivered once), never the fact without its alert.
    if ctx.alerts is not None:
        try:
            ctx.alerts.record([alert], ctx.clock())
        except Exception:
            logger.exception("alert not recorded", extra={"invoice_id": invoice.id})
            ctx.metrics.count("AlertsNotRecorded")
    if ctx.invoices.add_fact(invoice.id, fact, ctx.invoice_expiry(invoice)):
        ctx.metrics.count("InvoicesPaid" if kind == "paid" else "InvoicesVoided")
