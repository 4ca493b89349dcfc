"""API keys against moto (issue 15, points 5 and 6): GET/POST/DELETE /keys for the
account's own keys, ``tools.admin keys``, revocation within 5 s across containers,
last use, and 429 for a flood of wrong keys."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from chalice.test import Client

from chalicelib import container, ids
from tests.integration.conftest import Stack, auth, make_key
from tests.integration.test_openapi import call
from tools import admin


def test_create_list_use_and_revoke_keys(client: Client, api_key: str) -> None:
    created = call(client, "POST", "/keys", headers=auth(api_key), body={"name": "ci"})
    assert created.status_code == 201
    body = created.json_body
    assert body["id"].startswith("key_")
    assert body["name"] == "ci"
    assert body["key"].startswith("sobre_")
    assert body["last_used_at"] is None
    assert body["revoked_at"] is None
    assert created.headers["Location"] == f"/keys/{body['id']}"
    secret = body["key"]
    assert client.http.get("/invoices", headers=auth(secret)).status_code == 200

    listed = call(client, "GET", "/keys", headers=auth(api_key)).json_body["items"]
    assert len(listed) == 2
    mine = next(k for k in listed if k["id"] == body["id"])
    assert mine["last_used_at"] is not None  # used once just now
    assert mine["status"] == "active"
    text = json.dumps(listed)
    # Never a secret, never a hash.
    assert secret not in text
    assert api_key not in text
    assert ids.hash_api_key(secret) not in text
    assert all("key" not in k for k in listed)

    revoking = call(client, "DELETE", f"/keys/{body['id']}", headers=auth(api_key))
    assert revoking.status_code == 204
    refused = client.http.get("/invoices", headers=auth(secret))
    assert refused.status_code == 401  # this container saw the revocation: at once
    assert refused.json_body["error"]["code"] == "unauthorized"
    (revoked,) = [
        k
        for k in client.http.get("/keys", headers=auth(api_key)).json_body["items"]
        if k["id"] == body["id"]
    ]
    assert revoked["status"] == "revoked"
    assert revoked["revoked_at"] is not None


def test_another_accounts_key_cannot_be_revoked(client: Client, api_key: str) -> None:
    other = make_key("globex")
    (theirs,) = client.http.get("/keys", headers=auth(other)).json_body["items"]
    answer = call(client, "DELETE", f"/keys/{theirs['id']}", headers=auth(api_key))
    assert answer.status_code == 404
    assert client.http.get("/invoices", headers=auth(other)).status_code == 200
    bad = call(
        client,
        "POST",
        "/keys",
        headers=auth(api_key),
        body={"scope": "all"},
        spec_accepts_request=False,
    )
    assert bad.status_code == 400
    assert client.http.get("/keys").status_code == 401


def test_a_key_revoked_elsewhere_stops_within_5_seconds(
    client: Client, api_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert client.http.get("/invoices", headers=auth(api_key)).status_code == 200  # cached
    assert admin.main(["keys", "list", "--account", "acme"]) == 0
    (key,) = json.loads(capsys.readouterr().out)
    revoked_at = time.monotonic()
    assert admin.main(["keys", "revoke", "--account", "acme", "--id", key["id"]]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "revoked"
    while client.http.get("/invoices", headers=auth(api_key)).status_code == 200:
        assert time.monotonic() - revoked_at < 5.5, "the revoked key still works after 5 s"
        time.sleep(0.25)


def test_admin_keys_create_a_key_that_works(
    client: Client, api_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert admin.main(["keys", "create", "--account", "acme", "--name", "backup job"]) == 0
    captured = capsys.readouterr()
    secret = captured.out.strip()
    assert "key_" in captured.err
    assert secret not in captured.err
    assert client.http.get("/invoices", headers=auth(secret)).status_code == 200
    assert admin.main(["keys", "create", "--account", "nobody"]) == 2
    assert admin.main(["keys", "revoke", "--account", "acme", "--id", "key_nothere"]) == 2


def test_a_flood_of_wrong_keys_gets_429_and_is_counted_per_network(
    client: Client, api_key: str, stack: Stack
) -> None:
    # The counter is per network and wall-clock minute: start where the flood (and the
    # checks after it) cannot straddle two minutes on a slow machine.
    second = time.time() % 60
    if second > 30:
        time.sleep(60.5 - second)
    answers = [client.http.get("/invoices", headers=auth(f"sobre_wrong{n}")) for n in range(30)]
    statuses = [a.status_code for a in answers]
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}
    limited = answers[-1]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json_body["error"]["code"] == "rate_limited"
    assert set(limited.json_body["error"]) == {"code", "message", "details"}
    # While blocked, even a good key from that network waits (the block is per network).
    assert client.http.get("/invoices", headers=auth(api_key)).status_code == 429
    # The counter every container shares: one item per network and minute, with a TTL.
    table = boto3.client("dynamodb", endpoint_url=stack.endpoint, region_name="us-east-1")
    items = table.query(
        TableName="sobre",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "AUTHFAIL#127.0.0.0/24"}},
    )["Items"]
    assert len(items) == 1
    assert int(items[0]["failures"]["N"]) == 21
    assert int(items[0]["expires_at"]["N"]) > time.time()
    # A new container (no memory of the block) still counts and refuses.
    container.guard.cache_clear()
    again = client.http.get("/invoices", headers=auth("sobre_wrong-again"))
    assert again.status_code == 429
