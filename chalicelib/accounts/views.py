"""How the account looks in the HTTP API (``GET /account``, ``PATCH /account``; see
docs/openapi.yaml). Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.accounts.settings import ALL_SETTINGS
from chalicelib.core.model import Account, iso
from chalicelib.reports.digest import next_digest_at


def account_view(account: Account, now: datetime) -> dict[str, Any]:
    """Every setting the account may change, and when its next digest is due (null
    without a report address: no digest goes out)."""
    body: dict[str, Any] = {"id": account.id, "created_at": account.created_at or None}
    body.update({name: getattr(account, name) for name in ALL_SETTINGS})
    body["next_digest_at"] = (
        iso(next_digest_at(now, account.zone)) if account.report_address else None
    )
    return body
