"""Alerts and webhooks (issue "Reports, reminders, alerts and evidence"). Pure.

* Which status changes an account hears about: a recipient's status *crossing* to
  ``opened`` (a person's first open), ``viewed``, ``bounced`` or ``complained``
  (``crossings``), each becoming an event with a stable id.
* Webhooks: what may be registered (``parse_webhook_request``: https only, no private,
  loopback or reserved address outside the local stage), how deliveries are signed
  (``signature``, ``verify_signature``), and how a delivery and its webhook change after
  an attempt (``after_attempt``, ``webhook_after``): retried with backoff for about a
  day; a webhook failing for ``DISABLE_AFTER`` is disabled with a visible reason, and
  its deliveries are kept (``held``) until it is enabled again.

No I/O: the scheduled job (``chalicelib.report_service``) reads and writes; the HTTP
client is ``chalicelib.webhook_client``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from chalicelib.errors import ValidationFailed
from chalicelib.model import Invoice, Recipient, iso, parse_iso
from chalicelib.status import RECIPIENT_PRECEDENCE

# -- events --------------------------------------------------------------------------

EVENT_TYPES: tuple[str, ...] = (
    "invoice.opened",
    "invoice.viewed",
    "invoice.bounced",
    "invoice.complained",
)
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


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def alert_id(invoice_id: str, recipient_id: str, event_type: str, at: str) -> str:
    digest = hashlib.sha256(f"{invoice_id}\x00{recipient_id}\x00{event_type}\x00{at}".encode())
    return "evt_" + _b32(digest.digest()[:16])


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


def event_body(alert: Alert, invoice: Invoice) -> str:
    """The JSON a webhook receives for ``alert`` (the same bytes on every attempt)."""
    recipient = invoice.recipient(alert.recipient_id)
    details: dict[str, Any] = {}
    if recipient is not None and alert.type == "invoice.bounced" and recipient.bounce:
        details = {k: v for k, v in recipient.bounce.items() if v is not None}
    elif recipient is not None and alert.type == "invoice.complained" and recipient.complaint:
        details = {k: v for k, v in recipient.complaint.items() if v is not None}
    body = {
        "id": alert.id,
        "type": alert.type,
        "created_at": alert.at,
        "data": {
            "invoice": {
                "id": invoice.id,
                "number": invoice.number,
                "customer": {"name": invoice.customer_name},
                "currency": invoice.currency,
                "total": invoice.total,
                "status": invoice.status,
            },
            "recipient": {
                "id": alert.recipient_id,
                "email": recipient.email if recipient else None,
                "name": recipient.name if recipient else None,
                "status": recipient.status if recipient else None,
            },
            "details": details,
        },
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


# -- webhooks ------------------------------------------------------------------------

MAX_WEBHOOKS = 10
MAX_URL_LENGTH = 2048
WEBHOOK_STATUSES = ("active", "disabled", "deleted")
# Delivery attempts: the first when the alert is processed, then after each delay.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(hours=8),
)
MAX_ATTEMPTS = 1 + len(RETRY_DELAYS)  # about 24 hours of retries
# A webhook whose deliveries have all failed for this long is disabled.
DISABLE_AFTER = timedelta(hours=24)
MAX_HISTORY = MAX_ATTEMPTS + 3
SIGNATURE_HEADER = "Sobre-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300


@dataclass
class Webhook:
    id: str
    account_id: str
    url: str
    events: list[str]
    secret: str
    created_at: str
    status: str = "active"  # one of WEBHOOK_STATUSES
    disabled_at: str | None = None
    disabled_reason: str | None = None
    failing_since: str | None = None  # first failure of the current run of failures
    last_error: str | None = None
    version: int | None = None

    def wants(self, event_type: str) -> bool:
        return event_type in self.events


DELIVERY_STATUSES = ("pending", "delivered", "failed", "held", "cancelled")


@dataclass
class Delivery:
    """One event for one webhook, with every attempt made to deliver it."""

    webhook_id: str
    account_id: str
    event_id: str
    event_type: str
    event_at: str
    created_at: str
    body: str
    status: str = "pending"  # one of DELIVERY_STATUSES
    attempts: int = 0
    next_attempt_at: str | None = None
    last_attempt_at: str | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    version: int | None = None

    @property
    def key(self) -> str:
        """Its sort key under the webhook: newest events last, one item per event."""
        return f"D#{self.event_at}#{self.event_id}"


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None  # None: no HTTP answer (refused, timed out, not allowed)
    error: str | None
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def describe(self) -> str:
        if self.ok:
            return f"HTTP {self.status_code}"
        if self.status_code is not None:
            return f"HTTP {self.status_code}" + (f": {self.error}" if self.error else "")
        return self.error or "no answer"


def new_webhook_id() -> str:
    return "whk_" + _b32(secrets.token_bytes(10))


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, local: bool) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if local and address.is_loopback:
        return True
    return address.is_global and not address.is_multicast


def url_problem(url: Any, stage: str) -> str | None:
    """Why ``url`` may not be a webhook, or None. https only; outside the local stage,
    never a private, loopback, link-local or reserved address (SSRF). The local stage
    also allows http://127.0.0.1 (a receiver on the developer's machine)."""
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL_LENGTH:
        return f"must be an absolute https URL of at most {MAX_URL_LENGTH} characters"
    local = stage == "local"
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return "has a bad port"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials"
    if not host:
        return "must name a host"
    scheme = parts.scheme.lower()
    if scheme == "http":
        if not (local and host == "127.0.0.1"):
            return "must use https" + (" (or http://127.0.0.1 on the local stage)" if local else "")
    elif scheme != "https":
        return "must use https"
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        if not _address_allowed(literal, local):
            return "must not point to a private, loopback or reserved address"
        return None
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return "must not point to a private, loopback or reserved address"
    if "." not in host:
        return "must name a public host"
    return None


