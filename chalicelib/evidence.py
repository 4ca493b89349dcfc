"""Evidence of what happened to an invoice, and the account's events as CSV. Pure.

``evidence`` gathers, per recipient, every message sent (the invoice and each
reminder, with SES message ids), SES's delivery reports (time, the receiving server's
address, its SMTP answer), bounces, complaints, rejections, and every open, click and
view with its verdict and reasons: what a sender shows a customer who says "we never
got it". ``render_evidence_html`` prints it; ``csv_rows`` flattens a timeline for
``GET /exports/events.csv``.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.classification import PERSON_VERDICTS
from chalicelib.model import Invoice, TimelineEvent
from chalicelib.status import pair_opens


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


def _recipient_evidence(
    recipient_id: str, events: list[TimelineEvent], pairs: dict[str, str | None]
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {
        "messages": [],
        "send_failures": [],
        "deliveries": [],
        "delays": [],
        "bounces": [],
        "complaints": [],
        "rejections": [],
        "opens": [],
        "clicks": [],
        "views": [],
    }
    for event in events:
        if event.recipient_id != recipient_id:
            continue
        d = event.details
        match event.type:
            case "sent":
                found["messages"].append(
                    {
                        "at": event.at,
                        "kind": "invoice",
                        "message_id": d.get("message_id"),
                        "reminder": None,
                        "error": None,
                    }
                )
            case "reminder":
                found["messages"].append(
                    {
                        "at": event.at,
                        "kind": "reminder",
                        "message_id": d.get("message_id"),
                        "reminder": d.get("n"),
                        "error": d.get("error"),
                    }
                )
            case "send_failed" | "rendering_failure":
                found["send_failures"].append(
                    {"at": event.at, "reason": d.get("reason") or d.get("error")}
                )
            case "delivery":
                found["deliveries"].append(
                    {
                        "at": event.at,
                        "smtp_response": d.get("smtp_response"),
                        "remote_mta_ip": d.get("remote_mta_ip"),
                        "reporting_mta": d.get("reporting_mta"),
                        "processing_time_ms": d.get("processing_time_ms"),
                    }
                )
            case "delivery_delay":
                found["delays"].append(
                    {"at": event.at, "type": d.get("delay_type"), "expires": d.get("expires")}
                )
            case "bounce":
                found["bounces"].append(
                    {
                        "at": event.at,
                        "type": d.get("type"),
                        "subtype": d.get("subtype"),
                        "diagnostic": d.get("diagnostic"),
                        "status": d.get("status"),
                        "action": d.get("action"),
                    }
                )
            case "complaint":
                found["complaints"].append(
                    {"at": event.at, "feedback_type": d.get("feedback_type")}
                )
            case "reject":
                found["rejections"].append({"at": event.at, "reason": d.get("reason")})
            case "open":
                duplicate_of = pairs.get(event.key)
                found["opens"].append(
                    {**_fetch(event), "counted": duplicate_of is None, "duplicate_of": duplicate_of}
                )
            case "click":
                found["clicks"].append({**_fetch(event), "link": d.get("link")})
            case "view" | "viewed":
                found["views"].append(
                    {
                        **_fetch(event),
                        "kind": "page fetch" if event.type == "view" else "display confirmed",
                        "trigger": d.get("trigger"),
                    }
                )
            case _:
                pass
    return found


def evidence(invoice: Invoice, timeline: list[TimelineEvent], generated_at: str) -> dict[str, Any]:
    events = sorted(timeline, key=lambda e: (e.at, e.key))
    pairs = pair_opens(events)
    return {
        "generated_at": generated_at,
        "invoice": {
            "id": invoice.id,
            "number": invoice.number,
            "customer": {"name": invoice.customer_name},
            "currency": invoice.currency,
            "total": invoice.total,
            "due_date": invoice.due_date,
            "created_at": invoice.created_at,
            "status": invoice.status,
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
    from chalicelib.email_render import _environment

    return _environment().get_template("evidence.html").render(report=report)


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


def csv_cell(value: Any) -> str:
    """Text for a cell; a value a spreadsheet would run as a formula is quoted with a
    leading apostrophe (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def csv_rows(
    invoice: Invoice, timeline: list[TimelineEvent], start: str, end: str
) -> list[list[str]]:
    """One row per event of the invoice in [start, end), oldest first."""
    events = sorted(timeline, key=lambda e: (e.at, e.key))
    pairs = pair_opens(events)
    emails = {r.id: r.email for r in invoice.recipients}
    rows = []
    for event in events:
        if not start <= event.at < end:
            continue
        d = event.details
        verdict = d.get("verdict")
        rest = {k: v for k, v in d.items() if k not in _SHOWN and k != "counted_in"}
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
            "counted": (pairs.get(event.key) is None) if event.type == "open" else None,
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
