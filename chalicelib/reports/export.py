"""An invoice's evidence and the account's events as CSV (``GET
/invoices/{id}/evidence``, ``GET /exports/events.csv``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from chalicelib.context import Jobs
from chalicelib.core import history
from chalicelib.core.model import Account, TimelineEvent, iso, parse_iso
from chalicelib.core.paging import encode_cursor, foreign_cursor, read_cursor, read_limit
from chalicelib.errors import InvalidCursor
from chalicelib.errors import ValidationFailed as Invalid
from chalicelib.reports.evidence import csv_rows, csv_size, evidence
from chalicelib.sending.queries import get_invoice

# The evidence reads at most this many facts (oldest first) and says when there are
# more: a report of an invoice flooded with fetches stays an answer, not a timeout.
EVIDENCE_FACTS = 20_000
FACTS_PAGE = 1000
# An export page holds at most this many rows and CSV bytes (a flooded invoice is split
# over pages): Lambda refuses a response over 6 MB, and a fact's user agent alone can
# take 4 bytes a character in UTF-8, doubled where CSV doubles quotes.
EXPORT_ROWS = 5000
EXPORT_BYTES = 5_000_000
# The evidence answer's own bound, measured on what is sent (JSON escapes or HTML).
EVIDENCE_BYTES = 5_000_000


def invoice_evidence(
    jobs: Jobs, account: Account, invoice_id: str, render: Callable[[dict[str, Any]], str]
) -> str:
    """The evidence, rendered by ``render``, within EVIDENCE_BYTES: when the facts read
    make it larger, it keeps the oldest that fit and says it is not complete."""
    invoice = get_invoice(jobs.ctx, account, invoice_id)
    timeline: list[TimelineEvent] = []  # its creation is the invoice's created_at
    cursor: str | None = None
    while len(timeline) < EVIDENCE_FACTS:
        size = min(FACTS_PAGE, EVIDENCE_FACTS - len(timeline))
        page = jobs.ctx.invoices.facts_page(invoice.id, size, cursor, newest_first=False)
        timeline.extend(page.events)
        cursor = page.cursor
        if cursor is None:
            break
    complete = cursor is None
    while True:
        body = render(evidence(invoice, timeline, iso(jobs.now), complete=complete))
        used = len(body.encode())
        if used <= EVIDENCE_BYTES or not timeline:
            return body
        # Facts render at about the same size each: keep the share that fits, a margin off.
        timeline = timeline[: int(len(timeline) * EVIDENCE_BYTES / used * 0.95)]
        complete = False


EXPORT_DEFAULT_DAYS = 30


EXPORT_PAGE = 50


EXPORT_MAX_PAGE = 200

# Where an invoice's rows stand besides a facts cursor (neither ever is one): none of
# them fit the page, or its creation's row is out (its facts go on from the first).
NOT_STARTED = ""
CREATED = "created"


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
    rows = _Rows()
    for number, listed in enumerate(page.items):
        if number < done or listed.created_at >= end:
            continue  # done on an earlier page, or created after the range
        facts = _invoice_rows(jobs, account, listed.id, start, end, facts, rows)
        if facts is not None:  # the page filled up before or in this invoice
            more = {"q": index, "d": number, "f": None if facts == NOT_STARTED else facts}
            return ExportPage(start, end, rows.rows, encode_cursor(more), number)
        if rows.full and number + 1 < len(page.items):
            more = {"q": index, "d": number + 1, "f": None}
            return ExportPage(start, end, rows.rows, encode_cursor(more), number + 1)
    following = {"q": page.cursor, "d": 0, "f": None} if page.cursor else None
    return ExportPage(start, end, rows.rows, encode_cursor(following), len(page.items))


@dataclass
class _Rows:
    """An export page's rows and their CSV size so far."""

    rows: list[list[str]] = field(default_factory=list)
    size: int = 0

    @property
    def full(self) -> bool:
        return len(self.rows) >= EXPORT_ROWS or self.size >= EXPORT_BYTES

    def add(self, new: list[list[str]]) -> bool:
        """Take ``new`` (one fact's rows) if the page has room for it (an empty page
        always has)."""
        size = csv_size(new)
        if self.rows and (
            len(self.rows) + len(new) > EXPORT_ROWS or self.size + size > EXPORT_BYTES
        ):
            return False
        self.rows.extend(new)
        self.size += size
        return True


def _invoice_rows(
    jobs: Jobs,
    account: Account,
    invoice_id: str,
    start: str,
    end: str,
    facts: str | None,
    rows: _Rows,
) -> str | None:
    """Add the invoice's rows in [start, end) from ``facts`` on (None: its creation's
    row first; CREATED: its first fact); where the page filled up (a facts cursor, or
    CREATED), None when the invoice is done, NOT_STARTED when no row of it fit."""
    invoice = get_invoice(jobs.ctx, account, invoice_id)
    if facts is None:
        if not rows.add(csv_rows(invoice, [history.creation(invoice)], start, end)):
            return NOT_STARTED
        facts = CREATED
    while True:
        try:
            batch = jobs.ctx.invoices.facts_page(
                invoice.id,
                min(FACTS_PAGE, EXPORT_ROWS),
                None if facts == CREATED else facts,
                False,
                start,
                end,
            )
        except InvalidCursor as exc:
            raise foreign_cursor() from exc
        for event in batch.events:
            if not rows.add(csv_rows(invoice, [event], start, end)):
                return facts  # goes on with this fact
            facts = jobs.ctx.invoices.fact_cursor(invoice.id, event)
        facts = batch.cursor
        if facts is None or rows.full:
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