def address_problem(addresses: list[str], stage: str) -> str | None:
    """Checked again when delivering, on what the host name resolves to now: a name
    that resolved to a public address when registered may not point inside later."""
    if not addresses:
        return "the host name does not resolve"
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return f"the host resolves to an unusable address {text!r}"
        if not _address_allowed(address, stage == "local"):
            return f"the host resolves to a private, loopback or reserved address ({address})"
    return None


def parse_webhook_request(body: Any, stage: str) -> tuple[str, list[str]]:
    """``{url, events}`` of ``POST /webhooks``; every problem reported at once."""
    if not isinstance(body, dict):
        raise ValidationFailed(
            "Bad webhook.", [{"field": "", "message": "must be a JSON object with url and events"}]
        )
    errors = [
        {"field": name, "message": "is not a webhook field"}
        for name in sorted(set(body) - {"url", "events"})
    ]
    problem = url_problem(body.get("url"), stage)
    if problem:
        errors.append({"field": "url", "message": problem})
    events = body.get("events")
    if (
        not isinstance(events, list)
        or not events
        or not all(isinstance(e, str) and e in EVENT_TYPES for e in events)
    ):
        errors.append({"field": "events", "message": f"must be a non-empty list of {EVENT_TYPES}"})
    if errors:
        raise ValidationFailed("Bad webhook.", errors)
    assert isinstance(events, list)
    return str(body["url"]).strip(), [e for e in EVENT_TYPES if e in events]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    now: int | None = None,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does (README has the same in a snippet): recompute the HMAC of
    ``<t>.<body>``, compare in constant time, and refuse a ``t`` too far from ``now``."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, fields.get("v1", "")):
        return False
    return now is None or abs(now - timestamp) <= tolerance


