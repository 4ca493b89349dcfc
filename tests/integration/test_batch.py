"""POST /invoices/batch (issue 17, point 2): each invoice validated, stored and queued on
its own; one bad invoice does not sink the others; 207 with one result per item."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from tests.integration.conftest import Stack, auth, invoice_body, sent_messages, sent_view


def post_batch(client: Client, key: str, body: object) -> tuple[int, Any]:
    response = client.http.post("/invoices/batch", headers=auth(key), body=json.dumps(body))
    return response.status_code, response.json_body


def test_one_bad_invoice_does_not_sink_the_others(
    client: Client, api_key: str, stack: Stack
) -> None:
    good = invoice_body(recipients=[{"email": "ana@globex.example"}])
    bad = invoice_body(total="lots")
    keyed = {**invoice_body(number="INV-2"), "idempotency_key": "month-end-2"}
    status, body = post_batch(client, api_key, {"invoices": [good, bad, keyed, "nope"]})
    assert status == 207
    items = body["items"]
    assert [i["status"] for i in items] == [202, 400, 202, 400]
    assert [i["index"] for i in items] == [0, 1, 2, 3]
    assert items[1]["error"]["code"] == "validation_failed"
    assert items[1]["error"]["details"][0]["field"] == "total"
    assert items[0]["invoice"]["status"] == "queued"
    # The sends ran (the test client drains the queue): 1 + 2 recipients, once each.
    assert len(sent_messages(stack)) == 3
    assert sent_view(client, api_key, items[2]["invoice"]["id"])["status"] == "sent"
    # The keyed item again: the same invoice, replayed, nobody mailed again.
    status, again = post_batch(client, api_key, {"invoices": [keyed]})
    [item] = again["items"]
    assert (status, item["status"], item["replayed"]) == (207, 202, True)
    assert item["invoice"]["id"] == items[2]["invoice"]["id"]
    assert len(sent_messages(stack)) == 3


def test_a_batch_that_is_not_one_is_400(client: Client, api_key: str) -> None:
    bodies: list[Any] = [{}, {"invoices": []}, {"invoices": [{}] * 101}, {"invoices": [{}], "x": 1}]
    for body in bodies:
        status, answer = post_batch(client, api_key, body)
        assert status == 400, body
        assert answer["error"]["code"] == "validation_failed"
