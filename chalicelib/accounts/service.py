"""Accounts and their API keys, and the settings an account changes (sender, report
address, time zone, tracking, retention, reports). Used by tools/admin.py; keys are in
``keys.py``, authenticating a request in ``chalicelib/auth.py``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.accounts.keys import create_key
from chalicelib.accounts.settings import (
    ACCOUNT_SETTINGS,
    ALL_SETTINGS,
    REPORT_SETTINGS,
    Setting,
    checked,
)
from chalicelib.core.addresses import normalize_email
from chalicelib.core.model import Account, iso
from chalicelib.errors import NotFound
from chalicelib.errors import ValidationFailed as Invalid
from chalicelib.ports import AccountStore


def create_api_key(
    accounts: AccountStore,
    now: datetime,
    account_id: str,
    from_address: str | None,
    default_sender: str | None = None,
    name: str = "",
) -> str:
    """Create the account if needed (``from_address`` required then) and a new key.
    The key is returned once; only its hash is stored."""
    if (
        not account_id
        or len(account_id) > 64
        or not all(c.isalnum() or c in "-_" for c in account_id)
    ):
        raise Invalid(
            "Bad account id.",
            [{"field": "account", "message": "1-64 letters, digits, '-' or '_'"}],
        )
    account = accounts.get_account(account_id)
    if account is None and not from_address:
        from_address = default_sender
    if account is None or from_address:
        if not from_address:
            raise Invalid(
                "A new account needs a sender address.",
                [{"field": "from", "message": "is required for a new account"}],
            )
        try:
            sender = normalize_email(from_address)
        except ValueError as exc:
            raise Invalid("Bad sender address.", [{"field": "from", "message": str(exc)}]) from exc
        if account is None:
            account = Account(
                id=account_id, name=account_id, from_address=sender, created_at=iso(now)
            )
        account.from_address = sender
        accounts.put_account(account)
    _, secret = create_key(accounts, now, account.id, name)
    return secret


def update_account(accounts: AccountStore, account_id: str, changes: dict[str, Any]) -> Account:
    """Change an account's settings; every bad value is reported at once."""
    return change_settings(accounts, account_id, changes, ACCOUNT_SETTINGS, "account")


def patch_account(accounts: AccountStore, account_id: str, body: Any) -> Account:
    """``PATCH /account``: any of the settings ``tools.admin account`` and ``tools.admin
    reports`` change (and the sender address), with their rules, all at once. Written
    through the container's account store, whose write drops its cached copy: the next
    request in this container sees the change."""
    if not isinstance(body, dict):
        raise Invalid(
            "The body must be a JSON object.", [{"field": "", "message": "not an object"}]
        )
    return change_settings(accounts, account_id, body, ALL_SETTINGS, "account")


# name -> (kind, lowest, highest); booleans have no range.
def update_report_settings(
    accounts: AccountStore, account_id: str, changes: dict[str, Any]
) -> Account:
    """Change an account's report settings; every bad value is reported at once."""
    return change_settings(accounts, account_id, changes, REPORT_SETTINGS, "report")


def change_settings(
    accounts: AccountStore,
    account_id: str,
    changes: dict[str, Any],
    allowed: Mapping[str, Setting],
    kind: str,
) -> Account:
    """The one use case that changes an account's settings (the CLI's and the API's)."""
    found = accounts.get_account(account_id)
    if found is None:
        raise NotFound(f"No account {account_id}.")
    account = replace(found)  # a cached copy is never changed in place
    article = "an" if kind == "account" else "a"
    values, errors = checked(changes, allowed, f"is not {article} {kind} setting")
    if errors:
        raise Invalid(f"Bad {kind} settings.", errors)
    for field, value in values.items():
        setattr(account, field, value)
    accounts.put_account(account)
    return account
