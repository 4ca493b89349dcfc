"""Reading invoices: one invoice with its timeline, and pages of the account's
invoices through the indexes (``GET /invoices``, ``GET /invoices/{id}``)."""

from __future__ import annotations

from chalicelib import recording
from chalicelib.context import Context
from chalicelib.core.model import STATUSES, Account, Invoice, Page, TimelineEvent
from chalicelib.core.paging import encode_cursor, foreign_cursor, read_cursor, read_limit
from chalicelib.errors import InvalidCursor, NotFound
from chalicelib.errors import ValidationFailed as Invalid

MAX_PAGE = 100
DEFAULT_PAGE = 25


def get_invoice(ctx: Context, account: Account, invoice_id: str) -> Invoice:
    invoice = ctx.invoices.get(invoice_id) if invoice_id.startswith("inv_") else None
    if invoice is None or invoice.account_id != account.id:
        raise NotFound(f"No invoice {invoice_id}.")
    return invoice


def get_invoice_with_timeline(
    ctx: Context, account: Account, invoice_id: str
) -> tuple[Invoice, list[TimelineEvent]]:
    found = ctx.invoices.get_with_archive(invoice_id) if invoice_id.startswith("inv_") else None
    if found is None or found[0].account_id != account.id:
        raise NotFound(f"No invoice {invoice_id}.")
    invoice, archived = found
    recording.fold_parked(invoice)  # shown at once; stored by the invoice's next write
    # An archive page written by a writer that then lost its race repeats events that
    # are still inline (or in a later page): the key says they are the same event.
    unique = {e.key: e for e in archived} | {e.key: e for e in invoice.events}
    return invoice, sorted(unique.values(), key=lambda e: (e.at, e.key))


def list_invoices(
    ctx: Context, account: Account, status: str | None, limit: str | None, cursor: str | None
) -> tuple[list[Invoice], str | None]:
    """A page of the account's invoices (in ``status``, if given), newest activity first.
    ``limit`` and ``cursor`` are the query-string values, validated here."""
    errors: list[dict[str, str]] = []
    if status is not None and status not in STATUSES:
        errors.append({"field": "status", "message": f"must be one of {list(STATUSES)}"})
    page_size = read_limit(limit, DEFAULT_PAGE, MAX_PAGE, errors)
    start = read_cursor(cursor, errors)
    if errors:
        raise Invalid("Bad query.", errors)
    shards = range(max(1, account.index_shards))
    if status is None:
        partitions, index = [f"{account.id}#{s}" for s in shards], "by_account"
    else:
        partitions, index = [f"{account.id}#{status}#{s}" for s in shards], "by_status"
    if start is not None and not set(start) <= set(partitions):
        raise foreign_cursor()
    try:
        page: Page = ctx.invoices.list_page(partitions, index, page_size, start)
    except InvalidCursor as exc:
        raise foreign_cursor() from exc
    return page.items, encode_cursor(page.cursor)
