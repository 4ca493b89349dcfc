"""How invoices and events look in the HTTP API (see docs/openapi.yaml). Pure."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib.core.model import Invoice, Recipient, TimelineEvent
from chalicelib.core.payments import payment_view
from chalicelib.core.shapes import invoice_core


@lru_cache(maxsize=2048)
def user_agent_family(user_agent: str | None) -> str | None:
    if not user_agent:
        return None
    from ua_parser import parse_user_agent  # lazy: only read paths need it

    parsed = parse_user_agent(user_agent)
    return parsed.family if parsed is not None else "Other"


def _recipient_summary(recipient: Recipient) -> dict[str, Any]:
    return {
        "id": recipient.id,
        "email": recipient.email,
        "name": recipient.name,
        "status": recipient.status,
        "message_id": recipient.message_id,
        "sent_at": recipient.sent_at,
        "delivered_at": recipient.delivered_at,
        "first_opened_at": recipient.first_opened_at,
        "last_opened_at": recipient.last_opened_at,
        "open_count": recipient.open_count,
        "machine_open_count": recipient.machine_open_count,
        "viewed_at": recipient.viewed_at,
    }


def list_item(invoice: Invoice) -> dict[str, Any]:
    """A list entry: what the index projects, never the recipients."""
    return {
        **invoice_core(invoice),
        "due_date": invoice.due_date,
        "created_at": invoice.created_at,
        "updated_at": invoice.updated_at,
        "sent_at": invoice.sent_at,
        "first_opened_at": invoice.first_opened_at,
        "first_machine_open_at": invoice.first_machine_open_at,
        "viewed_at": invoice.viewed_at,
        "problem_count": invoice.problem_count,
        "recipient_count": invoice.recipient_count,
    }


def invoice_summary(invoice: Invoice) -> dict[str, Any]:
    return {
        **invoice_core(invoice),
        "due_date": invoice.due_date,
        "created_at": invoice.created_at,
        "updated_at": invoice.updated_at,
        "last_activity_at": invoice.last_activity_at,
        "sent_at": invoice.sent_at,
        "delivered_at": invoice.delivered_at,
        "first_opened_at": invoice.first_opened_at,
        "last_opened_at": invoice.last_opened_at,
        "open_count": invoice.open_count,
        "machine_open_count": invoice.machine_open_count,
        "first_opened_by": _first_opened_by(invoice),
        "viewed_at": invoice.viewed_at,
        "problem_count": invoice.problem_count,
        "recipients": [_recipient_summary(r) for r in invoice.recipients],
    }


def _first_opened_by(invoice: Invoice) -> dict[str, Any] | None:
    """Who opened first as a person, and when."""
    opened = [r for r in invoice.recipients if r.first_opened_at]
    if not opened:
        return None
    first = min(opened, key=lambda r: (r.first_opened_at or "", r.id))
    return {"recipient_id": first.id, "email": first.email, "at": first.first_opened_at}


def send_response(invoice: Invoice) -> dict[str, Any]:
    """The answer to POST /invoices and POST /invoices/{id}/send. ``sending`` is kept
    for clients that read it, always false: no request mails, the sender does (docs/
    openapi.yaml marks it deprecated)."""
    return {
        "id": invoice.id,
        "number": invoice.number,
        "status": invoice.status,
        "recipients": [
            {
                "id": r.id,
                "email": r.email,
                "status": r.status,
                "message_id": r.message_id,
                "error": r.failure_reason if r.status == "failed" else None,
                "sending": False,
            }
            for r in invoice.recipients
        ],
    }


def added_response(invoice: Invoice, added: tuple[str, ...]) -> dict[str, Any]:
    """The answer to POST /invoices/{id}/recipients: the new recipients only."""
    body = send_response(invoice)
    body["recipients"] = [r for r in body["recipients"] if r["id"] in added]
    return body


def invoice_detail(invoice: Invoice) -> dict[str, Any]:
    """The invoice and its recipients, from the summary and counters: the same size
    after one open or ten thousand (the history is ``/events``)."""
    body = invoice_summary(invoice)
    body.update(
        {
            "issue_date": invoice.issue_date,
            "subject": invoice.subject,
            "locale": invoice.locale,
            "tracking": invoice.tracking,
            "has_pdf": invoice.has_pdf,
            "metadata": invoice.metadata,
            "reminders_sent": invoice.reminders_sent,
            "last_reminder_at": invoice.last_reminder_at,
            "external_id": invoice.external_id,
            "payment": payment_view(invoice),
            "lines": [
                {
                    "description": ln.description,
                    "quantity": ln.quantity,
                    "unit_price": ln.unit_price,
                }
                for ln in invoice.lines
            ],
        }
    )
    for summary, recipient in zip(body["recipients"], invoice.recipients, strict=True):
        summary.update(
            {
                "click_count": recipient.click_count,
                "bounce": (
                    {"at": recipient.bounced_at, **(recipient.bounce or {})}
                    if recipient.bounced_at
                    else None
                ),
                "complaint": (
                    {"at": recipient.complained_at, **(recipient.complaint or {})}
                    if recipient.complained_at
                    else None
                ),
                "rejection": (
                    {"at": recipient.rejected_at, "reason": recipient.reject_reason}
                    if recipient.rejected_at
                    else None
                ),
                "failure": (
                    {"at": recipient.failed_at, "reason": recipient.failure_reason}
                    if recipient.failed_at
                    else None
                ),
                "send_attempts": recipient.send_attempts,
            }
        )
    return body


def timeline(events: list[TimelineEvent]) -> list[dict[str, Any]]:
    return [_timeline_entry(e) for e in events]


def _timeline_entry(event: TimelineEvent) -> dict[str, Any]:
    details = dict(event.details)
    if event.type == "open":
        # Whether this report counts as an open (an SES report of a display the pixel
        # already recorded does not).
        details["counted"] = bool(details.get("counted", True))
    if event.type in ("open", "click") and details.get("user_agent"):
        details["user_agent_family"] = user_agent_family(details["user_agent"])
    return {
        "at": event.at,
        "type": event.type,
        "recipient_id": event.recipient_id,
        "source": event.source,
        "details": details,
    }
