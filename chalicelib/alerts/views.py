"""How webhooks and their deliveries look in the HTTP API (docs/openapi.yaml). Pure."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core.webhooks import Delivery, Webhook


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
