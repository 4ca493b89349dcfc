"""API keys with a life (issue 15, points 6 and 5): created with a name and an id, the
secret shown once; listed without secrets or hashes; revoked keys refused within 5 s;
last use written at most once per resolution; wrong keys cached and rate limited; a
per-key token bucket; 429 with Retry-After."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chalice.app import Response

from chalicelib import ids
from chalicelib.accounts import keys
from chalicelib.accounts.service import create_api_key
from chalicelib.adapters.cache import CachedAccountStore
from chalicelib.auth import FAILURES_PER_MINUTE, KEY_BURST, KEY_RATE, Guard, authenticate
from chalicelib.context import Context
from chalicelib.core.keys import ApiKey, TokenBucket, minute_window
from chalicelib.errors import NotFound, RateLimited, Unauthorized, ValidationFailed
from chalicelib.http import json_errors
from chalicelib.settings import Settings
from tests.fakes import FakeAccountStore, FakeAuthFailures, make_world

ROOT = Path(__file__).resolve().parents[2]
SENDER = "billing@example.com"


class Seconds:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingStore(FakeAccountStore):
    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    def key_for_hash(self, key_hash: str) -> ApiKey | None:
        self.lookups += 1
        return super().key_for_hash(key_hash)


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


def bearer(secret: str) -> str:
    return f"Bearer {secret}"


# --- create, list, revoke --------------------------------------------------------------


def test_a_key_has_a_name_an_id_and_its_secret_once(store: CountingStore) -> None:
    world = make_world()
    now = world.clock()
    first = create_api_key(store, now, "acme", SENDER, name="ci")
    key, secret = keys.create_key(store, now, "acme", "dashboard")
    assert key.id.startswith("key_")
    assert key.id not in secret
    assert secret.startswith("sobre_")
    assert (key.name, key.account_id, key.active) == ("dashboard", "acme", True)
    # Only the hash is stored, under the secret's hash.
    assert set(store.keys) == {ids.hash_api_key(first), ids.hash_api_key(secret)}
    shown = keys.key_view(key, secret)
    assert shown["key"] == secret
    listed = [keys.key_view(k) for k in keys.list_keys(store, "acme")]
    assert sorted(k["name"] for k in listed) == ["ci", "dashboard"]
    for view in listed:
        assert set(view) == {"id", "name", "created_at", "last_used_at", "revoked_at", "status"}
        assert ids.hash_api_key(secret) not in json.dumps(view)
        assert secret not in json.dumps(view)
    with pytest.raises(NotFound):
        keys.create_key(store, now, "nobody", "x")


def test_key_names_are_checked() -> None:
    assert keys.key_name(None) == ""
    assert keys.key_name({"name": " ci "}) == "ci"
    bad: object
    for bad in ([], {"name": 3}, {"name": "x" * 101}, {"scope": "all"}):
        with pytest.raises(ValidationFailed):
            keys.key_name(bad)


def test_revoking_is_per_account_and_idempotent(store: CountingStore) -> None:
    now = make_world().clock()
    create_api_key(store, now, "acme", SENDER)
    create_api_key(store, now, "other", SENDER)
    (key,) = keys.list_keys(store, "acme")
    with pytest.raises(NotFound):
        keys.revoke_key(store, now, "other", key.id)
    with pytest.raises(NotFound):
        keys.revoke_key(store, now, "acme", "APIKEY#whatever")
    revoked = keys.revoke_key(store, now, "acme", key.id)
    assert revoked.revoked_at is not None
    assert keys.key_view(revoked)["status"] == "revoked"
    assert keys.revoke_key(store, now, "acme", key.id).revoked_at == revoked.revoked_at


# --- authenticating: revocation, last use, negative cache -----------------------------


def guarded(store: FakeAccountStore, seconds: Seconds, ttl: float = 5) -> tuple[Context, Guard]:
    world = make_world()
    cached = CachedAccountStore(store, ttl, clock=seconds)
    world.ctx.accounts = cached
    return world.ctx, Guard(FakeAuthFailures(), clock=seconds)


def test_a_revoked_key_is_refused_within_5_seconds_in_another_container(
    store: CountingStore,
) -> None:
    seconds = Seconds()
    ctx, guard = guarded(store, seconds)
    secret = create_api_key(store, make_world().clock(), "acme", SENDER)
    assert authenticate(ctx, guard, bearer(secret), "203.0.113.9").id == "acme"
    (key,) = store.list_keys("acme")
    store.revoke_key("acme", key.id, "2026-01-05T09:30:01.000Z")  # another container
    seconds.now += 5.01
    with pytest.raises(Unauthorized):
        authenticate(ctx, guard, bearer(secret), "203.0.113.9")


def test_a_key_revoked_through_this_container_stops_at_once(store: CountingStore) -> None:
    seconds = Seconds()
    ctx, guard = guarded(store, seconds, ttl=60)
    secret = create_api_key(store, make_world().clock(), "acme", SENDER)
    authenticate(ctx, guard, bearer(secret), None)
    (key,) = store.list_keys("acme")
    keys.revoke_key(ctx.accounts, make_world().clock(), "acme", key.id)
    with pytest.raises(Unauthorized):
        authenticate(ctx, guard, bearer(secret), None)


def test_the_deployed_cache_is_5_seconds_at_most() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert int(config["environment_variables"]["SOBRE_API_KEY_CACHE_SECONDS"]) <= 5
    for stage in config["stages"].values():
        assert "SOBRE_API_KEY_CACHE_SECONDS" not in stage.get("environment_variables", {})
    assert Settings.from_env({}).api_key_cache_seconds <= 5
    # The per-key limit is lifted only where one process serves every test client.
    for name in ("dev", "prod"):
        stage_env = config["stages"][name].get("environment_variables", {})
        assert "SOBRE_KEY_REQUESTS_PER_SECOND" not in stage_env
    assert "SOBRE_KEY_REQUESTS_PER_SECOND" not in config["environment_variables"]
    assert Settings.from_env({}).key_requests_per_second == KEY_RATE


def test_last_use_is_written_at_most_once_per_resolution(store: CountingStore) -> None:
    seconds = Seconds()
    world = make_world()
    ctx, guard = guarded(store, seconds)
    ctx.clock = world.clock
    secret = create_api_key(store, world.clock(), "acme", SENDER)
    for _ in range(50):
        authenticate(ctx, guard, bearer(secret), None)
        seconds.now += 1
        world.clock.advance(1)
    (key,) = store.list_keys("acme")
    assert key.last_used_at == "2026-01-05T09:30:00.000Z"
    assert len(store.touches) == 1
    world.clock.advance(minutes=15)
    seconds.now += 900
    authenticate(ctx, guard, bearer(secret), None)
    assert len(store.touches) == 2
    assert store.list_keys("acme")[0].last_used_at == "2026-01-05T09:45:50.000Z"


def test_unknown_keys_are_cached_and_a_new_key_still_works_at_once(store: CountingStore) -> None:
    seconds = Seconds()
    cached = CachedAccountStore(store, 5, clock=seconds)
    for _ in range(100):
        assert cached.key_for_hash("f" * 64) is None
    assert store.lookups == 1
    seconds.now += 61
    assert cached.key_for_hash("f" * 64) is None
    assert store.lookups == 2
    secret = create_api_key(cached, make_world().clock(), "acme", SENDER)
    assert cached.key_for_hash(ids.hash_api_key(secret)) is not None
    small = CachedAccountStore(store, 5, max_misses=3, clock=seconds)
    for n in range(10):
        small.key_for_hash(f"{n:064d}")
    assert len(small._misses) == 3


# --- rate limits --------------------------------------------------------------------


def test_wrong_keys_from_one_network_get_429_and_stop_reading(store: CountingStore) -> None:
    seconds = Seconds()
    failures = FakeAuthFailures()
    ctx, _ = guarded(store, seconds)
    guard = Guard(failures, clock=seconds)
    statuses: list[str] = []
    for n in range(100):
        try:
            authenticate(ctx, guard, bearer(f"sobre_wrong{n}"), f"198.51.100.{n % 200}")
        except RateLimited as exc:
            statuses.append(f"429 {exc.retry_after}")
        except Unauthorized:
            statuses.append("401")
    assert statuses == ["401"] * FAILURES_PER_MINUTE + ["429 60"] * (100 - FAILURES_PER_MINUTE)
    # Blocked in this container: no key read, no counter write for the rest.
    assert store.lookups == FAILURES_PER_MINUTE + 1
    assert sum(failures.counts.values()) == FAILURES_PER_MINUTE + 1
    # Another network is not blocked; the blocked one is free again after the minute.
    with pytest.raises(Unauthorized):
        authenticate(ctx, guard, bearer("sobre_x"), "192.0.2.1")
    seconds.now += 61
    secret = create_api_key(store, make_world().clock(), "acme", SENDER)
    assert authenticate(ctx, guard, bearer(secret), "198.51.100.7").id == "acme"


def test_the_failure_count_is_shared_between_containers(store: CountingStore) -> None:
    shared = FakeAuthFailures()
    seconds = Seconds()
    world = make_world()
    world.ctx.accounts = CachedAccountStore(store, 5, clock=seconds)
    containers = [Guard(shared, clock=seconds) for _ in range(4)]
    outcomes = []
    for n in range(FAILURES_PER_MINUTE + 1):
        try:
            authenticate(world.ctx, containers[n % 4], bearer(f"sobre_{n}"), "2001:db8:1:2::9")
        except RateLimited:
            outcomes.append(429)
        except Unauthorized:
            outcomes.append(401)
    assert outcomes[-1] == 429
    assert outcomes.count(401) == FAILURES_PER_MINUTE
    assert list(shared.counts) == [("2001:db8:1::/48", "2026-01-05T09:30")]


def test_a_key_has_a_token_bucket(store: CountingStore) -> None:
    seconds = Seconds()
    ctx, guard = guarded(store, seconds)
    secret = create_api_key(store, make_world().clock(), "acme", SENDER)
    other = create_api_key(store, make_world().clock(), "acme", None)
    for _ in range(int(KEY_BURST)):
        authenticate(ctx, guard, bearer(secret), None)
    with pytest.raises(RateLimited) as raised:
        authenticate(ctx, guard, bearer(secret), None)
    assert raised.value.retry_after == 1
    authenticate(ctx, guard, bearer(other), None)
    seconds.now += 0.1
    authenticate(ctx, guard, bearer(secret), None)


def test_token_bucket_and_windows() -> None:
    bucket = TokenBucket(rate=2, burst=2, now=0)
    assert [bucket.take(0), bucket.take(0)] == [0, 0]
    assert bucket.take(0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0
    at = datetime(2026, 1, 5, 9, 30, 59, 500_000, tzinfo=UTC)
    assert minute_window(at) == ("2026-01-05T09:30", 1)
    assert minute_window(at.replace(second=0, microsecond=0)) == ("2026-01-05T09:30", 60)


def test_rate_limited_answers_429_with_retry_after() -> None:
    @json_errors
    def view() -> Response:
        raise RateLimited("Slow down.", {"limit_per_second": 25}, retry_after=7)

    response = view()
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.body == {
        "error": {
            "code": "rate_limited",
            "message": "Slow down.",
            "details": {"limit_per_second": 25},
        }
    }
