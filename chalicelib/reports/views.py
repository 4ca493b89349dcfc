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
    """What ``POST /invoices/{id}/remind`` answers: who the reminder went to."""
    invoice = reminded.invoice
    emails = {r.id: r.email for r in invoice.recipients}
    return {
        "id": invoice.id,
        "number": invoice.number,
        "status": invoice.status,
        "reminders_sent": invoice.reminders_sent,
        "reminded": [
            {
                "recipient_id": f.recipient_id,
                "email": emails.get(f.recipient_id),
                "message_id": f.details.get("message_id"),
                "error": f.details.get("error"),
            }
            for f in reminded.facts
        ],
    }
