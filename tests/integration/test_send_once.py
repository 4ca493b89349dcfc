"""Sending once and addresses at the edge (issue 15, findings 1 and 2) through the API
and the DynamoDB adapter, against the moto server: names that would inject an address
or a header are a 400 before anything is stored or mailed; an internationalized domain
is sent as IDNA; a send attempt's claim is won once and keeps its outcome."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import ids
from chalicelib.adapters.dynamo.invoices import DynamoInvoiceStore
from chalicelib.core.model import iso, utc_now
from chalicelib.core.sends import SendOutcome
from tests.integration.conftest import (
    Stack,
    auth,
    invoice_body,
    post_invoice,
    sent_messages,
    sent_view,
)
from tools import admin

INJECTION = "Zoë <attacker@evil.example>, x"


def fields_of(response: Any) -> dict[str, str]:
    body = json.loads(response.body)
    assert body["error"]["code"] == "validation_failed"
    return {d["field"]: d["message"] for d in body["error"]["details"]}


@pytest.mark.parametrize(
    ("recipient", "field"),
    [
        ({"email": "zoe@globex.example", "name": INJECTION}, "recipients[1].name"),
        (
            {"email": "zoe@globex.example", "name": "Zoe\r\nBcc: x@evil.example"},
            "recipients[1].name",
        ),
        ({"email": "zoe@globex.example", "name": "\ud800"}, "recipients[1].name"),
        ({"email": "josé@customer.example"}, "recipients[1].email"),
    ],
)
def test_a_bad_recipient_is_a_400_and_nobody_is_mailed(
    client: Client, api_key: str, stack: Stack, recipient: dict[str, str], field: str
) -> None:
    body = invoice_body(recipients=[{"email": "ana@globex.example"}, recipient])
    for _ in range(3):
        response = post_invoice(client, api_key, body)
        assert response.status_code == 400
        assert field in fields_of(response)
    assert sent_messages(stack) == []
    listed = client.http.get("/invoices", headers=auth(api_key))
    assert listed.json_body["items"] == []


def test_an_internationalized_domain_is_mailed_as_idna(
    client: Client, api_key: str, stack: Stack
) -> None:
    body = invoice_body(recipients=[{"email": "ana@bücher.example", "name": "Zoë Ünal"}])
    response = post_invoice(client, api_key, body)
    assert response.status_code == 202, response.body
    assert response.json_body["recipients"][0]["status"] == "queued"
    [recipient] = sent_view(client, api_key, response.json_body["id"])["recipients"]
    assert (recipient["email"], recipient["status"]) == ("ana@xn--bcher-kva.example", "sent")
    assert recipient["sending"] is False
    [message] = sent_messages(stack)
    assert message.destinations == ("ana@xn--bcher-kva.example",)
    [to] = message.parsed["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Zoë Ünal", "ana@xn--bcher-kva.example")


def test_a_send_claim_is_won_once_and_keeps_its_outcome(stack: Stack) -> None:
    store = DynamoInvoiceStore(retention_days=180)
    invoice_id, recipient_id = ids.new_invoice_id(), ids.new_recipient_id()
    at = "2026-01-05T09:30:00.000Z"
    first = store.claim_send(invoice_id, recipient_id, 1, at, 1_900_000_000)
    second = store.claim_send(invoice_id, recipient_id, 1, "2026-01-05T09:31:00.000Z", 0)
    assert (first.won, second.won, second.claimed_at, second.outcome) == (True, False, at, None)
    outcome = SendOutcome("2026-01-05T09:30:01.000Z", message_id="0100-abc")
    store.settle_send(invoice_id, recipient_id, 1, outcome)
    third = store.claim_send(invoice_id, recipient_id, 1, "2026-01-05T09:40:00.000Z", 0)
    assert (third.won, third.outcome) == (False, outcome)
    assert store.claim_send(invoice_id, recipient_id, 2, at, 0).won
    # The claims are outside the detail's and the facts' ranges: neither reads them.
    assert store.get(invoice_id) is None
    assert store.facts_page(invoice_id, 10, None).events == []


def test_unsettled_claims_are_listed_and_released_by_the_admin_command(
    client: Client, api_key: str, stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    created = post_invoice(
        client, api_key, invoice_body(recipients=[{"email": "ana@globex.example"}])
    )
    invoice_id = created.json_body["id"]
    recipient_id = created.json_body["recipients"][0]["id"]
    store = DynamoInvoiceStore(retention_days=180)
    old = iso(utc_now() - timedelta(hours=1))
    # A reminder claimed an hour ago whose outcome was never recorded (a crash).
    assert store.claim_send(invoice_id, recipient_id, 1, old, 1_900_000_000, reminder=True).won
    settled = [(i, c) for i, c in store.unsettled_sends() if i == invoice_id]
    assert [(c.recipient_id, c.attempt, c.reminder, c.claimed_at) for _, c in settled] == [
        (recipient_id, 1, True, old)
    ]
    capsys.readouterr()
    assert admin.main(["sends", "list-unsettled", "--account", "acme"]) == 0
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (line["invoice_id"], line["kind"], line["email"]) == (
        invoice_id,
        "reminder",
        "ana@globex.example",
    )
    assert admin.main(["sends", "list-unsettled", "--account", "globex"]) == 0
    assert capsys.readouterr().out == ""
    assert admin.main(["sends", "release", invoice_id, "ana@globex.example"]) == 0
    assert json.loads(capsys.readouterr().out)["released"] is True
    assert [i for i, _ in store.unsettled_sends() if i == invoice_id] == []
    # Released once: a second release finds nothing, and the claim keeps its outcome.
    assert admin.main(["sends", "release", invoice_id, recipient_id]) == 2
    outcome = SendOutcome(iso(utc_now()), message_id="late")
    assert not store.settle_send(invoice_id, recipient_id, 1, outcome, True, unsettled_only=True)
    events = client.http.get(f"/invoices/{invoice_id}/events", headers=auth(api_key)).json_body
    reminders = [e for e in events["items"] if e["type"] == "reminder"]
    assert [e["details"]["trigger"] for e in reminders] == ["released"]
