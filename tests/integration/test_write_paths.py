"""The core write paths (conditional create, optimistic-lock updates, batch writes,
index queries) on two independent DynamoDB implementations: moto and dynalite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from chalice.test import Client

from chalicelib.container import context
from chalicelib.tracking import service as tracking_service
from infra.local_stack import create_table
from tests.emulators import dynalite_server
from tests.integration.conftest import (
    FIXTURES,
    HUMAN,
    HUMAN_UA,
    Stack,
    auth,
    invoice_body,
    make_key,
    message_to,
    pixel_path,
    post_invoice,
    reset_caches,
    sns_event,
)


@pytest.fixture(scope="module")
def dynalite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dynalite_server(tmp_path_factory.mktemp("dynalite")) as url:
        yield url


@pytest.fixture(params=["moto", "dynalite"])
def backend(request: pytest.FixtureRequest, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "dynalite":
        url: str = request.getfixturevalue("dynalite_url")
        # DynamoDB goes to dynalite; SES and SNS stay on moto.
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
        reset_caches()
        import boto3

        client = boto3.client("dynamodb")
        if "sobre" in client.list_tables()["TableNames"]:
            client.delete_table(TableName="sobre")
        create_table("sobre", "us-east-1")
    return str(request.param)


def delivery_for(invoice_id: str, recipient_id: str, email: str) -> str:
    message = json.loads((FIXTURES / "ses-events" / "event-delivery.awsdocs.json").read_text())
    message["mail"]["tags"].update(
        {
            "sobre-account": ["acme"],
            "sobre-invoice": [invoice_id],
            "sobre-recipient": [recipient_id],
        }
    )
    message["mail"]["destination"] = [email]
    message["delivery"]["recipients"] = [email]
    return json.dumps(message)


def test_send_open_deliver_list(backend: str, client: Client, stack: Stack) -> None:
    key = make_key("acme")
    created = post_invoice(client, key, invoice_body(), **{"Idempotency-Key": "k1"})
    assert created.status_code == 201
    replay = post_invoice(client, key, invoice_body(), **{"Idempotency-Key": "k1"})
    assert replay.json_body["id"] == created.json_body["id"]
    invoice_id = created.json_body["id"]
    ana = next(r for r in created.json_body["recipients"] if r["email"] == "ana@globex.example")

    event = sns_event(delivery_for(invoice_id, ana["id"], ana["email"]))
    outcomes = [client.lambda_.invoke("ses_events", event).payload for _ in range(3)]
    assert [o["processed"] for o in outcomes] == [1, 0, 0]
    client.http.get(pixel_path(message_to(stack, "ana@globex.example")), headers=HUMAN)

    opened = client.http.get("/invoices?status=opened", headers=auth(key)).json_body["items"]
    assert [i["id"] for i in opened] == [invoice_id]
    detail = client.http.get(f"/invoices/{invoice_id}", headers=auth(key)).json_body
    ana_now = next(r for r in detail["recipients"] if r["id"] == ana["id"])
    assert ana_now["status"] == "opened"
    assert ana_now["delivered_at"] == "2016-10-19T23:21:04.133Z"
    assert detail["open_count"] == 1


def test_concurrent_opens_are_each_counted_once(backend: str, client: Client, stack: Stack) -> None:
    key = make_key("acme")
    created = post_invoice(client, key, invoice_body(recipients=[{"email": "a@example.com"}]))
    token = pixel_path(message_to(stack, "a@example.com")).removeprefix("/t/")
    ctx = context()

    def open_once(n: int) -> bool:
        agent = f"{HUMAN_UA} Mail/{n}"  # one client per open, so each is told apart
        return tracking_service.record_pixel_open(ctx, token, agent, "192.0.2.7", "GET", f"r{n}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(open_once, range(24)))
    assert all(results)
    detail = client.http.get(f"/invoices/{created.json_body['id']}", headers=auth(key)).json_body
    assert detail["open_count"] == 24
    assert sorted(o["user_agent"] for o in detail["recipients"][0]["opens"]) == sorted(
        f"{HUMAN_UA} Mail/{n}" for n in range(24)
    )


def test_timeline_overflow_is_archived_and_still_read_whole(
    backend: str, client: Client, stack: Stack
) -> None:
    from chalicelib.core.status import INLINE_EVENT_LIMIT

    key = make_key("acme")
    created = post_invoice(client, key, invoice_body(recipients=[{"email": "a@example.com"}]))
    token = pixel_path(message_to(stack, "a@example.com")).removeprefix("/t/")
    ctx = context()
    opens = INLINE_EVENT_LIMIT + 30
    for n in range(opens):
        tracking_service.record_pixel_open(ctx, token, HUMAN_UA, None, "GET", f"req-{n}")
    # A late duplicate of an archived open is still recognised.
    tracking_service.record_pixel_open(ctx, token, HUMAN_UA, None, "GET", "req-0")
    invoice_id = created.json_body["id"]
    events = client.http.get(f"/invoices/{invoice_id}/events", headers=auth(key)).json_body
    assert [e["type"] for e in events["items"]].count("open") == opens
    detail = client.http.get(f"/invoices/{invoice_id}", headers=auth(key)).json_body
    assert detail["open_count"] == opens
    assert len(detail["recipients"][0]["opens"]) == opens


def test_a_burst_of_opens_on_one_invoice_loses_none(
    backend: str, client: Client, stack: Stack
) -> None:
    """Many writers on one item lose race after race; the losers park their opens
    beside the invoice, and every write folds the parked ones in."""
    key = make_key("acme")
    created = post_invoice(client, key, invoice_body(recipients=[{"email": "a@example.com"}]))
    token = pixel_path(message_to(stack, "a@example.com")).removeprefix("/t/")
    ctx = context()
    opens = 60

    def open_once(n: int) -> bool:
        agent = f"{HUMAN_UA} Mail/{n}"
        return tracking_service.record_pixel_open(
            ctx, token, agent, "192.0.2.7", "GET", f"burst-{n}"
        )

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert all(pool.map(open_once, range(opens)))
    invoice_id = created.json_body["id"]
    detail = client.http.get(f"/invoices/{invoice_id}", headers=auth(key)).json_body
    assert detail["open_count"] == opens
    events = client.http.get(f"/invoices/{invoice_id}/events", headers=auth(key)).json_body
    assert [e["type"] for e in events["items"]].count("open") == opens
