"""Authenticating a request (every route with an API key starts here, through
``container.authenticate``), and the rate limits around it.

* **Failed authentication, per client network** (IPv4 /24, IPv6 /48): every wrong or
  revoked key ADDs one to a DynamoDB counter of that network and minute (TTL), so the
  limit holds across Lambda containers; only failures write. Past
  ``failures_per_minute`` the network gets 429 until the minute ends, and this container
  remembers it: a blocked network's requests then cost no DynamoDB call at all.
* **Per key**: a token bucket per key in this container (``key_rate`` a second, bursts
  of ``key_burst``: ``SOBRE_KEY_REQUESTS_PER_SECOND``, 25, and twice that; the local
  stage, where one process serves every test and benchmark, lifts it). Per container,
  so N warm containers allow N times as much; the whole API's ceiling is API
  Gateway's stage throttling (infra/template.yaml). A shared per-key counter would cost
  a DynamoDB write on every request, the price of the request itself; this is the
  honest trade (docs/DESIGN.md, "API keys").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

from chalicelib import ids
from chalicelib.context import Context
from chalicelib.core.keys import LAST_USED_RESOLUTION, TokenBucket, minute_window, retry_after
from chalicelib.core.model import Account, iso
from chalicelib.core.privacy import truncate_ip
from chalicelib.errors import RateLimited, Unauthorized
from chalicelib.ports import AuthFailures

# Enough for a person retyping a key and a script with a stale one; far too few to
# guess a 192-bit key (which no rate makes feasible anyway: this bounds the cost).
FAILURES_PER_MINUTE = 20
KEY_RATE = 25.0  # requests a second per key and container (the settings' default)
KEY_BURST = 2 * KEY_RATE
# Bounds on this container's memory, whatever a flood sends.
MAX_TRACKED = 10_000
FAILURE_TTL = timedelta(minutes=5)


class Guard:
    """The per-container state of the limits (built once per container)."""

    def __init__(
        self,
        failures: AuthFailures,
        *,
        failures_per_minute: int = FAILURES_PER_MINUTE,
        key_rate: float = KEY_RATE,
        key_burst: float = KEY_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self._limit = failures_per_minute
        self._rate = key_rate
        self._burst = key_burst
        self._clock = clock
        self._blocked: dict[str, float] = {}
        self._buckets: dict[str, TokenBucket] = {}

    def check_network(self, network: str) -> None:
        until = self._blocked.get(network)
        if until is None:
            return
        left = until - self._clock()
        if left <= 0:
            del self._blocked[network]
            return
        raise _too_many_failures(retry_after(left))

    def failed(self, network: str, now: datetime, expires_at: int) -> NoReturn:
        """Count a failed authentication; raises 429 past the limit, else 401."""
        window, left = minute_window(now)
        if self.failures.add_failure(network, window, expires_at) > self._limit:
            _bounded(self._blocked)
            self._blocked[network] = self._clock() + left
            raise _too_many_failures(left)
        raise Unauthorized("The API key is not valid.")

    def take(self, key_id: str) -> None:
        now = self._clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            _bounded(self._buckets)
            bucket = self._buckets[key_id] = TokenBucket(self._rate, self._burst, now)
        wait = bucket.take(now)
        if wait:
            raise RateLimited(
                "Too many requests with this API key; slow down.",
                {"limit_per_second": self._rate, "burst": self._burst},
                retry_after=retry_after(wait),
            )


def _bounded(entries: dict[str, Any]) -> None:
    while len(entries) >= MAX_TRACKED:
        del entries[next(iter(entries))]


def _too_many_failures(seconds: int) -> RateLimited:
    return RateLimited(
        "Too many failed authentications from your network; retry later.",
        {"limit_per_minute": FAILURES_PER_MINUTE},
        retry_after=seconds,
    )


def authenticate(
    ctx: Context, guard: Guard, authorization: str | None, address: str | None
) -> Account:
    """The account of ``Authorization: Bearer <key>``: ``Unauthorized`` (401) for a
    missing, unknown or revoked key, ``RateLimited`` (429) past a limit."""
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("Send your API key as 'Authorization: Bearer <key>'.")
    network = truncate_ip(address) or "unknown"
    guard.check_network(network)
    now = ctx.clock()
    key = ctx.accounts.key_for_hash(ids.hash_api_key(secret.strip()))
    account = ctx.accounts.get_account(key.account_id) if key and key.active else None
    if key is None or account is None:
        guard.failed(network, now, int((now + FAILURE_TTL).timestamp()))
    guard.take(key.id or key.account_id)
    if key.id:
        ctx.accounts.touch_key(key, iso(now), iso(now - LAST_USED_RESOLUTION))
    return account
