"""The schema of the SES notifications Sobre reads, as strict checks. Pure.

Hand-written rather than pydantic models (Powertools' parser): the parser's import costs
about 130 to 200 ms on a cold start here (measured with ``python -X importtime``), more than
the rest of the event path, pydantic is not otherwise a runtime dependency, and
Powertools ships no model for SES *notifications* (its ``SesModel`` is inbound mail).
What Sobre reads is small — one object per event type, a few typed fields each — so
each reader below is that object's schema: a field Sobre reads has exactly its
documented type or the notification is ``Malformed``; fields Sobre does not read are
not looked at. Free text is clipped (it is kept, never trusted), and lists are bounded
(SES sends a message to at most 50 recipients).

Schema (https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html,
https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html):

* ``mail``: ``timestamp`` (ISO 8601), ``messageId`` (checked by the caller),
  ``destination`` (list of addresses; required where it names the recipients);
* ``delivery``: ``timestamp``, ``recipients`` (addresses), ``smtpResponse``,
  ``reportingMTA``, ``remoteMtaIp`` (strings), ``processingTimeMillis`` (integer);
* ``bounce``: ``timestamp``, ``bouncedRecipients`` (objects with ``emailAddress``;
  ``diagnosticCode``, ``status``, ``action``), ``bounceType``, ``bounceSubType``,
  ``feedbackId``;
* ``complaint``: ``timestamp``, ``complainedRecipients`` (objects with
  ``emailAddress``), ``complaintFeedbackType``, ``feedbackId``;
* ``open`` / ``click``: ``timestamp``, ``userAgent``, ``ipAddress`` (strings), ``link``
  (a string, Click);
* ``deliveryDelay``: ``timestamp``, ``delayedRecipients`` (objects with
  ``emailAddress``), ``delayType``, ``expirationTime``;
* ``reject`` (``reason``), ``failure`` (``errorMessage``, ``templateName``),
  ``subscription`` (``timestamp``, ``source``, ``contactList``), ``send`` (an object).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.model import EventType, iso, parse_iso
from chalicelib.core.privacy import clip_user_agent, truncate_ip

MAX_RECIPIENTS = 50
MAX_TEXT = 2000  # free text kept in a fact's details (a diagnostic, an SMTP response)
MAX_ADDRESS = 1000  # an address, possibly with a display name
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")
# Times that arithmetic around them (± days, windows) can never overflow; the event
# path then bounds them to the invoice's own window (ses_service).
_YEARS = range(1970, 9000)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Malformed(ValueError):
    """A field Sobre reads does not have its documented type."""


@dataclass(frozen=True)
class Read:
    emails: list[str]
    at: str | None = None  # the event's own time (None: the mail's)
    shared: dict[str, Any] = field(default_factory=dict)
    per_recipient: dict[str, dict[str, Any]] = field(default_factory=dict)


def obj(parent: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = parent.get(name)
    if not isinstance(value, dict):
        raise Malformed(f"{where + '.' if where else ''}{name} is not an object")
    return value


def timestamp(parent: dict[str, Any], name: str, where: str) -> str:
    value = parent.get(name)
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise Malformed(f"{where}.{name} is not an ISO 8601 time")
    try:
        moment = parse_iso(value)
    except (ValueError, OverflowError) as exc:
        raise Malformed(f"{where}.{name} is not a time") from exc
    if moment.year not in _YEARS:
        raise Malformed(f"{where}.{name} is out of range")
    return iso(moment)


def text(parent: dict[str, Any], name: str, where: str, limit: int = MAX_TEXT) -> str | None:
    """An optional string, clipped; None when absent, null or empty."""
    value = parent.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Malformed(f"{where}.{name} is not a string")
    return value[:limit] or None


def integer(parent: dict[str, Any], name: str, where: str) -> int | None:
    value = parent.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise Malformed(f"{where}.{name} is not a whole number")
    return value


def address(value: Any, where: str) -> str:
    if (
        not isinstance(value, str)
        or "@" not in value
        or len(value) > MAX_ADDRESS
        or _CONTROL.search(value)
    ):
        raise Malformed(f"{where} is not an email address")
    return value


def _list(parent: dict[str, Any], name: str, where: str) -> list[Any]:
    value = parent.get(name)
    if not isinstance(value, list):
        raise Malformed(f"{where}.{name} is not a list")
    if not value:
        raise Malformed(f"{where}.{name} names no recipient")
    if len(value) > MAX_RECIPIENTS:
        raise Malformed(f"{where}.{name} names more than {MAX_RECIPIENTS} recipients")
    return value


def addresses(parent: dict[str, Any], name: str, where: str) -> list[str]:
    return [address(v, f"{where}.{name}[{i}]") for i, v in enumerate(_list(parent, name, where))]


def recipient_objects(parent: dict[str, Any], name: str, where: str) -> list[dict[str, Any]]:
    found = []
    for i, value in enumerate(_list(parent, name, where)):
        if not isinstance(value, dict):
            raise Malformed(f"{where}.{name}[{i}] is not an object")
        address(value.get("emailAddress"), f"{where}.{name}[{i}].emailAddress")
        found.append(value)
    return found


def _destination(mail: dict[str, Any]) -> list[str]:
    return addresses(mail, "destination", "mail")


def _checked_destination(mail: dict[str, Any]) -> None:
    """``mail.destination``, when present, is a list of addresses whatever the type."""
    if "destination" in mail:
        _destination(mail)


# -- one reader per event type: that object's schema ---------------------------------


def _delivery(payload: dict[str, Any], mail: dict[str, Any]) -> Read:
    body, w = obj(payload, "delivery", ""), "delivery"
    _checked_destination(mail)
    return Read(
        addresses(body, "recipients", w),
        timestamp(body, "timestamp", w),
        {
            "smtp_response": text(body, "smtpResponse", w),
            "remote_mta_ip": text(body, "remoteMtaIp", w, 64),
            "reporting_mta": text(body, "reportingMTA", w, 255),
            "processing_time_ms": integer(body, "processingTimeMillis", w),
        },
    )


def _bounce(payload: dict[str, Any], mail: dict[str, Any]) -> Read:
    body, w = obj(payload, "bounce", ""), "bounce"
    _checked_destination(mail)
    bounced = recipient_objects(body, "bouncedRecipients", w)
    at = timestamp(body, "timestamp", w)
    where = f"{w}.bouncedRecipients[]"
    per_recipient = {
        str(r["emailAddress"]): {
            "diagnostic": text(r, "diagnosticCode", where),
            "status": text(r, "status", where, 64),
            "action": text(r, "action", where, 64),
        }
        for r in bounced
    }
    shared = {
        "type": text(body, "bounceType", w, 64),
        "subtype": text(body, "bounceSubType", w, 64),
        "feedback_id": text(body, "feedbackId", w, 255),
    }
    return Read([str(r["emailAddress"]) for r in bounced], at, shared, per_recipient)


def _complaint(payload: dict[str, Any], mail: dict[str, Any]) -> Read:
    body, w = obj(payload, "complaint", ""), "complaint"
    _checked_destination(mail)
    complained = recipient_objects(body, "complainedRecipients", w)
    shared = {
        "feedback_type": text(body, "complaintFeedbackType", w, 64),
        "feedback_id": text(body, "feedbackId", w, 255),
    }
    return Read(
        [str(r["emailAddress"]) for r in complained], timestamp(body, "timestamp", w), shared
    )


def _reject(payload: dict[str, Any], mail: dict[str, Any]) -> Read:
    return Read(
        _destination(mail), None, {"reason": text(obj(payload, "reject", ""), "reason", "reject")}
    )


def _fetch(kind: str) -> Callable[[dict[str, Any], dict[str, Any]], Read]:
    def read(payload: dict[str, Any], mail: dict[str, Any]) -> Read:
        body = obj(payload, kind, "")
        ip = text(body, "ipAddress", kind, 64)
        shared: dict[str, Any] = {
            "user_agent": clip_user_agent(text(body, "userAgent", kind)),
            "ip": truncate_ip(ip),
        }
        if kind == "click":
            shared["link"] = text(body, "link", kind)
        return Read(_destination(mail), timestamp(body, "timestamp", kind), shared)

    return read


def _rendering_failure(payload: dict[str, Any], mail: dict[str, Any]) -> Read:
    body, w = obj(payload, "failure", ""), "failure"
    shared = {
        "error": text(body, "errorMessage", w),
        "template": text(body, "templateName", w, 255),
    }
    return Read(_destination(mail), None, shared)


def _delivery_delay(payload: dict[str, Any], mail: dict[str, Any]) -> Read:
    body, w = obj(payload, "deliveryDelay", ""), "deliveryDelay"
    _checked_destination(mail)
    delayed = recipient_objects(body, "delayedRecipients", w)
    shared = {
        "delay_type": text(body, "delayType", w, 64),
        "expires": text(body, "expirationTime", w, 64),
    }
    return Read([str(r["emailAddress"]) for r in delayed], timestamp(body, "timestamp", w), shared)


def _subscription(payload: dict[str, Any], mail: dict[str, Any]) -> Read:
    body, w = obj(payload, "subscription", ""), "subscription"
    shared = {
        "source": text(body, "source", w, 255),
        "contact_list": text(body, "contactList", w, 255),
    }
    return Read(_destination(mail), timestamp(body, "timestamp", w), shared)


def _send(payload: dict[str, Any], mail: dict[str, Any]) -> Read:
    if "send" in payload and not isinstance(payload["send"], dict):
        raise Malformed("send is not an object")
    return Read(_destination(mail))


EVENT_READERS: dict[EventType, Callable[[dict[str, Any], dict[str, Any]], Read]] = {
    "send": _send,
    "delivery": _delivery,
    "bounce": _bounce,
    "complaint": _complaint,
    "reject": _reject,
    "open": _fetch("open"),
    "click": _fetch("click"),
    "rendering_failure": _rendering_failure,
    "delivery_delay": _delivery_delay,
    "subscription": _subscription,
}
