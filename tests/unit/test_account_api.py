"""The account over the API: one use case and one set of rules for ``PATCH /account``
and ``tools.admin account``/``reports``; the view says when the next digest is due."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.accounts import service
from chalicelib.accounts.views import account_view
from chalicelib.adapters.cache import CachedAccountStore
from chalicelib.core.model import Account
from chalicelib.errors import NotFound, ValidationFailed
from chalicelib.reports.digest import next_digest_at
from tests.fakes import FakeAccountStore

pytestmark = pytest.mark.disable_socket


def store() -> FakeAccountStore:
    accounts = FakeAccountStore()
    accounts.put_account(
        Account(id="acme", name="Acme", from_address="billing@acme.example", created_at="x")
    )
    return accounts


def test_every_setting_of_the_cli_is_patched_with_its_rules() -> None:
    accounts = store()
    changed = service.patch_account(
        accounts,
        "acme",
        {
            "name": "Acme Ltd",
            "from_address": "Facturas@ACME.example",
            "reply_to": "ar@acme.example",
            "report_address": "owner@acme.example",
            "time_zone": "Europe/Madrid",
            "locale": "es",
            "tracking": False,
            "retention_days": 90,
            "digest_when_quiet": True,
            "unopened_after_days": 5,
            "reminders": True,
            "reminder_after_days": 4,
            "reminder_max": 3,
            "alert_emails": False,
        },
    )
    stored = accounts.get_account("acme")
    assert stored == changed
    assert (stored.time_zone, stored.locale, stored.tracking, stored.reminder_max) == (
        "Europe/Madrid",
        "es",
        False,
        3,
    )
    assert stored.from_address == "Facturas@acme.example"
    # An empty address clears an optional one.
    assert service.patch_account(accounts, "acme", {"reply_to": ""}).reply_to is None


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"time_zone": "Mars/Olympus"}, {"time_zone"}),
        ({"locale": "fr", "tracking": "yes"}, {"locale", "tracking"}),
        ({"reminder_max": 99, "colour": "red"}, {"reminder_max", "colour"}),
        ({"from_address": ""}, {"from_address"}),
        ({"index_shards": 4}, {"index_shards"}),
        ([], {""}),
    ],
)
def test_bad_values_are_all_reported_and_nothing_changes(body: Any, fields: set[str]) -> None:
    accounts = store()
    before = accounts.get_account("acme")
    with pytest.raises(ValidationFailed) as caught:
        service.patch_account(accounts, "acme", body)
    assert {d["field"] for d in caught.value.details} == fields
    assert accounts.get_account("acme") == before


def test_the_cli_uses_the_same_rules() -> None:
    with pytest.raises(ValidationFailed):
        service.update_account(store(), "acme", {"time_zone": "Mars/Olympus"})
    with pytest.raises(NotFound):
        service.patch_account(store(), "nobody", {})


def test_a_patch_is_seen_at_once_through_the_containers_cache() -> None:
    cached = CachedAccountStore(store(), 5)
    assert cached.get_account("acme") is not None  # now cached for 60 s
    service.patch_account(cached, "acme", {"time_zone": "America/New_York"})
    account = cached.get_account("acme")
    assert account is not None
    assert account.time_zone == "America/New_York"


@pytest.mark.parametrize(
    ("now", "zone", "due"),
    [
        (datetime(2026, 1, 14, 5, 0, tzinfo=UTC), "Europe/Madrid", datetime(2026, 1, 14, 6, 0)),
        (datetime(2026, 1, 14, 6, 0, tzinfo=UTC), "Europe/Madrid", datetime(2026, 1, 15, 6, 0)),
        (datetime(2026, 1, 14, 6, 0, tzinfo=UTC), "America/New_York", datetime(2026, 1, 14, 12, 0)),
        (datetime(2026, 3, 28, 12, 0, tzinfo=UTC), "Europe/Madrid", datetime(2026, 3, 29, 5, 0)),
    ],
)
def test_the_next_digest_is_at_seven_local_time(now: datetime, zone: str, due: datetime) -> None:
    assert next_digest_at(now, zone).astimezone(UTC) == due.replace(tzinfo=UTC)


def test_the_view_moves_the_next_digest_with_the_time_zone() -> None:
    accounts = store()
    now = datetime(2026, 1, 14, 8, 0, tzinfo=UTC)
    account = service.patch_account(accounts, "acme", {"report_address": "o@acme.example"})
    assert account_view(account, now)["next_digest_at"] == "2026-01-15T07:00:00.000Z"
    account = service.patch_account(accounts, "acme", {"time_zone": "America/New_York"})
    view = account_view(account, now)
    assert view["next_digest_at"] == "2026-01-14T12:00:00.000Z"
    assert "index_shards" not in view
    account = service.patch_account(accounts, "acme", {"report_address": None})
    assert account_view(account, now)["next_digest_at"] is None
