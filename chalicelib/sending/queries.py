"""Reading invoices: one invoice (its summary, never its history), a page of its
events, and pages of the account's invoices through the index (``GET /invoices``,
``GET /invoices/{id}``, ``GET /invoices/{id}/events``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.context import Context
from chalicelib.core import history
from chalicelib.core.model import (
    PAYMENT_STATUSES,
    STATUSES,
    Account,
    EventPage,
    Invoice,
    Page,
    partitions_of,
)
from chalicelib.core.paging import encode_cursor, foreign_cursor, read_cursor, read_limit
from chalicelib.errors import InvalidCursor, NotFound
from chalicelib.errors import ValidationFailed as Invalid

MAX_PAGE = 100
DEFAULT_PAGE = 25
MAX_EVENTS_PAGE = 500
DEFAULT_EVENTS_PAGE = 100


def get_invoice(ctx: Context, account: Account, invoice_id: str) -> Invoice:
    invoice = ctx.invoices.get(invoice_id) if invoice_id.startswith("inv_") else None
    if invoice is None or invoice.account_id != account.id:
        raise NotFound(f"No invoice {invoice_id}.")
    return invoice


def get_events(
    ctx: Context, account: Account, invoice_id: str, limit: str | None, cursor: str | None
) -> tuple[Invoice, EventPage]:
    """A page of the invoice's history, newest first (``limit``, ``cursor`` as sent):
    its facts, then its creation."""
    errors: list[dict[str, str]] = []
    size = read_limit(limit, DEFAULT_EVENTS_PAGE, MAX_EVENTS_PAGE, errors)
    if errors:
        raise Invalid("Bad query.", errors)
    invoice = ctx.invoices.get_summary(invoice_id) if invoice_id.startswith("inv_") else None
    if invoice is None or invoice.account_id != account.id:
        raise NotFound(f"No invoice {invoice_id}.")
    try:
        page = ctx.invoices.facts_page(invoice_id, size, cursor or None, newest_first=True)
    except InvalidCursor as exc:
        raise Invalid(
            "Bad query.", [{"field": "cursor", "message": "is not a cursor this API returned"}]
        ) from exc
    last = page.events[-1] if page.events else None
    go_on = ctx.invoices.fact_cursor(invoice_id, last) if last else None
    return invoice, history.newest_first(invoice, page, size, go_on)


_LOOKUPS = ("number", "number_prefix", "external_id")


def find_invoices(
    ctx: Context, account: Account, params: Mapping[str, str]
) -> tuple[list[Invoice], str | None]:
    """``GET /invoices``: a page of the list (``status``, ``payment_status``, ``limit``,
    ``cursor``), or the invoices found by ``number``, ``number_prefix`` or
    ``external_id`` (a key or reference lookup, never a scan; one page, no cursor)."""
    lookups = [name for name in _LOOKUPS if params.get(name)]
    if not lookups:
        return list_invoices(
            ctx,
            account,
            params.get("status") or None,
            params.get("limit"),
            params.get("cursor"),
            params.get("payment_status") or None,
        )
    errors: list[dict[str, str]] = []
    others = [n for n in (*lookups[1:], "status", "payment_status", "cursor") if params.get(n)]
    errors.extend({"field": n, "message": f"cannot be combined with {lookups[0]}"} for n in others)
    size = read_limit(params.get("limit"), DEFAULT_PAGE, MAX_PAGE, errors)
    value = params[lookups[0]]
    if len(value) > 255:
        errors.append({"field": lookups[0], "message": "must be at most 255 characters"})
    if errors:
        raise Invalid("Bad query.", errors)
    if lookups[0] == "external_id":
        invoice = ctx.invoices.get_summary(ctx.signer.invoice_id_for_external(account.id, value))
        found = [invoice] if invoice is not None and invoice.account_id == account.id else []
        return found, None
    prefix = lookups[0] == "number_prefix"
    return ctx.invoices.find_by_number(account.id, account.index_shards, value, prefix, size), None


def list_invoices(
    ctx: Context,
    account: Account,
    status: str | None,
    limit: str | None,
    cursor: str | None,
    payment: str | None = None,
) -> tuple[list[Invoice], str | None]:
    """A page of the account's invoices (in ``status`` and ``payment``, if given), most
    recently changed first. ``limit`` and ``cursor`` are the query-string values,
    validated here."""
    errors: list[dict[str, str]] = []
    if status is not None and status not in STATUSES:
        errors.append({"field": "status", "message": f"must be one of {list(STATUSES)}"})
    if payment is not None and payment not in PAYMENT_STATUSES:
        errors.append(
            {"field": "payment_status", "message": f"must be one of {list(PAYMENT_STATUSES)}"}
        )
    page_size = read_limit(limit, DEFAULT_PAGE, MAX_PAGE, errors)
    start = read_cursor(cursor, errors)
    if errors:
        raise Invalid("Bad query.", errors)
    partitions = partitions_of(account.id, account.index_shards, status, payment)
    position = None
    if start is not None:
        # A cursor names the query it belongs to: another status's (or "all") is
        # refused, even when its partitions are among this query's.
        if (
            start.get("status") != (status or "")
            or start.get("payment", "") != (payment or "")
            or not isinstance(start.get("at"), dict)
        ):
            raise foreign_cursor()
        position = start["at"]
        if not set(position) <= set(partitions):
            raise foreign_cursor()
    try:
        page: Page = ctx.invoices.list_page(partitions, page_size, position, status, payment)
    except InvalidCursor as exc:
        raise foreign_cursor() from exc
    following: dict[str, Any] | None = None
    if page.cursor:
        following = {"status": status or "", "at": page.cursor}
        if payment:
            following["payment"] = payment
    return page.items, encode_cursor(following)
