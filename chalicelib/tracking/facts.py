"""The fact a fetch of the pixel, the view link or the hosted invoice records. Pure."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from chalicelib.core.model import FETCH_TYPES, EventType, iso
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


@dataclass(frozen=True)
class DeferredFetch:
    """A fetch whose write missed the public route's deadline, as queued for the
    ``fetch_fallback`` function: the fact exactly as the route made it (same key, so
    applying it again is a no-op), and whether the first write may have counted it."""

    invoice_id: str
    fact: Fact
    recount: bool = False

    def to_json(self) -> str:
        fact = self.fact
        return json.dumps(
            {
                "v": 1,
                "invoice_id": self.invoice_id,
                "recount": self.recount,
                "fact": {
                    "key": fact.key,
                    "type": fact.type,
                    "at": fact.at,
                    "recipient_id": fact.recipient_id,
                    "source": fact.source,
                    "details": fact.details,
                },
            },
            separators=(",", ":"),
        )

    @staticmethod
    def from_json(body: str) -> DeferredFetch:
        """The queued fetch; ``ValueError`` for a body this code did not write."""
        try:
            data = json.loads(body)
            fact = data["fact"]
            kind = fact["type"]
            if data.get("v") != 1 or kind not in FETCH_TYPES:
                raise ValueError(f"not a deferred fetch (v={data.get('v')!r}, type={kind!r})")
            return DeferredFetch(
                invoice_id=str(data["invoice_id"]),
                recount=bool(data.get("recount")),
                fact=Fact(
                    key=str(fact["key"]),
                    type=kind,
                    at=str(fact["at"]),
                    recipient_id=str(fact["recipient_id"]),
                    source=str(fact["source"]),
                    details=dict(fact["details"]),
                ),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a deferred fetch: {exc!r}") from exc
