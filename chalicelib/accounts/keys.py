"""An account's API keys: create (the secret shown once), list, revoke. Used by
``GET/POST/DELETE /keys`` (the account's own keys) and ``tools.admin keys``."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from chalicelib import ids
from chalicelib.core.keys import ApiKey
from chalicelib.core.model import iso
from chalicelib.errors import NotFound
from chalicelib.errors import ValidationFailed as Invalid
from chalicelib.ports import AccountStore

MAX_NAME = 100
MAX_KEYS = 50  # per account, revoked ones included: a listing stays one small Query


def new_key_id() -> str:
    return "key_" + ids.b32(secrets.token_bytes(8))


def key_name(body: Any) -> str:
    """The name of a key to create, from a request body (``{"name": ...}``, optional)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise Invalid(
            "The body must be a JSON object.", [{"field": "", "message": "not an object"}]
        )
    unknown = [{"field": f, "message": "is not a key field"} for f in body if f != "name"]
    name = body.get("name", "")
    if not isinstance(name, str) or len(name.strip()) > MAX_NAME:
        unknown.append(
            {"field": "name", "message": f"must be text of at most {MAX_NAME} characters"}
        )
    if unknown:
        raise Invalid("Bad key.", unknown)
    return str(name).strip()


def create_key(
    accounts: AccountStore, now: datetime, account_id: str, name: str
) -> tuple[ApiKey, str]:
    """A new key of an existing account and its secret (returned once; only its hash is
    stored)."""
    if accounts.get_account(account_id) is None:
        raise NotFound(f"No account {account_id}.")
    if len(accounts.list_keys(account_id)) >= MAX_KEYS:
        raise Invalid(
            f"An account has at most {MAX_KEYS} keys.",
            [{"field": "", "message": "revoke keys you no longer use"}],
        )
    secret = ids.new_api_key()
    key = ApiKey(id=new_key_id(), account_id=account_id, name=name, created_at=iso(now))
    accounts.put_key(ids.hash_api_key(secret), key)
    return key, secret


def list_keys(accounts: AccountStore, account_id: str) -> list[ApiKey]:
    return accounts.list_keys(account_id)


def revoke_key(accounts: AccountStore, now: datetime, account_id: str, key_id: str) -> ApiKey:
    """Revoke one of the account's keys (404 for another account's). Revoking a revoked
    key changes nothing."""
    key = accounts.revoke_key(account_id, key_id, iso(now)) if key_id.startswith("key_") else None
    if key is None:
        raise NotFound(f"No key {key_id}.")
    return key


def key_view(key: ApiKey, secret: str | None = None) -> dict[str, Any]:
    """A key as the API and the tools show it: never its hash; the secret only once."""
    view: dict[str, Any] = {
        "id": key.id,
        "name": key.name,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
        "status": "active" if key.active else "revoked",
    }
    if secret is not None:
        view["key"] = secret
    return view
