"""An invoice's evidence and the account's events as CSV (``GET
/invoices/{id}/evidence``, ``GET /exports/events.csv``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.context import Jobs
from chalicelib.core.model import Account, iso, parse_iso
from chalicelib.core.paging import encode_cursor, foreign_cursor, read_cursor, read_limit
from chalicelib.errors import InvalidCursor
from chalicelib.errors import ValidationFailed as Invalid
from chalicelib.reports.evidence import csv_rows, evidence
from chalicelib.sending.queries import get_invoice_with_timeline


def invoice_evidence(jobs: Jobs, account: Account, invoice_id: str) -> dict[str, Any]:
    invoice, timeline = get_invoice_with_timeline(jobs.ctx, account, invoice_id)
    return evidence(invoice, timeline, iso(jobs.now))


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
    """One page of the account's events in [from, to): the invoices active since
    ``from`` (by_account index, newest activity first), ``limit`` invoices a page, each
    with its events in the range, oldest first. ``cursor`` continues the same query."""
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
    try:
        page = jobs.store.activity_page(account, start, size, position)
    except InvalidCursor as exc:
        raise foreign_cursor() from exc
    rows: list[list[str]] = []
    for listed in page.items:
        if listed.created_at >= end:
            continue  # created after the range: none of its events are in it
        invoice, timeline = get_invoice_with_timeline(jobs.ctx, account, listed.id)
        rows.extend(csv_rows(invoice, timeline, start, end))
    return ExportPage(start, end, rows, encode_cursor(page.cursor), len(page.items))
