"""Webhooks and their deliveries. Pure.

How deliveries are signed (``signature``, ``verify_signature``), and how a delivery and
its webhook change after an attempt (``after_attempt``, ``webhook_after``): retried
with backoff for about a day; a webhook failing for ``DISABLE_AFTER`` is disabled with a
visible reason, and its deliveries are kept (``held``) until it is enabled again. The
scheduled job's queue items (``Task``) say when the next attempt is due.

No I/O: the job (chalicelib/alerts/delivery.py) reads and writes; the HTTP client is
chalicelib/adapters/webhook_http.py.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.alerts import Alert
from chalicelib.core.model import iso, parse_iso

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
