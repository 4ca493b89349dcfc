"""A short-lived in-memory cache of API keys and accounts, so that a warm Lambda does
not read DynamoDB twice on every request. Revoking a key takes effect within the TTL."""

from __future__ import annotations

import time

from chalicelib.core.model import Account
from chalicelib.ports import AccountStore


class CachedAccountStore:
    def __init__(self, store: AccountStore, ttl_seconds: int) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._keys: dict[str, tuple[float, str | None]] = {}
        self._accounts: dict[str, tuple[float, Account | None]] = {}

    def account_id_for_key(self, key_hash: str) -> str | None:
        hit = self._keys.get(key_hash)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        account_id = self._store.account_id_for_key(key_hash)
        if account_id is not None:  # misses are not cached: a new key works at once
            self._keys[key_hash] = (time.monotonic() + self._ttl, account_id)
        return account_id

    def get_account(self, account_id: str) -> Account | None:
        hit = self._accounts.get(account_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        account = self._store.get_account(account_id)
        if account is not None:
            self._accounts[account_id] = (time.monotonic() + self._ttl, account)
        return account

    def put_account(self, account: Account) -> None:
        self._accounts.pop(account.id, None)
        self._store.put_account(account)

    def put_key(self, key_hash: str, account_id: str, created_at: str) -> None:
        self._store.put_key(key_hash, account_id, created_at)
