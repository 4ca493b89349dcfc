"""Which status changes an account hears about. Pure.

A recipient's status *crossing* to ``opened`` (a person's first open), ``viewed``,
``bounced`` or ``complained`` (``crossings``) becomes an ``Alert`` with a stable id; the
scheduled job (chalicelib/alerts) emails it and delivers it to webhooks as the JSON of
``event_body``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.model import Invoice, Recipient
from chalicelib.core.shapes import invoice_core
from chalicelib.core.status import RECIPIENT_PRECEDENCE
from chalicelib.ids import b32

EVENT_TYPES: tuple[str, ...] = (
    "invoice.opened",
    "invoice.viewed",
    "invoice.bounced",
    "invoice.complained",
    "invoice.paid",
    "invoice.voided",
)
# Events of the invoice itself, not of one recipient (their ``recipient_id`` is "").
INVOICE_EVENTS: frozenset[str] = frozenset({"invoice.paid", "invoice.voided"})


_EVENT_OF_STATUS = {
    "opened": "invoice.opened",
    "viewed": "invoice.viewed",
    "bounced": "invoice.bounced",
    "complained": "invoice.complained",
}


# Higher is further: a crossing is a move *up* to an alerted status.
_RANK: dict[str, int] = {
    status: len(RECIPIENT_PRECEDENCE) - i for i, status in enumerate(RECIPIENT_PRECEDENCE)
}


@dataclass(frozen=True)
class Alert:
    """A recipient's status crossed to one the account is told about."""

    id: str  # evt_...: the same crossing (recipient, status, time) always has this id
    type: str  # one of EVENT_TYPES
    account_id: str
    invoice_id: str
    recipient_id: str
    at: str  # when it happened: the recipient's time for that status

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "type": self.type,
            "account_id": self.account_id,
            "invoice_id": self.invoice_id,
            "recipient_id": self.recipient_id,
            "at": self.at,
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Alert:
        return Alert(
            id=str(data["id"]),
            type=str(data["type"]),
            account_id=str(data["account_id"]),
            invoice_id=str(data["invoice_id"]),
            recipient_id=str(data["recipient_id"]),
            at=str(data["at"]),
        )


def alert_id(invoice_id: str, recipient_id: str, event_type: str, at: str) -> str:
    digest = hashlib.sha256(f"{invoice_id}\x00{recipient_id}\x00{event_type}\x00{at}".encode())
    return "evt_" + b32(digest.digest()[:16])


def _status_time(recipient: Recipient) -> str | None:
    return {
        "opened": recipient.first_opened_at,
        "viewed": recipient.viewed_at,
        "bounced": recipient.bounced_at,
        "complained": recipient.complained_at,
    }.get(recipient.status)


def crossings(before: Mapping[str, str], invoice: Invoice) -> list[Alert]:
    """The alerts for every recipient whose status moved up to an alerted status.

    ``before`` maps recipient ids to their statuses before the change. A move down (a
    reclassification that turns an open into a machine's) is no alert, and neither is a
    move between two statuses below ``opened``."""
    alerts = []
    for recipient in invoice.recipients:
        event_type = _EVENT_OF_STATUS.get(recipient.status)
        previous = before.get(recipient.id, "pending")
        if event_type is None or _RANK[recipient.status] <= _RANK.get(previous, 0):
            continue
        at = _status_time(recipient) or invoice.last_activity_at
        alerts.append(
            Alert(
                id=alert_id(invoice.id, recipient.id, event_type, at),
                type=event_type,
                account_id=invoice.account_id,
                invoice_id=invoice.id,
                recipient_id=recipient.id,
                at=at,
            )
        )
    return alerts


def payment_alert(invoice: Invoice) -> Alert | None:
    """The alert of a paid or void invoice (None while unpaid): one per invoice, with
    a stable id, so recording it again delivers it once."""
    payment = invoice.payment or {}
    kind = {"paid": "invoice.paid", "void": "invoice.voided"}.get(invoice.payment_status)
    if kind is None:
        return None
    at = payment.get("recorded_at") or invoice.updated_at
    return Alert(alert_id(invoice.id, "", kind, at), kind, invoice.account_id, invoice.id, "", at)


def event_body(alert: Alert, invoice: Invoice) -> str:
    """The JSON a webhook receives for ``alert`` (the same bytes on every attempt)."""
    recipient = invoice.recipient(alert.recipient_id)
    details: dict[str, Any] = {}
    if recipient is not None and alert.type == "invoice.bounced" and recipient.bounce:
        details = {k: v for k, v in recipient.bounce.items() if v is not None}
    elif recipient is not None and alert.type == "invoice.complained" and recipient.complaint:
        details = {k: v for k, v in recipient.complaint.items() if v is not None}
    elif alert.type in INVOICE_EVENTS:
        details = {k: v for k, v in (invoice.payment or {}).items() if k != "recorded_at"}
    body = {
        "id": alert.id,
        "type": alert.type,
        "created_at": alert.at,
        "data": {
            "invoice": invoice_core(invoice),
            "recipient": None
            if alert.type in INVOICE_EVENTS
            else {
                "id": alert.recipient_id,
                "email": recipient.email if recipient else None,
                "name": recipient.name if recipient else None,
                "status": recipient.status if recipient else None,
            },
            "details": details,
        },
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True)
