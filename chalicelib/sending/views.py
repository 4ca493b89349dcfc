"""How invoices and events look in the HTTP API (see docs/openapi.yaml). Pure."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib.core.classification import PERSON_VERDICTS
from chalicelib.core.model import Invoice, Recipient, TimelineEvent
from chalicelib.core.shapes import invoice_core
from chalicelib.core.status import counted_opens, pair_opens


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


def invoice_summary(invoice: Invoice) -> dict[str, Any]:
    return {
        **invoice_core(invoice),
        "due_date": invoice.due_date,
        "created_at": invoice.created_at,
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
    """The answer to POST /invoices and POST /invoices/{id}/send."""
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
            }
            for r in invoice.recipients
        ],
    }


def _open(event: TimelineEvent) -> dict[str, Any]:
    user_agent = event.details.get("user_agent")
    verdict = event.details.get("verdict", "unknown")
    return {
        "at": event.at,
        "source": event.source,
        "user_agent": user_agent,
        "user_agent_family": user_agent_family(user_agent),
        "ip": event.details.get("ip"),
        "verdict": verdict,
        "person": verdict in PERSON_VERDICTS,
        "confidence": event.details.get("confidence"),
        "reasons": event.details.get("reasons", []),
    }


def invoice_detail(invoice: Invoice, timeline: list[TimelineEvent]) -> dict[str, Any]:
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
    counted = counted_opens(timeline)
    for summary, recipient in zip(body["recipients"], invoice.recipients, strict=True):
        summary.update(
            {
                "opens": [_open(e) for e in counted if e.recipient_id == recipient.id],
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
    pairs = pair_opens(events)
    return [_timeline_entry(e, pairs.get(e.key)) for e in events]


def _timeline_entry(event: TimelineEvent, duplicate_of: str | None) -> dict[str, Any]:
    details = dict(event.details)
    details.pop("counted_in", None)
    if event.type == "open":
        # Whether this report counts as an open, or repeats a pixel open already counted.
        details["counted"] = duplicate_of is None
        if duplicate_of is not None:
            details["duplicate_of"] = duplicate_of
    if event.type in ("open", "click") and details.get("user_agent"):
        details["user_agent_family"] = user_agent_family(details["user_agent"])
    return {
        "at": event.at,
        "type": event.type,
        "recipient_id": event.recipient_id,
        "source": event.source,
        "details": details,
    }
