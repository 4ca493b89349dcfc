"""The fact a fetch of the pixel, the view link or the hosted invoice records. Pure."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.core.privacy import clip_user_agent, truncate_ip
from chalicelib.core.times import iso
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    from chalicelib.core import model, status
    from chalicelib.core.model import EventType, TimelineEvent
    from chalicelib.core.status import Fact
    from chalicelib.ids import TrackingTarget
else:  # the model, the status rules (and the classifier) load with the first fact,
    # after a token verified
    model = lazy_module("chalicelib.core.model")
    status = lazy_module("chalicelib.core.status")

# The key of a fetch's fact starts with this: the pixel's opens are "px-...".
_KEY_PREFIX: dict[str, str] = {"open": "px"}
# A page load's reference goes into its beacon nonce: API Gateway's request ids fit.
_REF = re.compile(r"^[A-Za-z0-9-]{1,64}$")


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
    return status.Fact(
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
            if data.get("v") != 1 or kind not in model.FETCH_TYPES:
                raise ValueError(f"not a deferred fetch (v={data.get('v')!r}, type={kind!r})")
            return DeferredFetch(
                invoice_id=str(data["invoice_id"]),
                recount=bool(data.get("recount")),
                fact=status.Fact(
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


def page_ref(request: FetchRequest) -> str:
    """The reference of a page load (its fact is ``view-<ref>``): the request's id when
    it fits in a nonce, else random."""
    rid = request.request_id
    return rid if rid and _REF.match(rid) else secrets.token_hex(8)


def beacon_fact(
    target: TrackingTarget,
    at: datetime,
    request: FetchRequest,
    page: TimelineEvent | None,
    ref: str | None,
    problem: str | None,
) -> Fact:
    """The display beacon. With its page load (``page``, found by the nonce ``ref``):
    keyed and timed by that load, so a nonce is accepted once (a second use is the same
    fact, which the store already keeps), and judged on a copy of the load's signals.
    Without: its own fact, with ``problem`` saying why (a machine's; core/beacon.py)."""
    details: dict[str, object] = {
        "user_agent": clip_user_agent(request.user_agent),
        "ip": truncate_ip(request.source_ip),
        "method": request.method,
    }
    if request.trigger:
        details["trigger"] = request.trigger
    if page is not None and ref is not None:
        details["page"] = {
            "key": page.key,
            **{k: page.details.get(k) for k in ("user_agent", "ip", "method")},
        }
        details["confirmed_at"] = iso(at)
        key, when = f"viewed-{ref}", page.at
    else:
        details["render"] = problem or "no-page-load"
        key, when = f"viewed-{request.request_id or secrets.token_hex(8)}", iso(at)
    return status.Fact(
        key=key,
        type="viewed",
        at=when,
        recipient_id=target.recipient_id,
        source="pixel",
        details=details,
    )
