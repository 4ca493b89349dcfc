"""SES notifications, as SNS delivers them, turned into facts about recipients. Pure.

Two formats arrive on the topic: configuration-set *event publishing* (``eventType``)
and classic identity *notifications* (``notificationType``, which carry no tags). Both
are checked against a strict schema of what Sobre reads (``ses_schema``): a payload that
does not fit — a wrong type, a missing field, a time that is no time — is
``Unprocessable`` and is kept for an operator, never applied.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.core.model import TAG_ACCOUNT, TAG_INVOICE, TAG_RECIPIENT, EventType
from chalicelib.tracking.ses_schema import EVENT_READERS, Malformed, Read, timestamp

_EVENT_TYPES: dict[str, EventType] = {
    "Send": "send",
    "Reject": "reject",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Delivery": "delivery",
    "Open": "open",
    "Click": "click",
    "Rendering Failure": "rendering_failure",
    "RenderingFailure": "rendering_failure",
    "DeliveryDelay": "delivery_delay",
    "Subscription": "subscription",
}
_CLASSIC_TYPES: dict[str, EventType] = {
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Delivery": "delivery",
}
# SES message ids are ~60 printable characters; a key item is ``MSG#<id>``.
_MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,256}")
# Sobre's own tags carry ids and account names: anything else is not Sobre's tag.
_TAG_VALUE = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class Unprocessable(ValueError):
    """The payload is not an SES notification Sobre understands."""


@dataclass(frozen=True)
class RecipientEvent:
    email: str
    type: EventType
    at: str
    key: str
    details: dict[str, Any]


@dataclass(frozen=True)
class SesNotification:
    message_id: str
    event_type: EventType
    account_id: str | None
    invoice_id: str | None
    recipient_id: str | None
    events: tuple[RecipientEvent, ...]
    mail_at: str = ""  # when SES accepted the message (``mail.timestamp``)


def sns_message_of(record: Any) -> str:
    """The ``Message`` of one Lambda SNS record (``Records[].Sns``)."""
    sns = record.get("Sns") if isinstance(record, dict) else None
    if not isinstance(sns, dict):
        raise Unprocessable("not an SNS record: no 'Sns' object")
    kind = sns.get("Type", "Notification")
    if kind != "Notification":
        raise Unprocessable(f"SNS message of type {_shown(kind)}, not a Notification")
    message = sns.get("Message")
    if not isinstance(message, str):
        raise Unprocessable("SNS record without a Message string")
    return message


def _shown(value: Any) -> str:
    """A bounded rendering of a value for a reason (reasons are logged and kept)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_notification(message: str) -> SesNotification:
    try:
        payload = json.loads(message)
    except RecursionError as exc:
        raise Unprocessable("Message is not JSON Sobre reads: nested too deep") from exc
    except ValueError as exc:
        raise Unprocessable(f"Message is not JSON: {message[:80]!r}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("mail"), dict):
        raise Unprocessable("Message has no 'mail' object: not an SES notification")
    if "eventType" in payload:
        event_type = _type_of(_EVENT_TYPES, payload["eventType"])
        if event_type is None:
            raise Unprocessable(f"unknown SES eventType {_shown(payload['eventType'])}")
    elif "notificationType" in payload:
        event_type = _type_of(_CLASSIC_TYPES, payload["notificationType"])
        if event_type is None:
            kind = _shown(payload["notificationType"])
            raise Unprocessable(f"unknown SES notificationType {kind}")
    else:
        raise Unprocessable("Message has neither eventType nor notificationType")
    mail = payload["mail"]
    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
        raise Unprocessable("mail.messageId is missing or not an SES message id")
    try:
        mail_at = timestamp(mail, "timestamp", "mail")
        events = tuple(_recipient_events(event_type, payload, mail, message_id, mail_at))
    except Malformed as exc:
        raise Unprocessable(f"malformed {event_type} notification: {exc}") from exc
    tags = mail.get("tags") if isinstance(mail.get("tags"), dict) else {}
    return SesNotification(
        message_id=message_id,
        event_type=event_type,
        account_id=_tag(tags, TAG_ACCOUNT),
        invoice_id=_tag(tags, TAG_INVOICE),
        recipient_id=_tag(tags, TAG_RECIPIENT),
        events=events,
        mail_at=mail_at,
    )


def _type_of(types: dict[str, EventType], value: Any) -> EventType | None:
    return types.get(value) if isinstance(value, str) else None


def _tag(tags: dict[str, Any], name: str) -> str | None:
    """Sobre's tag, or None when absent or not shaped as Sobre writes it (routing then
    falls back to the message id, which must resolve to the recipient)."""
    values = tags.get(name)
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], str):
        return values[0] if _TAG_VALUE.fullmatch(values[0]) else None
    return None


def _key(*parts: Any) -> str:
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()
    return f"ses-{digest[:24]}"


def _recipient_events(
    event_type: EventType,
    payload: dict[str, Any],
    mail: dict[str, Any],
    message_id: str,
    mail_at: str,
) -> list[RecipientEvent]:
    # The type's own object may name its recipients and its time (the rest name
    # mail.destination, and happen at the mail's time).
    read: Read = EVENT_READERS[event_type](payload, mail)
    at = read.at or mail_at
    events = []
    for email in read.emails:
        details = {**read.shared, **read.per_recipient.get(email, {})}
        details = {k: v for k, v in details.items() if v is not None}
        if event_type == "send":
            details["message_id"] = message_id
        key = _key(event_type, message_id, email.lower(), at, details.get("user_agent"))
        events.append(RecipientEvent(email, event_type, at, key, details))
    return events
