"""Evidence of what happened to an invoice, and the account's events as CSV. Pure.

``evidence`` gathers, per recipient, every message sent (the invoice and each
reminder, with SES message ids), SES's delivery reports (time, the receiving server's
address, its SMTP answer), bounces, complaints, rejections, and every open, click and
view with its verdict and reasons: what a sender shows a customer who says "we never
got it". ``render_evidence_html`` prints it; ``csv_rows`` flattens a timeline for
``GET /exports/events.csv``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from chalicelib.core.classification import PERSON_VERDICTS
from chalicelib.core.model import Invoice, TimelineEvent
from chalicelib.core.shapes import invoice_core


def _fetch(event: TimelineEvent) -> dict[str, Any]:
    d = event.details
    verdict = d.get("verdict", "unknown")
    return {
        "at": event.at,
        "source": event.source,
        "verdict": verdict,
        "person": verdict in PERSON_VERDICTS,
        "confidence": d.get("confidence"),
        "reasons": list(d.get("reasons", [])),
        "user_agent": d.get("user_agent"),
        "ip": d.get("ip"),
    }


Pairs = dict[str, str | None]
_SECTIONS = (
    "messages",
    "send_failures",
    "deliveries",
    "delays",
    "bounces",
    "complaints",
    "rejections",
    "opens",
    "clicks",
    "views",
)


def _picked(event: TimelineEvent, **fields: str) -> dict[str, Any]:
    """``at`` and the named details, each under its name in the evidence."""
    return {"at": event.at, **{name: event.details.get(key) for name, key in fields.items()}}


def _message(event: TimelineEvent, kind: str) -> dict[str, Any]:
    d = event.details
    reminder = kind == "reminder"
    return {
        "at": event.at,
        "kind": kind,
        "message_id": d.get("message_id"),
        "reminder": d.get("n") if reminder else None,
        "error": d.get("error") if reminder else None,
    }


def _open(event: TimelineEvent, _: Pairs) -> dict[str, Any]:
    # An SES report of a display Sobre's pixel recorded is kept, not counted.
    return {**_fetch(event), "counted": bool(event.details.get("counted", True))}


def _view(event: TimelineEvent) -> dict[str, Any]:
    kind = "page fetch" if event.type == "view" else "display confirmed"
    return {**_fetch(event), "kind": kind, "trigger": event.details.get("trigger")}


def _failure(event: TimelineEvent) -> dict[str, Any]:
    d = event.details
    return {"at": event.at, "reason": d.get("reason") or d.get("error")}


# Event type -> (section of the evidence, the entry it shows).
_ENTRIES: dict[str, tuple[str, Callable[[TimelineEvent, Pairs], dict[str, Any]]]] = {
    "sent": ("messages", lambda e, _: _message(e, "invoice")),
    "reminder": ("messages", lambda e, _: _message(e, "reminder")),
    "send_failed": ("send_failures", lambda e, _: _failure(e)),
    "rendering_failure": ("send_failures", lambda e, _: _failure(e)),
    "delivery": (
        "deliveries",
        lambda e, _: _picked(
            e,
            smtp_response="smtp_response",
            remote_mta_ip="remote_mta_ip",
            reporting_mta="reporting_mta",
            processing_time_ms="processing_time_ms",
        ),
    ),
    "delivery_delay": ("delays", lambda e, _: _picked(e, type="delay_type", expires="expires")),
    "bounce": (
        "bounces",
        lambda e, _: _picked(
            e,
            type="type",
            subtype="subtype",
            diagnostic="diagnostic",
            status="status",
            action="action",
        ),
    ),
    "complaint": ("complaints", lambda e, _: _picked(e, feedback_type="feedback_type")),
    "reject": ("rejections", lambda e, _: _picked(e, reason="reason")),
    "open": ("opens", _open),
    "click": ("clicks", lambda e, _: {**_fetch(e), "link": e.details.get("link")}),
    "view": ("views", lambda e, _: _view(e)),
    "viewed": ("views", lambda e, _: _view(e)),
}


def _recipient_evidence(
    recipient_id: str, events: list[TimelineEvent], pairs: Pairs
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {section: [] for section in _SECTIONS}
    for event in events:
        entry = _ENTRIES.get(event.type)
        if event.recipient_id == recipient_id and entry is not None:
            section, shown = entry
            found[section].append(shown(event, pairs))
    return found


def evidence(
    invoice: Invoice, timeline: list[TimelineEvent], generated_at: str, complete: bool = True
) -> dict[str, Any]:
    """``complete`` is False when ``timeline`` is only the first part of the history
    (the report reads a bounded number of facts; the export and /events have them all)."""
    events = sorted(timeline, key=lambda e: (e.at, e.key))
    pairs: Pairs = {}
    return {
        "generated_at": generated_at,
        "complete": complete,
        "invoice": {
            **invoice_core(invoice),
            "due_date": invoice.due_date,
            "created_at": invoice.created_at,
            "reminders_sent": invoice.reminders_sent,
        },
        "recipients": [
            {
                "id": r.id,
                "email": r.email,
                "name": r.name,
                "status": r.status,
                **_recipient_evidence(r.id, events, pairs),
            }
            for r in invoice.recipients
        ],
    }


def render_evidence_html(report: dict[str, Any]) -> str:
    """A printable page (no script; styles for print)."""
    from chalicelib.render.engine import environment

    return environment().get_template("evidence.html").render(report=report)


# -- CSV export -----------------------------------------------------------------------

CSV_COLUMNS: tuple[str, ...] = (
    "invoice_id",
    "invoice_number",
    "customer",
    "recipient_id",
    "recipient_email",
    "at",
    "type",
    "source",
    "verdict",
    "person",
    "counted",
    "confidence",
    "reasons",
    "user_agent",
    "ip",
    "message_id",
    "smtp_response",
    "remote_mta_ip",
    "bounce_type",
    "bounce_subtype",
    "diagnostic",
    "details",
)
_SHOWN = {
    "counted",
    "verdict",
    "confidence",
    "reasons",
    "user_agent",
    "ip",
    "message_id",
    "smtp_response",
    "remote_mta_ip",
    "type",
    "subtype",
    "diagnostic",
}


# What makes a spreadsheet read a cell as a formula: = + - @, also in their fullwidth
# (U+FF1D, U+FF0B, U+FF0D, U+FF20) and small (U+FE66, U+FE62, U+FE63, U+FE6B) forms
# some read as them, and the minus sign U+2212, even after leading blanks; or a tab,
# CR or LF first.
_FORMULA_SIGNS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b\u2212")
_FORMULA_BLANKS = frozenset("\t\r\n")


def csv_cell(value: Any) -> str:
    """Text for a cell; a value a spreadsheet would run as a formula is quoted with a
    leading apostrophe (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text[:1] in _FORMULA_BLANKS or text.lstrip(" \u3000\t\r\n")[:1] in _FORMULA_SIGNS:
        return "'" + text
    return text


def csv_size(rows: list[list[str]]) -> int:
    """The bytes ``rows`` take in the export's CSV (UTF-8, CRLF)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return len(buffer.getvalue().encode())


def csv_rows(
    invoice: Invoice, timeline: list[TimelineEvent], start: str, end: str
) -> list[list[str]]:
    """One row per event of the invoice in [start, end), oldest first."""
    events = sorted(timeline, key=lambda e: (e.at, e.key))
    emails = {r.id: r.email for r in invoice.recipients}
    rows = []
    for event in events:
        if not start <= event.at < end:
            continue
        d = event.details
        verdict = d.get("verdict")
        rest = {k: v for k, v in d.items() if k not in _SHOWN}
        row: dict[str, Any] = {
            "invoice_id": invoice.id,
            "invoice_number": invoice.number,
            "customer": invoice.customer_name,
            "recipient_id": event.recipient_id,
            "recipient_email": emails.get(event.recipient_id or ""),
            "at": event.at,
            "type": event.type,
            "source": event.source,
            "verdict": verdict,
            "person": (verdict in PERSON_VERDICTS) if verdict else None,
            "counted": bool(d.get("counted", True)) if event.type == "open" else None,
            "confidence": d.get("confidence"),
            "reasons": " ".join(d.get("reasons", [])),
            "user_agent": d.get("user_agent"),
            "ip": d.get("ip"),
            "message_id": d.get("message_id"),
            "smtp_response": d.get("smtp_response"),
            "remote_mta_ip": d.get("remote_mta_ip"),
            "bounce_type": d.get("type") if event.type == "bounce" else None,
            "bounce_subtype": d.get("subtype") if event.type == "bounce" else None,
            "diagnostic": d.get("diagnostic"),
            "details": json.dumps(rest, sort_keys=True, separators=(",", ":")) if rest else None,
        }
        rows.append([csv_cell(row[column]) for column in CSV_COLUMNS])
    return rows
