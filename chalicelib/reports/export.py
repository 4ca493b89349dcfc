"""An invoice's evidence and the account's events as CSV (``GET
/invoices/{id}/evidence``, ``GET /exports/events.csv``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.context import Jobs
from chalicelib.core.model import Account, TimelineEvent, iso, parse_iso
from chalicelib.core.paging import encode_cursor, foreign_cursor, read_cursor, read_limit
from chalicelib.errors import InvalidCursor
from chalicelib.errors import ValidationFailed as Invalid
from chalicelib.reports.evidence import csv_rows, evidence
from chalicelib.sending.queries import get_invoice

# The evidence reads at most this many facts (oldest first) and says when there are
# more: a report of an invoice flooded with fetches stays an answer, not a timeout.
EVIDENCE_FACTS = 20_000
FACTS_PAGE = 1000
# An export page holds at most this many rows (a flooded invoice is split over pages).
EXPORT_ROWS = 5000


def invoice_evidence(jobs: Jobs, account: Account, invoice_id: str) -> dict[str, Any]:
    invoice = get_invoice(jobs.ctx, account, invoice_id)
    timeline: list[TimelineEvent] = []
    cursor: str | None = None
    while len(timeline) < EVIDENCE_FACTS:
        size = min(FACTS_PAGE, EVIDENCE_FACTS - len(timeline))
        page = jobs.ctx.invoices.facts_page(invoice.id, size, cursor, newest_first=False)
        timeline.extend(page.events)
        cursor = page.cursor
        if cursor is None:
            break
    return evidence(invoice, timeline, iso(jobs.now), complete=cursor is None)


EXPORT_DEFAULT_DAYS = 30


EXPORT_PAGE = 50


EXPORT_MAX_PAGE = 200


def _moment(text: str, field_name: str, errors: list[dict[str, str]]) -> str | None:
    try:
        if len(text) == 10:  # a date: its midnight, UTC
            return iso(parse_iso(text + "T00:00:00Z"))
        return iso(parse_iso(text))
    except ValueError:
        errors.append({"field": field_name, "message": "must be a date or an ISO 8601 time"})
        return None


@dataclass(frozen=True)
class ExportPage:
    start: str
    end: str
    rows: list[list[str]]
    cursor: str | None
    invoices: int


def export_events(
    jobs: Jobs,
    account: Account,
    start_text: str | None,
    end_text: str | None,
    cursor: str | None,
    limit: str | None,
) -> ExportPage:
    """One page of the account's events in [from, to): the account's invoices, most
    recently changed first, ``limit`` a page, each with its events in the range, oldest
    first; at most EXPORT_ROWS rows a page. ``cursor`` continues the same query: the
    index position of the page, how many of its invoices are done, and where in the
    next one's facts to go on."""
    errors: list[dict[str, str]] = []
    # Without "to": everything recorded until now, this very millisecond included.
    end = _moment(end_text, "to", errors) if end_text else iso(jobs.now + timedelta(seconds=1))
    start = (
        _moment(start_text, "from", errors)
        if start_text
        else iso(jobs.now - timedelta(days=EXPORT_DEFAULT_DAYS))
    )
    size = read_limit(limit, EXPORT_PAGE, EXPORT_MAX_PAGE, errors)
    if start and end and start >= end:
        errors.append({"field": "from", "message": "must be before 'to'"})
    position = read_cursor(cursor, errors)
    if errors or start is None or end is None:
        raise Invalid("Bad query.", errors)
    index, done, facts = _position(position)
    try:
        page = jobs.store.changed_page(account, None, size, index)
    except InvalidCursor as exc:
        raise foreign_cursor() from exc
    rows: list[list[str]] = []
    for number, listed in enumerate(page.items):
        if number < done or listed.created_at >= end:
            continue  # done on an earlier page, or created after the range
        facts = _invoice_rows(jobs, account, listed.id, start, end, facts, rows)
        if facts is not None:  # the page filled up in the middle of this invoice
            more = {"q": index, "d": number, "f": facts}
            return ExportPage(start, end, rows, encode_cursor(more), number)
        if len(rows) >= EXPORT_ROWS and number + 1 < len(page.items):
            more = {"q": index, "d": number + 1, "f": None}
            return ExportPage(start, end, rows, encode_cursor(more), number + 1)
    following = {"q": page.cursor, "d": 0, "f": None} if page.cursor else None
    return ExportPage(start, end, rows, encode_cursor(following), len(page.items))


def _invoice_rows(
    jobs: Jobs,
    account: Account,
    invoice_id: str,
    start: str,
    end: str,
    facts: str | None,
    rows: list[list[str]],
) -> str | None:
    """Add the invoice's rows in [start, end) from ``facts`` on; the facts cursor where
    the page filled up, or None when the invoice is done."""
    invoice = get_invoice(jobs.ctx, account, invoice_id)
    while True:
        try:
            batch = jobs.ctx.invoices.facts_page(
                invoice.id, min(FACTS_PAGE, EXPORT_ROWS), facts, False, start, end
            )
        except InvalidCursor as exc:
            raise foreign_cursor() from exc
        rows.extend(csv_rows(invoice, batch.events, start, end))
        facts = batch.cursor
        if facts is None or len(rows) >= EXPORT_ROWS:
            return facts


def _position(cursor: dict[str, Any] | None) -> tuple[dict[str, Any] | None, int, str | None]:
    """(index position, invoices of that page already done, facts cursor) of a cursor."""
    if cursor is None:
        return None, 0, None
    index, done, facts = cursor.get("q"), cursor.get("d"), cursor.get("f")
    if (
        set(cursor) != {"q", "d", "f"}
        or not (index is None or isinstance(index, dict))
        or not isinstance(done, int)
        or not 0 <= done <= EXPORT_MAX_PAGE
        or not (facts is None or isinstance(facts, str))
    ):
        raise foreign_cursor()
    return index, done, facts
