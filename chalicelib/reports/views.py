"""How reports look over HTTP: the reminder just sent, the evidence page, the CSV of
events with its link to the next page. Pure."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

from chalicelib.errors import ValidationFailed
from chalicelib.reports.evidence import CSV_COLUMNS
from chalicelib.reports.export import ExportPage
from chalicelib.reports.service import Reminded

EVIDENCE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def check_evidence_format(output: str) -> None:
    if output not in ("json", "html"):
        raise ValidationFailed("Bad query.", [{"field": "format", "message": "json or html"}])


def csv_body(page: ExportPage) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(page.rows)
    return buffer.getvalue()


def next_link(page: ExportPage, limit: str | None) -> str | None:
    """The ``Link`` header to the next page of the same export, if there is one."""
    if not page.cursor:
        return None
    query = {"from": page.start, "to": page.end, "cursor": page.cursor}
    if limit:
        query["limit"] = limit
    return f'</exports/events.csv?{urlencode(query)}>; rel="next"'


def reminder_response(reminded: Reminded) -> dict[str, Any]:
    """What ``POST /invoices/{id}/remind`` answers (202): the reminder queued, and to
    whom; its outcomes arrive as ``reminder`` events (``reminders_sent`` counts it
    once the first is recorded)."""
    invoice = reminded.invoice
    return {
        "id": invoice.id,
        "number": invoice.number,
        "status": invoice.status,
        "reminder": reminded.number,
        "reminders_sent": invoice.reminders_sent,
        "queued": [{"recipient_id": r.id, "email": r.email} for r in reminded.recipients],
    }
