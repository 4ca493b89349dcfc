"""A short-lived in-memory cache of API keys and accounts, so that a warm Lambda does
not read DynamoDB twice on every request.

* A key found (valid or revoked) is kept ``ttl_seconds`` (5 in every stage: a key revoked
  in another container stops working within that; one revoked through this container
  stops at once). An account is kept ``account_seconds`` (60): its settings may take
  that long to reach a warm container, as before; revocation does not depend on it.
* A key not found is kept ``miss_seconds``, so a flood of wrong keys reads DynamoDB once
  per distinct key and container; a new key cannot be among them (192 random bits never
  tried before), so it still works at once. At most ``max_misses`` are kept.
* ``last_used_at`` is written at most once per ``touch_seconds`` per key and container
  (and, by its condition, once per resolution across containers)."""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.core.keys import ApiKey
from chalicelib.core.model import Account
from chalicelib.ports import AccountStore


class CachedAccountStore:
    def __init__(
        self,
        store: AccountStore,
        ttl_seconds: float,
        *,
        account_seconds: float = 60,
        miss_seconds: float = 60,
        max_misses: int = 10_000,
        touch_seconds: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._account_ttl = account_seconds
        self._miss_ttl = miss_seconds
        self._max_misses = max_misses
        self._touch_every = touch_seconds
        self._clock = clock
        self._keys: dict[str, tuple[float, ApiKey]] = {}
        self._misses: dict[str, float] = {}
        self._touched: dict[str, float] = {}
        self._accounts: dict[str, tuple[float, Account | None]] = {}

    def key_for_hash(self, key_hash: str) -> ApiKey | None:
        now = self._clock()
        hit = self._keys.get(key_hash)
        if hit and hit[0] > now:
            return hit[1]
        if self._misses.get(key_hash, 0) > now:
            return None
        key = self._store.key_for_hash(key_hash)
        if key is None:
            self._misses.pop(key_hash, None)
            while len(self._misses) >= self._max_misses:  # the oldest go first
                del self._misses[next(iter(self._misses))]
            self._misses[key_hash] = now + self._miss_ttl
        else:
            self._keys[key_hash] = (now + self._ttl, key)
        return key

    def get_account(self, account_id: str) -> Account | None:
        hit = self._accounts.get(account_id)
        if hit and hit[0] > self._clock():
            return hit[1]
        account = self._store.get_account(account_id)
        if account is not None:
            self._accounts[account_id] = (self._clock() + self._account_ttl, account)
        return account

    def put_account(self, account: Account) -> None:
        self._accounts.pop(account.id, None)
        self._store.put_account(account)

    def put_key(self, key_hash: str, key: ApiKey) -> None:
        self._misses.pop(key_hash, None)
        self._store.put_key(key_hash, key)

    def list_keys(self, account_id: str) -> list[ApiKey]:
        return self._store.list_keys(account_id)

    def revoke_key(self, account_id: str, key_id: str, at: str) -> ApiKey | None:
        revoked = self._store.revoke_key(account_id, key_id, at)
        for key_hash, (_, key) in list(self._keys.items()):
            if key.id == key_id and key.account_id == account_id:
                del self._keys[key_hash]
        return revoked

    def touch_key(self, key: ApiKey, now: str, stale_before: str) -> None:
        at = self._clock()
        if self._touched.get(key.id, -self._touch_every) + self._touch_every > at:
            return
        self._touched[key.id] = at
        self._store.touch_key(key, now, stale_before)
