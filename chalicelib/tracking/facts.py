"""The fact a fetch of the pixel, the view link or the hosted invoice records. Pure."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from chalicelib.core.model import EventType, iso
from chalicelib.core.privacy import clip_user_agent, truncate_ip
from chalicelib.core.status import Fact
from chalicelib.ids import TrackingTarget

# The key of a fetch's fact starts with this: the pixel's opens are "px-...".
_KEY_PREFIX: dict[str, str] = {"open": "px"}


@dataclass(frozen=True)
class FetchRequest:
    """What the public routes know about the request."""

    user_agent: str | None
    source_ip: str | None
    method: str
    request_id: str | None
    trigger: str | None = None


def fetch_fact(
    kind: EventType, target: TrackingTarget, at: datetime, request: FetchRequest
) -> Fact:
    """Every fetch is its own fact, so the key is the request's own id (API Gateway's),
    or random when there is none. Only the network of the address is kept."""
    prefix = _KEY_PREFIX.get(kind, kind)
    details: dict[str, object] = {
        "user_agent": clip_user_agent(request.user_agent),
        "ip": truncate_ip(request.source_ip),
        "method": request.method,
    }
    if request.trigger:
        details["trigger"] = request.trigger
    return Fact(
        key=f"{prefix}-{request.request_id or secrets.token_hex(8)}",
        type=kind,
        at=iso(at),
        recipient_id=target.recipient_id,
        source="pixel",
        details=details,
    )
