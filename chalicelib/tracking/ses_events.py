"""SES notifications, as SNS delivers them, turned into facts about recipients. Pure.

Two formats arrive on the topic: configuration-set *event publishing* (``eventType``)
and classic identity *notifications* (``notificationType``, which carry no tags).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from chalicelib.core.model import TAG_ACCOUNT, TAG_INVOICE, TAG_RECIPIENT, EventType, iso, parse_iso
from chalicelib.core.privacy import clip_user_agent, truncate_ip

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


def sns_message_of(record: dict[str, Any]) -> str:
    """The ``Message`` of one Lambda SNS record (``Records[].Sns``)."""
    sns = record.get("Sns") if isinstance(record, dict) else None
    if not isinstance(sns, dict):
        raise Unprocessable("not an SNS record: no 'Sns' object")
    if sns.get("Type", "Notification") != "Notification":
        raise Unprocessable(f"SNS message of type {sns.get('Type')!r}, not a Notification")
    message = sns.get("Message")
    if not isinstance(message, str):
        raise Unprocessable("SNS record without a Message string")
    return message


def parse_notification(message: str) -> SesNotification:
    try:
        payload = json.loads(message)
    except ValueError as exc:
        raise Unprocessable(f"Message is not JSON: {message[:80]!r}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("mail"), dict):
        raise Unprocessable("Message has no 'mail' object: not an SES notification")
    if "eventType" in payload:
        event_type = _EVENT_TYPES.get(str(payload["eventType"]))
        if event_type is None:
            raise Unprocessable(f"unknown SES eventType {payload['eventType']!r}")
    elif "notificationType" in payload:
        event_type = _CLASSIC_TYPES.get(str(payload["notificationType"]))
        if event_type is None:
            raise Unprocessable(f"unknown SES notificationType {payload['notificationType']!r}")
    else:
        raise Unprocessable("Message has neither eventType nor notificationType")
    mail = payload["mail"]
    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise Unprocessable("mail.messageId is missing")
    try:
        events = tuple(_recipient_events(event_type, payload, mail, message_id))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Unprocessable(f"malformed {event_type} notification: {exc!r}") from exc
    tags = mail.get("tags") if isinstance(mail.get("tags"), dict) else {}
    return SesNotification(
        message_id=message_id,
        event_type=event_type,
        account_id=_tag(tags, TAG_ACCOUNT),
        invoice_id=_tag(tags, TAG_INVOICE),
        recipient_id=_tag(tags, TAG_RECIPIENT),
        events=events,
    )


def _tag(tags: dict[str, Any], name: str) -> str | None:
    values = tags.get(name)
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0]
    return None


def _time(text: Any) -> str:
    return iso(parse_iso(str(text)))


def _key(*parts: Any) -> str:
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()
    return f"ses-{digest[:24]}"


# One case an SES event type, each reading its own object: one match reads better than
# ten functions. (The hardening of this parser replaces it with typed models.)
def _recipient_events(  # noqa: C901
    event_type: EventType, payload: dict[str, Any], mail: dict[str, Any], message_id: str
) -> list[RecipientEvent]:
    # Each event names its recipients in its own object; the rest name mail.destination.
    emails: list[str] = [str(a) for a in mail.get("destination") or []]
    at = _time(mail["timestamp"])
    shared: dict[str, Any] = {}
    per_recipient: dict[str, dict[str, Any]] = {}
    match event_type:
        case "delivery":
            body = payload["delivery"]
            at, emails = _time(body["timestamp"]), [str(e) for e in body["recipients"]]
            shared = {
                "smtp_response": body.get("smtpResponse"),
                "remote_mta_ip": body.get("remoteMtaIp"),
                "reporting_mta": body.get("reportingMTA"),
                "processing_time_ms": body.get("processingTimeMillis"),
            }
        case "bounce":
            body = payload["bounce"]
            at = _time(body["timestamp"])
            emails = [str(r["emailAddress"]) for r in body["bouncedRecipients"]]
            shared = {"type": body.get("bounceType"), "subtype": body.get("bounceSubType")}
            per_recipient = {
                str(r["emailAddress"]): {
                    "diagnostic": r.get("diagnosticCode"),
                    "status": r.get("status"),
                    "action": r.get("action"),
                }
                for r in body["bouncedRecipients"]
            }
            shared["feedback_id"] = body.get("feedbackId")
        case "complaint":
            body = payload["complaint"]
            at = _time(body["timestamp"])
            emails = [str(r["emailAddress"]) for r in body["complainedRecipients"]]
            shared = {
                "feedback_type": body.get("complaintFeedbackType"),
                "feedback_id": body.get("feedbackId"),
            }
        case "reject":
            shared = {"reason": payload["reject"].get("reason")}
        case "open" | "click":
            body = payload[event_type]
            at = _time(body["timestamp"])
            shared = {
                "user_agent": clip_user_agent(body.get("userAgent")),
                "ip": truncate_ip(body.get("ipAddress")),
            }
            if event_type == "click":
                shared["link"] = body.get("link")
        case "rendering_failure":
            body = payload["failure"]
            shared = {"error": body.get("errorMessage"), "template": body.get("templateName")}
        case "delivery_delay":
            body = payload["deliveryDelay"]
            at = _time(body["timestamp"])
            emails = [str(r["emailAddress"]) for r in body["delayedRecipients"]]
            shared = {"delay_type": body.get("delayType"), "expires": body.get("expirationTime")}
        case "subscription":
            body = payload["subscription"]
            at = _time(body["timestamp"])
            shared = {"source": body.get("source"), "contact_list": body.get("contactList")}
        case _:
            pass
    if not emails:
        raise ValueError("the notification names no recipient")
    events = []
    for email in emails:
        details = {**shared, **per_recipient.get(email, {})}
        details = {k: v for k, v in details.items() if v is not None}
        if event_type == "send":
            details["message_id"] = message_id
        key = _key(event_type, message_id, email.lower(), at, details.get("user_agent"))
        events.append(RecipientEvent(email, event_type, at, key, details))
    return events
