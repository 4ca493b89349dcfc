"""What ``POST /webhooks`` accepts. Pure."""

from __future__ import annotations

from typing import Any

from chalicelib.core.alerts import EVENT_TYPES
from chalicelib.core.ssrf import url_problem
from chalicelib.errors import ValidationFailed


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
