"""API keys as the API shows them, and the arithmetic of the rate limits. Pure.

A key has a short public id (``key_…``) distinct from its secret (``sobre_…``): the id
names the key in listings, logs and ``DELETE /keys/{id}``; the secret is shown once and
only its hash is stored."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

# last_used_at is written at most this often per key: it answers "is this key still
# used?", which a resolution of minutes answers as well as one of milliseconds, and a
# write per request would double the cost of every authenticated read.
LAST_USED_RESOLUTION = timedelta(minutes=15)


@dataclass
class ApiKey:
    id: str
    account_id: str
    name: str
    created_at: str
    last_used_at: str | None = None
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class TokenBucket:
    """``rate`` requests a second, bursts of up to ``burst``; times in seconds."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._at = now

    def take(self, now: float) -> float:
        """0 when a request may go now (and counts it); else the seconds to wait."""
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self._rate


def minute_window(now: datetime) -> tuple[str, int]:
    """The failed-authentication window ``now`` falls in (``yyyy-mm-ddThh:mm``) and the
    whole seconds left in it (at least 1: a ``Retry-After`` of 0 invites a retry loop)."""
    start = now.replace(second=0, microsecond=0)
    left = (start + timedelta(minutes=1) - now).total_seconds()
    return start.strftime("%Y-%m-%dT%H:%M"), max(1, math.ceil(left))


def retry_after(seconds: float) -> int:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return max(1, math.ceil(seconds))