def delivery_headers(webhook: Webhook, delivery: Delivery, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {
        "Content-Type": "application/json",
        "User-Agent": "Sobre-Webhooks/1.0",
        "Sobre-Event-Id": delivery.event_id,
        "Sobre-Event-Type": delivery.event_type,
        "Sobre-Timestamp": str(timestamp),
        SIGNATURE_HEADER: signature(webhook.secret, timestamp, delivery.body.encode()),
    }


def after_attempt(delivery: Delivery, result: AttemptResult, now: datetime) -> Delivery:
    """The delivery after one attempt: delivered, pending with its next attempt, or
    failed once every retry is spent."""
    attempts = delivery.attempts + 1
    error = None if result.ok else result.describe()[:300]
    entry = {
        "at": iso(now),
        "status_code": result.status_code,
        "error": error,
        "duration_ms": result.duration_ms,
    }
    changed = replace(
        delivery,
        attempts=attempts,
        last_attempt_at=iso(now),
        last_status_code=result.status_code,
        last_error=error,
        history=[*delivery.history, entry][-MAX_HISTORY:],
    )
    if result.ok:
        return replace(changed, status="delivered", delivered_at=iso(now), next_attempt_at=None)
    if attempts >= MAX_ATTEMPTS:
        return replace(changed, status="failed", next_attempt_at=None)
    return replace(changed, status="pending", next_attempt_at=iso(now + RETRY_DELAYS[attempts - 1]))


def webhook_after(webhook: Webhook, result: AttemptResult, now: datetime) -> Webhook | None:
    """The webhook after one of its deliveries was attempted; None when unchanged (a
    success of a healthy webhook writes nothing). Failing for ``DISABLE_AFTER`` in a
    row disables it, with the reason shown by ``GET /webhooks``."""
    if result.ok:
        if webhook.failing_since is None and webhook.last_error is None:
            return None
        return replace(webhook, failing_since=None, last_error=None)
    failing_since = webhook.failing_since or iso(now)
    error = result.describe()[:300]
    changed = replace(webhook, failing_since=failing_since, last_error=error)
    if webhook.status == "active" and now - parse_iso(failing_since) >= DISABLE_AFTER:
        hours = int((now - parse_iso(failing_since)).total_seconds() // 3600)
        changed = replace(
            changed,
            status="disabled",
            disabled_at=iso(now),
            disabled_reason=(
                f"Every delivery has failed for {hours} hours (since {failing_since}); "
                f"last error: {error}. Fix the receiver, then POST /webhooks/{webhook.id}/enable: "
                "the deliveries kept meanwhile are sent again."
            ),
        )
    return changed


def webhook_view(webhook: Webhook, secret: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": webhook.id,
        "url": webhook.url,
        "events": list(webhook.events),
        "status": webhook.status,
        "created_at": webhook.created_at,
        "disabled_at": webhook.disabled_at,
        "disabled_reason": webhook.disabled_reason,
        "failing_since": webhook.failing_since,
        "last_error": webhook.last_error,
    }
    if secret:
        view["secret"] = webhook.secret
    return view


def delivery_view(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.event_id,
        "event_type": delivery.event_type,
        "event_at": delivery.event_at,
        "created_at": delivery.created_at,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "last_attempt_at": delivery.last_attempt_at,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at,
        "history": [dict(h) for h in delivery.history],
        "payload": json.loads(delivery.body),
    }


# -- the scheduled job's queue ---------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """Something the scheduled job does at ``due_at``: fan an alert out (``alert``) or
    attempt a webhook delivery (``delivery``)."""

    due_at: str
    id: str
    kind: str
    data: dict[str, Any]

    @property
    def position(self) -> str:
        """Its place in the queue: the sort key of its item."""
        return f"{self.due_at}#{self.id}"


def alert_task(alert: Alert, recorded_at: datetime) -> Task:
    return Task(iso(recorded_at), alert.id, "alert", alert.to_dict())


def delivery_task(delivery: Delivery) -> Task:
    assert delivery.next_attempt_at is not None
    return Task(
        delivery.next_attempt_at,
        f"{delivery.webhook_id}.{delivery.event_id}.{delivery.attempts + 1}",
        "delivery",
        {
            "account_id": delivery.account_id,
            "webhook_id": delivery.webhook_id,
            "key": delivery.key,
            "attempt": delivery.attempts + 1,
        },
    )
