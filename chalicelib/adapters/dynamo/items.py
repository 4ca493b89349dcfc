"""How an invoice's items look in the table: the summary (short names, no defaults,
no derived status: two recipients stay under 1 KB), the counters merged into it on
read, and a fact's sort key, attributes and page cursor."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import fields
from datetime import datetime
from typing import Any

from chalicelib.adapters.dynamo import counters
from chalicelib.core.model import Invoice, Recipient, TimelineEvent, index_partition
from chalicelib.core.status import Counts, recipient_status, shown
from chalicelib.core.stored import stored_json
from chalicelib.errors import InvalidCursor

SUMMARY = "INVOICE"
CONTENT = "INVOICE#CONTENT"
COUNTERS = counters.COUNTERS
FACT = "F#"

# Fields of the summary's ``detail`` JSON, omitted when at their defaults (small items).
_DETAIL_FIELDS = (
    "issue_date",
    "reply_to",
    "locale",
    "body_hash",
    "idempotency_key",
    "shard",
    "tracking",
    "retention_days",
    "has_pdf",
    "reminders_sent",
    "last_reminder_at",
    "external_id",
    "payment",
)
_CONTENT_FIELDS = ("subject", "message", "metadata")
_INVOICE_DEFAULTS = {f.name: f.default for f in fields(Invoice)}
_RECIPIENT_DEFAULTS = {f.name: f.default for f in fields(Recipient)}


# Stored names of a recipient's fields: short, because the summary is rewritten whole
# on every change and its size in KB is what each write costs.
_STORED_NAMES = {
    "id": "i",
    "email": "e",
    "name": "n",
    "message_id": "m",
    "send_attempts": "a",
    "queued_at": "q",
    "sent_at": "s",
    "delivered_at": "d",
    "first_opened_at": "o",
    "first_machine_open_at": "mo",
    "viewed_at": "v",
    "bounced_at": "b",
    "bounce": "bd",
    "complained_at": "c",
    "complaint": "cd",
    "rejected_at": "r",
    "reject_reason": "rd",
    "failed_at": "f",
    "failure_reason": "fd",
    "delayed_at": "dl",
}
_FIELD_NAMES = {short: name for name, short in _STORED_NAMES.items()}


def _recipient_json(recipient: Recipient) -> dict[str, Any]:
    """A recipient's state as stored: its facts' times and details, under short names,
    without defaults and without its status, which derives from them
    (``recipient_status`` on read): two recipients stay under 1 KB, one write unit."""
    return {
        _STORED_NAMES.get(k, k): v
        for k, v in shown(recipient).items()
        if k in ("id", "email") or (k != "status" and v != _RECIPIENT_DEFAULTS.get(k))
    }


def _recipient(data: dict[str, Any]) -> Recipient:
    recipient = Recipient.from_dict({_FIELD_NAMES.get(k, k): v for k, v in data.items()})
    recipient.status = recipient_status(recipient)
    return recipient


def summary_attributes(invoice: Invoice, expires_at: datetime) -> dict[str, Any]:
    """The summary as stored, in DynamoDB's JSON and without its version: what the
    ``InvoiceItem`` model (models.py, the table's schema) serializes, written with the
    table's low-level client so that the public routes need no pynamodb
    (tests/unit/test_summary_item.py compares the two)."""
    detail = {
        name: getattr(invoice, name)
        for name in _DETAIL_FIELDS
        if getattr(invoice, name) != _INVOICE_DEFAULTS.get(name)
    }
    texts = {
        "pk": f"INVOICE#{invoice.id}",
        "sk": SUMMARY,
        "gsi1pk": index_partition(
            invoice.account_id, invoice.status, invoice.shard, invoice.payment_status
        ),
        "gsi1sk": f"{invoice.updated_at}#{invoice.id}",
        "account_id": invoice.account_id,
        "number": invoice.number,
        "customer_name": invoice.customer_name,
        "currency": invoice.currency,
        "total": invoice.total,
        "due_date": invoice.due_date,
        "status": invoice.status,
        "payment_status": invoice.payment_status,
        "created_at": invoice.created_at,
        "updated_at": invoice.updated_at,
        "sent_at": invoice.sent_at,
        "first_opened_at": invoice.first_opened_at,
        "first_machine_open_at": invoice.first_machine_open_at,
        "viewed_at": invoice.viewed_at,
        "recipients": stored_json([_recipient_json(r) for r in invoice.recipients]),
        "detail": stored_json(detail),
    }
    item: dict[str, Any] = {name: {"S": text} for name, text in texts.items() if text is not None}
    item["problem_count"] = {"N": str(invoice.problem_count)}
    item["recipient_count"] = {"N": str(len(invoice.recipients))}
    item["expires_at"] = {"N": str(int(expires_at.timestamp()))}
    return item


def from_summary(raw: dict[str, Any]) -> Invoice:
    """The invoice a stored summary (raw attributes) holds, its counters not merged."""

    def text(name: str) -> str:
        return str(raw[name]["S"])

    detail: dict[str, Any] = json.loads(text("detail")) if "detail" in raw else {}
    return Invoice(
        id=text("pk").removeprefix("INVOICE#"),
        account_id=text("account_id"),
        number=text("number"),
        customer_name=text("customer_name"),
        currency=text("currency"),
        total=text("total"),
        due_date=text("due_date"),
        status=text("status"),  # type: ignore[arg-type]
        payment_status=raw.get("payment_status", {}).get("S") or "unpaid",
        created_at=text("created_at"),
        updated_at=text("updated_at"),
        last_activity_at=text("updated_at"),
        recipients=[_recipient(r) for r in json.loads(text("recipients"))],
        version=int(raw["version"]["N"]) if "version" in raw else None,
        **detail,
    )


def _merge_counters(invoice: Invoice, raw: dict[str, Any]) -> None:
    recipient = invoice.recipient(raw["sk"]["S"].removeprefix(COUNTERS))
    if recipient is None:
        return
    for name in ("open_count", "machine_open_count", "click_count"):
        if name in raw:
            setattr(recipient, name, int(raw[name]["N"]))
    for name in ("last_opened_at", "first_person_at"):
        if name in raw:
            setattr(recipient, name, raw[name]["S"])
    if recipient.last_opened_at and recipient.last_opened_at > invoice.last_activity_at:
        invoice.last_activity_at = recipient.last_opened_at


def _fact_sk(event: TimelineEvent) -> str:
    return f"{FACT}{event.at}#{event.key}"


def fact_item(invoice_id: str, event: TimelineEvent, expires_at: int) -> dict[str, Any]:
    """A fact as stored (raw attributes), with what it adds to the counters."""
    item: dict[str, Any] = {
        "pk": {"S": f"INVOICE#{invoice_id}"},
        "sk": {"S": _fact_sk(event)},
        "type": {"S": event.type},
        "source": {"S": event.source},
        "details": {"S": stored_json(event.details)},
        "counted": {"S": Counts.of(event).stored()},
        "expires_at": {"N": str(expires_at)},
    }
    if event.recipient_id:
        item["recipient_id"] = {"S": event.recipient_id}
    return item


def _event(raw: dict[str, Any]) -> TimelineEvent:
    at, key = raw["sk"]["S"].removeprefix(FACT).split("#", 1)
    return TimelineEvent(
        key=key,
        at=at,
        type=raw["type"]["S"],
        recipient_id=raw["recipient_id"]["S"] if "recipient_id" in raw else None,
        source=raw["source"]["S"],
        details=json.loads(raw["details"]["S"]),
        revision=int(raw.get("rev", {"N": "0"})["N"]),
    )


def encode_fact_cursor(sk: str) -> str:
    return base64.urlsafe_b64encode(sk.encode()).decode().rstrip("=")


def decode_fact_cursor(cursor: str) -> str:
    try:
        sk = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("events") from exc
    if not sk.startswith(FACT) or len(sk) > 1200:
        raise InvalidCursor("events")
    return sk
